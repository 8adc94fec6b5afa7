//! The catalog against a real Glue catalog (on a temporary catalog store) and an in-memory
//! object store. Requests are built from their JSON form, as the edge hands them over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freshet_catalog::Catalog;
use freshet_glue::model::{GetDatabaseRequest, GetTableRequest, Table};
use freshet_glue::{GlueConfig, GlueService};
use freshet_runtime::ManualClock;
use futures_util::future::BoxFuture;
use iceberg::NamespaceIdent;
use iceberg::spec::FormatVersion;
use iceberg_catalog_rest::{CommitTableRequest, CreateTableRequest, LoadTableResult};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{IcebergCatalog, IcebergConfig, IcebergError, Page};
use crate::client::{TableCatalog, TableName};
use crate::files::Files;

const ACCOUNT: &str = "000000000000";

/// Objects in memory, by bucket and key.
#[derive(Default)]
struct MemFiles(Mutex<HashMap<(String, String), Vec<u8>>>);

impl MemFiles {
    fn keys(&self) -> Vec<String> {
        let objects = self.0.lock().unwrap();
        let mut keys: Vec<String> = objects
            .keys()
            .map(|(b, k)| format!("s3://{b}/{k}"))
            .collect();
        keys.sort();
        keys
    }
}

impl Files for MemFiles {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let mut objects = self.0.lock().unwrap();
        objects.insert((bucket.into(), key.into()), body);
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        let body = self
            .0
            .lock()
            .unwrap()
            .get(&(bucket.into(), key.into()))
            .cloned();
        Box::pin(async { Ok(body) })
    }
}

struct Fixture {
    _dir: TempDir,
    glue: GlueService,
    files: Arc<MemFiles>,
    catalog: IcebergCatalog,
}

async fn fixture_with(warehouse: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (clock, _) = ManualClock::shared(1_700_000_000_000);
    let store = Catalog::open(&dir.path().join("c.db")).await.unwrap();
    let config = GlueConfig {
        region: "us-east-1".into(),
        account_id: ACCOUNT.into(),
        clock,
    };
    let glue = GlueService::open(config, store).await.unwrap();
    let files = Arc::new(MemFiles::default());
    let catalog = IcebergCatalog::new(
        glue.clone(),
        files.clone(),
        IcebergConfig {
            account_id: ACCOUNT.into(),
            warehouse: warehouse.map(str::to_string),
        },
    );
    Fixture {
        _dir: dir,
        glue,
        files,
        catalog,
    }
}

async fn fixture() -> Fixture {
    fixture_with(None).await
}

fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn ns(name: &str) -> NamespaceIdent {
    NamespaceIdent::new(name.into())
}

fn table_name(namespace: &str, table: &str) -> TableName {
    TableName {
        namespace: namespace.into(),
        table: table.into(),
    }
}

fn schema() -> Value {
    json!({
        "type": "struct", "schema-id": 0,
        "fields": [
            {"id": 1, "name": "id", "required": true, "type": "long"},
            {"id": 2, "name": "name", "required": false, "type": "string"},
            {"id": 3, "name": "tags", "required": false, "type": {
                "type": "list", "element-id": 4, "element": "string", "element-required": false}},
        ],
    })
}

impl Fixture {
    async fn namespace(&self, name: &str, properties: Value) {
        self.catalog
            .create_namespace(req(json!({"namespace": [name], "properties": properties})))
            .await
            .unwrap();
    }

    async fn create(
        &self,
        namespace: &str,
        request: Value,
    ) -> Result<LoadTableResult, IcebergError> {
        let request: CreateTableRequest = req(request);
        self.catalog.create_table(&ns(namespace), request).await
    }

    async fn glue_table(&self, namespace: &str, table: &str) -> Table {
        let request: GetTableRequest = req(json!({"DatabaseName": namespace, "Name": table}));
        self.glue.get_table(request).await.unwrap().table
    }

