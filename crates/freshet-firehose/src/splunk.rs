//! The Splunk destination: records go to a HTTP Event Collector (`/services/collector/event` or
//! `/services/collector/raw`) with indexer acknowledgement, as Firehose requires it: each
//! request carries the delivery's channel (`X-Splunk-Request-Channel`), HEC answers an `ackId`,
//! and the data counts as delivered only once `/services/collector/ack` reports it indexed
//! within `HECAcknowledgmentTimeoutInSeconds`.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{
    BufferingHints, RetryOptions, S3Config, Thresholds, describe_destination, enabled,
};
use crate::error::{FirehoseError, Result};
use crate::process::Processing;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SplunkConfig {
    #[serde(rename = "HECEndpoint", default)]
    pub hec_endpoint: String,
    #[serde(rename = "HECEndpointType", default)]
    pub hec_endpoint_type: String,
    #[serde(rename = "HECToken", skip_serializing_if = "Option::is_none")]
    pub hec_token: Option<String>,
    #[serde(
        rename = "HECAcknowledgmentTimeoutInSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub ack_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(rename = "S3Configuration", default)]
    pub s3: S3Config,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_manager_configuration: Option<Value>,
}

fn invalid(message: impl Into<String>) -> FirehoseError {
    FirehoseError::InvalidArgument(message.into())
}

/// AWS's defaults: 180 s for an acknowledgement, an hour of retries, 5 MiB or 60 s buffers.
const DEFAULT_ACK_SECS: u64 = 180;
const DEFAULT_RETRY_SECS: u64 = 3600;
const DEFAULT_INTERVAL_SECS: u64 = 60;

impl SplunkConfig {
    pub fn thresholds(&self) -> Thresholds {
        let mut hints = self.buffering_hints.unwrap_or_default();
        hints
            .interval_in_seconds
            .get_or_insert(DEFAULT_INTERVAL_SECS);
        BufferingHints::thresholds(Some(hints), false)
    }

    pub fn retry_ms(&self) -> u64 {
        RetryOptions::ms(self.retry_options, DEFAULT_RETRY_SECS)
    }

    pub fn ack_timeout(&self) -> Duration {
        Duration::from_secs(self.ack_timeout_secs.unwrap_or(DEFAULT_ACK_SECS))
    }

    pub fn backup_all(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("AllEvents")
    }

    /// The collector URL for the endpoint type.
    pub fn url(&self) -> String {
        let path = match self.hec_endpoint_type.as_str() {
            "Raw" => "raw",
            _ => "event",
        };
        format!(
            "{}/services/collector/{path}",
            self.hec_endpoint.trim_end_matches('/')
        )
    }

    pub fn ack_url(&self, channel: &str) -> String {
        format!(
            "{}/services/collector/ack?channel={channel}",
            self.hec_endpoint.trim_end_matches('/')
        )
    }

    pub fn check(&self) -> Result<()> {
        reqwest::Url::parse(&self.hec_endpoint)
            .map_err(|e| invalid(format!("Invalid HECEndpoint {}: {e}", self.hec_endpoint)))?;
        if !matches!(self.hec_endpoint_type.as_str(), "Raw" | "Event") {
            return Err(invalid("HECEndpointType must be Raw or Event."));
        }
        if enabled(&self.secrets_manager_configuration) {
            return Err(invalid(
                "SecretsManagerConfiguration is not supported by Freshet yet; give HECToken.",
            ));
        }
        if self.hec_token.as_deref().unwrap_or_default().is_empty() {
            return Err(invalid(
                "HECToken is required when SecretsManagerConfiguration is not enabled.",
            ));
        }
        Processing::parse(self.processing_configuration.as_ref(), false)?;
        self.s3.check("S3Configuration")
    }

    pub fn describe(&self) -> Value {
        let mut d = describe_destination(self, &self.s3, self.retry_ms(), "FailedEventsOnly");
        let t = self.thresholds();
        d.insert(
            "BufferingHints".into(),
            json!({"SizeInMBs": t.bytes >> 20, "IntervalInSeconds": t.interval_ms / 1000}),
        );
        d.insert(
            "HECAcknowledgmentTimeoutInSeconds".into(),
            json!(self.ack_timeout().as_secs()),
        );
        Value::Object(d)
    }
}

/// Why an attempt failed, with Firehose's error code for the error output.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HecError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Deserialize)]
struct HecResponse {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: i64,
    #[serde(rename = "ackId", default)]
    ack_id: Option<u64>,
}

