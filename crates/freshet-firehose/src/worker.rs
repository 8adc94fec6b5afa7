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
use tokio::sync::watch;
use tokio::time::Instant;

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
}

/// Failed S3 writes are retried for as long as Firehose keeps data (24 hours).
const S3_RETRY_MS: i64 = 24 * 3600 * 1000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Worker {
    pub async fn run(mut self) {
        let mut batch = Batch::default();
        loop {
            let plan = self.plan.borrow_and_update().clone();
            let limits = match &plan.destination {
                Destination::S3 { config, .. } => config.thresholds(),
                Destination::Http(h) => h.thresholds(),
            };
            let mut read = 0;
            if batch.bytes < limits.bytes {
                match self.source.poll(limits.bytes - batch.bytes, &mut batch).await {
                    Ok(n) => read = n,
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
            if !batch.records.is_empty() && (full || due.is_some_and(|d| d <= Instant::now())) {
                self.deliver(&plan, &batch).await;
                self.checkpoint(&batch).await;
                batch = Batch::default();
                continue;
            }
            if batch.records.is_empty() && !batch.marks.is_empty() {
                // Progress without data (a Kinesis shard reached its end): checkpoint it now.
                self.checkpoint(&batch).await;
                batch = Batch::default();
            }
            if read == 0 {
                tokio::select! {
                    _ = self.source.wait(due) => {}
                    _ = self.plan.changed() => {}
                }
            }
        }
    }

    async fn checkpoint(&self, batch: &Batch) {
        for (source, position) in &batch.marks {
            let mut backoff = Duration::from_millis(100);
            while let Err(error) = self.catalog.put_checkpoint(self.uid, source, position).await {
                tracing::error!(%error, "cannot save delivery checkpoint; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        self.source.delivered(batch).await;
    }

    async fn deliver(&self, plan: &Plan, batch: &Batch) {
        let oldest = batch
            .records
            .iter()
            .map(|r| r.arrival_ms)
            .min()
            .unwrap_or_else(now_ms);
        match &plan.destination {
            Destination::S3 { config, .. } => {
                let body: Vec<u8> = batch.records.iter().flat_map(|r| r.data.iter().copied()).collect();
                if self.put_object(plan, config, &body, oldest, None).await {
                    Metrics::add(&self.metrics.s3_records, batch.records.len() as u64);
                    Metrics::add(&self.metrics.s3_bytes, batch.bytes);
                    Metrics::add(&self.metrics.s3_objects, 1);
                    Metrics::set(&self.metrics.s3_success, 1);
                    Metrics::set(
                        &self.metrics.s3_freshness_secs,
                        ((now_ms() - oldest).max(0) / 1000) as u64,
                    );
                }
                if let Some(backup) = config.s3_backup.as_deref().filter(|_| config.backup_enabled())
                    && self.put_object(plan, backup, &body, oldest, None).await
                {
                    Metrics::add(&self.metrics.backup_records, batch.records.len() as u64);
                    Metrics::add(&self.metrics.backup_bytes, batch.bytes);
                }
            }
            Destination::Http(h) => self.deliver_http(plan, h, batch, oldest).await,
        }
        Metrics::set(
            &self.metrics.backlog_bytes,
            self.metrics
                .backlog_bytes
                .load(std::sync::atomic::Ordering::Relaxed)
                .saturating_sub(batch.bytes),
        );
    }

    /// Writes one object, retrying for up to 24 hours after its oldest record arrived; false if
    /// it had to be given up. `error_type` selects the error prefix instead of the data prefix.
    async fn put_object(
        &self,
        plan: &Plan,
        config: &S3Config,
        content: &[u8],
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
        let entry = key.rsplit('/').next().unwrap_or(&key).trim_end_matches(".zip");
        let body = match compression.apply(content, entry) {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, stream = %plan.name, "compression failed; records dropped");
                return false;
            }
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.sinks.objects.put(config.bucket(), &key, body.clone()).await {
                Ok(()) => {
                    tracing::debug!(stream = %plan.name, bucket = config.bucket(), key, "delivered object");
                    return true;
                }
                Err(error) => {
                    Metrics::set(&self.metrics.s3_success, 0);
                    if now_ms() - oldest_ms > S3_RETRY_MS {
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

    async fn deliver_http(&self, plan: &Plan, h: &HttpConfig, batch: &Batch, oldest: i64) {
        let records: Vec<Bytes> = batch.records.iter().map(|r| r.data.clone()).collect();
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let retry = Duration::from_millis(h.retry_ms());
        let mut attempts = 0u32;
        let mut backoff = Duration::from_secs(1);
        let failure = loop {
            attempts += 1;
            let request = HttpRequest {
                config: h,
                request_id: &request_id,
                timestamp_ms: now_ms(),
                source_arn: &plan.arn,
                records: &records,
            };
            match self.sinks.http.send(&request).await {
                Ok(()) => break None,
                Err(error) => {
                    Metrics::set(&self.metrics.http_success, 0);
                    if started.elapsed() + backoff > retry {
                        break Some(error);
                    }
                    tracing::warn!(%error, stream = %plan.name, attempts, "HTTP endpoint delivery failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        let body: Vec<u8> = batch.records.iter().flat_map(|r| r.data.iter().copied()).collect();
        match failure {
            None => {
                Metrics::add(&self.metrics.http_records, records.len() as u64);
                Metrics::add(&self.metrics.http_bytes, batch.bytes);
                Metrics::set(&self.metrics.http_success, 1);
                Metrics::set(
                    &self.metrics.http_freshness_secs,
                    ((now_ms() - oldest).max(0) / 1000) as u64,
                );
            }
            Some(error) => {
                tracing::error!(%error, stream = %plan.name, attempts, "HTTP endpoint delivery failed past its retry duration; records go to the S3 error output");
                let (code, message) = match &error {
                    SinkError::Http { code, message } => (*code, message.clone()),
                    other => ("HttpEndpoint.InternalError", other.to_string()),
                };
                let ended = now_ms();
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
                self.put_object(plan, &h.s3, &lines, oldest, Some("http-endpoint-failed"))
                    .await;
            }
        }
        if h.backup_all() && self.put_object(plan, &h.s3, &body, oldest, None).await {
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
            "CompressionFormat": "GZIP"})).unwrap();
        let plan = Plan {
            name: "ds".into(),
            arn: "arn".into(),
            version_id: 3,
            destination: Destination::S3 { config: config.clone(), plain: false },
        };
        // 2026-02-03 04:05:06.789 UTC
        let ms = 1_770_091_506_789;
        let key = object_key(&plan, &config, ms, None).unwrap();
        let re = regex_lite(&key);
        assert!(re, "{key}");
        assert!(key.starts_with("2026/02/03/04/ds-3-2026-02-03-04-05-06-"), "{key}");
        assert!(key.ends_with(".gz"));
        let err = object_key(&plan, &config, ms, Some("http-endpoint-failed")).unwrap();
        assert!(err.starts_with("http-endpoint-failed/2026/02/03/04/ds-3-"), "{err}");
    }

    /// The uuid part: 8-4-4-4-12 lowercase hex before the extension.
    fn regex_lite(key: &str) -> bool {
        let name = key.rsplit('/').next().unwrap().trim_end_matches(".gz");
        let uuid = &name[name.len() - 36..];
        uuid::Uuid::parse_str(uuid).is_ok()
    }
}