    async fn commit(
        &self,
        name: &TableName,
        commit: Value,
    ) -> Result<LoadTableResult, IcebergError> {
        let commit: CommitTableRequest = req(commit);
        let done = self.catalog.commit(name, commit).await?;
        Ok(LoadTableResult {
            metadata_location: Some(done.metadata_location),
            metadata: done.metadata,
            config: HashMap::new(),
            storage_credentials: None,
        })
    }
}

fn columns(table: &Table) -> Vec<(String, String)> {
    table
        .storage_descriptor
        .as_ref()
        .and_then(|sd| sd.columns.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_name.unwrap_or_default()))
        .collect()
}

fn parameter<'a>(table: &'a Table, key: &str) -> Option<&'a str> {
    table.parameters.as_ref()?.get(key).map(String::as_str)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn namespaces_are_glue_databases() {
    let f = fixture().await;
    f.namespace(
        "Sales",
        json!({"location": "s3://bkt/wh/sales", "comment": "c", "owner": "o"}),
    )
    .await;
    let glue_db = f
        .glue
        .get_database(req::<GetDatabaseRequest>(json!({"Name": "sales"})))
        .await
        .unwrap()
        .database;
    assert_eq!(glue_db.location_uri.as_deref(), Some("s3://bkt/wh/sales"));
    assert_eq!(glue_db.description.as_deref(), Some("c"));
    assert_eq!(glue_db.parameters.unwrap().get("owner").unwrap(), "o");

    let loaded = f.catalog.load_namespace(&ns("SALES")).await.unwrap();
    assert_eq!(loaded.namespace, ns("sales"));
    assert_eq!(
        loaded.properties.get("location").unwrap(),
        "s3://bkt/wh/sales"
    );
    assert_eq!(loaded.properties.len(), 3);

    f.namespace("b", json!({})).await;
    let listed = f
        .catalog
        .list_namespaces(None, Page::default())
        .await
        .unwrap();
    assert_eq!(listed.namespaces, vec![ns("b"), ns("sales")]);
    assert_eq!(listed.next_page_token, None);
    let page = Page {
        token: None,
        size: Some(1),
    };
    let first = f.catalog.list_namespaces(None, page).await.unwrap();
    assert_eq!(first.namespaces, vec![ns("b")]);
    let rest = Page {
        token: first.next_page_token,
        size: Some(1),
    };
    let second = f.catalog.list_namespaces(None, rest).await.unwrap();
    assert_eq!(
        (second.namespaces, second.next_page_token),
        (vec![ns("sales")], None)
    );
    // One level: a namespace has no children, and a two-level one cannot exist.
    let parent = ns("sales");
    let children = f.catalog.list_namespaces(Some(&parent), Page::default());
    assert!(children.await.unwrap().namespaces.is_empty());
    let nested = NamespaceIdent::from_strs(["sales", "eu"]).unwrap();
    let e = f.catalog.load_namespace(&nested).await.unwrap_err();
    assert!(matches!(e, IcebergError::BadRequest(_)), "{e:?}");

    let changed = f
        .catalog
        .update_namespace_properties(
            &ns("sales"),
            req(json!({"removals": ["owner", "nope"], "updates": {"k": "v", "location": "s3://bkt/x"}})),
        )
        .await
        .unwrap();
    assert_eq!(changed.removed, vec!["owner"]);
    assert_eq!(changed.missing, Some(vec!["nope".to_string()]));
    let mut updated = changed.updated;
    updated.sort();
    assert_eq!(updated, vec!["k", "location"]);
    let loaded = f.catalog.load_namespace(&ns("sales")).await.unwrap();
    let expected = HashMap::from([
        ("k".to_string(), "v".to_string()),
        ("location".into(), "s3://bkt/x".into()),
        ("comment".into(), "c".into()),
    ]);
    assert_eq!(loaded.properties, expected);

    f.catalog.drop_namespace(&ns("sales")).await.unwrap();
    let e = f.catalog.load_namespace(&ns("sales")).await.unwrap_err();
    assert_eq!(
        (e.rest_type(), e.status()),
        ("NoSuchNamespaceException", 404)
    );
    let e = f.catalog.drop_namespace(&ns("sales")).await.unwrap_err();
    assert!(matches!(e, IcebergError::NoSuchNamespace(_)), "{e:?}");
    let e = f
        .catalog
        .create_namespace(req(json!({"namespace": ["b"]})))
        .await;
    assert!(matches!(e.unwrap_err(), IcebergError::AlreadyExists(_)));
}

