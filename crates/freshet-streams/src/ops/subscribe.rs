//! SubscribeToShard: enhanced fan-out pushes. A subscription is a task that reads the shard from
//! its starting position and sends events as soon as records are durable, woken by the log's
//! tail notifier (never by polling); it lasts 5 minutes, as on AWS, and ends early when the
//! shard is read to its end after resharding (the last event carries ChildShards), when the
//! consumer or stream goes away, or when a newer subscription takes its place.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::arn::shard_index;
use crate::error::{Result, StreamsError};
use crate::metrics::ConsumerMetrics;
use crate::model::*;
use crate::service::StreamsService;
use crate::state::{Status, Stream};

/// AWS ends a subscription after 5 minutes; the consumer subscribes again to continue.
const SUBSCRIPTION_TTL: Duration = Duration::from_secs(300);
/// An idle subscription still gets an event this often, with its continuation number.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A second subscription for the same consumer and shard within this window is refused; after
/// it, the new one takes over (AWS's documented rule).
const TAKEOVER_AFTER_MS: i64 = 5_000;
const EVENT_MAX_RECORDS: usize = 10_000;
const EVENT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Events buffered ahead of a slow client: backpressure, not unbounded memory.
const EVENT_BUFFER: usize = 2;

/// The events of one subscription, in order. An `Err` is the last item.
pub struct Subscription {
    pub events: mpsc::Receiver<Result<SubscribeToShardEvent>>,
}

/// An active subscription in the registry.
pub(crate) struct Slot {
    id: u64,
    started_ms: i64,
    cancel: Arc<Notify>,
}

impl StreamsService {
    pub async fn subscribe_to_shard(&self, input: SubscribeToShardInput) -> Result<Subscription> {
        let (stream, consumer) = self.find_consumer(&ConsumerRef {
            stream_arn: None,
            consumer_name: None,
            consumer_arn: Some(input.consumer_arn.clone()),
        })?;
        let account = self.config().account_id.clone();
        let row = self.consumer_row(&stream, &consumer)?;
        if row.status != Status::Active {
            return Err(StreamsError::ResourceInUse(format!(
                "Consumer {} under account {account} is not in ACTIVE state (it is {}).",
                input.consumer_arn, row.status
            )));
        }
        let state = stream.snapshot();
        if !matches!(state.row.status, Status::Active | Status::Updating) {
            return Err(self.not_found(&stream.name));
        }
        let missing = || {
            StreamsError::ResourceNotFound(format!(
                "Shard {} in stream {} under account {account} does not exist",
                input.shard_id, stream.name
            ))
        };
        let index = shard_index(&input.shard_id).ok_or_else(missing)?;
        let shard = state.shard(index).ok_or_else(missing)?;
        let start = &input.starting_position;
        let from = self
            .start_offset(
                &stream,
                &state,
                shard,
                "SubscribeToShard",
                &start.kind,
                start.sequence_number.as_deref(),
                start.timestamp,
            )
            .await?;
        let tail = self.inner.log.subscribe(shard.log)?;
        let metrics = stream.metrics.consumer(&consumer);

        let key = (input.consumer_arn.clone(), index);
        let id = self.inner.subscription_ids.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(Notify::new());
        {
            let mut slots = self.inner.subscriptions.lock();
            if let Some(old) = slots.get(&key) {
                if self.now_ms() - old.started_ms < TAKEOVER_AFTER_MS {
                    metrics.subscribe_rate_exceeded.inc();
                    return Err(StreamsError::ResourceInUse(format!(
                        "Another active subscription exists for consumer {} and shard {}.",
                        input.consumer_arn, input.shard_id
                    )));
                }
                old.cancel.notify_one();
            }
            slots.insert(
                key.clone(),
                Slot {
                    id,
                    started_ms: self.now_ms(),
                    cancel: cancel.clone(),
                },
            );
        }
        metrics.subscribe_success.inc();
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let service = self.clone();
        tracing::debug!(stream = %stream.name, consumer = %consumer, shard = index, "subscription started");
        tokio::spawn(async move {
            service
                .push(stream, consumer, index, from, tail, tx, cancel, metrics)
                .await;
            let mut slots = service.inner.subscriptions.lock();
            if slots.get(&key).is_some_and(|s| s.id == id) {
                slots.remove(&key);
            }
        });
        Ok(Subscription { events: rx })
    }

