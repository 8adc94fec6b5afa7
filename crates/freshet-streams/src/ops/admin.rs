//! Stream lifecycle and description: CreateStream, DeleteStream, DescribeStream,
//! DescribeStreamSummary, ListStreams, DescribeLimits.

use freshet_catalog::{CatalogError, ShardRow, StreamRow};

use crate::arn::shard_index;
use crate::error::{Result, StreamsError};
use crate::hash_key::HashKeyRange;
use crate::model::*;
use crate::paging;
use crate::sequence::MAX_SHARD_INDEX;
use crate::service::StreamsService;
use crate::state::*;

/// AWS starts an on-demand stream with 4 shards.
const ON_DEMAND_INITIAL_SHARDS: i64 = 4;
const DEFAULT_RETENTION_HOURS: i64 = 24;
const DEFAULT_MAX_RECORD_SIZE_KIB: i64 = 1024;
const DESCRIBE_DEFAULT_LIMIT: i64 = 100;
const LIST_STREAMS_DEFAULT_LIMIT: i64 = 100;

impl StreamsService {
    pub async fn create_stream(&self, input: CreateStreamInput) -> Result<Empty> {
        // AWS creates an ON_DEMAND stream when the request names neither a shard count nor a
        // mode (recorded against AWS in 2022 and again in 2025), PROVISIONED when it names only
        // a shard count.
        let mode = match (input.stream_mode_details, input.shard_count) {
            (Some(m), _) => m.stream_mode,
            (None, Some(_)) => StreamMode::Provisioned,
            (None, None) => StreamMode::OnDemand,
        };
        let shard_count = match (mode, input.shard_count) {
            (StreamMode::OnDemand, None) => ON_DEMAND_INITIAL_SHARDS,
            (StreamMode::OnDemand, Some(_)) => {
                return Err(StreamsError::InvalidArgument(
                    "ShardCount must not be specified for streams in ON_DEMAND mode.".into(),
                ));
            }
            (_, Some(n)) => n,
            (_, None) => {
                return Err(StreamsError::InvalidArgument(
                    "ShardCount is required for streams in PROVISIONED mode.".into(),
                ));
            }
        };
        if shard_count > MAX_SHARD_INDEX as i64 + 1 {
            return Err(self.shard_limit_error(shard_count));
        }
        self.check_shard_limit(shard_count)?;
        if mode == StreamMode::OnDemand {
            self.check_on_demand_limit()?;
        }
        let tags = input.tags.unwrap_or_default();
        let resource = format!("stream {}", input.stream_name);
        crate::ops::tags::check_new_tags(&tags, &resource, &self.config().account_id)?;
        crate::ops::tags::check_tag_count(&tags)?;

        let name = input.stream_name;
        if self.inner.streams.read().by_name.contains_key(&name) {
            return Err(self.in_use(&name));
        }
        let created_ms = self.now_ms();
        let shards: Vec<ShardRow> = HashKeyRange::even(shard_count as u32)
            .into_iter()
            .enumerate()
            .map(|(i, r)| ShardRow {
                index: i as u32,
                hash_start: r.start,
                hash_end: r.end,
                parent_index: None,
                adjacent_parent_index: None,
                created_ms,
                closed_next_offset: None,
            })
            .collect();
        let mut row = StreamRow {
            uid: 0,
            name: name.clone(),
            status: Status::Creating,
            mode,
            created_ms,
            retention_hours: DEFAULT_RETENTION_HOURS,
            encryption_type: "NONE".into(),
            key_id: None,
            shard_level_metrics: vec![],
            max_record_size_kib: input
                .max_record_size_kib
                .unwrap_or(DEFAULT_MAX_RECORD_SIZE_KIB),
            next_shard_index: shard_count,
            warm_throughput_mibps: input.warm_throughput_mibps,
        };
        // The catalog row comes first, as CREATING: a crash before the logs exist is repaired at
        // the next start, which creates them and activates the stream.
        row.uid = match self.inner.catalog.create_stream(&row, &shards, &tags).await {
            Ok(uid) => uid,
            Err(CatalogError::NameTaken(_)) => return Err(self.in_use(&name)),
            Err(e) => return Err(e.into()),
        };
        let stream = crate::state::Stream::new(self.arn(&name), row, shards, tags, Vec::new());
        let ids: Vec<_> = stream.snapshot().shards.iter().map(|s| s.log).collect();
        self.create_logs(ids).await?;
        self.inner.streams.write().insert(stream.clone());
        tracing::info!(stream = %name, shards = shard_count, "stream created");
        let delay = self.config().create_delay;
        if delay.is_zero() {
            self.set_status(&stream, Status::Active).await?;
        } else {
            self.after(delay, stream, |service, stream| async move {
                service
                    .move_status(&stream, Status::Creating, Status::Active)
                    .await
            });
        }
        Ok(Empty {})
    }

