//! End-to-end tests of the CBOR wire form (`application/x-amz-cbor-1.1`) as the Java SDKs, the
//! KCL and the Flink connector write it: blobs as CBOR byte strings, timestamps as tag 1 over
//! integer epoch milliseconds (`SdkCborGenerator` writes `writeTag(1)` then `date.getTime()`),
//! and every answer, errors included, in CBOR. Requests go over a plain HTTP/1.1 socket so
//! the bytes on the wire are exactly the ones built here.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ciborium::value::Value as Cbor;
use common::{Server, now_millis, stream_name};

const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

struct Response {
    status: u16,
    content_type: String,
    body: Cbor,
}

/// POSTs one CBOR document to `Kinesis_20131202.<operation>` and decodes the CBOR answer.
fn call(server: &Server, operation: &str, request: &Cbor) -> Response {
    let mut body = Vec::new();
    ciborium::ser::into_writer(request, &mut body).expect("encode CBOR");
    let head = format!(
        "POST / HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Content-Type: {CBOR_CONTENT_TYPE}\r\n\
         Accept: {CBOR_CONTENT_TYPE}\r\n\
         X-Amz-Target: Kinesis_20131202.{operation}\r\n\
         Content-Length: {len}\r\n\
         Connection: close\r\n\r\n",
        addr = server.addr,
        len = body.len(),
    );
    let mut socket = TcpStream::connect(server.addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    socket.write_all(head.as_bytes()).expect("write head");
    socket.write_all(&body).expect("write body");
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

/// Splits an HTTP/1.1 response with a Content-Length body (what the server sends for every
/// answer) and decodes the body as CBOR.
fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut content_type = String::new();
    let mut content_length = None;
    for line in lines {
        let (name, value) = line.split_once(':').expect("header line");
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.trim().to_owned(),
            "content-length" => content_length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => panic!("unexpected chunked response"),
            _ => {}
        }
    }
    let body = &raw[split + 4..];
    assert_eq!(
        Some(body.len()),
        content_length,
        "Content-Length matches the body"
    );
    let body = ciborium::de::from_reader(body).expect("response body is CBOR");
    Response {
        status,
        content_type,
        body,
    }
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

fn map(entries: &[(&str, Cbor)]) -> Cbor {
    Cbor::Map(entries.iter().map(|(k, v)| (text(k), v.clone())).collect())
}

/// Tag 1 over integer epoch milliseconds, as the Java SDKs write a `Date`.
fn timestamp_millis(millis: i64) -> Cbor {
    Cbor::Tag(1, Box::new(Cbor::Integer(millis.into())))
}

fn field<'a>(value: &'a Cbor, name: &str) -> &'a Cbor {
    value
        .as_map()
        .unwrap_or_else(|| panic!("expected a map, got {value:?}"))
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in {value:?}"))
}

fn text_field<'a>(value: &'a Cbor, name: &str) -> &'a str {
    field(value, name)
        .as_text()
        .unwrap_or_else(|| panic!("{name} is not a text string in {value:?}"))
}

/// The integer milliseconds under a tag-1 timestamp.
fn millis_field(value: &Cbor, name: &str) -> i64 {
    match field(value, name) {
        Cbor::Tag(1, inner) => match inner.as_ref() {
            Cbor::Integer(i) => i64::try_from(*i).expect("millis fit i64"),
            other => panic!("{name}: tag 1 over {other:?}, not an integer"),
        },
        other => panic!("{name}: {other:?} is not a tag-1 timestamp"),
    }
}

fn ok(response: Response) -> Cbor {
    assert_eq!(
        response.status, 200,
        "{:?} (content type {})",
        response.body, response.content_type
    );
    assert_eq!(response.content_type, CBOR_CONTENT_TYPE);
    response.body
}

