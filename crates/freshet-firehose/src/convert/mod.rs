//! Record format conversion (`DataFormatConversionConfiguration`): JSON records become one
//! Apache Parquet or ORC file per object, with the columns of a Glue table
//! (`SchemaConfiguration`), read the way the OpenX or Hive JSON SerDe reads them. Records that do
//! not fit go to the `format-conversion-failed` error output.

mod hive;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{FirehoseError, Result, invalid};

/// A table's columns as (name, Hive type), in order: where conversion finds its schema.
/// Implemented over the Glue Data Catalog by the binary.
pub trait SchemaSource: Send + Sync {
    fn columns<'a>(
        &'a self,
        database: &'a str,
        table: &'a str,
        version_id: Option<&'a str>,
    ) -> BoxFuture<'a, std::result::Result<Vec<(String, String)>, String>>;
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SchemaConfiguration {
    #[serde(rename = "RoleARN", default)]
    role_arn: Option<String>,
    #[serde(default)]
    database_name: Option<String>,
    #[serde(default)]
    table_name: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OpenX {
    #[serde(default)]
    convert_dots_in_json_keys_to_underscores: Option<bool>,
    #[serde(default)]
    case_insensitive: Option<bool>,
    #[serde(default)]
    column_to_json_key_mappings: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HiveJson {
    #[serde(default)]
    timestamp_formats: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Deserializer {
    #[serde(rename = "OpenXJsonSerDe", default)]
    open_x: Option<OpenX>,
    #[serde(rename = "HiveJsonSerDe", default)]
    hive: Option<HiveJson>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InputFormat {
    #[serde(default)]
    deserializer: Option<Deserializer>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParquetSerDe {
    #[serde(default)]
    page_size_bytes: Option<u64>,
    #[serde(default)]
    block_size_bytes: Option<u64>,
    #[serde(default)]
    compression: Option<String>,
    #[serde(default)]
    enable_dictionary_compression: Option<bool>,
    #[serde(default)]
    writer_version: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrcSerDe {
    #[serde(default)]
    stripe_size_bytes: Option<u64>,
    #[serde(default)]
    compression: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Serializer {
    #[serde(rename = "ParquetSerDe", default)]
    parquet: Option<ParquetSerDe>,
    #[serde(rename = "OrcSerDe", default)]
    orc: Option<OrcSerDe>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OutputFormat {
    #[serde(default)]
    serializer: Option<Serializer>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataFormatConversionConfiguration {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    schema_configuration: Option<SchemaConfiguration>,
    #[serde(default)]
    input_format_configuration: Option<InputFormat>,
    #[serde(default)]
    output_format_configuration: Option<OutputFormat>,
}

/// How JSON keys are matched to columns.
#[derive(Clone, Debug, PartialEq)]
enum Input {
    OpenX {
        dots_to_underscores: bool,
        case_insensitive: bool,
        /// JSON key -> column.
        renames: Vec<(String, String)>,
    },
    /// Hive's JSON SerDe: exact keys; timestamps in the given Joda patterns or `millis`.
    Hive { timestamp_formats: Vec<String> },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParquetCompression {
    Uncompressed,
    Gzip,
    Snappy,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrcCompression {
    None,
    Zlib,
    Snappy,
}

#[derive(Clone, Debug, PartialEq)]
enum Output {
    Parquet {
        compression: ParquetCompression,
        page_size: Option<usize>,
        block_size: Option<usize>,
        dictionary: bool,
        v2: bool,
    },
    Orc {
        compression: OrcCompression,
        stripe_size: Option<usize>,
    },
}

/// A checked conversion configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversion {
    database: String,
    table: String,
    version_id: Option<String>,
    input: Input,
    output: Output,
}

impl Conversion {
    /// The conversion a destination asks for; `None` when absent or disabled.
    pub fn parse(config: Option<&Value>) -> Result<Option<Conversion>> {
        let Some(config) = config else {
            return Ok(None);
        };
        let config: DataFormatConversionConfiguration = serde_json::from_value(config.clone())
            .map_err(|e| FirehoseError::Validation(e.to_string()))?;
        // Enabled defaults to true when the configuration is given.
        if config.enabled == Some(false) {
            return Ok(None);
        }
        let schema = config.schema_configuration.unwrap_or_default();
        let (Some(database), Some(table), Some(_role)) =
            (schema.database_name, schema.table_name, schema.role_arn)
        else {
            return Err(invalid(
                "SchemaConfiguration requires RoleARN, DatabaseName and TableName when data format conversion is enabled.",
            ));
        };
        let deserializer = config
            .input_format_configuration
            .and_then(|i| i.deserializer)
            .unwrap_or_default();
        let input = match (deserializer.open_x, deserializer.hive) {
            (Some(o), None) => Input::OpenX {
                dots_to_underscores: o.convert_dots_in_json_keys_to_underscores.unwrap_or(false),
                case_insensitive: o.case_insensitive.unwrap_or(true),
                renames: o
                    .column_to_json_key_mappings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(column, key)| (key, column.to_ascii_lowercase()))
                    .collect(),
            },
            (None, Some(h)) => Input::Hive {
                timestamp_formats: h.timestamp_formats.unwrap_or_default(),
            },
            _ => {
                return Err(invalid(
                    "InputFormatConfiguration.Deserializer must specify exactly one of OpenXJsonSerDe and HiveJsonSerDe.",
                ));
            }
        };
        let serializer = config
            .output_format_configuration
            .and_then(|o| o.serializer)
            .unwrap_or_default();
        let output = match (serializer.parquet, serializer.orc) {
            (Some(p), None) => Output::Parquet {
                compression: match p.compression.as_deref().unwrap_or("SNAPPY") {
                    "SNAPPY" => ParquetCompression::Snappy,
                    "GZIP" => ParquetCompression::Gzip,
                    "UNCOMPRESSED" => ParquetCompression::Uncompressed,
                    other => {
                        return Err(invalid(format!(
                            "Unknown ParquetSerDe compression {other}."
                        )));
                    }
                },
                page_size: p.page_size_bytes.map(|b| b as usize),
                block_size: p.block_size_bytes.map(|b| b as usize),
                dictionary: p.enable_dictionary_compression.unwrap_or(true),
                v2: p.writer_version.as_deref() == Some("V2"),
            },
            (None, Some(o)) => Output::Orc {
                compression: match o.compression.as_deref().unwrap_or("SNAPPY") {
                    "SNAPPY" => OrcCompression::Snappy,
                    "ZLIB" => OrcCompression::Zlib,
                    "NONE" => OrcCompression::None,
                    other => return Err(invalid(format!("Unknown OrcSerDe compression {other}."))),
                },
                stripe_size: o.stripe_size_bytes.map(|b| b as usize),
            },
            _ => {
                return Err(invalid(
                    "OutputFormatConfiguration.Serializer must specify exactly one of ParquetSerDe and OrcSerDe.",
                ));
            }
        };
        Ok(Some(Conversion {
            database,
            table,
            version_id: schema.version_id.filter(|v| v != "LATEST"),
            input,
            output,
        }))
    }

    /// How the Iceberg destination writes data files: JSON keys matched to columns exactly,
    /// Snappy-compressed Parquet.
    pub fn iceberg() -> Conversion {
        Conversion {
            database: String::new(),
            table: String::new(),
            version_id: None,
            input: Input::OpenX {
                dots_to_underscores: false,
                case_insensitive: false,
                renames: Vec::new(),
            },
            output: Output::Parquet {
                compression: ParquetCompression::Snappy,
                page_size: None,
                block_size: None,
                dictionary: true,
                v2: false,
            },
        }
    }

    /// The Arrow schema of the Glue table, from its columns.
    pub async fn schema(
        &self,
        source: Option<&dyn SchemaSource>,
    ) -> std::result::Result<SchemaRef, Failure> {
        let Some(source) = source else {
            return Err(Failure::schema("No Glue Data Catalog is available."));
        };
        let columns = source
            .columns(&self.database, &self.table, self.version_id.as_deref())
            .await
            .map_err(|e| Failure {
                code: "DataFormatConversion.EntityNotFound",
                message: e,
            })?;
        if columns.is_empty() {
            return Err(Failure::schema(format!(
                "The table {}.{} has no columns.",
                self.database, self.table
            )));
        }
        let mut fields = Vec::with_capacity(columns.len());
        for (name, type_name) in columns {
            let data_type = hive::data_type(&type_name).map_err(|e| {
                Failure::schema(format!(
                    "Column {name} of {}.{}: {e}",
                    self.database, self.table
                ))
            })?;
            if matches!(self.output, Output::Orc { .. }) && !orc_supports(&data_type) {
                return Err(Failure::schema(format!(
                    "Column {name} has the type {type_name}, which Freshet cannot write to ORC (it writes ORC's primitive types only)."
                )));
            }
            fields.push(Field::new(name.to_ascii_lowercase(), data_type, true));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Converts records into one file; records that do not fit come back by index with why.
    pub fn convert(
        &self,
        schema: &SchemaRef,
        records: &[&[u8]],
    ) -> std::result::Result<Converted, Failure> {
        let mut rows = Vec::with_capacity(records.len());
        let mut failed = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match self.row(schema, record) {
                Ok(row) => rows.push((i, row)),
                Err(e) => failed.push((i, e)),
            }
        }
        let batch = match decode(schema, rows.iter().map(|(_, r)| r)) {
            Ok(batch) => batch,
            Err(_) => {
                // Find the rows that do not fit the columns one by one, and keep the others.
                let mut good = Vec::new();
                for (i, row) in rows {
                    match decode(schema, std::iter::once(&row)) {
                        Ok(_) => good.push(row),
                        Err(e) => failed.push((i, e)),
                    }
                }
                decode(schema, good.iter()).map_err(Failure::data)?
            }
        };
        failed.sort_by_key(|(i, _)| *i);
        let file = self.write(schema, &batch)?;
        Ok((file, failed))
    }

    /// One record as the row the SerDe reads: its keys matched to column names.
    fn row(&self, schema: &SchemaRef, record: &[u8]) -> std::result::Result<Value, String> {
        let value: Value = serde_json::from_slice(record)
            .map_err(|e| format!("The record is not valid JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("The record is not a JSON object.".into());
        };
        let mut row = match &self.input {
            Input::OpenX {
                dots_to_underscores,
                case_insensitive,
                renames,
            } => rename_keys(object, *dots_to_underscores, *case_insensitive, renames),
            Input::Hive { .. } => object,
        };
        for field in schema.fields() {
            if let DataType::Timestamp(unit, _) = field.data_type()
                && let Some(v) = row.get_mut(field.name())
            {
                *v = timestamp_in(v, &self.input, *unit)?;
            }
        }
        Ok(Value::Object(row))
    }

    /// The records as one batch of `schema` (which may name only some of their fields); the
    /// first record that does not fit fails it.
    pub(crate) fn decode_records(
        &self,
        schema: &SchemaRef,
        records: &[&[u8]],
    ) -> std::result::Result<RecordBatch, String> {
        let rows = records
            .iter()
            .map(|r| self.row(schema, r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        decode(schema, rows.iter())
    }

    pub(crate) fn write(
        &self,
        schema: &SchemaRef,
        batch: &RecordBatch,
    ) -> std::result::Result<Vec<u8>, Failure> {
        match &self.output {
            Output::Parquet {
                compression,
                page_size,
                block_size,
                dictionary,
                v2,
            } => {
                use parquet::basic::{Compression, GzipLevel};
                use parquet::file::properties::{WriterProperties, WriterVersion};
                let mut props = WriterProperties::builder()
                    .set_compression(match compression {
                        ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
                        ParquetCompression::Gzip => Compression::GZIP(GzipLevel::default()),
                        ParquetCompression::Snappy => Compression::SNAPPY,
                    })
                    .set_dictionary_enabled(*dictionary)
                    .set_writer_version(if *v2 {
                        WriterVersion::PARQUET_2_0
                    } else {
                        WriterVersion::PARQUET_1_0
                    });
                if let Some(page) = page_size {
                    props = props.set_data_page_size_limit(*page);
                }
                if let Some(block) = block_size {
                    // Parquet's writer bounds row groups by rows: estimate them from the bytes.
                    let bytes_per_row =
                        (batch.get_array_memory_size() / batch.num_rows().max(1)).max(1);
                    props = props.set_max_row_group_row_count(Some((block / bytes_per_row).max(1)));
                }
                let mut out = Vec::new();
                let mut writer = parquet::arrow::ArrowWriter::try_new(
                    &mut out,
                    schema.clone(),
                    Some(props.build()),
                )
                .map_err(|e| Failure::data(e.to_string()))?;
                writer
                    .write(batch)
                    .map_err(|e| Failure::data(e.to_string()))?;
                writer.close().map_err(|e| Failure::data(e.to_string()))?;
                Ok(out)
            }
            Output::Orc {
                compression,
                stripe_size,
            } => {
                use orc_rust::compression::CompressionType;
                let mut out = Vec::new();
                let mut builder = orc_rust::ArrowWriterBuilder::new(&mut out, schema.clone());
                builder = match compression {
                    OrcCompression::None => builder,
                    OrcCompression::Zlib => builder.with_compression(CompressionType::Zlib),
                    OrcCompression::Snappy => builder.with_compression(CompressionType::Snappy),
                };
                if let Some(stripe) = stripe_size {
                    builder = builder.with_stripe_byte_size(*stripe);
                }
                let mut writer = builder
                    .try_build()
                    .map_err(|e| Failure::data(e.to_string()))?;
                writer
                    .write(batch)
                    .map_err(|e| Failure::data(e.to_string()))?;
                writer.close().map_err(|e| Failure::data(e.to_string()))?;
                Ok(out)
            }
        }
    }
}

/// A converted file, and the records (by index) that did not fit, with why.
pub type Converted = (Vec<u8>, Vec<(usize, String)>);

/// Why records could not be converted, as the error output names it.
#[derive(Debug, PartialEq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn schema(message: impl Into<String>) -> Failure {
        Failure {
            code: "DataFormatConversion.InvalidSchema",
            message: message.into(),
        }
    }

    fn data(message: impl Into<String>) -> Failure {
        Failure {
            code: "DataFormatConversion.MalformedData",
            message: message.into(),
        }
    }
}

fn orc_supports(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Date32
            | DataType::Timestamp(..)
            | DataType::Binary
    )
}

fn decode<'a>(
    schema: &SchemaRef,
    rows: impl Iterator<Item = &'a Value>,
) -> std::result::Result<RecordBatch, String> {
    let rows: Vec<&Value> = rows.collect();
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(&rows).map_err(|e| e.to_string())?;
    Ok(decoder
        .flush()
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

/// OpenX's key matching, applied to nested objects too: JSON key mappings first, then dots to
/// underscores, then lower case.
fn rename_keys(
    object: Map<String, Value>,
    dots: bool,
    case_insensitive: bool,
    renames: &[(String, String)],
) -> Map<String, Value> {
    object
        .into_iter()
        .map(|(key, value)| {
            let mut key = renames
                .iter()
                .find(|(json, _)| *json == key)
                .map(|(_, column)| column.clone())
                .unwrap_or(key);
            if dots {
                key = key.replace('.', "_");
            }
            if case_insensitive {
                key = key.to_ascii_lowercase();
            }
            let value = match value {
                Value::Object(o) => Value::Object(rename_keys(o, dots, case_insensitive, &[])),
                other => other,
            };
            (key, value)
        })
        .collect()
}

/// A timestamp as milliseconds since the epoch. OpenX takes epoch seconds or milliseconds
/// (told apart by size), fractional seconds, and ISO-8601 text; Hive's SerDe takes
/// `yyyy-MM-dd HH:mm:ss[.f]`, and its TimestampFormats (Joda patterns, or `millis`).
fn timestamp_millis(value: &Value, input: &Input) -> std::result::Result<Value, String> {
    const MILLIS_FROM: f64 = 1e11;
    let millis = match value {
        Value::Null => return Ok(Value::Null),
        Value::Number(n) => {
            let Some(f) = n.as_f64() else {
                return Err(format!("{n} is not a timestamp"));
            };
            let millis_given = matches!(input, Input::Hive { timestamp_formats } if timestamp_formats.iter().any(|f| f == "millis"))
                || f.abs() >= MILLIS_FROM;
            if millis_given { f } else { f * 1000.0 }
        }
        Value::String(s) => parse_text_timestamp(s, input)
            .ok_or_else(|| format!("{s:?} is not a timestamp in a format the SerDe reads"))?
            as f64,
        other => return Err(format!("{other} is not a timestamp")),
    };
    Ok(Value::from(millis.round() as i64))
}

/// A timestamp in the column's unit (Iceberg's are microseconds).
fn timestamp_in(
    value: &Value,
    input: &Input,
    unit: arrow_schema::TimeUnit,
) -> std::result::Result<Value, String> {
    use arrow_schema::TimeUnit;
    let millis = timestamp_millis(value, input)?;
    let Some(ms) = millis.as_i64() else {
        return Ok(millis);
    };
    Ok(Value::from(match unit {
        TimeUnit::Second => ms.div_euclid(1000),
        TimeUnit::Millisecond => ms,
        TimeUnit::Microsecond => ms.saturating_mul(1000),
        TimeUnit::Nanosecond => ms.saturating_mul(1_000_000),
    }))
}

fn parse_text_timestamp(s: &str, input: &Input) -> Option<i64> {
    use chrono::{DateTime, NaiveDateTime};
    if let Input::Hive { timestamp_formats } = input {
        for format in timestamp_formats {
            if let Some(pattern) = joda_to_chrono(format)
                && let Ok(t) = NaiveDateTime::parse_from_str(s, &pattern)
            {
                return Some(t.and_utc().timestamp_millis());
            }
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for pattern in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, pattern) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// The common Joda pattern letters in chrono's terms; `None` for what has no counterpart.
fn joda_to_chrono(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..].iter().position(|&x| x == '\'')? + i + 1;
            out.extend(
                chars[i + 1..end]
                    .iter()
                    .map(|&x| if x == '%' { '%' } else { x }),
            );
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == 'S' && out.ends_with('.') {
            // chrono's fraction brings its own dot.
            out.pop();
        }
        out.push_str(match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%.f",
            ('a', _) => "%p",
            ('Z', _) => "%z",
            (c, _) if c.is_ascii_alphabetic() => return None,
            _ => {
                for _ in 0..run {
                    out.push(c);
                }
                i += run;
                continue;
            }
        });
        i += run;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