    /// Ends every subscription of a consumer (it was deregistered).
    pub(crate) fn end_subscriptions(&self, consumer_arn: &str) {
        for ((arn, _), slot) in self.inner.subscriptions.lock().iter() {
            if arn == consumer_arn {
                slot.cancel.notify_one();
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn push(
        &self,
        stream: Arc<Stream>,
        consumer: String,
        shard_index: u32,
        mut position: u64,
        mut tail: tokio::sync::watch::Receiver<u64>,
        tx: mpsc::Sender<Result<SubscribeToShardEvent>>,
        cancel: Arc<Notify>,
        metrics: Arc<ConsumerMetrics>,
    ) {
        let clock = &self.config().clock;
        let deadline = clock.elapsed() + SUBSCRIPTION_TTL;
        // The first event goes out at once, so the consumer learns its continuation number.
        let mut heartbeat_due = clock.elapsed();
        let mut tail_open = true;
        loop {
            // Registered before the state is read, so a reshard in between still wakes us.
            let reshaped = stream.reshaped.notified();
            tokio::pin!(reshaped);
            reshaped.as_mut().enable();
            let batch = match self
                .next_event(&stream, &consumer, shard_index, position)
                .await
            {
                Ok(b) => b,
                Err(error) => {
                    let _ = tx.send(Err(error)).await;
                    return;
                }
            };
            let (event, drained, bytes) = batch;
            let has_records = !event.records.is_empty();
            if has_records || drained || clock.elapsed() >= heartbeat_due {
                position = self.position_after(&event, position);
                let (records, behind) = (event.records.len(), event.millis_behind_latest);
                if tx.send(Ok(event)).await.is_err() {
                    return; // the client went away
                }
                metrics.event_success.inc();
                metrics.event_bytes.add(bytes);
                metrics.event_records.add(records as u64);
                metrics.event_millis_behind.set(behind.max(0) as u64);
                heartbeat_due = clock.elapsed() + HEARTBEAT;
                if drained {
                    return;
                }
                if has_records && clock.elapsed() < deadline {
                    continue; // more may be waiting already
                }
            }
            if clock.elapsed() >= deadline {
                return;
            }
            tokio::select! {
                changed = tail.changed(), if tail_open => {
                    // The shard's log is gone; the next read reports why.
                    tail_open = changed.is_ok();
                }
                () = &mut reshaped => {}
                () = cancel.notified() => {
                    let _ = tx.send(Err(StreamsError::ResourceInUse(format!(
                        "The subscription of consumer {consumer} to shard {} ended: another subscription took over or the consumer was deregistered.",
                        crate::arn::shard_id(shard_index)
                    )))).await;
                    return;
                }
                () = clock.sleep_until(heartbeat_due.min(deadline)) => {}
            }
        }
    }

    /// The next event from `position`, whether it is the shard's last, and its records' size.
    async fn next_event(
        &self,
        stream: &Stream,
        consumer: &str,
        shard_index: u32,
        position: u64,
    ) -> Result<(SubscribeToShardEvent, bool, u64)> {
        if !self.inner.streams.read().by_uid.contains_key(&stream.uid) {
            return Err(self.not_found(&stream.name));
        }
        self.consumer_row(stream, consumer)?;
        let state = stream.snapshot();
        let shard = state.shard(shard_index).ok_or_else(|| {
            StreamsError::ResourceNotFound(format!(
                "Shard {} in stream {} under account {} does not exist",
                crate::arn::shard_id(shard_index),
                stream.name,
                self.config().account_id
            ))
        })?;
        let batch = self
            .read_batch(&state, shard, position, EVENT_MAX_RECORDS, EVENT_MAX_BYTES)
            .await?;
        let drained = batch.child_shards.is_some();
        Ok((
            SubscribeToShardEvent {
                records: batch.records,
                // A boundary, as on AWS: resubscribing AT or AFTER it resumes exactly where this
                // event stops, without repeating its last record. None at a closed shard's end.
                continuation_sequence_number: (!drained)
                    .then(|| shard.boundary(batch.after).to_string()),
                millis_behind_latest: batch.millis_behind_latest,
                child_shards: batch.child_shards,
            },
            drained,
            batch.bytes,
        ))
    }

    fn position_after(&self, event: &SubscribeToShardEvent, position: u64) -> u64 {
        event
            .continuation_sequence_number
            .as_deref()
            .and_then(crate::sequence::SequenceNumber::parse)
            .map_or(position, |s| s.after_offset())
    }
}