fn create_stream(server: &Server, name: &str) {
    ok(call(
        server,
        "CreateStream",
        &map(&[
            ("StreamName", text(name)),
            ("ShardCount", Cbor::Integer(1.into())),
        ]),
    ));
    for _ in 0..200 {
        let out = ok(call(
            server,
            "DescribeStreamSummary",
            &map(&[("StreamName", text(name))]),
        ));
        let summary = field(&out, "StreamDescriptionSummary");
        let created = millis_field(summary, "StreamCreationTimestamp");
        assert!(
            (created - now_millis()).abs() < 60_000,
            "creation time {created}"
        );
        if text_field(summary, "StreamStatus") == "ACTIVE" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("stream {name} did not become ACTIVE:\n{}", server.log());
}

fn shard_iterator_at(server: &Server, name: &str, millis: i64) -> String {
    let out = ok(call(
        server,
        "GetShardIterator",
        &map(&[
            ("StreamName", text(name)),
            ("ShardId", text("shardId-000000000000")),
            ("ShardIteratorType", text("AT_TIMESTAMP")),
            ("Timestamp", timestamp_millis(millis)),
        ]),
    ));
    text_field(&out, "ShardIterator").to_owned()
}

fn get_records(server: &Server, iterator: &str) -> Cbor {
    ok(call(
        server,
        "GetRecords",
        &map(&[("ShardIterator", text(iterator))]),
    ))
}

/// PutRecord and PutRecords with byte-string data, read back from AT_TIMESTAMP iterators: the
/// data returns as the same byte strings, arrival times as tag 1 over integer milliseconds, and
/// the iterator's millisecond timestamp splits records put 300 ms apart.
#[test]
fn records_round_trip_as_byte_strings_with_millisecond_timestamps() {
    let server = Server::start();
    let name = stream_name("cbor");
    create_stream(&server, &name);
    let before = now_millis();

    // Not UTF-8, so a text-string or base64 mix-up cannot pass.
    let first: Vec<u8> = vec![0x00, 0xff, 0xfe, 0x80, b'k', 0x00];
    let out = ok(call(
        &server,
        "PutRecord",
        &map(&[
            ("StreamName", text(&name)),
            ("Data", Cbor::Bytes(first.clone())),
            ("PartitionKey", text("pk-0")),
        ]),
    ));
    assert_eq!(text_field(&out, "ShardId"), "shardId-000000000000");
    let first_sequence = text_field(&out, "SequenceNumber").to_owned();

    std::thread::sleep(Duration::from_millis(300));
    let between = now_millis();
    std::thread::sleep(Duration::from_millis(300));

    let batch: Vec<Vec<u8>> = (1..=3u8).map(|i| vec![i, 0xc1, 0xff, i]).collect();
    let entries = batch
        .iter()
        .enumerate()
        .map(|(i, data)| {
            map(&[
                ("Data", Cbor::Bytes(data.clone())),
                ("PartitionKey", text(&format!("pk-{}", i + 1))),
            ])
        })
        .collect();
    let out = ok(call(
        &server,
        "PutRecords",
        &map(&[
            ("StreamName", text(&name)),
            ("Records", Cbor::Array(entries)),
        ]),
    ));
    assert_eq!(field(&out, "FailedRecordCount"), &Cbor::Integer(0.into()));
    let results = field(&out, "Records").as_array().expect("Records array");
    assert_eq!(results.len(), 3);
    for result in results {
        assert_eq!(text_field(result, "ShardId"), "shardId-000000000000");
        assert!(!text_field(result, "SequenceNumber").is_empty());
    }
    let after = now_millis();

    // From before the first put: all four records.
    let out = get_records(&server, &shard_iterator_at(&server, &name, before));
    let records = field(&out, "Records").as_array().expect("Records array");
    let expected: Vec<&Vec<u8>> = std::iter::once(&first).chain(&batch).collect();
    assert_eq!(records.len(), expected.len(), "{out:?}");
    for (i, (record, data)) in records.iter().zip(expected).enumerate() {
        assert_eq!(field(record, "Data"), &Cbor::Bytes(data.clone()));
        assert_eq!(text_field(record, "PartitionKey"), format!("pk-{i}"));
        let arrival = millis_field(record, "ApproximateArrivalTimestamp");
        assert!(
            arrival >= before - 1_000 && arrival <= after + 1_000,
            "arrival {arrival} outside [{before}, {after}]"
        );
    }
    assert_eq!(text_field(&records[0], "SequenceNumber"), first_sequence);
    assert!(field(&out, "MillisBehindLatest").as_integer().is_some());
    assert!(!text_field(&out, "NextShardIterator").is_empty());

    // From between the two puts: only the batch. Had the milliseconds been read as seconds,
    // the iterator would sit in the far future and return nothing.
    let out = get_records(&server, &shard_iterator_at(&server, &name, between));
    let records = field(&out, "Records").as_array().expect("Records array");
    let data: Vec<&Cbor> = records.iter().map(|r| field(r, "Data")).collect();
    let expected: Vec<Cbor> = batch.iter().cloned().map(Cbor::Bytes).collect();
    assert_eq!(data, expected.iter().collect::<Vec<_>>());
}

#[test]
fn missing_stream_is_a_cbor_resource_not_found() {
    let server = Server::start();
    let name = stream_name("absent");
    let response = call(
        &server,
        "PutRecord",
        &map(&[
            ("StreamName", text(&name)),
            ("Data", Cbor::Bytes(b"x".to_vec())),
            ("PartitionKey", text("k")),
        ]),
    );
    assert_eq!(response.status, 400);
    assert_eq!(response.content_type, CBOR_CONTENT_TYPE);
    assert_eq!(
        text_field(&response.body, "__type"),
        "ResourceNotFoundException"
    );
    assert!(
        text_field(&response.body, "message").contains(&name),
        "{:?}",
        response.body
    );
}

#[test]
fn missing_partition_key_is_a_cbor_validation_exception() {
    let server = Server::start();
    let name = stream_name("invalid");
    create_stream(&server, &name);
    let response = call(
        &server,
        "PutRecord",
        &map(&[
            ("StreamName", text(&name)),
            ("Data", Cbor::Bytes(b"x".to_vec())),
        ]),
    );
    assert_eq!(response.status, 400);
    assert_eq!(response.content_type, CBOR_CONTENT_TYPE);
    assert_eq!(text_field(&response.body, "__type"), "ValidationException");
    assert_eq!(
        text_field(&response.body, "message"),
        "1 validation error detected: Value null at 'partitionKey' failed to satisfy \
         constraint: Member must not be null"
    );
}
