//! Input records to rows of an input's in-application stream, as the input schema says:
//! JSON (a record row path, JSONPath mappings per column) or CSV (row and column delimiters),
//! each value coerced to its column's SQL type. A record that cannot be read becomes an error
//! for `error_stream` and the others go on.

use std::sync::Arc;

use datafusion_common::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondArray,
    TimestampMillisecondBuilder,
};
use datafusion_common::arrow::compute::cast;
use datafusion_common::arrow::datatypes::{DataType, SchemaRef};
use serde_json::Value;

use crate::types::{TIMESTAMP, parse_sql_type};

/// How an input's records are laid out (`RecordFormat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFormat {
    /// `RecordRowPath`: where the row (or an array of rows) is in each record, e.g. `$`.
    Json { record_row_path: String },
    Csv {
        row_delimiter: String,
        column_delimiter: String,
    },
}

/// One column of an input or reference schema (`RecordColumn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub sql_type: String,
    /// JSONPath of the value in a JSON row (`$.ticker`); unused for CSV.
    pub mapping: Option<String>,
}

/// An input's or reference table's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSchema {
    pub columns: Vec<ColumnSpec>,
    pub format: RecordFormat,
}

/// A record that could not be read, for `error_stream`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DecodeError {
    pub record: usize,
    pub name: &'static str,
    pub message: String,
}

/// The steps of a JSONPath we follow: object fields, and `[n]` / `[0:]` on arrays.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Each,
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("the JSONPath {path} must start with $"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("empty field name in the JSONPath {path}"));
                }
                steps.push(Step::Field(name));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Field(quoted.to_string()));
                } else if inner == "0:" || inner == "*" || inner == ":" {
                    steps.push(Step::Each);
                } else {
                    let index = inner.parse().map_err(|_| {
                        format!("unsupported step [{inner}] in the JSONPath {path}")
                    })?;
                    steps.push(Step::Index(index));
                }
            }
            other => return Err(format!("unexpected '{other}' in the JSONPath {path}")),
        }
    }
    Ok(steps)
}

fn follow<'v>(value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut at = value;
    for step in steps {
        at = match (step, at) {
            (Step::Field(name), Value::Object(map)) => map.get(name)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

/// The rows a record holds under `record_row_path`: `[0:]` (or an array where the path ends) spreads.
fn rows<'v>(record: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    match steps.iter().position(|s| *s == Step::Each) {
        None => match follow(record, steps) {
            Some(Value::Array(items)) if !steps.is_empty() => out.extend(items.iter()),
            Some(row) => out.push(row),
            None => {}
        },
        Some(each) => {
            if let Some(Value::Array(items)) = follow(record, &steps[..each]) {
                for item in items {
                    rows(item, &steps[each + 1..], out);
                }
            }
        }
    }
}

/// A column value read from a record, before it is appended.
enum Cell<'a> {
    Null,
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The builder of one column, by its Arrow type; types without a builder of their own are
/// read as text and cast once per batch.
enum Builder {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
    CastFromText(StringBuilder, DataType),
}

impl Builder {
    fn new(data_type: &DataType, capacity: usize) -> Builder {
        match data_type {
            DataType::Utf8 => Builder::Text(StringBuilder::with_capacity(capacity, capacity * 8)),
            DataType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Float32 => Builder::Float32(Float32Builder::with_capacity(capacity)),
            DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Timestamp(..) => {
                Builder::Timestamp(TimestampMillisecondBuilder::with_capacity(capacity))
            }
            other => Builder::CastFromText(
                StringBuilder::with_capacity(capacity, capacity * 8),
                other.clone(),
            ),
        }
    }