#[tokio::test]
async fn a_created_table_is_a_glue_table_pointing_at_its_first_metadata_file() {
    let f = fixture().await;
    f.namespace("db", json!({"location": "s3://bkt/wh/db/"}))
        .await;
    let created = f
        .create(
            "db",
            json!({"name": "Events", "schema": schema(), "properties": {"owner": "me"}}),
        )
        .await
        .unwrap();
    let location = created.metadata_location.clone().unwrap();
    assert!(
        location.starts_with("s3://bkt/wh/db/Events/metadata/00000-")
            && location.ends_with(".metadata.json"),
        "{location}"
    );
    assert_eq!(f.files.keys(), vec![location.clone()]);
    assert_eq!(created.metadata.location(), "s3://bkt/wh/db/Events");
    assert_eq!(created.metadata.format_version(), FormatVersion::V2);
    assert_eq!(created.metadata.properties().get("owner").unwrap(), "me");

    let glue = f.glue_table("db", "events").await;
    assert_eq!(glue.table_type.as_deref(), Some("EXTERNAL_TABLE"));
    assert_eq!(parameter(&glue, "table_type"), Some("ICEBERG"));
    assert_eq!(
        parameter(&glue, "metadata_location"),
        Some(location.as_str())
    );
    assert_eq!(parameter(&glue, "previous_metadata_location"), None);
    let sd = glue.storage_descriptor.as_ref().unwrap();
    assert_eq!(sd.location.as_deref(), Some("s3://bkt/wh/db/Events"));
    assert_eq!(
        columns(&glue),
        pairs(&[
            ("id", "bigint"),
            ("name", "string"),
            ("tags", "array<string>")
        ])
    );

    // Loading reads the file the Glue table names; names fold as Glue folds them.
    let loaded = f
        .catalog
        .load_table(&table_name("DB", "EVENTS"))
        .await
        .unwrap();
    assert_eq!(loaded, created);
    let listed = f
        .catalog
        .list_tables(&ns("db"), Page::default())
        .await
        .unwrap();
    let names: Vec<&str> = listed.identifiers.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["events"]);
    assert!(
        f.catalog
            .table_exists(&table_name("db", "events"))
            .await
            .unwrap()
    );
    assert!(
        !f.catalog
            .table_exists(&table_name("db", "nope"))
            .await
            .unwrap()
    );

    let again = f
        .create("db", json!({"name": "events", "schema": schema()}))
        .await;
    assert_eq!(again.unwrap_err().rest_type(), "AlreadyExistsException");
    assert_eq!(f.files.keys().len(), 1, "a refused create writes no file");
    let e = f
        .create("nope", json!({"name": "t", "schema": schema()}))
        .await;
    assert!(matches!(e.unwrap_err(), IcebergError::NoSuchNamespace(_)));
    let e = f
        .catalog
        .load_table(&table_name("db", "nope"))
        .await
        .unwrap_err();
    assert_eq!((e.rest_type(), e.status()), ("NoSuchTableException", 404));
    let e = f.catalog.drop_namespace(&ns("db")).await.unwrap_err();
    assert_eq!(
        (e.rest_type(), e.status()),
        ("NamespaceNotEmptyException", 409)
    );
}

