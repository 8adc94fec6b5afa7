//! The Lambda processor: records go to a function through Lambda's Invoke REST API
//! (`POST /2015-03-31/functions/{name}/invocations`) at the configured Lambda-compatible
//! endpoint, in Firehose's transformation contract: `{invocationId, deliveryStreamArn, region,
//! records: [{recordId, approximateArrivalTimestamp, data}]}` in, `{records: [{recordId,
//! result, data, metadata: {partitionKeys}}]}` out. A failed invocation is retried
//! `NumberOfRetries` times; then its records fail as a whole.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::{LambdaSettings, Outcome, Processed};
use crate::prefix::{KeySource, PartitionKeys};

/// Lambda's limit on a synchronous invocation's request (and response) payload.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Room for each record's JSON around its data, and for the envelope.
const RECORD_OVERHEAD: usize = 128;
const ENVELOPE: usize = 1024;

/// Where and how functions are invoked.
pub struct Invoker {
    client: reqwest::Client,
    endpoint: Option<String>,
}

/// Who invokes: the delivery stream, and its Kinesis source if it has one.
pub struct Invocation<'a> {
    pub delivery_stream_arn: &'a str,
    pub region: &'a str,
    pub source_stream_arn: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    records: Vec<ResponseRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseRecord {
    record_id: String,
    result: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    partition_keys: HashMap<String, String>,
    /// An Iceberg destination's routing: `destinationDatabaseName`, `destinationTableName`,
    /// `operation`. They join the partition keys, which Iceberg destinations do not have.
    /// Values as given (a number or a boolean is taken as its text; null as absent).
    #[serde(default)]
    otf_metadata: Option<HashMap<String, serde_json::Value>>,
}

impl Metadata {
    /// The partition keys and the routing an Iceberg destination reads, as one set of keys.
    fn keys(self) -> impl Iterator<Item = (String, String)> {
        let routing = self
            .otf_metadata
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Null => None,
                other => Some((k, other.to_string())),
            });
        self.partition_keys.into_iter().chain(routing)
    }
}

/// Why an invocation failed, as error records name it.
struct InvokeError {
    code: &'static str,
    message: String,
}

impl Invoker {
    pub fn new(client: reqwest::Client, endpoint: Option<String>) -> Invoker {
        Invoker {
            client,
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
        }
    }

    pub fn configured(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Transforms the records of `out` that are still Ok, in payload-sized invocations.
    pub async fn transform(
        &self,
        settings: &LambdaSettings,
        invocation: &Invocation<'_>,
        out: &mut [Processed],
    ) {
        let pending: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.outcome, Outcome::Ok { .. }))
            .map(|(i, _)| i)
            .collect();
        let mut chunk = Vec::new();
        let mut size = ENVELOPE;
        for i in pending {
            let record = record_size(&out[i]);
            if !chunk.is_empty() && size + record > MAX_PAYLOAD {
                self.invoke_chunk(settings, invocation, out, &chunk).await;
                chunk.clear();
                size = ENVELOPE;
            }
            chunk.push(i);
            size += record;
        }
        if !chunk.is_empty() {
            self.invoke_chunk(settings, invocation, out, &chunk).await;
        }
    }

    async fn invoke_chunk(
        &self,
        settings: &LambdaSettings,
        invocation: &Invocation<'_>,
        out: &mut [Processed],
        chunk: &[usize],
    ) {
        let ids: Vec<String> = (0..chunk.len()).map(|n| format!("{n:020}")).collect();
        let records: Vec<serde_json::Value> = chunk
            .iter()
            .zip(&ids)
            .map(|(&i, id)| {
                let data = match &out[i].outcome {
                    Outcome::Ok { data, .. } => BASE64.encode(data),
                    _ => String::new(),
                };
                serde_json::json!({
                    "recordId": id,
                    "approximateArrivalTimestamp": out[i].arrival_ms,
                    "data": data,
                })
            })
            .collect();
        let mut request = serde_json::json!({
            "invocationId": uuid::Uuid::new_v4().to_string(),
            "deliveryStreamArn": invocation.delivery_stream_arn,
            "region": invocation.region,
            "records": records,
        });
        if let Some(source) = invocation.source_stream_arn {
            request["sourceKinesisStreamArn"] = serde_json::json!(source);
        }
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let mut attempt = 0;
        let mut backoff = Duration::from_secs(1);
        let result = loop {
            match self.invoke(&settings.arn, &body).await {
                Ok(payload) => break parse(&payload, &ids),
                Err(error) if attempt < settings.retries => {
                    tracing::warn!(
                        function = settings.arn,
                        code = error.code,
                        error = error.message,
                        attempt,
                        "Lambda invocation failed; retrying"
                    );
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(error) => break Err(error),
            }
        };
        let fail = |code: &'static str, message: &str| Outcome::Failed {
            code,
            message: message.to_string(),
            lambda_arn: Some(settings.arn.clone()),
        };
        match result {
            Ok(mut by_id) => {
                for (&i, id) in chunk.iter().zip(&ids) {
                    out[i].outcome = match by_id.remove(id) {
                        Some(Ok(outcome)) => match outcome {
                            Outcome::Failed { code, message, .. } => fail(code, &message),
                            other => other,
                        },
                        Some(Err(e)) => fail(e.code, &e.message),
                        None => fail(
                            "Lambda.MissingRecordId",
                            &format!("The function's response has no record with recordId {id}."),
                        ),
                    };
                }
            }
            Err(error) => {
                tracing::error!(
                    function = settings.arn,
                    code = error.code,
                    error = error.message,
                    "Lambda invocation failed after its retries; its records go to the error output"
                );
                for &i in chunk {
                    out[i].outcome = fail(error.code, &error.message);
                }
            }
        }
    }

    async fn invoke(&self, function: &str, body: &[u8]) -> Result<Vec<u8>, InvokeError> {
        let Some(endpoint) = &self.endpoint else {
            return Err(InvokeError {
                code: "Lambda.InvokeError",
                message: "No Lambda endpoint is configured ([firehose.lambda] endpoint).".into(),
            });
        };
        let url = invoke_url(endpoint, function).ok_or_else(|| InvokeError {
            code: "Lambda.InvokeError",
            message: format!("The Lambda endpoint {endpoint} is not a base URL."),
        })?;
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| InvokeError {
                code: "Lambda.InvokeError",
                message: e.to_string(),
            })?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let payload = response.bytes().await.map_err(|e| InvokeError {
            code: "Lambda.InvokeError",
            message: e.to_string(),
        })?;
        if let Some(kind) = function_error {
            return Err(InvokeError {
                code: "Lambda.FunctionError",
                message: format!(
                    "The function failed ({kind}): {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(512)])
                ),
            });
        }
        if !status.is_success() {
            return Err(InvokeError {
                code: "Lambda.InvokeError",
                message: format!(
                    "The Lambda endpoint answered {status}: {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(512)])
                ),
            });
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(InvokeError {
                code: "Lambda.ResponseTooLarge",
                message: format!(
                    "The function's response is {} bytes; at most {MAX_PAYLOAD} are allowed.",
                    payload.len()
                ),
            });
        }
        Ok(payload.to_vec())
    }
}