    pub async fn delete_stream(&self, input: DeleteStreamInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        // A CREATING stream may be deleted too (recorded against AWS: kinesalite's "should allow
        // stream to be deleted while it is being created"); its pending activation then finds it
        // DELETING and stands down.
        {
            // Held across the catalog commit: see `Stream::admin`.
            let _admin = stream.admin.lock().await;
            let status = stream.status();
            if status == Status::Deleting {
                return Ok(Empty {});
            }
            let consumers = stream.snapshot().consumers.len();
            if consumers > 0 && input.enforce_consumer_deletion != Some(true) {
                return Err(StreamsError::ResourceInUse(format!(
                    "Stream {} under account {} has {consumers} registered consumer(s); deregister them or set EnforceConsumerDeletion.",
                    stream.name,
                    self.config().account_id
                )));
            }
            self.set_status(&stream, Status::Deleting).await?;
        }
        let delay = self.config().delete_delay;
        if delay.is_zero() {
            self.finish_delete(&stream).await?;
        } else {
            self.after(delay, stream, |service, stream| async move {
                service.finish_delete(&stream).await
            });
        }
        Ok(Empty {})
    }

    pub fn describe_stream(&self, input: DescribeStreamInput) -> Result<DescribeStreamOutput> {
        let stream = self.find(&input.stream)?;
        let state = stream.snapshot();
        let limit = input.limit.unwrap_or(DESCRIBE_DEFAULT_LIMIT).max(1) as usize;
        let after = input
            .exclusive_start_shard_id
            .as_ref()
            .map(|id| shard_index(id).unwrap_or(0));
        // A CREATING stream shows no shards yet, as on AWS (kinesalite's createStream test,
        // recorded against AWS: `StreamStatus: CREATING, Shards: []`).
        let creating = state.row.status == Status::Creating;
        let mut shards = state
            .shards
            .iter()
            .filter(|s| !creating && after.is_none_or(|a| s.row.index > a))
            .map(|s| s.describe());
        let page: Vec<Shard> = shards.by_ref().take(limit).collect();
        let has_more_shards = shards.next().is_some();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: stream.name.clone(),
                stream_arn: stream.arn.clone(),
                stream_status: state.row.status,
                stream_mode_details: state.mode_details(),
                shards: page,
                has_more_shards,
                retention_period_hours: state.row.retention_hours,
                stream_creation_timestamp: Timestamp::from_millis(state.row.created_ms),
                enhanced_monitoring: state.enhanced_monitoring(),
                encryption_type: state.encryption_type(),
                key_id: state.row.key_id.clone(),
            },
        })
    }

    pub fn describe_stream_summary(
        &self,
        input: StreamOnlyInput,
    ) -> Result<DescribeStreamSummaryOutput> {
        let stream = self.find(&input.stream)?;
        let state = stream.snapshot();
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: stream.name.clone(),
                stream_arn: stream.arn.clone(),
                stream_status: state.row.status,
                stream_mode_details: state.mode_details(),
                retention_period_hours: state.row.retention_hours,
                stream_creation_timestamp: Timestamp::from_millis(state.row.created_ms),
                enhanced_monitoring: state.enhanced_monitoring(),
                encryption_type: state.encryption_type(),
                key_id: state.row.key_id.clone(),
                open_shard_count: state.open_shard_count() as i64,
                consumer_count: state.consumers.len() as i64,
                warm_throughput: state.row.warm_throughput_mibps.map(|mibps| WarmThroughput {
                    target_mibps: Some(mibps),
                    current_mibps: Some(mibps),
                }),
                max_record_size_kib: state.row.max_record_size_kib,
            },
        })
    }

    pub fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput> {
        let limit = input
            .limit
            .unwrap_or(LIST_STREAMS_DEFAULT_LIMIT)
            .clamp(1, LIST_STREAMS_DEFAULT_LIMIT) as usize;
        let after: Option<String> = match &input.next_token {
            Some(token) => {
                if input.exclusive_start_stream_name.is_some() {
                    return Err(StreamsError::InvalidArgument(
                        "NextToken and ExclusiveStartStreamName cannot be provided together."
                            .into(),
                    ));
                }
                Some(paging::decode(token, self.now_ms())?)
            }
            None => input.exclusive_start_stream_name.clone(),
        };
        let registry = self.inner.streams.read();
        let mut iter = registry
            .by_name
            .values()
            .filter(|s| after.as_ref().is_none_or(|a| s.name > *a));
        let page: Vec<_> = iter.by_ref().take(limit).cloned().collect();
        let has_more_streams = iter.next().is_some();
        drop(registry);
        let next_token = match (has_more_streams, page.last()) {
            (true, Some(last)) => Some(paging::encode(&last.name, self.now_ms())),
            _ => None,
        };
        let stream_summaries = page
            .iter()
            .map(|s| {
                let state = s.snapshot();
                StreamSummary {
                    stream_name: s.name.clone(),
                    stream_arn: s.arn.clone(),
                    stream_status: state.row.status,
                    stream_mode_details: state.mode_details(),
                    stream_creation_timestamp: Timestamp::from_millis(state.row.created_ms),
                }
            })
            .collect();
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|s| s.name.clone()).collect(),
            has_more_streams,
            next_token,
            stream_summaries,
        })
    }

    pub fn describe_limits(&self) -> Result<DescribeLimitsOutput> {
        let (open, on_demand) = self.account_usage();
        Ok(DescribeLimitsOutput {
            shard_limit: self.config().shard_limit as i64,
            open_shard_count: open,
            on_demand_stream_count: on_demand,
            on_demand_stream_count_limit: self.config().on_demand_stream_limit as i64,
        })
    }

    /// Open shards in the account and the number of on-demand streams.
    fn account_usage(&self) -> (i64, i64) {
        let registry = self.inner.streams.read();
        let mut open = 0;
        let mut on_demand = 0;
        for stream in registry.by_name.values() {
            let state = stream.snapshot();
            open += state.open_shard_count() as i64;
            on_demand += (state.row.mode == StreamMode::OnDemand) as i64;
        }
        (open, on_demand)
    }

    pub(crate) fn check_shard_limit(&self, additional: i64) -> Result<()> {
        let (open, _) = self.account_usage();
        if open + additional > self.config().shard_limit as i64 {
            return Err(self.shard_limit_error(additional));
        }
        Ok(())
    }

    fn shard_limit_error(&self, additional: i64) -> StreamsError {
        let (open, _) = self.account_usage();
        let c = self.config();
        StreamsError::LimitExceeded(format!(
            "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {open}. Limit: {}. Number of additional shards that would have resulted from this request: {additional}. Refer to the AWS Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
            c.account_id, c.region, c.shard_limit
        ))
    }

    pub(crate) fn check_on_demand_limit(&self) -> Result<()> {
        let (_, on_demand) = self.account_usage();
        let c = self.config();
        if on_demand >= c.on_demand_stream_limit as i64 {
            return Err(StreamsError::LimitExceeded(format!(
                "This request would exceed the limit of {} ON_DEMAND streams for the account {} in {}.",
                c.on_demand_stream_limit, c.account_id, c.region
            )));
        }
        Ok(())
    }

    fn in_use(&self, name: &str) -> StreamsError {
        StreamsError::ResourceInUse(format!(
            "Stream {name} under account {} already exists.",
            self.config().account_id
        ))
    }
}
