//! A delivery stream's worker: read the source into a staging buffer, process it (when the
//! destination has processors: at once, or at the Lambda processor's own buffer size or
//! interval), route the results into the destination buffers (`buffers.rs`: one per partition,
//! error output and backup), deliver each buffer when it reaches `SizeInMBs` or
//! `IntervalInSeconds` (whichever first) as one object or request — retrying as AWS documents,
//! or moving it to the S3 error output — and checkpoint the source once every record read
//! before a position is delivered. A crash anywhere replays from the last checkpoint: delivery
//! is at least once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use freshet_catalog::Catalog;
use freshet_runtime::SharedClock;
use tokio::sync::watch;

use crate::activity::Delivery;
use crate::buffers::{Buffers, Part, PartId, Settled};
use crate::config::{Destination, HttpConfig, S3Config, Thresholds};
use crate::convert::{Conversion, SchemaSource};
use crate::metrics::Metrics;
use crate::prefix::{Context, PartitionKeys, Prefix, key_value};
use crate::process::{Invocation, Invoker, Outcome, Processing};
use crate::redshift::{self, RedshiftConfig};
use crate::search::{Document, SearchConfig, SearchKind, bulk_body, bulk_results};
use crate::sink::{HttpRequest, HttpSender, ObjectWriter, SinkError};
use crate::source::{Batch, Source, SourceRecord};
use crate::splunk::{self, SplunkConfig};

/// What the worker delivers with; replaced whole by UpdateDestination.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub arn: String,
    pub version_id: u64,
    pub destination: Destination,
    /// The destination's processors, compiled.
    pub processing: Option<Processing>,
    /// The Kinesis data stream the records come from, if any (Lambda invocations name it).
    pub source_arn: Option<String>,
    /// The destination's record format conversion.
    pub conversion: Option<Conversion>,
    /// With dynamic partitioning, the data prefix whose keys name each record's partition.
    pub partition_prefix: Option<Prefix>,
}

impl Plan {
    pub fn new(
        name: String,
        arn: String,
        version_id: u64,
        destination: Destination,
        source_arn: Option<String>,
    ) -> Plan {
        // The destination was checked when it was configured; a processing configuration
        // that no longer compiles (a stored document from another version) processes nothing.
        let processing = destination.processing().unwrap_or_else(|error| {
            tracing::error!(%error, stream = name, "cannot compile the processing configuration; records are delivered unprocessed");
            None
        });
        let conversion = destination.conversion().unwrap_or_else(|error| {
            tracing::error!(%error, stream = name, "cannot read the format conversion configuration; records are delivered unconverted");
            None
        });
        let partition_prefix = destination.partitioned_prefix();
        Plan {
            name,
            arn,
            version_id,
            destination,
            processing,
            source_arn,
            conversion,
            partition_prefix,
        }
    }
}

pub struct Sinks {
    pub objects: ObjectWriter,
    pub http: HttpSender,
    pub lambda: Invoker,
    pub region: String,
    /// Data partitions a delivery stream may buffer at once (AWS: 500).
    pub max_active_partitions: usize,
    /// Where record format conversion finds tables' columns.
    pub schemas: Option<Arc<dyn SchemaSource>>,
    /// Search domains' endpoints by domain name, for destinations given a DomainARN.
    pub search_domains: std::collections::BTreeMap<String, String>,
    /// Writes Iceberg destinations' tables.
    pub iceberg: Option<Arc<crate::iceberg::TableWriter>>,
}

impl Sinks {
    pub fn new(
        objects: ObjectWriter,
        http: HttpSender,
        lambda_endpoint: Option<String>,
        region: String,
        max_active_partitions: usize,
        schemas: Option<Arc<dyn SchemaSource>>,
    ) -> Sinks {
        let lambda = Invoker::new(http.client().clone(), lambda_endpoint);
        Sinks {
            objects,
            http,
            lambda,
            region,
            max_active_partitions,
            schemas,
            search_domains: Default::default(),
            iceberg: None,
        }
    }
}

pub struct Worker {
    pub uid: u64,
    /// This delivery's HEC channel (Splunk acknowledges per channel).
    pub channel: String,
    pub catalog: Catalog,
    pub sinks: Arc<Sinks>,
    pub metrics: Arc<Metrics>,
    pub plan: watch::Receiver<Arc<Plan>>,
    pub source: Source,
    pub clock: SharedClock,
}

/// Failed S3 writes are retried for as long as Firehose keeps data (24 hours).
const S3_RETRY_MS: i64 = 24 * 3600 * 1000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const PROCESSING_FAILED: &str = "processing-failed";
const PARTITIONS_EXCEEDED: &str = "activePartitionExceeded";
const ICEBERG_FAILED: &str = "iceberg-failed";

/// Firehose's retry policy for every destination: attempts until `duration` has passed since
/// the first one began, backing off 1 s, 2 s, 4 s, ... (at most 30 s) in between.
struct Retry {
    clock: SharedClock,
    started: Duration,
    duration: Duration,
    backoff: Duration,
    attempts: u32,
}

impl Retry {
    fn new(clock: &SharedClock, duration: Duration) -> Retry {
        Retry {
            clock: clock.clone(),
            started: clock.elapsed(),
            duration,
            backoff: Duration::from_secs(1),
            attempts: 1,
        }
    }

