//! Handler tests: whole requests through the edge router, without sockets, over a real log and
//! catalog in a temporary directory.

use std::time::Duration;

use axum::body::Body;
use ciborium::value::Value as Cbor;
use freshet_catalog::Catalog;
use freshet_edge::{EdgeBuilder, KinesisApi, Scope, VideoApi};
use freshet_iam::Iam;
use freshet_log::{Log, LogConfig};
use freshet_streams::{StreamsConfig, StreamsService};
use freshet_video::{VideoConfig, VideoService};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn scope() -> Scope {
    Scope {
        region: "us-east-1".into(),
        account: "000000000000".into(),
    }
}

/// The server's principals: only the account's root key, when given.
fn iam(dir: &std::path::Path, root: Option<(&str, &str)>) -> std::sync::Arc<Iam> {
    let root = root.map(|(k, s)| (k.to_string(), s.to_string()));
    std::sync::Arc::new(Iam::open(&dir.join("iam"), "000000000000", root, None).unwrap())
}

async fn harness(root: Option<(&str, &str)>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(LogConfig::new(dir.path().join("log"))).unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
    let config = StreamsConfig {
        create_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        update_delay: Duration::ZERO,
        ..StreamsConfig::default()
    };
    let video = VideoService::open(
        VideoConfig {
            max_viewers: 10,
            max_signaling_connections: 1_000,
            turn_listen: None,
            keys: None,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            data_endpoint: "http://edge.test".into(),
            create_delay: Duration::ZERO,
            clock: freshet_runtime::SharedClock::system(),
        },
        catalog.clone(),
        Log::open(LogConfig::new(dir.path().join("video-log"))).unwrap(),
    )
    .await
    .unwrap();
    let streams = StreamsService::open(config, catalog, log).await.unwrap();
    Harness {
        // Kinesis and Video only: Firehose targets are unknown operations here.
        app: EdgeBuilder::new(
            iam(dir.path(), root),
            freshet_runtime::SharedClock::system(),
            scope(),
        )
        .api(KinesisApi::new(streams))
        .api(VideoApi::new(video))
        .router(),
        _dir: dir,
    }
}

impl Harness {
    async fn send(&self, req: Request<Body>) -> (StatusCode, String, Vec<u8>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(resp.headers().contains_key("x-amzn-requestid"));
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, body.to_vec())
    }

    async fn json(&self, op: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post("/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, ct, bytes) = self.send(req).await;
        assert_eq!(ct, "application/x-amz-json-1.1");
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn cbor(&self, op: &str, body: Cbor) -> (StatusCode, Cbor) {
        let mut raw = Vec::new();
        ciborium::ser::into_writer(&body, &mut raw).unwrap();
        let req = Request::post("/")
            .header("content-type", "application/x-amz-cbor-1.1")
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .body(Body::from(raw))
            .unwrap();
        let (status, ct, bytes) = self.send(req).await;
        assert_eq!(ct, "application/x-amz-cbor-1.1");
        (status, ciborium::de::from_reader(bytes.as_slice()).unwrap())
    }
}

fn field<'a>(map: &'a Cbor, key: &str) -> &'a Cbor {
    map.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {map:?}"))
}

