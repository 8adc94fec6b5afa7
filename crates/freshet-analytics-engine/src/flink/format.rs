//! Flink's record formats for Kinesis, Firehose and filesystem tables: `json` (field names as
//! the columns, nested ROWs as objects, timestamps as `yyyy-MM-dd HH:mm:ss[.fff]`), `csv` and
//! `raw`, read into Arrow with arrow-json and arrow-csv and written back one record per row.

use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray,
};
use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_common::arrow::json::writer::LineDelimited;
use datafusion_common::arrow::json::{ReaderBuilder, WriterBuilder};

use super::connector::Format;

/// Flink's JSON and CSV formats write a TIMESTAMP(3) as `2026-01-01 00:00:00.5` (no fraction
/// when it is zero).
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// Decodes records into rows of `schema` (the table's physical columns). Records that do not
/// decode are skipped and counted; without `ignore-parse-errors` the first one's message is
/// returned too, for the log.
pub(crate) struct Decoder {
    format: Format,
    schema: SchemaRef,
}

pub(crate) struct Decoded {
    pub batch: RecordBatch,
    /// Which records the rows are (all of them when nothing was skipped).
    pub kept: Option<Vec<u32>>,
    pub failures: u64,
    pub first_error: Option<String>,
}

impl Decoder {
    pub(crate) fn new(format: Format, schema: SchemaRef) -> Result<Decoder, String> {
        if format == Format::Raw {
            let [field] = schema.fields().as_ref() else {
                return Err("The 'raw' format only supports a single physical column.".into());
            };
            if !matches!(field.data_type(), DataType::Utf8 | DataType::Binary) {
                return Err(format!(
                    "The 'raw' format reads STRING or BYTES, not {}",
                    field.data_type()
                ));
            }
        }
        Ok(Decoder { format, schema })
    }

    pub(crate) fn decode(&self, records: &[&[u8]]) -> Result<Decoded, String> {
        if let Format::Raw = self.format {
            let column: ArrayRef = match self.schema.field(0).data_type() {
                DataType::Utf8 => Arc::new(StringArray::from_iter_values(
                    records.iter().map(|r| String::from_utf8_lossy(r)),
                )),
                _ => Arc::new(BinaryArray::from_iter_values(records.iter())),
            };
            let batch = RecordBatch::try_new(self.schema.clone(), vec![column])
                .map_err(|e| e.to_string())?;
            return Ok(Decoded {
                batch,
                kept: None,
                failures: 0,
                first_error: None,
            });
        }
        match self.decode_all(records) {
            Ok(batch) if batch.num_rows() == records.len() => Ok(Decoded {
                batch,
                kept: None,
                failures: 0,
                first_error: None,
            }),
            // Some record is bad (or holds two values): one by one, to skip only the bad ones.
            _ => {
                let mut batches = Vec::new();
                let mut kept = Vec::new();
                let mut first_error = None;
                for (i, record) in records.iter().enumerate() {
                    match self.decode_all(std::slice::from_ref(record)) {
                        Ok(b) if b.num_rows() == 1 => {
                            batches.push(b);
                            kept.push(i as u32);
                        }
                        Ok(b) => {
                            first_error.get_or_insert_with(|| {
                                format!("a record holds {} values, not one", b.num_rows())
                            });
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                let batch =
                    datafusion_common::arrow::compute::concat_batches(&self.schema, &batches)
                        .map_err(|e| e.to_string())?;
                Ok(Decoded {
                    failures: (records.len() - kept.len()) as u64,
                    batch,
                    kept: Some(kept),
                    first_error,
                })
            }
        }
    }

    fn decode_all(&self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        let rows = records.len().max(1);
        let batch = match self.format {
            Format::Json { .. } => {
                let mut decoder = ReaderBuilder::new(self.schema.clone())
                    .with_batch_size(rows)
                    .build_decoder()
                    .map_err(|e| e.to_string())?;
                for record in records {
                    let read = decoder.decode(record).map_err(|e| e.to_string())?;
                    if read < record.len() {
                        return Err("a record holds more than one JSON value".into());
                    }
                    decoder.decode(b"\n").map_err(|e| e.to_string())?;
                }
                decoder.flush().map_err(|e| e.to_string())?
            }
            Format::Csv { delimiter, .. } => {
                let mut decoder =
                    datafusion_common::arrow::csv::ReaderBuilder::new(self.schema.clone())
                        .with_header(false)
                        .with_delimiter(delimiter)
                        .with_batch_size(rows)
                        .build_decoder();
                for record in records {
                    let record = record.strip_suffix(b"\n").unwrap_or(record);
                    decoder.decode(record).map_err(|e| e.to_string())?;
                    decoder.decode(b"\n").map_err(|e| e.to_string())?;
                }
                decoder.flush().map_err(|e| e.to_string())?
            }
            Format::Raw | Format::None => None,
        };
        Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone())))
    }
}

