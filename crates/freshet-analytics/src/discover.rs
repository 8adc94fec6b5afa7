//! DiscoverInputSchema: samples up to 100 records from a Freshet stream, delivery stream or S3
//! object, tells JSON from CSV, and infers the columns AWS would (names from JSON keys or
//! `COL1…` for CSV, JSONPath mappings, SQL types from the values seen).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::arn::bucket_from_arn;
use crate::error::{AnalyticsError, Result};
use crate::model::*;
use crate::service::AnalyticsService;
use crate::validate;

/// Records sampled, as AWS samples.
const SAMPLE: usize = 100;
const SAMPLE_BYTES: usize = 4 << 20;
/// Column delimiters tried for CSV, in order of preference.
const DELIMITERS: [char; 4] = [',', '|', '\t', ';'];
/// Words AWS's discovery does not use as column names as they are (it prefixes `COL_`).
const RESERVED: [&str; 12] = [
    "TIMESTAMP",
    "DATE",
    "TIME",
    "USER",
    "VALUE",
    "TYPE",
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER",
    "GROUP",
    "ROWTIME",
];

impl AnalyticsService {
    pub async fn discover_input_schema(
        &self,
        input: DiscoverInputSchemaInput,
    ) -> Result<DiscoverInputSchemaOutput> {
        if input.input_processing_configuration.is_some() {
            return Err(validate::no_lambda("InputProcessingConfiguration"));
        }
        let raw = match (&input.resource_arn, &input.s3_configuration) {
            (Some(arn), None) => {
                let start = input
                    .input_starting_position_configuration
                    .and_then(|c| c.input_starting_position);
                self.sample_source(arn, start).await?
            }
            (None, Some(s3)) => self.sample_object(s3).await?,
            _ => {
                return Err(AnalyticsError::InvalidArgument(
                    "Specify either ResourceARN or S3Configuration.".into(),
                ));
            }
        };
        infer(raw)
    }

    async fn sample_source(
        &self,
        arn: &str,
        start: Option<InputStartingPosition>,
    ) -> Result<Vec<String>> {
        let firehose = arn.contains(":firehose:");
        let records = match self.source(arn, firehose)? {
            crate::launch::Source::DeliveryStream { name } => self
                .inner
                .firehose
                .sample(&name, SAMPLE)
                .await
                .map_err(|e| AnalyticsError::InvalidArgument(e.to_string()))?,
            crate::launch::Source::KinesisStream { name } => {
                let position = match start {
                    Some(InputStartingPosition::Now) => freshet_streams::StartingPosition::Latest,
                    _ => freshet_streams::StartingPosition::TrimHorizon,
                };
                let mut reader = self
                    .inner
                    .streams
                    .reader(&name, position, BTreeMap::new())
                    .await
                    .map_err(|e| AnalyticsError::InvalidArgument(e.to_string()))?;
                reader
                    .read(SAMPLE, SAMPLE_BYTES)
                    .await
                    .map_err(|e| AnalyticsError::InvalidArgument(e.to_string()))?
                    .into_iter()
                    .flat_map(|shard| shard.records)
                    .map(|r| r.data.0)
                    .take(SAMPLE)
                    .collect()
            }
        };
        Ok(records
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect())
    }

    /// An S3 object's lines are its records.
    async fn sample_object(&self, s3: &S3Configuration) -> Result<Vec<String>> {
        let bucket = bucket_from_arn(&s3.bucket_arn).ok_or_else(|| {
            AnalyticsError::InvalidArgument(format!("Invalid BucketARN {}.", s3.bucket_arn))
        })?;
        let body = self
            .inner
            .firehose
            .get_object(bucket, &s3.file_key)
            .await
            .map_err(|e| AnalyticsError::InvalidArgument(e.to_string()))?
            .ok_or_else(|| {
                AnalyticsError::ResourceNotFound(format!(
                    "Object {} not found in bucket {bucket}.",
                    s3.file_key
                ))
            })?;
        Ok(String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(SAMPLE)
            .map(str::to_string)
            .collect())
    }
}

/// The schema of the sampled records, or UnableToDetectSchemaException with them.
fn infer(raw: Vec<String>) -> Result<DiscoverInputSchemaOutput> {
    let unable = |message: &str, raw: &[String]| AnalyticsError::UnableToDetectSchema {
        message: message.into(),
        raw_input_records: raw.to_vec(),
        processed_input_records: raw.to_vec(),
    };
    let texts: Vec<&str> = raw
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect();
    if texts.is_empty() {
        return Err(unable(
            "No data found in the source: the schema could not be detected.",
            &raw,
        ));
    }
    let objects: Option<Vec<serde_json::Map<String, Value>>> = texts
        .iter()
        .map(|t| match serde_json::from_str(t) {
            Ok(Value::Object(o)) => Some(o),
            _ => None,
        })
        .collect();
    let (schema, parsed) = match objects {
        Some(objects) => infer_json(&objects),
        None => infer_csv(&texts).ok_or_else(|| {
            unable(
                "The records are neither JSON objects nor delimited text: the schema could not be detected.",
                &raw,
            )
        })?,
    };
    Ok(DiscoverInputSchemaOutput {
        input_schema: schema,
        parsed_input_records: parsed,
        processed_input_records: raw.clone(),
        raw_input_records: raw,
    })
}

