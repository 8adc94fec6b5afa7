//! Kinesis Data Streams' CloudWatch metrics (namespace `AWS/Kinesis`), counted as requests run
//! and rendered on `/metrics` under the `kinesis_` prefix.
//!
//! Stream-level metrics (dimension `StreamName`) are always on, as on AWS. Shard-level metrics
//! (`StreamName`, `ShardId`) are counted always (an atomic add on the shard's own counters) but
//! rendered only for the metrics EnableEnhancedMonitoring enabled, so a scrape's size follows
//! what the user asked for, whatever the shard count. They are rendered under
//! `kinesis_shard_<Metric>`: one family per dimension set, so summing a family never counts a
//! record twice. Enhanced fan-out metrics carry `StreamName` and `ConsumerName`.
//!
//! CloudWatch statistics map as follows: `.Requests` counts calls and `.Success` successful
//! ones (AWS's Average of `Success` is their ratio); `.Latency` is a histogram in milliseconds; `IteratorAgeMilliseconds` is the age of the last record of the
//! latest read (the stream's is the largest of its shards').

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use freshet_runtime::metrics::{self, Counter, Exposition, Gauge};
use parking_lot::Mutex;

use crate::error::Result;
use crate::service::StreamsService;
use crate::state::{ShardState, Stream, StreamState};

const PREFIX: &str = "kinesis";
const NAMESPACE: &str = "AWS/Kinesis";

/// A stream's counters; they live as long as the stream.
#[derive(Debug, Default)]
pub struct StreamMetrics {
    pub incoming_bytes: Counter,
    pub incoming_records: Counter,
    pub put_record: Call,
    pub put_records: Call,
    pub put_records_total: Counter,
    pub put_records_successful: Counter,
    pub put_records_failed: Counter,
    pub put_records_throttled: Counter,
    pub get_records: Call,
    pub get_records_records: Counter,
    pub read_exceeded: Counter,
    pub write_exceeded: Counter,
    consumers: Mutex<HashMap<String, Arc<ConsumerMetrics>>>,
}

/// An operation's `.Requests`, `.Success` and `.Latency`, and its `.Bytes`.
#[derive(Debug, Default)]
pub struct Call {
    pub bytes: Counter,
    pub calls: metrics::Call,
}

impl Call {
    pub fn finished(&self, took: Duration, ok: bool) {
        self.calls.finished(took, ok);
    }

    fn render(&self, e: &mut Exposition, op: &str, labels: &[(&str, &str)]) {
        self.calls.render(e, PREFIX, NAMESPACE, op, labels);
        let name = format!("{op}.Bytes");
        e.counter(
            PREFIX,
            &name,
            &help(&name, "Bytes"),
            labels,
            self.bytes.get(),
        );
    }
}

/// A shard's counters, shared by every snapshot of the shard.
#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub incoming_bytes: Counter,
    pub incoming_records: Counter,
    pub outgoing_bytes: Counter,
    pub outgoing_records: Counter,
    pub read_exceeded: Counter,
    pub write_exceeded: Counter,
    /// The age of the last record of the latest GetRecords, and when it was read (monotonic
    /// ms): an age nobody refreshed for a minute is no longer shown, as CloudWatch shows no
    /// datapoint for a shard nobody reads.
    iterator_age_ms: Gauge,
    iterator_age_set_ms: Gauge,
}

/// How long an iterator age stands without a read refreshing it.
const AGE_STANDS: Duration = Duration::from_secs(60);

impl ShardMetrics {
    pub fn iterator_age(&self, now: Duration, age_ms: u64) {
        self.iterator_age_ms.set(age_ms);
        // Plus one, so that zero means never set.
        self.iterator_age_set_ms.set(now.as_millis() as u64 + 1);
    }

    /// The last iterator age, if it was set within `AGE_STANDS` of `now`.
    fn current_iterator_age(&self, now: Duration) -> Option<u64> {
        let set = self.iterator_age_set_ms.get();
        let since = (now.as_millis() as u64 + 1).saturating_sub(set);
        (set > 0 && since < AGE_STANDS.as_millis() as u64).then(|| self.iterator_age_ms.get())
    }
}

/// One shard's counters as they stand, whatever enhanced monitoring renders: what the console
/// charts per shard (it takes rates from two readings).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardCounters {
    pub shard_id: String,
    pub incoming_bytes: u64,
    pub incoming_records: u64,
    pub outgoing_bytes: u64,
    pub outgoing_records: u64,
    pub iterator_age_milliseconds: Option<u64>,
}

impl StreamsService {
    /// The counters of every shard the stream named by `stream` (a name or an ARN) still has.
    pub fn shard_counters(&self, stream: &str) -> Result<Vec<ShardCounters>> {
        let stream = self.find(&crate::reader::stream_ref(stream))?;
        let now = self.config().clock.elapsed();
        Ok(stream
            .snapshot()
            .shards
            .iter()
            .map(|s| ShardCounters {
                shard_id: s.id(),
                incoming_bytes: s.metrics.incoming_bytes.get(),
                incoming_records: s.metrics.incoming_records.get(),
                outgoing_bytes: s.metrics.outgoing_bytes.get(),
                outgoing_records: s.metrics.outgoing_records.get(),
                iterator_age_milliseconds: s.metrics.current_iterator_age(now),
            })
            .collect())
    }
}

