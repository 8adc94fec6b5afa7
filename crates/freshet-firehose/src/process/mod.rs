//! Data processing between the buffer and the destination (`ProcessingConfiguration`):
//! CloudWatch Logs decompression and message extraction, multi-record de-aggregation, a Lambda
//! function, jq metadata extraction for dynamic partitioning, and a newline after each record.
//! The processors run in that order whatever order the configuration lists them in, as in AWS.
//! Each input record comes out as zero or more records, each either processed (with its
//! partition keys) or failed (for the `processing-failed` error output).

mod cloudwatch;
mod jq;
mod lambda;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Deserialize;

use crate::error::{FirehoseError, Result, invalid};
use crate::prefix::PartitionKeys;
use crate::source::SourceRecord;

pub use lambda::{Invocation, Invoker};

const MIB: f64 = (1 << 20) as f64;
/// Sub-records one record may be de-aggregated into.
const MAX_SUB_RECORDS: usize = 500;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessorParameter {
    parameter_name: String,
    parameter_value: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Processor {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    parameters: Vec<ProcessorParameter>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessingConfiguration {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    processors: Vec<Processor>,
}

#[derive(Clone, Debug, PartialEq)]
enum SubRecords {
    /// Consecutive JSON objects, on one line or one per line.
    Json,
    /// Pieces between occurrences of a delimiter.
    Delimited(Vec<u8>),
}

/// The Lambda processor's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LambdaSettings {
    pub arn: String,
    /// Further attempts after a failed invocation.
    pub retries: u32,
    pub buffer_bytes: u64,
    pub buffer_interval_ms: u64,
}

/// A checked processing configuration, ready to run.
#[derive(Clone)]
pub struct Processing {
    decompress: bool,
    extract_messages: bool,
    sub_records: Option<SubRecords>,
    pub lambda: Option<LambdaSettings>,
    metadata: Option<jq::Query>,
    append_delimiter: bool,
}

impl std::fmt::Debug for Processing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processing")
            .field("lambda", &self.lambda)
            .field("metadata", &self.metadata.is_some())
            .finish_non_exhaustive()
    }
}

/// Which parameters each processor type takes, and which of them it needs.
fn parameters(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match kind {
        "Lambda" => (
            &[
                "LambdaArn",
                "NumberOfRetries",
                "RoleArn",
                "BufferSizeInMBs",
                "BufferIntervalInSeconds",
            ],
            &["LambdaArn"],
        ),
        "MetadataExtraction" => (
            &["MetadataExtractionQuery", "JsonParsingEngine"],
            &["MetadataExtractionQuery", "JsonParsingEngine"],
        ),
        "RecordDeAggregation" => (&["SubRecordType", "Delimiter"], &["SubRecordType"]),
        "Decompression" => (&["CompressionFormat"], &[]),
        "CloudWatchLogProcessing" => (&["DataMessageExtraction"], &["DataMessageExtraction"]),
        "AppendDelimiterToRecord" => (&["Delimiter"], &[]),
        _ => return None,
    })
}

