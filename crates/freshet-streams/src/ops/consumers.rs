//! Registered consumers for enhanced fan-out: RegisterStreamConsumer, DescribeStreamConsumer,
//! ListStreamConsumers, DeregisterStreamConsumer. A consumer is CREATING, then ACTIVE (only then
//! can it subscribe), then DELETING until it is gone.

use std::sync::Arc;

use freshet_catalog::ConsumerRow;
use serde::{Deserialize, Serialize};

use crate::arn::{consumer_arn, consumer_from_arn};
use crate::error::{Result, StreamsError};
use crate::model::*;
use crate::paging;
use crate::service::StreamsService;
use crate::state::{Status, Stream};

const LIST_DEFAULT_MAX: i64 = 100;

#[derive(Serialize, Deserialize)]
struct ConsumersToken {
    stream: String,
    after: String,
}

impl StreamsService {
    pub async fn register_stream_consumer(
        &self,
        input: RegisterStreamConsumerInput,
    ) -> Result<RegisterStreamConsumerOutput> {
        let stream = self.find_arn(&input.stream_arn)?;
        let tags = input.tags.unwrap_or_default();
        let resource = format!("consumer {} of stream {}", input.consumer_name, stream.name);
        crate::ops::tags::check_new_tags(&tags, &resource, &self.config().account_id)?;
        crate::ops::tags::check_tag_count(&tags)?;
        let row = {
            // Held across the catalog commit: see `Stream::admin`.
            let _admin = stream.admin.lock().await;
            let state = stream.snapshot();
            if !matches!(state.row.status, Status::Active | Status::Updating) {
                return Err(self.not_active(&stream, state.row.status));
            }
            let account = &self.config().account_id;
            if state
                .consumers
                .iter()
                .any(|c| c.name == input.consumer_name)
            {
                return Err(StreamsError::ResourceInUse(format!(
                    "Consumer {} under stream {} already exists for account {account}.",
                    input.consumer_name, stream.name
                )));
            }
            let limit = self.config().consumers_per_stream as usize;
            if state.consumers.len() >= limit {
                return Err(StreamsError::LimitExceeded(format!(
                    "Stream {} under account {account} can have at most {limit} registered consumers.",
                    stream.name
                )));
            }
            let delay = self.config().create_delay;
            let row = ConsumerRow {
                name: input.consumer_name.clone(),
                created_ms: self.now_ms(),
                status: if delay.is_zero() {
                    Status::Active
                } else {
                    Status::Creating
                },
                tags,
            };
            self.inner.catalog.put_consumer(stream.uid, &row).await?;
            stream.edit().consumers.push(row.clone());
            if !delay.is_zero() {
                let name = row.name.clone();
                self.after(delay, stream.clone(), move |service, stream| async move {
                    service
                        .set_consumer_status(&stream, &name, Status::Active)
                        .await
                });
            }
            row
        };
        tracing::info!(stream = %stream.name, consumer = %row.name, "consumer registered");
        Ok(RegisterStreamConsumerOutput {
            consumer: self.consumer(&stream, &row),
        })
    }

    pub async fn deregister_stream_consumer(&self, input: ConsumerRef) -> Result<Empty> {
        let (stream, name) = self.find_consumer(&input)?;
        // Taken before the consumer's record goes, which the ARN's creation time comes from.
        let arn = self.consumer_arn_of(&stream, &name);
        {
            // Held across the catalog commit: see `Stream::admin`.
            let _admin = stream.admin.lock().await;
            let delay = self.config().delete_delay;
            if delay.is_zero() {
                self.drop_consumer(&stream, &name).await?;
            } else {
                self.set_consumer_status_locked(&stream, &name, Status::Deleting)
                    .await?;
                let name = name.clone();
                self.after(delay, stream.clone(), move |service, stream| async move {
                    let _admin = stream.admin.lock().await;
                    service.drop_consumer(&stream, &name).await
                });
            }
        }
        self.end_subscriptions(&arn);
        Ok(Empty {})
    }

    pub fn describe_stream_consumer(
        &self,
        input: ConsumerRef,
    ) -> Result<DescribeStreamConsumerOutput> {
        let (stream, name) = self.find_consumer(&input)?;
        let row = self.consumer_row(&stream, &name)?;
        let c = self.consumer(&stream, &row);
        Ok(DescribeStreamConsumerOutput {
            consumer_description: ConsumerDescription {
                consumer_name: c.consumer_name,
                consumer_arn: c.consumer_arn,
                consumer_status: c.consumer_status,
                consumer_creation_timestamp: c.consumer_creation_timestamp,
                stream_arn: stream.arn.clone(),
            },
        })
    }

