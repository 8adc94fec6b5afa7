//! Glue handler tests: `AWSGlue.*` requests through the edge router, without sockets, over a
//! catalog in a temporary directory.

use axum::body::Body;
use freshet_catalog::Catalog;
use freshet_edge::{EdgeBuilder, GlueApi, Scope};
use freshet_glue::{GlueConfig, GlueService};
use freshet_iam::Iam;
use freshet_runtime::{ManualClock, SharedClock};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    app: axum::Router,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
    let (clock, _) = ManualClock::shared(1_700_000_000_250);
    let glue = GlueService::open(
        GlueConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            clock,
        },
        catalog,
    )
    .await
    .unwrap();
    Harness {
        app: EdgeBuilder::new(
            std::sync::Arc::new(
                Iam::open(&dir.path().join("iam"), "000000000000", None, None).unwrap(),
            ),
            SharedClock::system(),
            Scope {
                region: "us-east-1".into(),
                account: "000000000000".into(),
            },
        )
        .api(GlueApi::new(glue))
        .router(),
        _dir: dir,
    }
}

impl Harness {
    async fn call(&self, op: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post("/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("AWSGlue.{op}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/x-amz-json-1.1"
        );
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

#[tokio::test]
async fn tables_round_trip_with_epoch_second_timestamps() {
    let h = harness().await;
    let (status, body) = h
        .call("CreateDatabase", json!({"DatabaseInput": {"Name": "Logs"}}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let input = json!({
        "Name": "Events",
        "LastAccessTime": 1_600_000_000.5,
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "bigint", "Comment": "the key"}],
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            "Compressed": false,
        },
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
    });
    let (status, _) = h
        .call(
            "CreateTable",
            json!({"DatabaseName": "logs", "TableInput": input}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .call(
            "GetTable",
            json!({"DatabaseName": "LOGS", "Name": "events"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = &body["Table"];
    assert_eq!(t["Name"], "events");
    assert_eq!(t["DatabaseName"], "logs");
    assert_eq!(t["CreateTime"], json!(1_700_000_000.25));
    assert_eq!(t["LastAccessTime"], json!(1_600_000_000.5));
    assert_eq!(t["VersionId"], "0");
    assert_eq!(t["CatalogId"], "000000000000");
    assert_eq!(t["IsRegisteredWithLakeFormation"], false);
    assert_eq!(t["StorageDescriptor"]["Columns"][0]["Comment"], "the key");
    assert_eq!(t["StorageDescriptor"]["Compressed"], false);
    assert_eq!(t["PartitionKeys"][0]["Name"], "dt");
}

#[tokio::test]
async fn service_errors_have_glue_envelopes() {
    let h = harness().await;
    let (status, body) = h.call("GetDatabase", json!({"Name": "nope"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"__type": "EntityNotFoundException", "message": "Database nope not found."})
    );
    h.call("CreateDatabase", json!({"DatabaseInput": {"Name": "d"}}))
        .await;
    let (status, body) = h
        .call("CreateDatabase", json!({"DatabaseInput": {"Name": "D"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["__type"], "AlreadyExistsException");
    assert_eq!(body["message"], "Database already exists.");
}

#[tokio::test]
async fn requests_are_checked_against_the_glue_model() {
    let h = harness().await;
    let (status, body) = h
        .call("CreateDatabase", json!({"DatabaseInput": {"Name": ""}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value '' at 'databaseInput.name' failed to satisfy \
         constraint: Member must have length greater than or equal to 1"
    );
    let (_, body) = h
        .call(
            "GetTable",
            json!({"DatabaseName": "d", "Name": "two\nlines"}),
        )
        .await;
    assert_eq!(body["__type"], "ValidationException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .ends_with("Member must satisfy regular expression pattern: [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*"),
        "{body}"
    );
    let (_, body) = h
        .call(
            "CreateTable",
            json!({"DatabaseName": "d", "TableInput": {"Name": "t", "LastAccessTime": "yesterday"}}),
        )
        .await;
    assert_eq!(body["__type"], "SerializationException");
    let (_, body) = h.call("GetDatabases", json!({"MaxResults": 101})).await;
    assert_eq!(body["__type"], "ValidationException");
}

#[tokio::test]
async fn glue_operations_outside_the_catalog_are_unknown() {
    let h = harness().await;
    for op in ["ListCrawlers", "CreatePartition", "StartJobRun", "Nope"] {
        let (status, body) = h.call(op, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{op}");
        assert_eq!(body, json!({"__type": "UnknownOperationException"}), "{op}");
    }
}