impl Processing {
    /// The processing a destination's `ProcessingConfiguration` asks for; `None` when it is
    /// absent or disabled. `dynamic`: whether dynamic partitioning is enabled, which the
    /// partitioning processors need.
    pub fn parse(config: Option<&serde_json::Value>, dynamic: bool) -> Result<Option<Processing>> {
        let Some(config) = config else {
            return Ok(None);
        };
        let config: ProcessingConfiguration = serde_json::from_value(config.clone())
            .map_err(|e| FirehoseError::Validation(e.to_string()))?;
        if !config.enabled {
            return Ok(None);
        }
        if config.processors.is_empty() {
            return Err(invalid(
                "ProcessingConfiguration is enabled but lists no processors.",
            ));
        }
        let mut processing = Processing {
            decompress: false,
            extract_messages: false,
            sub_records: None,
            lambda: None,
            metadata: None,
            append_delimiter: false,
        };
        let mut seen = BTreeSet::new();
        for processor in &config.processors {
            let kind = processor.kind.as_str();
            let Some((allowed, required)) = parameters(kind) else {
                return Err(invalid(format!("Processor type {kind} is not valid.")));
            };
            if !seen.insert(kind) {
                return Err(invalid(format!(
                    "Processor type {kind} can be specified only once."
                )));
            }
            let get = |name: &str| processor.parameter(name);
            for p in &processor.parameters {
                if !allowed.contains(&p.parameter_name.as_str()) {
                    return Err(invalid(format!(
                        "Parameter {} is not valid for processor type {kind}.",
                        p.parameter_name
                    )));
                }
            }
            for name in required {
                if get(name).is_none() {
                    return Err(invalid(format!(
                        "Processor type {kind} requires the parameter {name}."
                    )));
                }
            }
            match kind {
                "Lambda" => processing.lambda = Some(lambda_settings(processor)?),
                "MetadataExtraction" => {
                    if get("JsonParsingEngine") != Some("JQ-1.6") {
                        return Err(invalid(
                            "JsonParsingEngine must be JQ-1.6 for the MetadataExtraction processor.",
                        ));
                    }
                    let query = get("MetadataExtractionQuery").unwrap_or_default();
                    processing.metadata = Some(jq::Query::compile(query).map_err(|e| {
                        invalid(format!("Invalid MetadataExtractionQuery {query}: {e}"))
                    })?);
                }
                "RecordDeAggregation" => {
                    processing.sub_records = Some(match (get("SubRecordType"), get("Delimiter")) {
                        (Some("JSON"), None) => SubRecords::Json,
                        (Some("JSON"), Some(_)) => {
                            return Err(invalid(
                                "Delimiter can be specified only when SubRecordType is DELIMITED.",
                            ));
                        }
                        (Some("DELIMITED"), Some(d)) => {
                            let delimiter = BASE64.decode(d).ok().filter(|d| !d.is_empty());
                            SubRecords::Delimited(delimiter.ok_or_else(|| {
                                invalid("Delimiter must be a base64-encoded, non-empty string.")
                            })?)
                        }
                        (Some("DELIMITED"), None) => {
                            return Err(invalid(
                                "Delimiter is required when SubRecordType is DELIMITED.",
                            ));
                        }
                        (other, _) => {
                            return Err(invalid(format!(
                                "SubRecordType {} is not valid; valid values are JSON and DELIMITED.",
                                other.unwrap_or_default()
                            )));
                        }
                    })
                }
                "Decompression" => {
                    if get("CompressionFormat").is_some_and(|f| f != "GZIP") {
                        return Err(invalid(
                            "CompressionFormat must be GZIP for the Decompression processor.",
                        ));
                    }
                    processing.decompress = true;
                }
                "CloudWatchLogProcessing" => {
                    processing.extract_messages = match get("DataMessageExtraction") {
                        Some("true") => true,
                        Some("false") => false,
                        _ => {
                            return Err(invalid("DataMessageExtraction must be true or false."));
                        }
                    }
                }
                // AWS accepts only the newline, its default.
                "AppendDelimiterToRecord" => {
                    if get("Delimiter")
                        .is_some_and(|d| BASE64.decode(d).ok() != Some(b"\n".to_vec()))
                    {
                        return Err(invalid(
                            "Delimiter for AppendDelimiterToRecord must be the base64-encoded newline (Cg==).",
                        ));
                    }
                    processing.append_delimiter = true;
                }
                _ => {}
            }
        }
        if seen.contains("CloudWatchLogProcessing") && !processing.decompress {
            return Err(invalid(
                "The CloudWatchLogProcessing processor requires the Decompression processor.",
            ));
        }
        for needs_partitioning in ["MetadataExtraction", "RecordDeAggregation"] {
            if seen.contains(needs_partitioning) && !dynamic {
                return Err(invalid(format!(
                    "The {needs_partitioning} processor requires dynamic partitioning to be enabled."
                )));
            }
        }
        Ok(Some(processing))
    }

    /// Whether this processing extracts partition keys with a jq query.
    pub fn has_query(&self) -> bool {
        self.metadata.is_some()
    }

    /// Processes a buffer's records: everything before Lambda one record at a time, then one
    /// Lambda invocation per payload-sized chunk, then the steps after it.
    pub async fn run(
        &self,
        records: Vec<SourceRecord>,
        lambda: Option<(&Invoker, &Invocation<'_>)>,
    ) -> Vec<Processed> {
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            self.before_lambda(record, &mut out);
        }
        if let (Some(settings), Some((invoker, invocation))) = (&self.lambda, lambda) {
            invoker.transform(settings, invocation, &mut out).await;
        }
        for processed in &mut out {
            self.after_lambda(processed);
        }
        out
    }