    /// Checks that `cell` fits this column, without appending it.
    fn check(&self, cell: &Cell<'_>) -> Result<(), String> {
        let ok = match (self, cell) {
            (_, Cell::Null) | (Builder::Text(_) | Builder::CastFromText(..), _) => true,
            (Builder::Int32(_), c) => as_i64(c).is_some_and(|v| i32::try_from(v).is_ok()),
            (Builder::Int64(_), c) => as_i64(c).is_some(),
            (Builder::Float32(_) | Builder::Float64(_), c) => as_f64(c).is_some(),
            (Builder::Bool(_), c) => as_bool(c).is_some(),
            (Builder::Timestamp(_), c) => as_timestamp(c).is_some(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "cannot convert {} to {}",
                describe(cell),
                self.type_name()
            ))
        }
    }

    fn append(&mut self, cell: &Cell<'_>) {
        match self {
            Builder::Text(b) | Builder::CastFromText(b, _) => match cell {
                Cell::Null => b.append_null(),
                Cell::Text(t) => b.append_value(t),
                Cell::Int(i) => b.append_value(i.to_string()),
                Cell::Float(f) => b.append_value(f.to_string()),
                Cell::Bool(v) => b.append_value(if *v { "true" } else { "false" }),
            },
            Builder::Int32(b) => b.append_option(as_i64(cell).and_then(|v| i32::try_from(v).ok())),
            Builder::Int64(b) => b.append_option(as_i64(cell)),
            Builder::Float32(b) => b.append_option(as_f64(cell).map(|v| v as f32)),
            Builder::Float64(b) => b.append_option(as_f64(cell)),
            Builder::Bool(b) => b.append_option(as_bool(cell)),
            Builder::Timestamp(b) => b.append_option(as_timestamp(cell)),
        }
    }

    fn finish(self) -> Result<ArrayRef, String> {
        Ok(match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int32(mut b) => Arc::new(b.finish()),
            Builder::Int64(mut b) => Arc::new(b.finish()),
            Builder::Float32(mut b) => Arc::new(b.finish()),
            Builder::Float64(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
            Builder::CastFromText(mut b, to) => {
                let text: ArrayRef = Arc::new(b.finish());
                cast(&text, &to).map_err(|e| e.to_string())?
            }
        })
    }

    fn type_name(&self) -> &'static str {
        match self {
            Builder::Text(_) | Builder::CastFromText(..) => "VARCHAR",
            Builder::Int32(_) => "INTEGER",
            Builder::Int64(_) => "BIGINT",
            Builder::Float32(_) => "REAL",
            Builder::Float64(_) => "DOUBLE",
            Builder::Bool(_) => "BOOLEAN",
            Builder::Timestamp(_) => "TIMESTAMP",
        }
    }
}

fn describe(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Text(t) => format!("'{}'", t.chars().take(64).collect::<String>()),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Bool(b) => b.to_string(),
    }
}