    pub fn list_stream_consumers(
        &self,
        input: ListStreamConsumersInput,
    ) -> Result<ListStreamConsumersOutput> {
        let stream = self.find_arn(&input.stream_arn)?;
        let state = stream.snapshot();
        if let Some(ts) = input.stream_creation_timestamp
            && ts.as_millis() / 1000 != state.row.created_ms / 1000
        {
            return Err(self.not_found(&stream.name));
        }
        let after = match &input.next_token {
            Some(token) => {
                let t: ConsumersToken = paging::decode(token, self.now_ms())?;
                if t.stream != stream.arn {
                    return Err(StreamsError::InvalidArgument(format!(
                        "Invalid NextToken: {token}"
                    )));
                }
                Some(t.after)
            }
            None => None,
        };
        let max = input.max_results.unwrap_or(LIST_DEFAULT_MAX).max(1) as usize;
        let mut rest = state
            .consumers
            .iter()
            .skip_while(|c| after.as_ref().is_some_and(|a| c.name != *a))
            .skip(after.is_some() as usize);
        let page: Vec<&ConsumerRow> = rest.by_ref().take(max).collect();
        let next_token = match (rest.next().is_some(), page.last()) {
            (true, Some(last)) => Some(paging::encode(
                ConsumersToken {
                    stream: stream.arn.clone(),
                    after: last.name.clone(),
                },
                self.now_ms(),
            )),
            _ => None,
        };
        Ok(ListStreamConsumersOutput {
            consumers: page.iter().map(|c| self.consumer(&stream, c)).collect(),
            next_token,
        })
    }

    /// The stream and consumer name a request names, with AWS's rules: either the consumer ARN,
    /// or the stream ARN and the consumer name.
    pub(crate) fn find_consumer(&self, r: &ConsumerRef) -> Result<(Arc<Stream>, String)> {
        let c = self.config();
        let (stream, name) = match (&r.consumer_arn, &r.stream_arn, &r.consumer_name) {
            (Some(arn), _, _) => {
                let (stream_name, name, created) = consumer_from_arn(arn, &c.region, &c.account_id)
                    .ok_or_else(|| {
                        StreamsError::ResourceNotFound(format!("Consumer {arn} not found."))
                    })?;
                let stream = self.find_by_name(stream_name)?;
                let row = self.consumer_row(&stream, name)?;
                if row.created_ms / 1000 != created {
                    return Err(StreamsError::ResourceNotFound(format!(
                        "Consumer {arn} not found."
                    )));
                }
                (stream, name.to_string())
            }
            (None, Some(stream_arn), Some(name)) => (self.find_arn(stream_arn)?, name.clone()),
            _ => {
                return Err(StreamsError::InvalidArgument(
                    "Either ConsumerARN, or both StreamARN and ConsumerName, must be provided."
                        .into(),
                ));
            }
        };
        self.consumer_row(&stream, &name)?;
        Ok((stream, name))
    }

    pub(crate) fn consumer_row(&self, stream: &Stream, name: &str) -> Result<ConsumerRow> {
        stream
            .snapshot()
            .consumers
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| {
                StreamsError::ResourceNotFound(format!(
                    "Consumer {name} under stream {} not found for account {}.",
                    stream.name,
                    self.config().account_id
                ))
            })
    }

    pub(crate) fn consumer_arn_of(&self, stream: &Stream, name: &str) -> String {
        let created = self
            .consumer_row(stream, name)
            .map(|c| c.created_ms)
            .unwrap_or(0);
        consumer_arn(&stream.arn, name, created)
    }

    fn consumer(&self, stream: &Stream, row: &ConsumerRow) -> Consumer {
        Consumer {
            consumer_name: row.name.clone(),
            consumer_arn: consumer_arn(&stream.arn, &row.name, row.created_ms),
            consumer_status: row.status,
            consumer_creation_timestamp: Timestamp::from_millis(row.created_ms),
        }
    }

    async fn set_consumer_status(&self, stream: &Stream, name: &str, status: Status) -> Result<()> {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.set_consumer_status_locked(stream, name, status).await
    }

    /// Changes a consumer's status; the caller holds the stream's admin lock.
    async fn set_consumer_status_locked(
        &self,
        stream: &Stream,
        name: &str,
        status: Status,
    ) -> Result<()> {
        let Ok(mut row) = self.consumer_row(stream, name) else {
            return Ok(());
        };
        row.status = status;
        self.save_consumer(stream, row).await
    }

    /// Commits a changed consumer to the catalog, then publishes it; the caller holds the
    /// stream's admin lock.
    pub(crate) async fn save_consumer(&self, stream: &Stream, row: ConsumerRow) -> Result<()> {
        self.inner.catalog.put_consumer(stream.uid, &row).await?;
        let mut state = stream.edit();
        if let Some(c) = state.consumers.iter_mut().find(|c| c.name == row.name) {
            *c = row;
        }
        Ok(())
    }

    /// Removes a consumer; the caller holds the stream's admin lock.
    pub(crate) async fn drop_consumer(&self, stream: &Stream, name: &str) -> Result<()> {
        let arn = self.consumer_arn_of(stream, name);
        self.inner.catalog.delete_consumer(stream.uid, name).await?;
        self.store_policy(&arn, None).await?;
        stream.edit().consumers.retain(|c| c.name != name);
        stream.metrics.forget_consumer(name);
        tracing::info!(stream = %stream.name, consumer = %name, "consumer deregistered");
        Ok(())
    }

    /// At start: consumers left CREATING become ACTIVE, those left DELETING are removed.
    pub(crate) async fn recover_consumers(&self, stream: &Stream) -> Result<()> {
        let consumers = stream.snapshot().consumers.clone();
        for c in consumers {
            match c.status {
                Status::Creating => {
                    self.set_consumer_status_locked(stream, &c.name, Status::Active)
                        .await?
                }
                Status::Deleting => self.drop_consumer(stream, &c.name).await?,
                _ => {}
            }
        }
        Ok(())
    }
}