/// An enhanced fan-out consumer's counters.
#[derive(Debug, Default)]
pub struct ConsumerMetrics {
    pub subscribe_success: Counter,
    pub subscribe_rate_exceeded: Counter,
    pub event_bytes: Counter,
    pub event_records: Counter,
    pub event_success: Counter,
    pub event_millis_behind: Gauge,
}

impl StreamMetrics {
    /// The consumer's counters, created on its first subscription.
    pub fn consumer(&self, name: &str) -> Arc<ConsumerMetrics> {
        self.consumers
            .lock()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Drops a deregistered consumer's counters.
    pub fn forget_consumer(&self, name: &str) {
        self.consumers.lock().remove(name);
    }
}

fn help(name: &str, unit: &str) -> String {
    format!("{NAMESPACE} {name} ({unit})")
}

/// Adds a stream's metrics to a scrape.
pub(crate) fn render(stream: &Stream, state: &StreamState, now: Duration, e: &mut Exposition) {
    let m = &stream.metrics;
    let labels = [("StreamName", stream.name.as_str())];
    let counters = [
        ("IncomingBytes", "Bytes", &m.incoming_bytes),
        ("IncomingRecords", "Count", &m.incoming_records),
        ("PutRecords.TotalRecords", "Count", &m.put_records_total),
        (
            "PutRecords.SuccessfulRecords",
            "Count",
            &m.put_records_successful,
        ),
        ("PutRecords.FailedRecords", "Count", &m.put_records_failed),
        (
            "PutRecords.ThrottledRecords",
            "Count",
            &m.put_records_throttled,
        ),
        ("GetRecords.Records", "Count", &m.get_records_records),
        (
            "ReadProvisionedThroughputExceeded",
            "Count",
            &m.read_exceeded,
        ),
        (
            "WriteProvisionedThroughputExceeded",
            "Count",
            &m.write_exceeded,
        ),
    ];
    for (name, unit, counter) in counters {
        e.counter(PREFIX, name, &help(name, unit), &labels, counter.get());
    }
    m.put_record.render(e, "PutRecord", &labels);
    m.put_records.render(e, "PutRecords", &labels);
    m.get_records.render(e, "GetRecords", &labels);
    let age = state
        .shards
        .iter()
        .filter_map(|s| s.metrics.current_iterator_age(now))
        .max()
        .unwrap_or(0);
    let name = "GetRecords.IteratorAgeMilliseconds";
    e.gauge(
        PREFIX,
        name,
        &help(name, "Milliseconds"),
        &labels,
        age as f64,
    );

    let consumers = m.consumers.lock();
    for row in &state.consumers {
        let Some(c) = consumers.get(&row.name) else {
            continue;
        };
        let labels = [
            ("StreamName", stream.name.as_str()),
            ("ConsumerName", row.name.as_str()),
        ];
        let counters = [
            ("SubscribeToShard.Success", "Count", &c.subscribe_success),
            (
                "SubscribeToShard.RateExceeded",
                "Count",
                &c.subscribe_rate_exceeded,
            ),
            ("SubscribeToShardEvent.Bytes", "Bytes", &c.event_bytes),
            ("SubscribeToShardEvent.Records", "Count", &c.event_records),
            ("SubscribeToShardEvent.Success", "Count", &c.event_success),
        ];
        for (name, unit, counter) in counters {
            e.counter(PREFIX, name, &help(name, unit), &labels, counter.get());
        }
        let name = "SubscribeToShardEvent.MillisBehindLatest";
        let behind = c.event_millis_behind.get() as f64;
        e.gauge(PREFIX, name, &help(name, "Milliseconds"), &labels, behind);
    }
    drop(consumers);

    for metric in &state.row.shard_level_metrics {
        for shard in &state.shards {
            render_shard(stream, shard, metric, now, e);
        }
    }
}

/// One enabled shard-level metric of one shard.
fn render_shard(
    stream: &Stream,
    shard: &ShardState,
    metric: &str,
    now: Duration,
    e: &mut Exposition,
) {
    let m = &shard.metrics;
    let id = shard.id();
    let labels = [("StreamName", stream.name.as_str()), ("ShardId", &id)];
    let prefix = "kinesis_shard";
    let (unit, counter) = match metric {
        "IncomingBytes" => ("Bytes", &m.incoming_bytes),
        "IncomingRecords" => ("Count", &m.incoming_records),
        "OutgoingBytes" => ("Bytes", &m.outgoing_bytes),
        "OutgoingRecords" => ("Count", &m.outgoing_records),
        "ReadProvisionedThroughputExceeded" => ("Count", &m.read_exceeded),
        "WriteProvisionedThroughputExceeded" => ("Count", &m.write_exceeded),
        "IteratorAgeMilliseconds" => {
            let age = m.current_iterator_age(now).unwrap_or(0) as f64;
            e.gauge(prefix, metric, &help(metric, "Milliseconds"), &labels, age);
            return;
        }
        _ => return,
    };
    e.counter(prefix, metric, &help(metric, unit), &labels, counter.get());
}