fn as_i64(cell: &Cell<'_>) -> Option<i64> {
    match cell {
        Cell::Int(i) => Some(*i),
        Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(*f as i64),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(cell: &Cell<'_>) -> Option<bool> {
    match cell {
        Cell::Bool(b) => Some(*b),
        Cell::Text(t) if t.eq_ignore_ascii_case("true") => Some(true),
        Cell::Text(t) if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Epoch milliseconds, or text as `yyyy-MM-dd HH:mm:ss[.SSS]` / ISO 8601 (UTC when no zone).
fn as_timestamp(cell: &Cell<'_>) -> Option<i64> {
    match cell {
        Cell::Int(i) => Some(*i),
        Cell::Text(t) => parse_timestamp(t.trim()),
        _ => None,
    }
}

pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

fn json_cell(value: Option<&Value>) -> Cell<'_> {
    match value {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::String(s)) => Cell::Text(s.as_str().into()),
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(other) => Cell::Text(other.to_string().into()),
    }
}

/// Reads records of one input into batches of its in-application stream.
pub(crate) struct Decoder {
    schema: SchemaRef,
    types: Vec<DataType>,
    paths: Vec<Vec<Step>>,
    format: Format,
}

enum Format {
    Json {
        record_row_path: Vec<Step>,
    },
    Csv {
        row_delimiter: String,
        column_delimiter: String,
    },
}

/// A record as it arrives from the source.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    pub data: &'a [u8],
    /// When the source accepted it (Kinesis' ApproximateArrivalTimestamp), in ms.
    pub arrival_ms: i64,
}

impl Decoder {
    /// `schema` is the input stream's: ROWTIME, APPROXIMATE_ARRIVAL_TIME, then the columns.
    pub(crate) fn new(input: &InputSchema, schema: SchemaRef) -> Result<Decoder, String> {
        let mut types = Vec::new();
        let mut paths = Vec::new();
        for column in &input.columns {
            types.push(
                parse_sql_type(&column.sql_type)
                    .map_err(|e| format!("column {}: {e}", column.name))?,
            );
            let mapping = column
                .mapping
                .clone()
                .unwrap_or_else(|| format!("$.{}", column.name));
            paths.push(match input.format {
                RecordFormat::Json { .. } => parse_path(&mapping)?,
                RecordFormat::Csv { .. } => Vec::new(),
            });
        }
        let format = match &input.format {
            RecordFormat::Json { record_row_path } => Format::Json {
                record_row_path: parse_path(record_row_path)?,
            },
            RecordFormat::Csv {
                row_delimiter,
                column_delimiter,
            } => {
                if row_delimiter.is_empty() || column_delimiter.is_empty() {
                    return Err("CSV row and column delimiters must not be empty".into());
                }
                Format::Csv {
                    row_delimiter: row_delimiter.clone(),
                    column_delimiter: column_delimiter.clone(),
                }
            }
        };
        Ok(Decoder {
            schema,
            types,
            paths,
            format,
        })
    }

    /// The rows `records` hold, stamped with `rowtime`; records that cannot be read are
    /// reported, by index, instead.
    pub(crate) fn decode(
        &self,
        records: &[InputRecord<'_>],
        rowtime: i64,
    ) -> Result<(RecordBatch, Vec<DecodeError>), String> {
        let mut builders: Vec<Builder> = self
            .types
            .iter()
            .map(|t| Builder::new(t, records.len()))
            .collect();
        let mut arrivals = TimestampMillisecondBuilder::with_capacity(records.len());
        let mut errors = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let result = match &self.format {
                Format::Json { record_row_path } => {
                    self.json_rows(record.data, record_row_path, &mut builders)
                }
                Format::Csv {
                    row_delimiter,
                    column_delimiter,
                } => self.csv_rows(record.data, row_delimiter, column_delimiter, &mut builders),
            };
            match result {
                Ok(rows) => {
                    for _ in 0..rows {
                        arrivals.append_value(record.arrival_ms);
                    }
                }
                Err((name, message)) => errors.push(DecodeError {
                    record: index,
                    name,
                    message,
                }),
            }
        }
        let rows = arrivals.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.types.len() + 2);
        columns.push(Arc::new(TimestampMillisecondArray::from_value(
            rowtime, rows,
        )));
        columns.push(Arc::new(arrivals.finish()));
        for builder in builders {
            columns.push(builder.finish()?);
        }
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())?;
        Ok((batch, errors))
    }

    /// Appends every row of one JSON record, or none if any of them does not fit.
    fn json_rows(
        &self,
        data: &[u8],
        record_row_path: &[Step],
        builders: &mut [Builder],
    ) -> Result<usize, (&'static str, String)> {
        let record: Value = serde_json::from_slice(data)
            .map_err(|e| ("Parse_Error", format!("invalid JSON: {e}")))?;
        let mut found = Vec::new();
        rows(&record, record_row_path, &mut found);
        if found.is_empty() {
            return Err((
                "Parse_Error",
                "the record row path matches nothing in the record".into(),
            ));
        }
        // Every row is checked before any is appended, so a bad row drops its whole record.
        let mut all: Vec<Vec<Cell<'_>>> = Vec::with_capacity(found.len());
        for row in &found {
            let row_cells: Vec<Cell<'_>> = self
                .paths
                .iter()
                .map(|p| json_cell(follow(row, p)))
                .collect();
            for (builder, cell) in builders.iter().zip(&row_cells) {
                builder.check(cell).map_err(|m| ("Coercion_Error", m))?;
            }
            all.push(row_cells);
        }
        for row_cells in &all {
            for (builder, cell) in builders.iter_mut().zip(row_cells) {
                builder.append(cell);
            }
        }
        Ok(all.len())
    }

    fn csv_rows(
        &self,
        data: &[u8],
        row_delimiter: &str,
        column_delimiter: &str,
        builders: &mut [Builder],
    ) -> Result<usize, (&'static str, String)> {
        let text = std::str::from_utf8(data)
            .map_err(|e| ("Parse_Error", format!("the record is not UTF-8: {e}")))?;
        let lines: Vec<&str> = text
            .split(row_delimiter)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return Err(("Parse_Error", "the record holds no row".into()));
        }
        let mut all: Vec<Vec<Cell<'_>>> = Vec::with_capacity(lines.len());
        for line in lines {
            let mut row_cells: Vec<Cell<'_>> = line
                .split(column_delimiter)
                .map(|v| Cell::Text(v.into()))
                .collect();
            if row_cells.len() < builders.len() {
                return Err((
                    "Parse_Error",
                    format!(
                        "the row has {} column(s) and the schema {}",
                        row_cells.len(),
                        builders.len()
                    ),
                ));
            }
            row_cells.truncate(builders.len());
            for (builder, cell) in builders.iter().zip(&row_cells) {
                builder.check(cell).map_err(|m| ("Coercion_Error", m))?;
            }
            all.push(row_cells);
        }
        for row_cells in &all {
            for (builder, cell) in builders.iter_mut().zip(row_cells) {
                builder.append(cell);
            }
        }
        Ok(all.len())
    }
}

