use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use bytes::Bytes;
use serde_json::json;

use super::*;

struct Table(Vec<(&'static str, &'static str)>);

impl SchemaSource for Table {
    fn columns<'a>(
        &'a self,
        database: &'a str,
        table: &'a str,
        _version_id: Option<&'a str>,
    ) -> BoxFuture<'a, std::result::Result<Vec<(String, String)>, String>> {
        Box::pin(async move {
            if (database, table) != ("db", "events") {
                return Err(format!("Table {table} not found."));
            }
            Ok(self
                .0
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect())
        })
    }
}

fn config(input: Value, output: Value) -> Value {
    json!({
        "Enabled": true,
        "SchemaConfiguration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "DatabaseName": "db", "TableName": "events"},
        "InputFormatConfiguration": {"Deserializer": input},
        "OutputFormatConfiguration": {"Serializer": output},
    })
}

#[test]
fn configurations_need_a_schema_one_deserializer_and_one_serializer() {
    assert_eq!(Conversion::parse(None).unwrap(), None);
    assert_eq!(
        Conversion::parse(Some(&json!({"Enabled": false}))).unwrap(),
        None
    );
    let ok = config(json!({"OpenXJsonSerDe": {}}), json!({"ParquetSerDe": {}}));
    assert!(Conversion::parse(Some(&ok)).unwrap().is_some());
    for bad in [
        config(json!({}), json!({"ParquetSerDe": {}})),
        config(
            json!({"OpenXJsonSerDe": {}, "HiveJsonSerDe": {}}),
            json!({"ParquetSerDe": {}}),
        ),
        config(json!({"OpenXJsonSerDe": {}}), json!({})),
        config(
            json!({"OpenXJsonSerDe": {}}),
            json!({"ParquetSerDe": {"Compression": "LZO"}}),
        ),
        json!({"Enabled": true, "SchemaConfiguration": {"DatabaseName": "db"}}),
    ] {
        let e = Conversion::parse(Some(&bad)).unwrap_err();
        assert_eq!(e.aws_type(), "InvalidArgumentException", "{bad}");
    }
}

fn records(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|r| Bytes::copy_from_slice(r.as_bytes()))
        .collect()
}

async fn run(conversion: &Conversion, table: &Table, list: &[&str]) -> (Vec<u8>, Vec<usize>) {
    let schema = conversion.schema(Some(table)).await.unwrap();
    let data = records(list);
    let slices: Vec<&[u8]> = data.iter().map(|r| &r[..]).collect();
    let (file, failed) = conversion.convert(&schema, &slices).unwrap();
    (file, failed.into_iter().map(|(i, _)| i).collect())
}

/// OpenX reading (case-insensitive keys, dots to underscores, key mappings, epoch and text
/// timestamps) into Parquet, read back with the parquet crate's own reader.
#[tokio::test]
async fn json_becomes_parquet_and_misfits_are_set_aside() {
    let conversion = Conversion::parse(Some(&config(
        json!({"OpenXJsonSerDe": {"ConvertDotsInJsonKeysToUnderscores": true,
            "ColumnToJsonKeyMappings": {"ts": "@timestamp"}}}),
        json!({"ParquetSerDe": {"Compression": "GZIP"}}),
    )))
    .unwrap()
    .unwrap();
    let table = Table(vec![
        ("id", "bigint"),
        ("user_name", "string"),
        ("ts", "timestamp"),
        ("tags", "array<string>"),
        ("geo", "struct<lat:double,lon:double>"),
    ]);
    let (file, failed) = run(
        &conversion,
        &table,
        &[
            r#"{"ID": 1, "user.name": "ann", "@timestamp": 1770000000, "tags": ["a"], "geo": {"Lat": 1.5, "lon": 2}}"#,
            r#"{"id": "not a number", "user.name": "bob"}"#,
            r#"{"id": 3, "extra": true, "@timestamp": "2026-02-02T02:40:00.250Z"}"#,
            "not json",
            r#"{"id": 5, "@timestamp": 1770000000123}"#,
        ],
    )
    .await;
    assert_eq!(failed, vec![1, 3]);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file))
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let batch = arrow_select_concat(&batches);
    assert_eq!(batch.num_rows(), 3);
    let ids: Vec<i64> = batch
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(ids, [1, 3, 5]);
    assert_eq!(batch.column(1).as_string::<i32>().value(0), "ann");
    assert!(batch.column(1).is_null(1));
    let ts = batch.column(2).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values().to_vec(),
        [1_770_000_000_000, 1_770_000_000_250, 1_770_000_000_123]
    );
    assert!(
        !batch.column(4).is_null(0),
        "nested keys matched case-insensitively"
    );
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "one row group");
    batches[0].clone()
}

#[tokio::test]
async fn orc_takes_primitive_columns_and_hive_timestamp_formats() {
    let conversion = Conversion::parse(Some(&config(
        json!({"HiveJsonSerDe": {"TimestampFormats": ["dd/MM/yyyy HH:mm:ss"]}}),
        json!({"OrcSerDe": {"Compression": "ZLIB"}}),
    )))
    .unwrap()
    .unwrap();
    let table = Table(vec![("id", "int"), ("at", "timestamp")]);
    let (file, failed) = run(
        &conversion,
        &table,
        &[r#"{"id": 7, "at": "02/02/2026 02:40:00"}"#, r#"{"id": 8}"#],
    )
    .await;
    assert!(failed.is_empty());
    let reader = orc_rust::ArrowReaderBuilder::try_new(Bytes::from(file))
        .unwrap()
        .build();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);
    let nested = Table(vec![("tags", "array<string>")]);
    let e = conversion.schema(Some(&nested)).await.unwrap_err();
    assert_eq!(e.code, "DataFormatConversion.InvalidSchema");
    let missing = Conversion::parse(Some(&json!({
        "SchemaConfiguration": {"RoleARN": "r", "DatabaseName": "db", "TableName": "nope"},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}})))
    .unwrap()
    .unwrap();
    let e = missing.schema(Some(&table)).await.unwrap_err();
    assert_eq!(e.code, "DataFormatConversion.EntityNotFound");
}

#[test]
fn joda_patterns_map_to_chrono() {
    assert_eq!(
        joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap(),
        "%Y-%m-%dT%H:%M:%S%.f"
    );
    assert_eq!(joda_to_chrono("dd/MM/yy").unwrap(), "%d/%m/%y");
    assert!(joda_to_chrono("yyyy-QQ").is_none());
}