/// Firehose's error code for a HEC status code (Splunk's documented codes).
fn code_of(hec: i64, status: u16) -> &'static str {
    match (hec, status) {
        (1, _) => "Splunk.DisabledToken",
        (2..=4, _) | (_, 401 | 403) => "Splunk.InvalidToken",
        (5 | 6, _) => "Splunk.InvalidDataFormat",
        (7, _) => "Splunk.InvalidIndex",
        (12 | 13, _) => "Splunk.InvalidEvent",
        (10 | 11, _) => "Splunk.InvalidChannel",
        (14, _) => "Splunk.AckDisabled",
        (_, 404) => "Splunk.URLNotFound",
        (_, 413) => "Splunk.PayloadTooLarge",
        _ => "Splunk.ServerError",
    }
}

/// One attempt: send the records, then wait for their acknowledgement.
pub async fn send(
    client: &reqwest::Client,
    config: &SplunkConfig,
    channel: &str,
    body: Bytes,
) -> std::result::Result<(), HecError> {
    let token = format!("Splunk {}", config.hec_token.as_deref().unwrap_or_default());
    let connection = |e: reqwest::Error| HecError {
        code: "Splunk.ConnectionTimeout",
        message: e.to_string(),
    };
    let response = client
        .post(config.url())
        .header("authorization", &token)
        .header("x-splunk-request-channel", channel)
        .body(body)
        .send()
        .await
        .map_err(connection)?;
    let status = response.status().as_u16();
    let text = response.bytes().await.map_err(connection)?;
    let answer: Option<HecResponse> = serde_json::from_slice(&text).ok();
    let ack = match &answer {
        Some(a) if status == 200 && a.code == 0 => a.ack_id,
        _ => {
            let hec = answer.as_ref().map_or(-1, |a| a.code);
            return Err(HecError {
                code: code_of(hec, status),
                message: match answer {
                    Some(a) => format!("HEC answered {status}: {} (code {})", a.text, a.code),
                    None => format!(
                        "HEC answered {status}: {}",
                        String::from_utf8_lossy(&text[..text.len().min(256)])
                    ),
                },
            });
        }
    };
    let Some(ack) = ack else {
        return Err(HecError {
            code: "Splunk.AckDisabled",
            message:
                "HEC answered no ackId: indexer acknowledgement must be enabled for the token."
                    .into(),
        });
    };
    wait_for_ack(client, config, channel, &token, ack).await
}

async fn wait_for_ack(
    client: &reqwest::Client,
    config: &SplunkConfig,
    channel: &str,
    token: &str,
    ack: u64,
) -> std::result::Result<(), HecError> {
    let timeout = || HecError {
        code: "Splunk.AckTimeout",
        message: format!(
            "HEC did not acknowledge ackId {ack} within {} seconds.",
            config.ack_timeout().as_secs()
        ),
    };
    fail::fail_point!("firehose::splunk_ack_timeout", |_| Err(timeout()));
    let poll = Duration::from_millis(200);
    let mut waited = Duration::ZERO;
    loop {
        let acked = client
            .post(config.ack_url(channel))
            .header("authorization", token)
            .header("x-splunk-request-channel", channel)
            .header("content-type", "application/json")
            .body(json!({"acks": [ack]}).to_string())
            .send()
            .await
            .ok();
        if let Some(response) = acked
            && response.status().is_success()
            && let Ok(body) = response.bytes().await
            && let Ok(doc) = serde_json::from_slice::<Value>(&body)
            && doc
                .get("acks")
                .and_then(|a| a.get(ack.to_string()))
                .and_then(Value::as_bool)
                == Some(true)
        {
            return Ok(());
        }
        if waited >= config.ack_timeout() {
            return Err(timeout());
        }
        tokio::time::sleep(poll).await;
        waited += poll;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_defaults_and_error_codes() {
        let c = SplunkConfig {
            hec_endpoint: "https://hec.example:8088/".into(),
            hec_endpoint_type: "Raw".into(),
            ..Default::default()
        };
        assert_eq!(c.url(), "https://hec.example:8088/services/collector/raw");
        assert_eq!(
            c.ack_url("ch"),
            "https://hec.example:8088/services/collector/ack?channel=ch"
        );
        assert_eq!(
            c.thresholds(),
            Thresholds {
                bytes: 5 << 20,
                interval_ms: 60_000
            }
        );
        assert_eq!(c.ack_timeout(), Duration::from_secs(180));
        assert_eq!(c.retry_ms(), 3_600_000);
        assert_eq!(code_of(4, 403), "Splunk.InvalidToken");
        assert_eq!(code_of(9, 503), "Splunk.ServerError");
        assert_eq!(code_of(-1, 404), "Splunk.URLNotFound");
    }
}
