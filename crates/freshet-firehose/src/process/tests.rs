use std::io::Write;

use serde_json::json;

use super::*;
use crate::prefix::KeySource;

fn processors(list: serde_json::Value, dynamic: bool) -> Result<Option<Processing>> {
    Processing::parse(Some(&json!({"Enabled": true, "Processors": list})), dynamic)
}

fn record(data: &[u8]) -> SourceRecord {
    SourceRecord {
        data: Bytes::copy_from_slice(data),
        arrival_ms: 7,
    }
}

fn ok(p: &Processed) -> (&[u8], &PartitionKeys) {
    match &p.outcome {
        Outcome::Ok { data, keys } => (data, keys),
        other => panic!("expected Ok, got {other:?}"),
    }
}

fn query_key(name: &str) -> (KeySource, String) {
    (KeySource::Query, name.to_string())
}

#[test]
fn configurations_are_checked_as_aws_does() {
    assert!(
        Processing::parse(
            Some(&json!({"Enabled": false, "Processors": [{"Type": "Nope"}]})),
            false
        )
        .unwrap()
        .is_none()
    );
    let refused = |list: serde_json::Value, dynamic: bool| {
        let e = processors(list, dynamic).unwrap_err();
        assert_eq!(e.aws_type(), "InvalidArgumentException", "{e}");
        e.to_string()
    };
    refused(json!([{"Type": "Nope"}]), true);
    refused(json!([{"Type": "Lambda"}]), false);
    refused(
        json!([{"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": "f"}]}]),
        false,
    );
    let lambda = |extra: serde_json::Value| {
        let mut params = vec![json!({"ParameterName": "LambdaArn",
            "ParameterValue": "arn:aws:lambda:us-east-1:000000000000:function:f"})];
        params.push(extra);
        json!([{"Type": "Lambda", "Parameters": params}])
    };
    refused(
        lambda(json!({"ParameterName": "BufferSizeInMBs", "ParameterValue": "4"})),
        false,
    );
    refused(
        lambda(json!({"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "10"})),
        false,
    );
    refused(
        lambda(json!({"ParameterName": "SubRecordType", "ParameterValue": "JSON"})),
        false,
    );
    let settings = processors(
        lambda(json!({"ParameterName": "BufferSizeInMBs", "ParameterValue": "0.5"})),
        false,
    )
    .unwrap()
    .unwrap()
    .lambda
    .unwrap();
    assert_eq!(settings.buffer_bytes, 512 * 1024);
    assert_eq!((settings.retries, settings.buffer_interval_ms), (3, 60_000));
    // The partitioning processors need dynamic partitioning.
    let query = json!([{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{id: .id}"},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]);
    assert!(refused(query.clone(), false).contains("requires dynamic partitioning"));
    assert!(processors(query, true).unwrap().unwrap().has_query());
    refused(
        json!([{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{id: .id"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]),
        true,
    );
    refused(
        json!([{"Type": "RecordDeAggregation", "Parameters": [
            {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"}]}]),
        true,
    );
    refused(
        json!([{"Type": "CloudWatchLogProcessing", "Parameters": [
            {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]}]),
        false,
    );
    refused(
        json!([{"Type": "AppendDelimiterToRecord"}, {"Type": "AppendDelimiterToRecord"}]),
        false,
    );
}

/// De-aggregation, jq keys and the newline, in AWS's order whatever the listed order.
#[tokio::test]
async fn records_are_split_keyed_and_delimited() {
    let p = processors(
        json!([
            {"Type": "AppendDelimiterToRecord"},
            {"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery",
                 "ParameterValue": "{customer: .customer, year: .ts | strftime(\"%Y\"), n: .n}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
            {"Type": "RecordDeAggregation", "Parameters": [
                {"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]},
        ]),
        true,
    )
    .unwrap()
    .unwrap();
    let out = p
        .run(
            vec![
                record(br#"{"customer":"a","ts":1770000000,"n":1}{"customer":"b","ts":1700000000,"n":2.5}"#),
                record(b"{\"customer\":\"c\",\"ts\":0,\"n\":true}\n{\"customer\":null,\"ts\":0,\"n\":1}\n"),
                record(b"[1,2]"),
            ],
            None,
        )
        .await;
    assert_eq!(out.len(), 5);
    let (data, keys) = ok(&out[0]);
    assert_eq!(data, b"{\"customer\":\"a\",\"ts\":1770000000,\"n\":1}\n");
    assert_eq!(keys[&query_key("customer")], "a");
    assert_eq!(keys[&query_key("year")], "2026");
    assert_eq!(keys[&query_key("n")], "1");
    assert_eq!(ok(&out[1]).1[&query_key("n")], "2.5");
    assert_eq!(ok(&out[2]).1[&query_key("n")], "true");
    // null names no partition; an array is not a sequence of objects.
    for (failed, code) in [
        (&out[3], "DynamicPartitioning.MetadataExtractionFailed"),
        (&out[4], "RecordDeAggregation.Failed"),
    ] {
        match &failed.outcome {
            Outcome::Failed { code: c, .. } => assert_eq!(*c, code),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(out[3].raw.as_ref(), br#"{"customer":null,"ts":0,"n":1}"#);
    assert_eq!(out[4].raw.as_ref(), b"[1,2]");
}

#[tokio::test]
async fn delimited_records_split_on_the_decoded_delimiter() {
    let p = processors(
        json!([{"Type": "RecordDeAggregation", "Parameters": [
            {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"},
            {"ParameterName": "Delimiter", "ParameterValue": "IyMj"}]}]),
        true,
    )
    .unwrap()
    .unwrap();
    let out = p.run(vec![record(b"a###bb######c###")], None).await;
    let pieces: Vec<&[u8]> = out.iter().map(|p| ok(p).0).collect();
    assert_eq!(pieces, [b"a".as_slice(), b"bb", b"c"]);
    let many = "x#".repeat(501).replace('#', "###");
    let out = p.run(vec![record(many.as_bytes())], None).await;
    assert!(
        matches!(out[0].outcome, Outcome::Failed { .. }),
        "over 500 sub-records"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn cloudwatch_logs_envelopes_become_their_messages() {
    let p = processors(
        json!([
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {"Type": "CloudWatchLogProcessing", "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]},
            {"Type": "AppendDelimiterToRecord"},
        ]),
        false,
    )
    .unwrap()
    .unwrap();
    let data = json!({"messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": "g",
        "logStream": "s", "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": "first"}, {"id": "2", "timestamp": 2, "message": "second"}]});
    let control = json!({"messageType": "CONTROL_MESSAGE", "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
    let out = p
        .run(
            vec![
                record(&gzip(data.to_string().as_bytes())),
                record(&gzip(control.to_string().as_bytes())),
                record(b"not gzip"),
            ],
            None,
        )
        .await;
    assert_eq!(
        out.len(),
        3,
        "two messages, no control message, one failure"
    );
    assert_eq!(ok(&out[0]).0, b"first\n");
    assert_eq!(ok(&out[1]).0, b"second\n");
    assert!(matches!(
        out[2].outcome,
        Outcome::Failed {
            code: "Decompression.Failed",
            ..
        }
    ));
}

#[test]
fn lambda_responses_are_matched_by_record_id() {
    let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let payload = json!({"records": [
        {"recordId": "a", "result": "Ok", "data": BASE64.encode("A"), "metadata": {"partitionKeys": {"k": "v"},
            "otfMetadata": {"destinationTableName": "t", "operation": "delete"}}},
        {"recordId": "b", "result": "Dropped", "metadata": {"otfMetadata": null}},
        {"recordId": "c", "result": "ProcessingFailed", "data": ""},
        {"recordId": "c", "result": "Ok", "data": ""},
        {"recordId": "zz", "result": "Ok", "data": ""},
    ]});
    let parsed = lambda::tests_parse(payload.to_string().as_bytes(), &ids).unwrap();
    assert_eq!(
        parsed["a"],
        Ok(Outcome::Ok {
            data: Bytes::from_static(b"A"),
            keys: [
                ((KeySource::Lambda, "k".to_string()), "v".to_string()),
                (
                    (KeySource::Lambda, "destinationTableName".to_string()),
                    "t".to_string()
                ),
                (
                    (KeySource::Lambda, "operation".to_string()),
                    "delete".to_string()
                ),
            ]
            .into()
        })
    );
    assert_eq!(parsed["b"], Ok(Outcome::Dropped));
    assert_eq!(parsed["c"], Err("Lambda.DuplicatedRecordId"));
    assert!(
        !parsed.contains_key("d"),
        "the caller fails a missing record"
    );
    assert!(lambda::tests_parse(b"[]", &ids).is_err());
}