    /// After a failed attempt: false once the duration is spent; else waits out the backoff
    /// and counts the next attempt.
    async fn again(
        &mut self,
        stream: &str,
        what: &str,
        error: &(dyn std::fmt::Display + Sync),
    ) -> bool {
        if self.clock.elapsed().saturating_sub(self.started) + self.backoff > self.duration {
            return false;
        }
        tracing::warn!(stream, attempts = self.attempts, %error, "{what} failed; retrying");
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.attempts += 1;
        true
    }
}

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Worker {
    pub async fn run(mut self) {
        let mut stage = Batch::new(self.clock.clone());
        let mut buffers = Buffers::default();
        let mut previous: Option<Arc<Plan>> = None;
        loop {
            let plan = self.plan.borrow_and_update().clone();
            // Buffers are shaped by their destination (an Iceberg buffer's records carry their
            // operation): a change of destination kind delivers them with the plan that made them.
            if let Some(before) = previous.replace(plan.clone())
                && std::mem::discriminant(&before.destination)
                    != std::mem::discriminant(&plan.destination)
            {
                let all = Thresholds {
                    bytes: 0,
                    interval_ms: 0,
                };
                for id in buffers.due(all, self.clock.elapsed()) {
                    if let Some(part) = buffers.take(&id) {
                        self.deliver(&before, &id, part).await;
                    }
                }
            }
            let limits = plan.destination.thresholds();
            // Records wait in the stage only for a Lambda processor's buffer.
            let stage_limits = match plan.processing.as_ref().and_then(|p| p.lambda.as_ref()) {
                Some(l) => Thresholds {
                    bytes: l.buffer_bytes,
                    interval_ms: l.buffer_interval_ms,
                },
                None => Thresholds {
                    bytes: 0,
                    interval_ms: 0,
                },
            };
            let mut read = 0;
            // Without a Lambda buffer, read no more than the fullest destination buffer has
            // room for, so that unprocessed data fills it to its size exactly.
            let room = match stage_limits.bytes {
                0 => limits.bytes.saturating_sub(buffers.fullest()),
                lambda => lambda,
            };
            if stage.bytes < room {
                let before = stage.bytes;
                match self.source.poll(room - stage.bytes, &mut stage).await {
                    Ok(n) => {
                        read = n;
                        if matches!(self.source, Source::Kinesis(_)) {
                            self.metrics.kinesis_records.add(n as u64);
                            self.metrics.kinesis_bytes.add(stage.bytes - before);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, stream = %plan.name, "delivery source read failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let now = self.clock.elapsed();
            let stage_due = stage
                .opened
                .map(|t| t + Duration::from_millis(stage_limits.interval_ms));
            if stage.bytes >= stage_limits.bytes
                || stage_due.is_some_and(|d| d <= now)
                || (stage.records.is_empty() && !stage.marks.is_empty())
            {
                let full = std::mem::replace(&mut stage, Batch::new(self.clock.clone()));
                self.route(&plan, full, &mut buffers).await;
            }
            for id in buffers.due(limits, self.clock.elapsed()) {
                if let Some(part) = buffers.take(&id) {
                    self.deliver(&plan, &id, part).await;
                }
            }
            if let Some(settled) = buffers.settled() {
                self.checkpoint(settled).await;
            }
            if read == 0 {
                let deadline = [stage_due, buffers.deadline(limits)]
                    .into_iter()
                    .flatten()
                    .min();
                let clock = self.clock.clone();
                let interval = async move {
                    match deadline {
                        Some(due) => clock.sleep_until(due).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = self.source.wait() => {}
                    _ = interval => {}
                    _ = self.plan.changed() => {}
                }
            }
        }
    }

    /// Processes a staged batch and puts the results into the destination buffers as one
    /// generation.
    async fn route(&self, plan: &Plan, batch: Batch, buffers: &mut Buffers) {
        buffers.generation(Settled {
            last_arrival: batch.records.last().map(|r| r.arrival_ms),
            marks: batch.marks,
            bytes: batch.bytes,
        });
        if batch.records.is_empty() {
            return;
        }
        let now = self.clock.elapsed();
        if plan.destination.backs_up_source() {
            buffers.add(
                PartId::Backup,
                PartitionKeys::new,
                batch.records.iter().cloned(),
                now,
            );
        }
        if let Destination::Iceberg(config) = &plan.destination
            && plan.processing.is_none()
        {
            for record in batch.records {
                self.add_iceberg(
                    config,
                    buffers,
                    record.data,
                    PartitionKeys::new(),
                    record.arrival_ms,
                    now,
                );
            }
            return;
        }
        let Some(processing) = &plan.processing else {
            buffers.add(
                PartId::Data(String::new()),
                PartitionKeys::new,
                batch.records,
                now,
            );
            return;
        };
        let invocation = Invocation {
            delivery_stream_arn: &plan.arn,
            region: &self.sinks.region,
            source_stream_arn: plan.source_arn.as_deref(),
        };
        let processed = processing
            .run(batch.records, Some((&self.sinks.lambda, &invocation)))
            .await;
        let prefix = &plan.partition_prefix;
        let now_ms = self.clock.now_ms();
        let mut exceeded = false;
        // A record that failed goes to the buffer of its error output, as one line.
        let reject = |buffers: &mut Buffers, kind: &'static str, arrival_ms: i64, line: Vec<u8>| {
            let line = SourceRecord {
                data: line.into(),
                arrival_ms,
            };
            buffers.add(PartId::Error(kind), PartitionKeys::new, [line], now);
        };
        for record in processed {
            let (data, keys) = match record.outcome {
                Outcome::Ok { data, keys } => {
                    self.metrics.processing_records.add(1);
                    self.metrics.processing_bytes.add(data.len() as u64);
                    (data, keys)
                }
                Outcome::Dropped => continue,
                Outcome::Failed {
                    code,
                    message,
                    lambda_arn,
                } => {
                    let mut doc = Failure {
                        arrival_ms: record.arrival_ms,
                        raw: &record.raw,
                        code,
                        message: &message,
                        attempts: 1,
                        ended_ms: now_ms,
                    }
                    .doc();
                    if let Some(arn) = lambda_arn {
                        doc["lambdaArn"] = serde_json::json!(arn);
                    }
                    reject(
                        buffers,
                        PROCESSING_FAILED,
                        record.arrival_ms,
                        json_line(&doc),
                    );
                    continue;
                }
            };
            if let Destination::Iceberg(config) = &plan.destination {
                self.add_iceberg(config, buffers, data, keys, record.arrival_ms, now);
                continue;
            }
            let id = match &prefix {
                None => String::new(),
                Some(prefix) => {
                    let mut id = String::new();
                    let mut missing = None;
                    for (source, name) in prefix.keys() {
                        match key_value(&keys, source, name) {
                            Some(value) => {
                                id.push_str(value);
                                id.push('\u{1}');
                            }
                            None => missing = Some(name.to_string()),
                        }
                    }
                    if let Some(name) = missing {
                        let line = Failure {
                            arrival_ms: record.arrival_ms,
                            raw: &data,
                            code: "DynamicPartitioning.MetadataExtractionFailed",
                            message: &format!(
                                "The record has no value for the partition key {name}."
                            ),
                            attempts: 1,
                            ended_ms: now_ms,
                        }
                        .line();
                        reject(buffers, PROCESSING_FAILED, record.arrival_ms, line);
                        continue;
                    }
                    id
                }
            };
            let part = PartId::Data(id);
            if prefix.is_some()
                && !buffers.contains(&part)
                && buffers.active_partitions() >= self.sinks.max_active_partitions
            {
                exceeded = true;
                let line = Failure {
                    arrival_ms: record.arrival_ms,
                    raw: &data,
                    code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                    message: &format!(
                        "The delivery stream has {} active partitions, its limit.",
                        self.sinks.max_active_partitions
                    ),
                    attempts: 1,
                    ended_ms: now_ms,
                }
                .line();
                reject(buffers, PARTITIONS_EXCEEDED, record.arrival_ms, line);
                continue;
            }
            let arrival_ms = record.arrival_ms;
            buffers.add(part, || keys, [SourceRecord { data, arrival_ms }], now);
        }
        self.metrics
            .partition_count
            .set(buffers.active_partitions() as u64);
        self.metrics
            .partition_count_exceeded
            .set(u64::from(exceeded));
    }

    /// Buffers a record for its Iceberg table, its operation in front of its data; a record
    /// with no table or operation goes to the error output.
    fn add_iceberg(
        &self,
        config: &crate::iceberg::IcebergConfig,
        buffers: &mut Buffers,
        data: Bytes,
        keys: PartitionKeys,
        arrival_ms: i64,
        now: Duration,
    ) {
        match config.route(&keys) {
            Ok((database, table, operation)) => {
                let mut tagged = Vec::with_capacity(data.len() + 1);
                tagged.push(operation.tag());
                tagged.extend_from_slice(&data);
                let record = SourceRecord {
                    data: tagged.into(),
                    arrival_ms,
                };
                buffers.add(
                    PartId::Data(crate::iceberg::part_id(&database, &table)),
                    PartitionKeys::new,
                    [record],
                    now,
                );
            }
            Err((code, message)) => {
                let line = Failure {
                    arrival_ms,
                    raw: &data,
                    code,
                    message: &message,
                    attempts: 1,
                    ended_ms: self.clock.now_ms(),
                }
                .line();
                let line = SourceRecord {
                    data: line.into(),
                    arrival_ms,
                };
                buffers.add(
                    PartId::Error(ICEBERG_FAILED),
                    PartitionKeys::new,
                    [line],
                    now,
                );
            }
        }
    }

    async fn checkpoint(&self, settled: Settled) {
        for (source, position) in &settled.marks {
            let mut backoff = Duration::from_millis(100);
            while let Err(error) = self
                .catalog
                .put_checkpoint(self.uid, source, position, None)
                .await
            {
                tracing::error!(%error, "cannot save delivery checkpoint; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        // The backlog counts what was put, before processing changed its size: it shrinks by
        // what was read once all that came of it is delivered. One atomic step: puts add to
        // the backlog concurrently.
        self.metrics.backlog_bytes.sub(settled.bytes);
        self.source
            .delivered(settled.last_arrival, self.clock.now_ms())
            .await;
    }

    /// Delivers one buffer: data to the destination, error records and backups to S3.
    async fn deliver(&self, plan: &Plan, id: &PartId, part: Part) {
        let oldest = part.oldest_arrival().unwrap_or_else(|| self.clock.now_ms());
        let records = part.records.len() as u64;
        let s3 = plan.destination.s3();
        match (id, &plan.destination) {
            (PartId::Data(_), Destination::S3 { config, .. }) => {
                let body = match &plan.conversion {
                    Some(conversion) => match self.convert(plan, conversion, &part, oldest).await {
                        Some(file) => file,
                        None => return,
                    },
                    None => part.body(),
                };
                if self
                    .put_object(plan, config, body, oldest, None, Some(&part.keys))
                    .await
                    .is_some()
                {
                    self.metrics.s3_records.add(records);
                    self.metrics.s3_bytes.add(part.bytes);
                    self.metrics.s3_objects.add(1);
                    self.metrics.s3_success.set(1);
                    self.metrics
                        .s3_freshness_secs
                        .set(((self.clock.now_ms() - oldest).max(0) / 1000) as u64);
                }
            }
            (PartId::Data(_), Destination::Http(h)) => {
                self.deliver_http(plan, h, &part, oldest).await
            }
            (PartId::Data(_), Destination::Redshift(config)) => {
                self.deliver_redshift(plan, config, &part, part.body(), oldest)
                    .await
            }
            (PartId::Data(_), Destination::Splunk(config)) => {
                self.deliver_splunk(plan, config, &part, part.body(), oldest)
                    .await
            }
            (PartId::Data(_), Destination::Search { kind, config }) => {
                self.deliver_search(plan, *kind, config, &part, oldest)
                    .await
            }
            (PartId::Data(id), Destination::Iceberg(config)) => {
                self.deliver_iceberg(plan, config, id, &part, oldest).await
            }
            (PartId::Error(kind), _) => {
                self.put_object(plan, s3, part.body(), oldest, Some(kind), None)
                    .await;
            }
            (PartId::Backup, _) => {
                let target = match &plan.destination {
                    Destination::S3 { config, .. } => config.s3_backup.as_deref(),
                    Destination::Http(h) => Some(&h.s3),
                    Destination::Search { config, .. } => Some(&config.s3),
                    Destination::Splunk(c) => Some(&c.s3),
                    Destination::Redshift(c) => c.s3_backup.as_deref(),
                    Destination::Iceberg(c) => Some(&c.s3),
                };
                if let Some(target) = target
                    && self
                        .put_object(plan, target, part.body(), oldest, None, None)
                        .await
                        .is_some()
                {
                    self.metrics.backup_records.add(records);
                    self.metrics.backup_bytes.add(part.bytes);
                }
            }
        }
    }

    /// Converts a buffer's records into one Parquet or ORC file; records that do not fit (or
    /// all of them, without a usable schema) go to the `format-conversion-failed` output.
    /// `None` when no record converted.
    async fn convert(
        &self,
        plan: &Plan,
        conversion: &Conversion,
        part: &Part,
        oldest: i64,
    ) -> Option<Bytes> {
        let converted = match conversion.schema(self.sinks.schemas.as_deref()).await {
            Ok(schema) => {
                let conversion = conversion.clone();
                let records: Vec<Bytes> = part.records.iter().map(|r| r.data.clone()).collect();
                // Encoding a buffer of megabytes takes a core for a while: off the runtime.
                tokio::task::spawn_blocking(move || {
                    let slices: Vec<&[u8]> = records.iter().map(|r| &r[..]).collect();
                    conversion.convert(&schema, &slices)
                })
                .await
                .unwrap_or_else(|e| {
                    Err(crate::convert::Failure {
                        code: "DataFormatConversion.InternalError",
                        message: e.to_string(),
                    })
                })
            }
            Err(failure) => Err(failure),
        };
        let (file, failed): (Option<Bytes>, Vec<(usize, &'static str, String)>) = match converted {
            Ok((file, failed)) => {
                let all_failed = failed.len() == part.records.len();
                (
                    (!all_failed).then(|| file.into()),
                    failed
                        .into_iter()
                        .map(|(i, message)| (i, "DataFormatConversion.MalformedData", message))
                        .collect(),
                )
            }
            Err(failure) => {
                tracing::error!(stream = %plan.name, code = failure.code, error = failure.message, "records cannot be converted; they go to the error output");
                (
                    None,
                    (0..part.records.len())
                        .map(|i| (i, failure.code, failure.message.clone()))
                        .collect(),
                )
            }
        };
        if !failed.is_empty() {
            let ended = self.clock.now_ms();
            let lines: Vec<u8> = failed
                .into_iter()
                .flat_map(|(i, code, message)| {
                    let record = &part.records[i];
                    Failure {
                        arrival_ms: record.arrival_ms,
                        raw: &record.data,
                        code,
                        message: &message,
                        attempts: 1,
                        ended_ms: ended,
                    }
                    .line()
                })
                .collect();
            self.put_object(
                plan,
                plan.destination.s3(),
                lines.into(),
                oldest,
                Some("format-conversion-failed"),
                None,
            )
            .await;
        }
        file
    }

    /// Writes one object, retrying for up to 24 hours after its oldest record arrived; false if
    /// it had to be given up. `error_type` selects the error prefix instead of the data prefix.
    async fn put_object(
        &self,
        plan: &Plan,
        config: &S3Config,
        content: Bytes,
        oldest_ms: i64,
        error_type: Option<&str>,
        keys: Option<&PartitionKeys>,
    ) -> Option<String> {
        let key = match object_key(plan, config, oldest_ms, error_type, keys) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(%error, stream = %plan.name, "cannot name the object; records dropped");
                return None;
            }
        };
        let compression = config.compression();
        let entry = key
            .rsplit('/')
            .next()
            .unwrap_or(&key)
            .trim_end_matches(".zip")
            .to_string();
        // Compressing a buffer of megabytes takes a core for a tenth of a second or more: off
        // the runtime's threads, so other streams' puts and deliveries go on meanwhile.
        let compressed =
            tokio::task::spawn_blocking(move || compression.apply(&content, &entry)).await;
        let body = match compressed.map_err(std::io::Error::other).and_then(|r| r) {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, stream = %plan.name, "compression failed; records dropped");
                return None;
            }
        };
        let what = match error_type {
            Some(kind) => format!("S3 error output ({kind})"),
            None => "S3".to_string(),
        };
        self.write_object(plan, &what, config.bucket(), &key, body, oldest_ms)
            .await
            .then_some(key)
    }

    /// Remembers one delivery's outcome for the console.
    fn remember(&self, what: &str, target: String, bytes: u64, error: Option<String>) {
        self.metrics.activity.record(Delivery {
            at_ms: self.clock.now_ms(),
            destination: what.to_string(),
            target,
            bytes,
            error,
        });
    }

    /// Writes one object as it is, retrying for up to 24 hours after its oldest record arrived;
    /// false if it had to be given up.
    async fn write_object(
        &self,
        plan: &Plan,
        what: &str,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        oldest_ms: i64,
    ) -> bool {
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = self.sinks.objects.put(bucket, key, body.clone()).await;
            self.remember(
                what,
                format!("s3://{bucket}/{key}"),
                body.len() as u64,
                result.as_ref().err().map(|e| e.to_string()),
            );
            match result {
                Ok(()) => {
                    tracing::debug!(stream = %plan.name, bucket, key, "delivered object");
                    return true;
                }
                Err(error) => {
                    self.metrics.s3_success.set(0);
                    if self.clock.now_ms() - oldest_ms > S3_RETRY_MS {
                        tracing::error!(%error, stream = %plan.name, key, "S3 delivery failed for 24 hours; records dropped");
                        return false;
                    }
                    tracing::warn!(%error, stream = %plan.name, key, retry_in = ?backoff, "S3 delivery failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn deliver_http(&self, plan: &Plan, h: &HttpConfig, part: &Part, oldest: i64) {
        let records: Vec<Bytes> = part.records.iter().map(|r| r.data.clone()).collect();
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut retry = Retry::new(&self.clock, Duration::from_millis(h.retry_ms()));
        let failure = loop {
            let request = HttpRequest {
                config: h,
                request_id: &request_id,
                timestamp_ms: self.clock.now_ms(),
                source_arn: &plan.arn,
                records: &records,
            };
            let result = self.sinks.http.send(&request).await;
            self.remember(
                "HTTP endpoint",
                h.endpoint_configuration.url.clone(),
                part.bytes,
                result.as_ref().err().map(|e| e.to_string()),
            );
            let Err(error) = result else {
                break None;
            };
            self.metrics.http_success.set(0);
            if !retry
                .again(&plan.name, "HTTP endpoint delivery", &error)
                .await
            {
                break Some(error);
            }
        };
        let attempts = retry.attempts;
        match failure {
            None => {
                self.metrics.http_records.add(records.len() as u64);
                self.metrics.http_bytes.add(part.bytes);
                self.metrics.http_success.set(1);
                self.metrics
                    .http_freshness_secs
                    .set(((self.clock.now_ms() - oldest).max(0) / 1000) as u64);
            }
            Some(error) => {
                tracing::error!(%error, stream = %plan.name, attempts, "HTTP endpoint delivery failed past its retry duration; records go to the S3 error output");
                let (code, message) = match &error {
                    SinkError::Http { code, message } => (*code, message.clone()),
                    other => ("HttpEndpoint.InternalError", other.to_string()),
                };
                let lines =
                    failed_lines(&part.records, code, &message, attempts, self.clock.now_ms());
                self.put_object(
                    plan,
                    &h.s3,
                    lines.into(),
                    oldest,
                    Some("http-endpoint-failed"),
                    None,
                )
                .await;
            }
        }
    }
}

impl Worker {
    /// Writes a buffer as an intermediate object and a manifest naming it, then loads it with
    /// COPY, retrying within `RetryOptions`; a load that keeps failing leaves its manifest under
    /// `errors/` for the user to load by hand, as AWS does.
    async fn deliver_redshift(
        &self,
        plan: &Plan,
        config: &RedshiftConfig,
        part: &Part,
        body: Bytes,
        oldest: i64,
    ) {
        let Some(key) = self
            .put_object(plan, &config.s3, body.clone(), oldest, None, None)
            .await
        else {
            return;
        };
        let bucket = config.s3.bucket();
        let name = key.rsplit('/').next().unwrap_or(&key);
        let name = name.split('.').next().unwrap_or(name);
        let prefix = config.s3.prefix.as_deref().unwrap_or_default();
        let manifest = serde_json::json!({"entries": [
            {"url": format!("s3://{bucket}/{key}"), "mandatory": true}]});
        let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
        let manifest_key = format!("{prefix}manifests/{name}");
        if !self
            .write_object(
                plan,
                "S3 (Redshift manifest)",
                bucket,
                &manifest_key,
                manifest.clone(),
                oldest,
            )
            .await
        {
            return;
        }
        let manifest_url = format!("s3://{bucket}/{manifest_key}");
        let mut retry = Retry::new(&self.clock, Duration::from_millis(config.retry_ms()));
        let failure = loop {
            let Err(error) = redshift::load(config, &manifest_url, &body).await else {
                break None;
            };
            if !retry.again(&plan.name, "Redshift COPY", &error).await {
                break Some(error);
            }
        };
        let attempts = retry.attempts;
        self.remember(
            "Redshift COPY",
            config.copy_command.data_table_name.clone(),
            part.bytes,
            failure.as_ref().map(|e| e.to_string()),
        );
        self.metrics
            .redshift_success
            .set(u64::from(failure.is_none()));
        match failure {
            None => {
                self.metrics.redshift_records.add(part.records.len() as u64);
                self.metrics.redshift_bytes.add(part.bytes);
            }
            Some(error) => {
                tracing::error!(stream = %plan.name, attempts, %error, manifest = manifest_key, "Redshift COPY failed past its retry duration; its manifest goes to errors/");
                self.write_object(
                    plan,
                    "S3 error output (Redshift manifest)",
                    bucket,
                    &format!("{prefix}errors/{name}"),
                    manifest,
                    oldest,
                )
                .await;
            }
        }
    }

    /// Sends a buffer to Splunk's HTTP Event Collector as one request on this delivery's
    /// channel and waits for its acknowledgement, retrying (a new request, a new ackId) within
    /// `RetryOptions`; then the events go to the S3 error output (`splunk-failed`).
    async fn deliver_splunk(
        &self,
        plan: &Plan,
        config: &SplunkConfig,
        part: &Part,
        body: Bytes,
        oldest: i64,
    ) {
        let mut retry = Retry::new(&self.clock, Duration::from_millis(config.retry_ms()));
        let failure = loop {
            let sent = splunk::send(
                self.sinks.http.client(),
                config,
                &self.channel,
                body.clone(),
            )
            .await;
            let Err(error) = sent else {
                break None;
            };
            if !retry.again(&plan.name, "Splunk delivery", &error).await {
                break Some(error);
            }
        };
        let attempts = retry.attempts;
        self.remember(
            "Splunk",
            config.hec_endpoint.clone(),
            part.bytes,
            failure
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message)),
        );
        self.metrics
            .splunk_success
            .set(u64::from(failure.is_none()));
        let Some(error) = failure else {
            self.metrics.splunk_records.add(part.records.len() as u64);
            self.metrics.splunk_bytes.add(part.bytes);
            return;
        };
        tracing::error!(stream = %plan.name, attempts, code = error.code, error = error.message, "Splunk delivery failed past its retry duration; events go to the S3 error output");
        let lines = failed_lines(
            &part.records,
            error.code,
            &error.message,
            attempts,
            self.clock.now_ms(),
        );
        self.put_object(
            plan,
            &config.s3,
            lines.into(),
            oldest,
            Some("splunk-failed"),
            None,
        )
        .await;
    }

    /// Commits a buffer to its Iceberg table as one snapshot, retrying within `RetryOptions`
    /// (a retry reloads the table and writes anew); records that cannot be written, and all
    /// of them once retries are spent, go to the table's S3 error output.
    async fn deliver_iceberg(
        &self,
        plan: &Plan,
        config: &crate::iceberg::IcebergConfig,
        id: &str,
        part: &Part,
        oldest: i64,
    ) {
        let Some((database, table)) = crate::iceberg::part_table(id) else {
            tracing::error!(stream = %plan.name, id, "an Iceberg buffer without a table; records dropped");
            return;
        };
        let name = freshet_iceberg::TableName {
            namespace: database.to_string(),
            table: table.to_string(),
        };
        let table_config = config.table(database, table);
        let unique_keys: Vec<String> = table_config
            .and_then(|t| t.unique_keys.clone())
            .unwrap_or_default();
        // Every buffered record carries its operation's tag in front (add_iceberg); one that
        // does not cannot be applied and goes to the error output.
        let mut records = Vec::with_capacity(part.records.len());
        let mut untagged = Vec::with_capacity(part.records.len());
        let mut stray = Vec::new();
        for r in &part.records {
            let op = r
                .data
                .first()
                .copied()
                .and_then(crate::iceberg::Operation::from_tag);
            match op {
                Some(op) => {
                    let data = r.data.slice(1..);
                    records.push((op, data.clone()));
                    untagged.push(SourceRecord {
                        data,
                        arrival_ms: r.arrival_ms,
                    });
                }
                None => stray.push(r.clone()),
            }
        }
        let now_ms = self.clock.now_ms();
        let mut failed = failed_lines(
            &stray,
            "Iceberg.InvalidRecord",
            "The record was buffered for another destination.",
            1,
            now_ms,
        );
        // One snapshot id for every attempt: an attempt whose commit took effect though its
        // answer was lost is found on the table by the next one, not written twice.
        let snapshot_id = crate::iceberg::new_snapshot_id();
        let mut retry = Retry::new(&self.clock, Duration::from_millis(config.retry_ms()));
        let result = loop {
            let Some(writer) = &self.sinks.iceberg else {
                break Err(crate::iceberg::WriteError::Permanent {
                    code: "Iceberg.CatalogUnavailable",
                    message: "This server has no Iceberg catalog.".into(),
                });
            };
            match writer
                .write(
                    &name,
                    &records,
                    &unique_keys,
                    snapshot_id,
                    self.clock.now_ms(),
                )
                .await
            {
                Err(crate::iceberg::WriteError::Transient(error))
                    if retry.again(&plan.name, "Iceberg delivery", &error).await => {}
                other => break other,
            }
        };
        let now_ms = self.clock.now_ms();
        let attempts = retry.attempts;
        let error = result.as_ref().err().map(|e| e.to_string());
        self.remember("Iceberg", id.replace('\u{1}', "."), part.bytes, error);
        match result {
            Ok(delivered) => {
                self.metrics.iceberg_records.add(delivered.rows);
                self.metrics.iceberg_deleted_rows.add(delivered.deleted);
                self.metrics.iceberg_success.set(1);
                if let Some(snapshot) = delivered.snapshot_id {
                    tracing::debug!(stream = %plan.name, table = %id.replace('\u{1}', "."), snapshot, rows = delivered.rows, deleted = delivered.deleted, "Iceberg snapshot committed");
                }
                for (i, code, message) in &delivered.failed {
                    failed.extend(
                        Failure {
                            arrival_ms: untagged[*i].arrival_ms,
                            raw: &untagged[*i].data,
                            code,
                            message,
                            attempts,
                            ended_ms: now_ms,
                        }
                        .line(),
                    );
                }
            }
            Err(error) => {
                self.metrics.iceberg_success.set(0);
                let (code, message) = match &error {
                    crate::iceberg::WriteError::Transient(m) => {
                        ("Iceberg.DeliveryFailed", m.clone())
                    }
                    crate::iceberg::WriteError::Permanent { code, message } => {
                        (*code, message.clone())
                    }
                };
                tracing::error!(stream = %plan.name, table = %id.replace('\u{1}', "."), attempts, code, error = message, "Iceberg delivery failed; records go to the S3 error output");
                failed.extend(failed_lines(&untagged, code, &message, attempts, now_ms));
            }
        }
        if failed.is_empty() {
            return;
        }
        // A table's own S3ErrorOutputPrefix, where it has one, replaces the stream's.
        let mut s3 = config.s3.clone();
        if let Some(prefix) = table_config.and_then(|t| t.s3_error_output_prefix.clone()) {
            s3.error_output_prefix = Some(prefix);
        }
        self.put_object(plan, &s3, failed.into(), oldest, Some(ICEBERG_FAILED), None)
            .await;
    }

    /// Indexes a buffer's records as documents with `_bulk`, retrying the documents the engine
    /// refused (and whole requests that failed) within `RetryOptions`; what is still refused
    /// then goes to the S3 error output with the engine's reason.
    async fn deliver_search(
        &self,
        plan: &Plan,
        kind: SearchKind,
        config: &SearchConfig,
        part: &Part,
        oldest: i64,
    ) {
        let ids = config.document_ids();
        // Ids are chosen once, so that a retried document replaces itself.
        let docs: Vec<Document<'_>> = part
            .records
            .iter()
            .map(|r| Document {
                index: config.index(kind, r.arrival_ms),
                id: ids.then(|| uuid::Uuid::new_v4().to_string()),
                source: &r.data,
            })
            .collect();
        let mut pending: Vec<(usize, String, String)> = (0..docs.len())
            .map(|i| (i, String::new(), String::new()))
            .collect();
        let url = format!(
            "{}/_bulk",
            config
                .endpoint(&self.sinks.search_domains)
                .unwrap_or_default()
        );
        let mut retry = Retry::new(&self.clock, Duration::from_millis(config.retry_ms()));
        loop {
            let batch: Vec<&Document<'_>> = pending.iter().map(|(i, ..)| &docs[*i]).collect();
            let body = bulk_body(&batch, config.type_name.as_deref());
            let outcome = match self
                .sinks
                .http
                .client()
                .post(&url)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => match response.bytes().await {
                    Ok(bytes) => bulk_results(&bytes, batch.len())
                        .map_err(|e| ("OS.MalformedResponse".to_string(), e)),
                    Err(e) => Err(("OS.ConnectionFailed".to_string(), e.to_string())),
                },
                Ok(response) => {
                    let status = response.status().as_u16().to_string();
                    let text = response.text().await.unwrap_or_default();
                    Err((status, text.chars().take(512).collect()))
                }
                Err(e) => Err(("OS.ConnectionFailed".to_string(), e.to_string())),
            };
            let tried = std::mem::take(&mut pending).into_iter();
            pending = match outcome {
                Ok(results) => tried
                    .zip(results)
                    .filter_map(|((i, ..), r)| r.map(|(code, message)| (i, code, message)))
                    .collect(),
                Err((code, message)) => tried
                    .map(|(i, ..)| (i, code.clone(), message.clone()))
                    .collect(),
            };
            let refused = match pending.len() {
                0 => break,
                n => format!("{n} documents were not indexed"),
            };
            if !retry
                .again(&plan.name, "Search engine delivery", &refused)
                .await
            {
                break;
            }
        }
        let attempts = retry.attempts;
        let indexed = (docs.len() - pending.len()) as u64;
        self.metrics.search_records.add(indexed);
        self.metrics.search_bytes.add(
            part.bytes
                - pending
                    .iter()
                    .map(|(i, ..)| part.records[*i].data.len() as u64)
                    .sum::<u64>(),
        );
        let refused = (!pending.is_empty())
            .then(|| format!("{} of {} documents not indexed", pending.len(), docs.len()));
        self.remember(kind.label(), url.clone(), part.bytes, refused);
        self.metrics
            .search_success
            .set(u64::from(pending.is_empty()));
        self.metrics
            .search_freshness_secs
            .set(((self.clock.now_ms() - oldest).max(0) / 1000) as u64);
        if pending.is_empty() {
            return;
        }
        tracing::error!(stream = %plan.name, attempts, failed = pending.len(), "documents refused past the retry duration go to the S3 error output");
        let ended = self.clock.now_ms();
        let lines: Vec<u8> = pending
            .into_iter()
            .flat_map(|(i, code, message)| {
                let record = &part.records[i];
                let mut doc = Failure {
                    arrival_ms: record.arrival_ms,
                    raw: &record.data,
                    code: &code,
                    message: &message,
                    attempts,
                    ended_ms: ended,
                }
                .doc();
                doc["esDocumentId"] = serde_json::json!(docs[i].id);
                doc["esIndexName"] = serde_json::json!(docs[i].index);
                doc["esTypeName"] = serde_json::json!(config.type_name.clone().unwrap_or_default());
                json_line(&doc)
            })
            .collect();
        self.put_object(
            plan,
            &config.s3,
            lines.into(),
            oldest,
            Some(kind.error_output_type()),
            None,
        )
        .await;
    }
}

/// A record that could not be delivered, as the S3 error output describes it (AWS's shape).
struct Failure<'a> {
    arrival_ms: i64,
    raw: &'a [u8],
    code: &'a str,
    message: &'a str,
    attempts: u32,
    ended_ms: i64,
}

impl Failure<'_> {
    fn doc(&self) -> serde_json::Value {
        serde_json::json!({
            "attemptsMade": self.attempts,
            "arrivalTimestamp": self.arrival_ms,
            "errorCode": self.code,
            "errorMessage": self.message,
            "attemptEndingTimestamp": self.ended_ms,
            "rawData": BASE64.encode(self.raw),
        })
    }

    fn line(&self) -> Vec<u8> {
        json_line(&self.doc())
    }
}

fn json_line(doc: &serde_json::Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(doc).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Error-output lines for a buffer whose records all failed the same way.
fn failed_lines(
    records: &[SourceRecord],
    code: &str,
    message: &str,
    attempts: u32,
    ended_ms: i64,
) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| {
            Failure {
                arrival_ms: r.arrival_ms,
                raw: &r.data,
                code,
                message,
                attempts,
                ended_ms,
            }
            .line()
        })
        .collect()
}

/// `<evaluated prefix><stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid><extension>`.
fn object_key(
    plan: &Plan,
    config: &S3Config,
    oldest_ms: i64,
    error_type: Option<&str>,
    keys: Option<&PartitionKeys>,
) -> Result<String, crate::error::FirehoseError> {
    let prefixes = config.prefixes()?;
    let at = datetime(oldest_ms);
    let ctx = Context {
        oldest_arrival: at,
        error_output_type: error_type,
        keys,
    };
    let prefix = match error_type {
        Some(_) => &prefixes.error,
        None => &prefixes.data,
    };
    let prefix = prefix
        .evaluate(&ctx)
        .map_err(|e| crate::error::FirehoseError::InvalidArgument(e.to_string()))?;
    Ok(format!(
        "{prefix}{}-{}-{}-{}{}",
        plan.name,
        plan.version_id,
        at.format("%Y-%m-%d-%H-%M-%S"),
        uuid::Uuid::new_v4(),
        config.extension()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_follow_the_aws_format() {
        let config: S3Config = serde_json::from_value(serde_json::json!({
            "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b",
            "CompressionFormat": "GZIP"}))
        .unwrap();
        let plan = Plan::new(
            "ds".into(),
            "arn".into(),
            3,
            Destination::S3 {
                config: Box::new(config.clone()),
                plain: false,
            },
            None,
        );
        // 2026-02-03 04:05:06.789 UTC
        let ms = 1_770_091_506_789;
        let key = object_key(&plan, &config, ms, None, None).unwrap();
        let re = regex_lite(&key);
        assert!(re, "{key}");
        assert!(
            key.starts_with("2026/02/03/04/ds-3-2026-02-03-04-05-06-"),
            "{key}"
        );
        assert!(key.ends_with(".gz"));
        let err = object_key(&plan, &config, ms, Some("http-endpoint-failed"), None).unwrap();
        assert!(
            err.starts_with("http-endpoint-failed/2026/02/03/04/ds-3-"),
            "{err}"
        );
    }

    use std::path::Path;

    use freshet_log::{FsyncPolicy, Log, LogConfig, NewRecord, ShardLogId};

    use freshet_streams::StartingPosition;

    use crate::retention::Holds;
    use crate::sink::S3Target;
    use crate::source::LogSource;

    fn objects(dir: &Path) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else if !e.file_name().to_string_lossy().contains(".tmp-") {
                    // (a temporary file is an object still being written)
                    out.push(std::fs::read(e.path()).unwrap());
                }
            }
        }
        out
    }

    /// Waits until `n` objects exist (real time: this is I/O, not a buffer interval).
    async fn wait_for_objects(dir: &Path, n: usize) -> Vec<Vec<u8>> {
        for _ in 0..2000 {
            let found = objects(dir);
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {n} objects, found {}", objects(dir).len());
    }

    /// Buffering runs on an injected clock that this test moves by hand: the interval threshold
    /// is checked without waiting for it, and the size threshold without any time passing.
    #[tokio::test]
    async fn buffers_flush_at_the_interval_or_the_size_whichever_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut log_config = LogConfig::new(dir.path().join("log"));
        log_config.fsync = FsyncPolicy::Never;
        let log = Log::open(log_config).unwrap();
        let id = ShardLogId {
            stream: 1,
            shard: 0,
        };
        log.create_shard(id).await.unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db")).await.unwrap();
        let uid = catalog.create_delivery_stream("ds", 0, "{}").await.unwrap();
        let config: S3Config = serde_json::from_value(serde_json::json!({
            "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}))
        .unwrap();
        let plan = Arc::new(Plan::new(
            "ds".into(),
            "arn".into(),
            1,
            Destination::S3 {
                config: Box::new(config),
                plain: false,
            },
            None,
        ));
        let (_plan_tx, plan_rx) = watch::channel(plan);
        let s3 = dir.path().join("s3");
        let (clock, hand) = freshet_runtime::ManualClock::shared(0);
        let worker = Worker {
            uid,
            channel: "test".into(),
            catalog: catalog.clone(),
            sinks: Arc::new(Sinks::new(
                ObjectWriter::new(S3Target::Local(s3.clone())),
                HttpSender::new(None).unwrap(),
                None,
                "us-east-1".into(),
                500,
                None,
            )),
            metrics: Arc::new(Metrics::default()),
            plan: plan_rx,
            source: Source::Log(
                LogSource::open(
                    Arc::new(log.clone()),
                    id,
                    Arc::new(Holds::load(uid, catalog.clone(), None).unwrap()),
                    &Default::default(),
                    &StartingPosition::TrimHorizon,
                )
                .await
                .unwrap(),
            ),
            clock: clock.clone(),
        };
        let task = tokio::spawn(worker.run());
        let record = |data: &[u8]| NewRecord {
            sealed: false,
            partition_key: Default::default(),
            explicit_hash_key: None,
            data: Bytes::copy_from_slice(data),
        };

        log.append(id, vec![record(b"a"), record(b"b")])
            .await
            .unwrap();
        // The batch opens when the worker reads the records, at some clock reading >= 0 that
        // this test cannot see; so move the clock a second at a time, giving the worker real
        // time to act after each step, and note the reading at which the object appears.
        let mut flushed_at = None;
        for second in 1..=200u64 {
            hand.advance(Duration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !objects(&s3).is_empty() {
                flushed_at = Some(second);
                break;
            }
        }
        let flushed_at = flushed_at.expect("the interval flush never came");
        assert!(
            flushed_at >= 60,
            "flushed {flushed_at} s after the first record, before the 60 s interval"
        );
        assert_eq!(wait_for_objects(&s3, 1).await, vec![b"ab".to_vec()]);

        // 1.5 MiB arrives at once: the first 1 MiB goes out on size alone, at no later time.
        let chunk = vec![b'x'; 256 * 1024];
        log.append(id, (0..6).map(|_| record(&chunk)).collect())
            .await
            .unwrap();
        let found = wait_for_objects(&s3, 2).await;
        assert!(
            found.iter().any(|o| o.len() == 4 * chunk.len()),
            "one 1 MiB object"
        );
        // The checkpoint follows the object: after a, b and the 4 delivered chunks.
        let mut saved = String::new();
        for _ in 0..2000 {
            saved = catalog.load_delivery_streams().await.unwrap()[0].checkpoints["log"].clone();
            if saved == "6" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(saved, "6");
        assert_eq!(
            objects(&s3).len(),
            2,
            "the remaining 2 chunks wait for the interval"
        );
        task.abort();
    }

    /// The uuid part: 8-4-4-4-12 lowercase hex before the extension.
    fn regex_lite(key: &str) -> bool {
        let name = key.rsplit('/').next().unwrap().trim_end_matches(".gz");
        let uuid = &name[name.len() - 36..];
        uuid::Uuid::parse_str(uuid).is_ok()
    }
}
