//! Micro-benchmarks of the edge's wire codecs on the put and get hot paths: a PutRecords body of
//! 500 records of 1 KiB (AWS's largest record count per call) through JSON and CBOR decoding,
//! model validation and typed conversion; base64 blobs of 1 KiB; a GetRecords answer of 500
//! records encoded as JSON and CBOR.
//!
//! `cargo bench -p freshet-edge --bench codecs` (short by default: 1 s warm-up, 2 s measurement).

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ciborium::value::Value as Cbor;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use freshet_edge::codec::{self, Format};
use freshet_edge::shape::kinesis;
use freshet_edge::{cbor, fast, validate};
use freshet_streams::model::{Blob, GetRecordsOutput, PutRecordsInput, Record, Timestamp};
use serde_json::{Value, json};

const RECORDS: usize = 500;
const RECORD_BYTES: usize = 1024;

/// Deterministic, incompressible-looking record data.
fn record_data(i: usize) -> Vec<u8> {
    (0..RECORD_BYTES)
        .map(|j| (i.wrapping_mul(31) ^ j.wrapping_mul(7)) as u8)
        .collect()
}

fn put_records_json() -> Vec<u8> {
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            json!({
                "Data": BASE64.encode(record_data(i)),
                "PartitionKey": format!("user-{i}"),
            })
        })
        .collect();
    serde_json::to_vec(&json!({"StreamName": "bench", "Records": records}))
        .expect("a JSON document serializes")
}

/// The same request as the Java SDKs send it: blobs as CBOR byte strings.
fn put_records_cbor() -> Vec<u8> {
    let text = |s: &str| Cbor::Text(s.to_string());
    let records = (0..RECORDS)
        .map(|i| {
            Cbor::Map(vec![
                (text("Data"), Cbor::Bytes(record_data(i))),
                (text("PartitionKey"), text(&format!("user-{i}"))),
            ])
        })
        .collect();
    let request = Cbor::Map(vec![
        (text("StreamName"), text("bench")),
        (text("Records"), Cbor::Array(records)),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&request, &mut out).expect("writing into a Vec cannot fail");
    out
}

fn get_records_output() -> GetRecordsOutput {
    GetRecordsOutput {
        records: (0..RECORDS)
            .map(|i| Record {
                sequence_number: format!("4951{i:034}"),
                approximate_arrival_timestamp: Timestamp::from_millis(1_700_000_000_000 + i as i64),
                data: Blob(Bytes::from(record_data(i))),
                partition_key: format!("user-{i}").into(),
                encryption_type: None,
            })
            .collect(),
        next_shard_iterator: Some("A".repeat(120)),
        millis_behind_latest: 0,
        child_shards: None,
    }
}

fn put_records(c: &mut Criterion) {
    let model = kinesis();
    let json_body = put_records_json();
    let cbor_body = put_records_cbor();
    let mut g = c.benchmark_group("put_records_500x1KiB");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("json_decode_validate", |b| {
        b.iter(|| codec::decode_request(model, "PutRecords", Format::Json, black_box(&json_body)))
    });
    g.bench_function("json_decode_validate_typed", |b| {
        b.iter(|| {
            let doc =
                codec::decode_request(model, "PutRecords", Format::Json, black_box(&json_body))
                    .expect("the request is valid");
            codec::typed::<PutRecordsInput>(doc).expect("the request converts")
        })
    });
    // What the server runs for JSON PutRecords: typed records straight from the body.
    g.bench_function("json_fast_path_typed", |b| {
        b.iter(|| fast::put_records(model, black_box(&json_body)).expect("the request is valid"))
    });
    g.bench_function("cbor_to_document", |b| {
        b.iter(|| cbor::decode_request(black_box(&cbor_body)))
    });
    g.bench_function("cbor_decode_validate_typed", |b| {
        b.iter(|| {
            let doc =
                codec::decode_request(model, "PutRecords", Format::Cbor, black_box(&cbor_body))
                    .expect("the request is valid");
            codec::typed::<PutRecordsInput>(doc).expect("the request converts")
        })
    });
    g.finish();
}

fn base64_blob(c: &mut Criterion) {
    let model = kinesis();
    let data = record_data(1);
    let text = BASE64.encode(&data);
    // A PutRecord document: its validation is the blob check plus two short strings.
    let doc = json!({"StreamName": "bench", "PartitionKey": "user-1", "Data": text});
    let blob = Blob(Bytes::from(data));
    let quoted = serde_json::to_string(&text).expect("a string serializes");
    let mut g = c.benchmark_group("base64_1KiB");
    g.throughput(Throughput::Bytes(RECORD_BYTES as u64));
    g.bench_function("validate_put_record", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut doc| validate::check_request(model, "PutRecordInput", &mut doc),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&blob)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| serde_json::from_str::<Blob>(black_box(&quoted)))
    });
    g.finish();
}

fn get_records(c: &mut Criterion) {
    let out = get_records_output();
    let mut g = c.benchmark_group("get_records_500x1KiB");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for (name, format) in [("json_encode", Format::Json), ("cbor_encode", Format::Cbor)] {
        g.bench_function(name, |b| {
            b.iter(|| codec::encode(format, Some("GetRecordsOutput"), black_box(&out)))
        });
    }
    // What the edge answers GetRecords in JSON with: the same bytes as json_encode.
    g.bench_function("json_fast_encode", |b| {
        b.iter(|| freshet_edge::records_json::get_records(black_box(&out)))
    });
    g.finish();
}

fn config() -> Criterion {
    // Short runs: these are for spotting regressions and hot spots, not for publication.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = put_records, base64_blob, get_records
}
criterion_main!(benches);