#[tokio::test]
async fn json_put_and_get_round_trip() {
    let h = harness(None).await;
    let (status, _) = h
        .json("CreateStream", json!({"StreamName": "s", "ShardCount": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, put) = h
        .json(
            "PutRecord",
            json!({"StreamName": "s", "Data": "aGVsbG8=", "PartitionKey": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let shard = put["ShardId"].as_str().unwrap();
    let (_, it) = h
        .json(
            "GetShardIterator",
            json!({"StreamName": "s", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
    let (status, got) = h
        .json("GetRecords", json!({"ShardIterator": it["ShardIterator"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["Records"][0]["Data"], "aGVsbG8=");
    assert_eq!(got["Records"][0]["SequenceNumber"], put["SequenceNumber"]);
    assert!(got["Records"][0]["ApproximateArrivalTimestamp"].is_f64());
    assert!(got["NextShardIterator"].is_string());
}

#[tokio::test]
async fn cbor_requests_get_cbor_answers_with_bytes_and_millisecond_timestamps() {
    let h = harness(None).await;
    let text = |s: &str| Cbor::Text(s.into());
    let (status, _) = h
        .cbor(
            "CreateStream",
            Cbor::Map(vec![
                (text("StreamName"), text("c")),
                (text("ShardCount"), Cbor::Integer(1.into())),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .cbor(
            "PutRecord",
            Cbor::Map(vec![
                (text("StreamName"), text("c")),
                (text("Data"), Cbor::Bytes(vec![0, 1, 2, 255])),
                (text("PartitionKey"), text("k")),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, it) = h
        .cbor(
            "GetShardIterator",
            Cbor::Map(vec![
                (text("StreamName"), text("c")),
                (text("ShardId"), text("shardId-000000000000")),
                (text("ShardIteratorType"), text("AT_TIMESTAMP")),
                (
                    text("Timestamp"),
                    Cbor::Tag(1, Box::new(Cbor::Integer(1_000_000_000_000i64.into()))),
                ),
            ]),
        )
        .await;
    let (status, got) = h
        .cbor(
            "GetRecords",
            Cbor::Map(vec![(
                text("ShardIterator"),
                field(&it, "ShardIterator").clone(),
            )]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let record = &field(&got, "Records").as_array().unwrap()[0];
    assert_eq!(field(record, "Data"), &Cbor::Bytes(vec![0, 1, 2, 255]));
    match field(record, "ApproximateArrivalTimestamp") {
        Cbor::Tag(1, inner) => {
            let ms: i128 = inner.as_integer().unwrap().into();
            assert!(ms > 1_700_000_000_000, "{ms}");
        }
        other => panic!("timestamp is {other:?}"),
    }

    let (status, err) = h
        .cbor(
            "DescribeStream",
            Cbor::Map(vec![(text("StreamName"), text("missing"))]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field(&err, "__type"), &text("ResourceNotFoundException"));
}

#[tokio::test]
async fn protocol_errors_have_aws_envelopes() {
    let h = harness(None).await;
    let (status, body) = h.json("NoSuchOperation", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["__type"], "UnknownOperationException");

    let req = Request::post("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, bytes) = h.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["__type"], "SerializationException");

    let (status, body) = h
        .json(
            "CreateStream",
            json!({"StreamName": "bad name!", "ShardCount": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
    let (_, listed) = h.json("ListStreams", json!({})).await;
    assert_eq!(
        listed["StreamNames"],
        json!([]),
        "a rejected create writes nothing"
    );
}

#[tokio::test]
async fn unsigned_requests_are_refused_when_keys_are_configured() {
    let h = harness(Some(("AKIDAKIDAKIDAKID", "SECRET"))).await;
    let (status, body) = h.json("ListStreams", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
}

/// Kinesis Video is rest-json: the path names the operation, errors carry the model's status and
/// `x-amzn-ErrorType`, and a request with an X-Amz-Target still goes to Kinesis.
#[tokio::test]
async fn video_operations_route_by_path_with_rest_json_errors() {
    let h = harness(None).await;
    let post = |path: &str, body: Value| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let resp = h
        .app
        .clone()
        .oneshot(post("/createStream", json!({"StreamName": "cam"})))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, ct, body) = h
        .send(post(
            "/getDataEndpoint",
            json!({"StreamName": "cam", "APIName": "GET_CLIP"}),
        ))
        .await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["DataEndpoint"], "http://edge.test");

    let resp = h
        .app
        .clone()
        .oneshot(post("/describeStream", json!({"StreamName": "other"})))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
    let (status, _, body) = h
        .send(post("/createStream", json!({"StreamName": 7})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8(body).unwrap().contains("message"));

    // The same path with a Kinesis target is a Kinesis request.
    let req = Request::post("/createStream")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .body(Body::from("{}"))
        .unwrap();
    let (status, ct, _) = h.send(req).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "application/x-amz-json-1.1")
    );
}
