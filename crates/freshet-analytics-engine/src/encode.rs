//! Rows of an in-application stream to output records (`DestinationSchema.RecordFormatType`):
//! one JSON object or one CSV line per row, without ROWTIME.

use datafusion_common::arrow::array::{Array, RecordBatch};
use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::arrow::util::display::{ArrayFormatter, FormatOptions};

/// How an output writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Csv,
}

/// KDA writes timestamps as `2026-12-06 10:00:00.250`.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Appends one record per row of `batch` (ROWTIME, column 0, left out) to `out`.
pub(crate) fn encode(
    batch: &RecordBatch,
    format: OutputFormat,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), String> {
    let options = FormatOptions::default()
        .with_null("")
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT));
    let schema = batch.schema();
    let columns: Vec<(&str, &dyn Array, bool)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .skip(1)
        .map(|(f, c)| (f.name().as_str(), c.as_ref(), is_bare(f.data_type())))
        .collect();
    let formatters = columns
        .iter()
        .map(|(_, c, _)| ArrayFormatter::try_new(*c, &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        let mut record = Vec::with_capacity(64);
        match format {
            OutputFormat::Json => {
                record.push(b'{');
                for (i, ((name, array, bare), formatter)) in
                    columns.iter().zip(&formatters).enumerate()
                {
                    if i > 0 {
                        record.push(b',');
                    }
                    write_json_string(&mut record, name);
                    record.push(b':');
                    if array.is_null(row) {
                        record.extend_from_slice(b"null");
                        continue;
                    }
                    text.clear();
                    use std::fmt::Write;
                    write!(text, "{}", formatter.value(row)).map_err(|e| e.to_string())?;
                    if *bare && text.parse::<f64>().is_ok_and(f64::is_finite)
                        || text == "true"
                        || text == "false"
                    {
                        record.extend_from_slice(text.as_bytes());
                    } else if *bare {
                        record.extend_from_slice(b"null");
                    } else {
                        write_json_string(&mut record, &text);
                    }
                }
                record.push(b'}');
            }
            OutputFormat::Csv => {
                for (i, formatter) in formatters.iter().enumerate() {
                    if i > 0 {
                        record.push(b',');
                    }
                    text.clear();
                    use std::fmt::Write;
                    write!(text, "{}", formatter.value(row)).map_err(|e| e.to_string())?;
                    if text.contains([',', '"', '\n', '\r']) {
                        record.push(b'"');
                        record.extend_from_slice(text.replace('"', "\"\"").as_bytes());
                        record.push(b'"');
                    } else {
                        record.extend_from_slice(text.as_bytes());
                    }
                }
                record.push(b'\n');
            }
        }
        out.push(record);
    }
    Ok(())
}

/// Numbers and booleans go into JSON as they are; everything else as a string.
fn is_bare(data_type: &DataType) -> bool {
    data_type.is_numeric() || *data_type == DataType::Boolean
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json's escaping: writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pump::stream_schema;
    use crate::types::TIMESTAMP;
    use datafusion_common::arrow::array::{Float64Array, StringArray, TimestampMillisecondArray};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = stream_schema([
            ("TICKER".to_string(), DataType::Utf8),
            ("PRICE".to_string(), DataType::Float64),
            ("AT".to_string(), TIMESTAMP),
        ]);
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("A,\"B\""), None])),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN)])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_765_015_200_250),
                    None,
                ])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn json_records_name_the_columns() {
        let mut out = Vec::new();
        encode(&batch(), OutputFormat::Json, &mut out).expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&out[0]),
            r#"{"TICKER":"A,\"B\"","PRICE":1.5,"AT":"2025-12-06 10:00:00.250"}"#
        );
        assert_eq!(
            String::from_utf8_lossy(&out[1]),
            r#"{"TICKER":null,"PRICE":null,"AT":null}"#
        );
    }

    #[test]
    fn csv_records_quote_what_needs_it() {
        let mut out = Vec::new();
        encode(&batch(), OutputFormat::Csv, &mut out).expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&out[0]),
            "\"A,\"\"B\"\"\",1.5,2025-12-06 10:00:00.250\n"
        );
        assert_eq!(String::from_utf8_lossy(&out[1]), ",NaN,\n");
    }
}