/// A column being inferred: its JSONPath and the values seen.
struct Column {
    name: String,
    mapping: Option<String>,
    values: Vec<Option<Value>>,
}

fn infer_json(objects: &[serde_json::Map<String, Value>]) -> (SourceSchema, Vec<Vec<String>>) {
    let mut paths: Vec<(Vec<String>, String)> = Vec::new();
    for o in objects {
        leaves(o, &mut Vec::new(), &mut paths);
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut taken = BTreeMap::new();
    for (path, _) in &paths {
        let mapping = format!("$.{}", path.join("."));
        if columns
            .iter()
            .any(|c| c.mapping.as_deref() == Some(&mapping))
        {
            continue;
        }
        let leaf = path.last().map(String::as_str).unwrap_or("COL");
        columns.push(Column {
            name: column_name(leaf, &mut taken),
            mapping: Some(mapping),
            values: objects.iter().map(|o| lookup(o, path).cloned()).collect(),
        });
    }
    let parsed = (0..objects.len())
        .map(|row| columns.iter().map(|c| text(&c.values[row])).collect())
        .collect();
    let schema = SourceSchema {
        record_format: RecordFormat {
            record_format_type: RecordFormatType::Json,
            mapping_parameters: Some(MappingParameters {
                json: Some(JsonMappingParameters {
                    record_row_path: "$".into(),
                }),
                csv: None,
            }),
        },
        record_encoding: Some("UTF-8".into()),
        record_columns: columns
            .iter()
            .map(|c| RecordColumn {
                name: c.name.clone(),
                mapping: c.mapping.clone(),
                sql_type: sql_type(&c.values),
            })
            .collect(),
    };
    (schema, parsed)
}

/// Every scalar (or array) under `o` with its key path, in document order.
fn leaves(
    o: &serde_json::Map<String, Value>,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    for (key, value) in o {
        prefix.push(key.clone());
        match value {
            Value::Object(inner) => leaves(inner, prefix, out),
            _ => {
                if !out.iter().any(|(p, _)| p == prefix) {
                    out.push((prefix.clone(), key.clone()));
                }
            }
        }
        prefix.pop();
    }
}

fn lookup<'a>(o: &'a serde_json::Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = o.get(first)?;
    match (rest.is_empty(), value) {
        (true, v) => Some(v),
        (false, Value::Object(inner)) => lookup(inner, rest),
        _ => None,
    }
}

fn infer_csv(texts: &[&str]) -> Option<(SourceSchema, Vec<Vec<String>>)> {
    let rows: Vec<&str> = texts.iter().flat_map(|t| t.lines()).collect();
    // The delimiter that splits every row into the same number (> 1) of fields.
    let delimiter = DELIMITERS.into_iter().find(|d| {
        let counts: Vec<usize> = rows.iter().map(|r| r.split(*d).count()).collect();
        counts[0] > 1 && counts.iter().all(|c| *c == counts[0])
    });
    let delimiter = match delimiter {
        Some(d) => d,
        // One field per row: still CSV, with a single column.
        None if rows.iter().all(|r| !r.starts_with(['{', '['])) => ',',
        None => return None,
    };
    let fields: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.split(delimiter).map(|f| f.trim().to_string()).collect())
        .collect();
    let width = fields.iter().map(Vec::len).max().unwrap_or(1);
    let columns: Vec<RecordColumn> = (0..width)
        .map(|i| {
            let values: Vec<Option<Value>> = fields
                .iter()
                .map(|row| row.get(i).map(|f| csv_value(f)))
                .collect();
            RecordColumn {
                name: format!("COL{}", i + 1),
                mapping: None,
                sql_type: sql_type(&values),
            }
        })
        .collect();
    let schema = SourceSchema {
        record_format: RecordFormat {
            record_format_type: RecordFormatType::Csv,
            mapping_parameters: Some(MappingParameters {
                json: None,
                csv: Some(CsvMappingParameters {
                    record_row_delimiter: "\n".into(),
                    record_column_delimiter: delimiter.to_string(),
                }),
            }),
        },
        record_encoding: Some("UTF-8".into()),
        record_columns: columns,
    };
    Some((schema, fields))
}

/// A CSV field as the JSON value it reads as (numbers and booleans typed, the rest text).
fn csv_value(field: &str) -> Value {
    if let Ok(i) = field.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = field.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    match field {
        "true" | "TRUE" | "True" => Value::Bool(true),
        "false" | "FALSE" | "False" => Value::Bool(false),
        _ => Value::String(field.to_string()),
    }
}