    fn before_lambda(&self, record: SourceRecord, out: &mut Vec<Processed>) {
        let fail = |code: &'static str, message: String, out: &mut Vec<Processed>| {
            out.push(Processed::failed(&record, code, message))
        };
        let mut pieces = vec![record.data.clone()];
        if self.decompress {
            match cloudwatch::decompress(&record.data) {
                Ok(data) => pieces = vec![data],
                Err(e) => return fail("Decompression.Failed", e, out),
            }
            if self.extract_messages {
                match cloudwatch::messages(&pieces[0]) {
                    Ok(messages) => pieces = messages,
                    Err(e) => return fail("CloudWatchLogProcessing.Failed", e, out),
                }
            }
        }
        if let Some(kind) = &self.sub_records {
            let mut split = Vec::new();
            for piece in &pieces {
                match deaggregate(kind, piece) {
                    Ok(sub) => split.extend(sub),
                    Err(e) => return fail("RecordDeAggregation.Failed", e, out),
                }
            }
            if split.len() > MAX_SUB_RECORDS {
                return fail(
                    "RecordDeAggregation.Failed",
                    format!(
                        "The record holds {} sub-records; at most {MAX_SUB_RECORDS} are de-aggregated.",
                        split.len()
                    ),
                    out,
                );
            }
            pieces = split;
        }
        out.extend(pieces.into_iter().map(|data| Processed {
            arrival_ms: record.arrival_ms,
            raw: data.clone(),
            outcome: Outcome::Ok {
                data,
                keys: PartitionKeys::new(),
            },
        }));
    }

    fn after_lambda(&self, processed: &mut Processed) {
        let Outcome::Ok { data, keys } = &mut processed.outcome else {
            return;
        };
        if let Some(query) = &self.metadata {
            match query.extract(data) {
                Ok(found) => keys.extend(found),
                Err(message) => {
                    processed.raw = data.clone();
                    processed.outcome = Outcome::Failed {
                        code: "DynamicPartitioning.MetadataExtractionFailed",
                        message,
                        lambda_arn: None,
                    };
                    return;
                }
            }
        }
        if self.append_delimiter {
            let mut with = Vec::with_capacity(data.len() + 1);
            with.extend_from_slice(data);
            with.push(b'\n');
            *data = with.into();
        }
    }
}

impl Processor {
    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|p| p.parameter_name == name)
            .map(|p| p.parameter_value.as_str())
    }
}

fn lambda_settings(processor: &Processor) -> Result<LambdaSettings> {
    let get = |name: &str| processor.parameter(name);
    let number = |name: &str, default: f64, min: f64, max: f64| -> Result<f64> {
        match get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| {
                    invalid(format!(
                        "{name} must be a number from {min} to {max}; got {text}."
                    ))
                }),
        }
    };
    let retries = number("NumberOfRetries", 3.0, 0.0, 300.0)?;
    let size = number("BufferSizeInMBs", 1.0, 0.2, 3.0)?;
    let interval = number("BufferIntervalInSeconds", 60.0, 60.0, 900.0)?;
    let arn = get("LambdaArn").unwrap_or_default();
    if !arn.starts_with("arn:") {
        return Err(invalid(format!("LambdaArn {arn} is not a valid ARN.")));
    }
    Ok(LambdaSettings {
        arn: arn.to_string(),
        retries: retries as u32,
        buffer_bytes: (size * MIB) as u64,
        buffer_interval_ms: (interval * 1000.0) as u64,
    })
}

/// Splits one record into its sub-records.
fn deaggregate(kind: &SubRecords, data: &Bytes) -> std::result::Result<Vec<Bytes>, String> {
    match kind {
        SubRecords::Json => {
            let mut out = Vec::new();
            let mut stream =
                serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
            let mut start = 0;
            while let Some(next) = stream.next() {
                next.map_err(|e| format!("The record is not a sequence of JSON objects: {e}"))?;
                let end = stream.byte_offset();
                let object = data.slice(start..end);
                let trimmed = object.trim_ascii_start();
                if !trimmed.starts_with(b"{") {
                    return Err("The record is not a sequence of JSON objects.".into());
                }
                let skip = object.len() - trimmed.len();
                out.push(object.slice(skip..));
                start = end;
            }
            Ok(out)
        }
        SubRecords::Delimited(delimiter) => {
            let mut out = Vec::new();
            let mut start = 0;
            let finder = memchr::memmem::Finder::new(delimiter);
            for at in finder.find_iter(data) {
                if at > start {
                    out.push(data.slice(start..at));
                }
                start = at + delimiter.len();
            }
            if start < data.len() {
                out.push(data.slice(start..));
            }
            Ok(out)
        }
    }
}

/// What processing made of one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok {
        data: Bytes,
        keys: PartitionKeys,
    },
    Dropped,
    Failed {
        code: &'static str,
        message: String,
        lambda_arn: Option<String>,
    },
}

/// One processed record, with the record as the step that failed it saw it (a failure's
/// `rawData`): the source record, or the sub-record it was split into.
#[derive(Clone, Debug, PartialEq)]
pub struct Processed {
    pub arrival_ms: i64,
    pub raw: Bytes,
    pub outcome: Outcome,
}

impl Processed {
    fn failed(record: &SourceRecord, code: &'static str, message: String) -> Processed {
        Processed {
            arrival_ms: record.arrival_ms,
            raw: record.data.clone(),
            outcome: Outcome::Failed {
                code,
                message,
                lambda_arn: None,
            },
        }
    }
}

#[cfg(test)]
mod tests;
