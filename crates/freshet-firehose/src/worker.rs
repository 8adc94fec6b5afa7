//! A delivery stream's worker: fill a buffer from the source until `SizeInMBs` or
//! `IntervalInSeconds` (whichever first), deliver it as one object or request — retrying as
//! AWS documents, or moving it to the S3 error output — and only then checkpoint the source.
//! A crash anywhere replays from the last checkpoint: delivery is at least once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use freshet_catalog::Catalog;
use freshet_runtime::SharedClock;
use tokio::sync::watch;

use crate::config::{Destination, HttpConfig, S3Config};
use crate::metrics::Metrics;
use crate::prefix::Context;
use crate::sink::{HttpRequest, HttpSender, ObjectWriter, SinkError};
use crate::source::{Batch, Source};

/// What the worker delivers with; replaced whole by UpdateDestination.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub arn: String,
    pub version_id: u64,
    pub destination: Destination,
}

pub struct Sinks {
    pub objects: ObjectWriter,
    pub http: HttpSender,
}

pub struct Worker {
    pub uid: u64,
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

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Worker {
    pub async fn run(mut self) {
        let mut batch = Batch::new(self.clock.clone());
        loop {
            let plan = self.plan.borrow_and_update().clone();
            let limits = match &plan.destination {
                Destination::S3 { config, .. } => config.thresholds(),
                Destination::Http(h) => h.thresholds(),
            };
            let mut read = 0;
            if batch.bytes < limits.bytes {
                let before = batch.bytes;
                match self
                    .source
                    .poll(limits.bytes - batch.bytes, &mut batch)
                    .await
                {
                    Ok(n) => {
                        read = n;
                        if matches!(self.source, Source::Kinesis(_)) {
                            Metrics::add(&self.metrics.kinesis_records, n as u64);
                            Metrics::add(&self.metrics.kinesis_bytes, batch.bytes - before);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, stream = %plan.name, "delivery source read failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let due = batch
                .opened
                .map(|t| t + Duration::from_millis(limits.interval_ms));
            let full = batch.bytes >= limits.bytes;
            if !batch.records.is_empty() && (full || due.is_some_and(|d| d <= self.clock.elapsed()))
            {
                self.deliver(&plan, &batch).await;
                self.checkpoint(&batch).await;
                batch = Batch::new(self.clock.clone());
                continue;
            }
            if batch.records.is_empty() && !batch.marks.is_empty() {
                // Progress without data (a Kinesis shard reached its end): checkpoint it now.
                self.checkpoint(&batch).await;
                batch = Batch::new(self.clock.clone());
            }
            if read == 0 {
                let clock = self.clock.clone();
                let interval = async move {
                    match due {
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

    async fn checkpoint(&self, batch: &Batch) {
        for (source, position) in &batch.marks {
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
        self.source.delivered(batch, self.clock.now_ms()).await;
    }

    async fn deliver(&self, plan: &Plan, batch: &Batch) {
        let oldest = batch
            .records
            .iter()
            .map(|r| r.arrival_ms)
            .min()
            .unwrap_or_else(|| self.clock.now_ms());
        // What S3 receives (as the object or its backup): the records' data back to back.
        let body = Bytes::from(
            batch
                .records
                .iter()
                .map(|r| &r.data[..])
                .collect::<Vec<_>>()
                .concat(),
        );
        match &plan.destination {
            Destination::S3 { config, .. } => {
                if self
                    .put_object(plan, config, body.clone(), oldest, None)
                    .await
                {
                    Metrics::add(&self.metrics.s3_records, batch.records.len() as u64);
                    Metrics::add(&self.metrics.s3_bytes, batch.bytes);
                    Metrics::add(&self.metrics.s3_objects, 1);
                    Metrics::set(&self.metrics.s3_success, 1);
                    Metrics::set(
                        &self.metrics.s3_freshness_secs,
                        ((self.clock.now_ms() - oldest).max(0) / 1000) as u64,
                    );
                }
                if let Some(backup) = config
                    .s3_backup
                    .as_deref()
                    .filter(|_| config.backup_enabled())
                    && self
                        .put_object(plan, backup, body.clone(), oldest, None)
                        .await
                {
                    Metrics::add(&self.metrics.backup_records, batch.records.len() as u64);
                    Metrics::add(&self.metrics.backup_bytes, batch.bytes);
                }
            }
            Destination::Http(h) => self.deliver_http(plan, h, batch, &body, oldest).await,
        }
        // One atomic step: puts add to the backlog concurrently.
        let _ = self.metrics.backlog_bytes.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |v| Some(v.saturating_sub(batch.bytes)),
        );
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
    ) -> bool {
        let key = match object_key(plan, config, oldest_ms, error_type) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(%error, stream = %plan.name, "cannot name the object; records dropped");
                return false;
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
                return false;
            }
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            match self
                .sinks
                .objects
                .put(config.bucket(), &key, body.clone())
                .await
            {
                Ok(()) => {
                    tracing::debug!(stream = %plan.name, bucket = config.bucket(), key, "delivered object");
                    return true;
                }
                Err(error) => {
                    Metrics::set(&self.metrics.s3_success, 0);
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

    async fn deliver_http(
        &self,
        plan: &Plan,
        h: &HttpConfig,
        batch: &Batch,
        body: &Bytes,
        oldest: i64,
    ) {
        let records: Vec<Bytes> = batch.records.iter().map(|r| r.data.clone()).collect();
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = self.clock.elapsed();
        let retry = Duration::from_millis(h.retry_ms());
        let mut attempts = 0u32;
        let mut backoff = Duration::from_secs(1);
        let failure = loop {
            attempts += 1;
            let request = HttpRequest {
                config: h,
                request_id: &request_id,
                timestamp_ms: self.clock.now_ms(),
                source_arn: &plan.arn,
                records: &records,
            };
            match self.sinks.http.send(&request).await {
                Ok(()) => break None,
                Err(error) => {
                    Metrics::set(&self.metrics.http_success, 0);
                    if self.clock.elapsed().saturating_sub(started) + backoff > retry {
                        break Some(error);
                    }
                    tracing::warn!(%error, stream = %plan.name, attempts, "HTTP endpoint delivery failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        match failure {
            None => {
                Metrics::add(&self.metrics.http_records, records.len() as u64);
                Metrics::add(&self.metrics.http_bytes, batch.bytes);
                Metrics::set(&self.metrics.http_success, 1);
                Metrics::set(
                    &self.metrics.http_freshness_secs,
                    ((self.clock.now_ms() - oldest).max(0) / 1000) as u64,
                );
            }
            Some(error) => {
                tracing::error!(%error, stream = %plan.name, attempts, "HTTP endpoint delivery failed past its retry duration; records go to the S3 error output");
                let (code, message) = match &error {
                    SinkError::Http { code, message } => (*code, message.clone()),
                    other => ("HttpEndpoint.InternalError", other.to_string()),
                };
                let ended = self.clock.now_ms();
                let lines: Vec<u8> = batch
                    .records
                    .iter()
                    .flat_map(|r| {
                        let mut line = serde_json::to_vec(&serde_json::json!({
                            "attemptsMade": attempts,
                            "arrivalTimestamp": r.arrival_ms,
                            "errorCode": code,
                            "errorMessage": message,
                            "attemptEndingTimestamp": ended,
                            "rawData": BASE64.encode(&r.data),
                        }))
                        .unwrap_or_default();
                        line.push(b'\n');
                        line
                    })
                    .collect();
                self.put_object(
                    plan,
                    &h.s3,
                    lines.into(),
                    oldest,
                    Some("http-endpoint-failed"),
                )
                .await;
            }
        }
        if h.backup_all()
            && self
                .put_object(plan, &h.s3, body.clone(), oldest, None)
                .await
        {
            Metrics::add(&self.metrics.backup_records, records.len() as u64);
            Metrics::add(&self.metrics.backup_bytes, batch.bytes);
        }
    }
}

/// `<evaluated prefix><stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid><extension>`.
fn object_key(
    plan: &Plan,
    config: &S3Config,
    oldest_ms: i64,
    error_type: Option<&str>,
) -> Result<String, crate::error::FirehoseError> {
    let prefixes = config.prefixes()?;
    let at = datetime(oldest_ms);
    let ctx = Context {
        oldest_arrival: at,
        error_output_type: error_type,
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
        let plan = Plan {
            name: "ds".into(),
            arn: "arn".into(),
            version_id: 3,
            destination: Destination::S3 {
                config: Box::new(config.clone()),
                plain: false,
            },
        };
        // 2026-02-03 04:05:06.789 UTC
        let ms = 1_770_091_506_789;
        let key = object_key(&plan, &config, ms, None).unwrap();
        let re = regex_lite(&key);
        assert!(re, "{key}");
        assert!(
            key.starts_with("2026/02/03/04/ds-3-2026-02-03-04-05-06-"),
            "{key}"
        );
        assert!(key.ends_with(".gz"));
        let err = object_key(&plan, &config, ms, Some("http-endpoint-failed")).unwrap();
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
        let plan = Arc::new(Plan {
            name: "ds".into(),
            arn: "arn".into(),
            version_id: 1,
            destination: Destination::S3 {
                config: Box::new(config),
                plain: false,
            },
        });
        let (_plan_tx, plan_rx) = watch::channel(plan);
        let s3 = dir.path().join("s3");
        let (clock, hand) = freshet_runtime::ManualClock::shared(0);
        let worker = Worker {
            uid,
            catalog: catalog.clone(),
            sinks: Arc::new(Sinks {
                objects: ObjectWriter::new(S3Target::Local(s3.clone())),
                http: HttpSender::new(None).unwrap(),
            }),
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