fn text(value: &Option<Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The narrowest SQL type that holds every value seen: BOOLEAN, INTEGER, BIGINT, REAL for
/// fractions (as AWS's discovery types prices), TIMESTAMP for `YYYY-MM-DD HH:MM:SS[.fff]`
/// texts, otherwise VARCHAR(n) with n the longest text rounded up to a power of two.
fn sql_type(values: &[Option<Value>]) -> String {
    let seen: Vec<&Value> = values.iter().flatten().filter(|v| !v.is_null()).collect();
    if seen.is_empty() {
        return "VARCHAR(1)".into();
    }
    if seen.iter().all(|v| v.is_boolean()) {
        return "BOOLEAN".into();
    }
    if seen.iter().all(|v| v.is_i64() || v.is_u64()) {
        let fits = seen
            .iter()
            .all(|v| v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()));
        return if fits { "INTEGER" } else { "BIGINT" }.into();
    }
    if seen.iter().all(|v| v.is_number()) {
        return "REAL".into();
    }
    let texts: Vec<String> = seen
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
        .collect();
    if texts.iter().all(|t| is_timestamp(t)) {
        return "TIMESTAMP".into();
    }
    let longest = texts.iter().map(|t| t.chars().count()).max().unwrap_or(1);
    format!("VARCHAR({})", longest.max(1).next_power_of_two())
}

/// `YYYY-MM-DD HH:MM:SS` with optional fraction (or `T` between date and time).
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.clone().all(|i| b[i].is_ascii_digit());
    b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (b.len() == 19 || (b[19] == b'.' && b.len() > 20 && digits(20..b.len())))
}

/// A column name from a JSON key: SQL-safe characters, reserved words prefixed `COL_`, and a
/// numeric suffix when two keys (at different depths) would share a name.
fn column_name(key: &str, taken: &mut BTreeMap<String, usize>) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name = format!("COL_{name}");
    }
    if RESERVED.contains(&name.to_ascii_uppercase().as_str()) {
        name = format!("COL_{name}");
    }
    let count = taken.entry(name.to_ascii_uppercase()).or_insert(0);
    *count += 1;
    if *count > 1 {
        name = format!("{name}_{count}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn json_records_give_typed_columns_with_paths() {
        let out = infer(records(&[
            r#"{"ticker":"AMZN","price":12.5,"qty":3,"ok":true,"at":"2024-01-02 03:04:05","m":{"v":5000000000}}"#,
            r#"{"ticker":"TECHNOLOGY","price":1,"qty":4,"ok":false,"at":"2024-01-02 03:04:06.123","m":{"v":1}}"#,
        ]))
        .unwrap();
        let s = out.input_schema;
        assert_eq!(s.record_format.record_format_type, RecordFormatType::Json);
        let mut cols: Vec<(&str, &str, &str)> = s
            .record_columns
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.mapping.as_deref().unwrap_or(""),
                    c.sql_type.as_str(),
                )
            })
            .collect();
        cols.sort();
        assert_eq!(
            cols,
            vec![
                ("at", "$.at", "TIMESTAMP"),
                ("ok", "$.ok", "BOOLEAN"),
                ("price", "$.price", "REAL"),
                ("qty", "$.qty", "INTEGER"),
                ("ticker", "$.ticker", "VARCHAR(16)"),
                ("v", "$.m.v", "BIGINT"),
            ]
        );
        let ticker = s.record_columns.iter().position(|c| c.name == "ticker");
        assert_eq!(out.parsed_input_records[0][ticker.unwrap()], "AMZN");
        assert_eq!(out.raw_input_records.len(), 2);
        validate::schema(&s).unwrap();
    }

    #[test]
    fn delimited_records_give_numbered_columns() {
        let out = infer(records(&["a|1|2.5", "bb|2|3"])).unwrap();
        let s = out.input_schema;
        assert_eq!(s.record_format.record_format_type, RecordFormatType::Csv);
        let csv = s.record_format.mapping_parameters.unwrap().csv.unwrap();
        assert_eq!(csv.record_column_delimiter, "|");
        let types: Vec<&str> = s
            .record_columns
            .iter()
            .map(|c| c.sql_type.as_str())
            .collect();
        assert_eq!(types, vec!["VARCHAR(2)", "INTEGER", "REAL"]);
        assert_eq!(s.record_columns[0].name, "COL1");
        assert_eq!(out.parsed_input_records[1], vec!["bb", "2", "3"]);
    }

    #[test]
    fn no_records_cannot_be_detected() {
        assert!(matches!(
            infer(vec![]),
            Err(AnalyticsError::UnableToDetectSchema { .. })
        ));
        let mut taken = BTreeMap::new();
        assert_eq!(column_name("timestamp", &mut taken), "COL_timestamp");
        assert_eq!(column_name("a-b", &mut taken), "a_b");
        assert_eq!(column_name("a_b", &mut taken), "a_b_2");
    }
}