/// `<endpoint>/2015-03-31/functions/<function>/invocations`, the function name or ARN as one
/// percent-encoded path segment.
fn invoke_url(endpoint: &str, function: &str) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(endpoint).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().extend([
        "2015-03-31",
        "functions",
        function,
        "invocations",
    ]);
    Some(url)
}

fn record_size(p: &Processed) -> usize {
    match &p.outcome {
        Outcome::Ok { data, .. } => data.len().div_ceil(3) * 4 + RECORD_OVERHEAD,
        _ => 0,
    }
}

type RecordResult = Result<Outcome, InvokeError>;

/// The response's records by id; the whole response fails if it is not the contract's JSON.
fn parse(payload: &[u8], ids: &[String]) -> Result<HashMap<String, RecordResult>, InvokeError> {
    let response: Response = serde_json::from_slice(payload).map_err(|e| InvokeError {
        code: "Lambda.JsonProcessingException",
        message: format!("The function's response is not the transformation contract's JSON: {e}"),
    })?;
    let mut out: HashMap<String, RecordResult> = HashMap::new();
    for record in response.records {
        if !ids.contains(&record.record_id) {
            continue;
        }
        if out.contains_key(&record.record_id) {
            out.insert(
                record.record_id.clone(),
                Err(InvokeError {
                    code: "Lambda.DuplicatedRecordId",
                    message: format!(
                        "The function's response has recordId {} more than once.",
                        record.record_id
                    ),
                }),
            );
            continue;
        }
        let outcome = match record.result.as_str() {
            "Ok" => match BASE64.decode(record.data.as_deref().unwrap_or_default()) {
                Ok(data) => {
                    let keys: PartitionKeys = record
                        .metadata
                        .map(Metadata::keys)
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| ((KeySource::Lambda, k), v))
                        .collect();
                    Ok(Outcome::Ok {
                        data: data.into(),
                        keys,
                    })
                }
                Err(e) => Err(InvokeError {
                    code: "Lambda.JsonProcessingException",
                    message: format!("The record's data is not base64: {e}"),
                }),
            },
            "Dropped" => Ok(Outcome::Dropped),
            "ProcessingFailed" => Ok(Outcome::Failed {
                code: "Lambda.ProcessingFailed",
                message: "The function returned the result ProcessingFailed.".into(),
                lambda_arn: None,
            }),
            other => Err(InvokeError {
                code: "Lambda.JsonProcessingException",
                message: format!(
                    "The record's result {other} is not one of Ok, Dropped and ProcessingFailed."
                ),
            }),
        };
        out.insert(record.record_id, outcome);
    }
    Ok(out)
}

/// `parse` with errors reduced to their codes, for tests.
#[cfg(test)]
pub(super) fn tests_parse(
    payload: &[u8],
    ids: &[String],
) -> Result<HashMap<String, Result<Outcome, &'static str>>, &'static str> {
    parse(payload, ids)
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.map_err(|e| e.code)))
                .collect()
        })
        .map_err(|e| e.code)
}