#[tokio::test]
async fn table_locations_come_from_the_request_the_namespace_or_the_warehouse() {
    let f = fixture_with(Some("s3://wh/root/")).await;
    f.namespace("db", json!({})).await;
    let t = f
        .create("db", json!({"name": "a", "schema": schema()}))
        .await
        .unwrap();
    assert_eq!(t.metadata.location(), "s3://wh/root/db.db/a");
    let given = json!({"name": "b", "schema": schema(), "location": "s3://other/b",
                       "properties": {"format-version": "1"}});
    let t = f.create("db", given).await.unwrap();
    assert_eq!(t.metadata.location(), "s3://other/b");
    assert_eq!(t.metadata.format_version(), FormatVersion::V1);
    assert!(!t.metadata.properties().contains_key("format-version"));

    let f = fixture().await;
    f.namespace("db", json!({})).await;
    let e = f
        .create("db", json!({"name": "a", "schema": schema()}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, IcebergError::BadRequest(ref m) if m.contains("no location")),
        "{e:?}"
    );
    let e = f
        .create(
            "db",
            json!({"name": "a", "schema": schema(), "location": "/tmp/a"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, IcebergError::BadRequest(_)), "{e:?}");
    let e = f
        .create(
            "db",
            json!({"name": "a", "schema": schema(), "stage-create": true}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.rest_type(), "UnsupportedOperationException");
}

#[tokio::test]
async fn commits_check_requirements_and_move_the_glue_table_to_a_new_file() {
    let f = fixture().await;
    f.namespace("db", json!({"location": "s3://bkt/db"})).await;
    let created = f
        .create("db", json!({"name": "t", "schema": schema()}))
        .await
        .unwrap();
    let first = created.metadata_location.unwrap();
    let uuid = created.metadata.uuid();
    let name = table_name("db", "t");

    // A new column and a property, as a schema evolution commit sends them.
    let evolved = f
        .commit(&name, json!({
            "requirements": [
                {"type": "assert-table-uuid", "uuid": uuid},
                {"type": "assert-current-schema-id", "current-schema-id": 0},
            ],
            "updates": [
                {"action": "add-schema", "schema": {"type": "struct", "schema-id": 1, "fields": [
                    {"id": 1, "name": "id", "required": true, "type": "long"},
                    {"id": 2, "name": "name", "required": false, "type": "string"},
                    {"id": 3, "name": "tags", "required": false, "type": {
                        "type": "list", "element-id": 4, "element": "string", "element-required": false}},
                    {"id": 5, "name": "price", "required": false, "type": "decimal(10, 2)"},
                ]}},
                {"action": "set-current-schema", "schema-id": -1},
                {"action": "set-properties", "updates": {"k": "v"}},
            ],
        }))
        .await
        .unwrap();
    let second = evolved.metadata_location.clone().unwrap();
    assert!(
        second.starts_with("s3://bkt/db/t/metadata/00001-"),
        "{second}"
    );
    assert_eq!(evolved.metadata.properties().get("k").unwrap(), "v");
    assert_eq!(evolved.metadata.metadata_log()[0].metadata_file, first);
    let glue = f.glue_table("db", "t").await;
    assert_eq!(parameter(&glue, "metadata_location"), Some(second.as_str()));
    assert_eq!(
        parameter(&glue, "previous_metadata_location"),
        Some(first.as_str())
    );
    assert_eq!(
        columns(&glue).last().unwrap(),
        &pairs(&[("price", "decimal(10,2)")])[0]
    );
    assert_eq!(f.catalog.load_table(&name).await.unwrap(), evolved);

    // An append: a snapshot and the main branch pointing at it, if main has no snapshot yet.
    let append = |snapshot_id: i64, sequence: i64, at: i64| {
        json!({
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": null}],
            "updates": [
                {"action": "add-snapshot", "snapshot": {
                    "snapshot-id": snapshot_id, "sequence-number": sequence, "timestamp-ms": at,
                    "manifest-list": format!("s3://bkt/db/t/metadata/snap-{snapshot_id}.avro"),
                    "summary": {"operation": "append"}, "schema-id": 1}},
                {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": snapshot_id},
            ],
        })
    };
    let at = evolved.metadata.last_updated_ms() + 1;
    let appended = f.commit(&name, append(7, 1, at)).await.unwrap();
    assert_eq!(
        appended.metadata.current_snapshot().unwrap().snapshot_id(),
        7
    );
    assert!(
        appended
            .metadata_location
            .unwrap()
            .starts_with("s3://bkt/db/t/metadata/00002-")
    );

    // A second writer that read the table before that append: its requirement fails, and
    // neither the Glue table nor the files change.
    let files_before = f.files.keys();
    let e = f.commit(&name, append(8, 1, at)).await.unwrap_err();
    assert_eq!((e.rest_type(), e.status()), ("CommitFailedException", 409));
    assert!(e.to_string().contains("main"), "{e}");
    let stale_uuid = json!({"requirements": [{"type": "assert-table-uuid",
        "uuid": "00000000-0000-0000-0000-000000000000"}], "updates": []});
    let e = f.commit(&name, stale_uuid).await.unwrap_err();
    assert!(matches!(e, IcebergError::CommitFailed(_)), "{e:?}");
    assert_eq!(f.files.keys(), files_before);
    let glue_after = f.glue_table("db", "t").await;
    assert_eq!(
        parameter(&glue_after, "metadata_location"),
        f.catalog
            .load_table(&name)
            .await
            .unwrap()
            .metadata_location
            .as_deref()
    );

    // An update the metadata builder refuses is the client's mistake.
    let bad =
        json!({"requirements": [], "updates": [{"action": "set-current-schema", "schema-id": 42}]});
    let e = f.commit(&name, bad).await.unwrap_err();
    assert!(matches!(e, IcebergError::BadRequest(_)), "{e:?}");
    let e = f
        .commit(
            &table_name("db", "nope"),
            json!({"requirements": [], "updates": []}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, IcebergError::NoSuchTable(_)), "{e:?}");
}

#[tokio::test]
async fn dropping_a_table_keeps_its_files_and_frees_the_namespace() {
    let f = fixture().await;
    f.namespace("db", json!({"location": "s3://bkt/db"})).await;
    f.create("db", json!({"name": "t", "schema": schema()}))
        .await
        .unwrap();
    let name = table_name("db", "t");
    f.catalog.drop_table(&name).await.unwrap();
    assert!(!f.catalog.table_exists(&name).await.unwrap());
    assert_eq!(f.files.keys().len(), 1);
    let e = f.catalog.drop_table(&name).await.unwrap_err();
    assert!(matches!(e, IcebergError::NoSuchTable(_)), "{e:?}");
    f.catalog.drop_namespace(&ns("db")).await.unwrap();
}

#[tokio::test]
async fn glue_tables_that_are_not_iceberg_tables_are_not_listed_or_loaded() {
    let f = fixture().await;
    f.namespace("db", json!({})).await;
    f.glue
        .create_table(req(
            json!({"DatabaseName": "db", "TableInput": {"Name": "hive"}}),
        ))
        .await
        .unwrap();
    let listed = f
        .catalog
        .list_tables(&ns("db"), Page::default())
        .await
        .unwrap();
    assert!(listed.identifiers.is_empty());
    let e = f
        .catalog
        .load_table(&table_name("db", "hive"))
        .await
        .unwrap_err();
    assert!(matches!(e, IcebergError::NoSuchTable(_)), "{e:?}");
    assert!(
        !f.catalog
            .table_exists(&table_name("db", "hive"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_catalog_is_the_account() {
    let f = fixture().await;
    assert_eq!(
        f.catalog.prefix(None).unwrap(),
        format!("catalogs/{ACCOUNT}")
    );
    assert!(f.catalog.prefix(Some(ACCOUNT)).is_ok());
    assert!(f.catalog.prefix(Some(&format!("{ACCOUNT}:child"))).is_ok());
    assert!(f.catalog.prefix(Some("s3://bucket")).is_err());
    assert!(f.catalog.prefix(Some("0000000000001")).is_err());
    assert!(f.catalog.check_catalog(ACCOUNT).is_ok());
    let e = f.catalog.check_catalog("111111111111").unwrap_err();
    assert_eq!(e.status(), 404);
}