/// A file's records, as Flink's filesystem connector reads the row formats: one per line
/// (`\n` or `\r\n`), where a CSV line break inside a quoted field stays in its record. Blank
/// lines are no JSON or CSV record and are skipped; for `raw` a line is the record, blank or
/// not (the newline that ends the file starts no record).
pub(crate) fn file_records(data: &[u8], format: Format) -> Vec<&[u8]> {
    let csv = matches!(format, Format::Csv { .. });
    let mut records = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, byte) in data.iter().enumerate() {
        match byte {
            // A doubled quote inside a quoted field toggles twice: still quoted.
            b'"' if csv => quoted = !quoted,
            b'\n' if !quoted => {
                records.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < data.len() {
        records.push(&data[start..]);
    }
    records
        .into_iter()
        .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
        .filter(|r| format == Format::Raw || !r.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// Encodes each row of `batch` as one record.
pub(crate) fn encode(
    batch: &RecordBatch,
    format: Format,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), String> {
    match format {
        Format::Raw => {
            let column = batch.column(0);
            match column.data_type() {
                DataType::Utf8 => out.extend(
                    column
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or_default().as_bytes().to_vec()),
                ),
                DataType::Binary => out.extend(
                    column
                        .as_binary::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or_default().to_vec()),
                ),
                other => {
                    return Err(format!(
                        "The 'raw' format writes STRING or BYTES, not {other}"
                    ));
                }
            }
            Ok(())
        }
        Format::Json { .. } => {
            let batch = timestamps_as_text(batch)?;
            let mut bytes = Vec::new();
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut bytes);
            writer.write(&batch).map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())?;
            drop(writer);
            out.extend(
                bytes
                    .split(|b| *b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(<[u8]>::to_vec),
            );
            Ok(())
        }
        Format::Csv { delimiter, .. } => {
            let batch = timestamps_as_text(batch)?;
            let mut bytes = Vec::new();
            let mut writer = datafusion_common::arrow::csv::WriterBuilder::new()
                .with_header(false)
                .with_delimiter(delimiter)
                .build(&mut bytes);
            writer.write(&batch).map_err(|e| e.to_string())?;
            drop(writer);
            out.extend(
                bytes
                    .split(|b| *b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(<[u8]>::to_vec),
            );
            Ok(())
        }
        Format::None => Ok(()),
    }
}

/// Timestamp columns as Flink's text for them.
fn timestamps_as_text(batch: &RecordBatch) -> Result<RecordBatch, String> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(..)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                let values = column
                    .as_primitive::<datafusion_common::arrow::datatypes::TimestampMillisecondType>(
                    );
                let text: StringArray = values
                    .iter()
                    .map(|v| {
                        v.and_then(chrono::DateTime::from_timestamp_millis)
                            .map(|t| t.format(TIMESTAMP_FORMAT).to_string())
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(text) as ArrayRef);
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::array::{Int64Array, TimestampMillisecondArray};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new(
                "p",
                DataType::Struct(vec![Field::new("name", DataType::Utf8, true)].into()),
                true,
            ),
        ]))
    }

    #[test]
    fn json_records_decode_and_bad_ones_are_skipped() {
        let decoder = Decoder::new(
            Format::Json {
                ignore_parse_errors: true,
            },
            schema(),
        )
        .expect("decoder");
        let records: Vec<&[u8]> = vec![
            br#"{"id":1,"ts":"2026-01-01 00:00:01.500","p":{"name":"a"},"extra":1}"#,
            br#"{"id":"x"}"#,
            br#"{"id":3}"#,
        ];
        let decoded = decoder.decode(&records).expect("decodes");
        assert_eq!(decoded.failures, 1);
        assert_eq!(decoded.kept, Some(vec![0, 2]));
        let ids = decoded
            .batch
            .column(0)
            .as_primitive::<datafusion_common::arrow::datatypes::Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 3]);
        let ts = decoded
            .batch
            .column(1)
            .as_primitive::<datafusion_common::arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_767_225_601_500);
    }

    #[test]
    fn files_are_lines_and_csv_keeps_quoted_line_breaks() {
        let csv = Format::Csv {
            delimiter: b',',
            ignore_parse_errors: false,
        };
        let data = b"1,a\r\n\n2,\"b\nc\"\"\"\n3,d";
        assert_eq!(
            file_records(data, csv),
            [&b"1,a"[..], b"2,\"b\nc\"\"\"", b"3,d"]
        );
        assert_eq!(
            file_records(b"x\n\ny\n", Format::Raw),
            [&b"x"[..], b"", b"y"]
        );
        assert!(file_records(b"", Format::Raw).is_empty());
    }

    #[test]
    fn rows_encode_as_flink_writes_them() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_767_225_601_500),
                    Some(1_767_225_600_000),
                ])),
            ],
        )
        .expect("batch");
        let mut out = Vec::new();
        encode(
            &batch,
            Format::Json {
                ignore_parse_errors: false,
            },
            &mut out,
        )
        .expect("json");
        assert_eq!(
            String::from_utf8_lossy(&out[0]),
            r#"{"id":1,"ts":"2026-01-01 00:00:01.500"}"#
        );
        assert_eq!(
            String::from_utf8_lossy(&out[1]),
            r#"{"id":null,"ts":"2026-01-01 00:00:00"}"#
        );
        let mut out = Vec::new();
        encode(
            &batch,
            Format::Csv {
                delimiter: b',',
                ignore_parse_errors: false,
            },
            &mut out,
        )
        .expect("csv");
        assert_eq!(
            String::from_utf8_lossy(&out[0]),
            "1,2026-01-01 00:00:01.500"
        );
    }
}