/// The schema of an input's in-application stream for `input`.
pub(crate) fn input_columns(input: &InputSchema) -> Result<Vec<(String, DataType)>, String> {
    let mut columns = vec![("APPROXIMATE_ARRIVAL_TIME".to_string(), TIMESTAMP)];
    for column in &input.columns {
        columns.push((
            column.name.clone(),
            parse_sql_type(&column.sql_type).map_err(|e| format!("column {}: {e}", column.name))?,
        ));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pump::stream_schema;
    use datafusion_common::arrow::array::AsArray;
    use datafusion_common::arrow::datatypes::{Float64Type, Int32Type};

    fn decoder(format: RecordFormat, columns: &[(&str, &str, &str)]) -> Decoder {
        let input = InputSchema {
            columns: columns
                .iter()
                .map(|(n, t, m)| ColumnSpec {
                    name: n.to_string(),
                    sql_type: t.to_string(),
                    mapping: Some(m.to_string()),
                })
                .collect(),
            format,
        };
        Decoder::new(&input, stream_schema(input_columns(&input).expect("types"))).expect("decoder")
    }

    fn record(data: &[u8]) -> InputRecord<'_> {
        InputRecord {
            data,
            arrival_ms: 7,
        }
    }

    #[test]
    fn json_rows_follow_mappings_and_coerce() {
        let d = decoder(
            RecordFormat::Json {
                record_row_path: "$".into(),
            },
            &[
                ("TICKER", "VARCHAR(4)", "$.ticker"),
                ("PRICE", "DOUBLE", "$.price"),
                ("QTY", "INTEGER", "$.trade.qty"),
            ],
        );
        let (batch, errors) = d
            .decode(
                &[
                    record(br#"{"ticker":"AMZN","price":12.5,"trade":{"qty":3}}"#),
                    record(br#"{"ticker":"X","price":"7","trade":{"qty":"4"}}"#),
                    record(br#"{"ticker":"BAD","price":"seven","trade":{"qty":1}}"#),
                    record(b"not json"),
                ],
                1000,
            )
            .expect("decodes");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(2).as_string::<i32>().value(0), "AMZN");
        assert_eq!(batch.column(3).as_primitive::<Float64Type>().value(1), 7.0);
        assert_eq!(batch.column(4).as_primitive::<Int32Type>().value(1), 4);
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.record, e.name))
                .collect::<Vec<_>>(),
            vec![(2, "Coercion_Error"), (3, "Parse_Error")]
        );
    }

    #[test]
    fn a_row_path_over_an_array_spreads_rows() {
        let d = decoder(
            RecordFormat::Json {
                record_row_path: "$.items[0:]".into(),
            },
            &[("N", "BIGINT", "$.n")],
        );
        let (batch, errors) = d
            .decode(&[record(br#"{"items":[{"n":1},{"n":2},{"n":3}]}"#)], 5)
            .expect("decodes");
        assert!(errors.is_empty());
        assert_eq!(batch.num_rows(), 3);
    }

    #[test]
    fn csv_rows_split_on_the_delimiters() {
        let d = decoder(
            RecordFormat::Csv {
                row_delimiter: "\n".into(),
                column_delimiter: "|".into(),
            },
            &[
                ("A", "VARCHAR(8)", ""),
                ("B", "INTEGER", ""),
                ("T", "TIMESTAMP", ""),
            ],
        );
        let (batch, errors) = d
            .decode(
                &[
                    record(b"x|1|2026-12-06 10:00:00.250\ny|2|2026-12-06T10:00:01Z\n"),
                    record(b"z|nope|2026-12-06"),
                ],
                5,
            )
            .expect("decodes");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].name, "Coercion_Error");
    }
}
