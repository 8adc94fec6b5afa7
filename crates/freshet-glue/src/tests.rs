//! The catalog's semantics against a real (temporary) catalog store and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_runtime::ManualClock;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::model::*;
use crate::{Column, GlueConfig, GlueError, GlueService};

const ACCOUNT: &str = "000000000000";
const START_MS: i64 = 1_700_000_000_000;

struct Fixture {
    dir: TempDir,
    clock: Arc<ManualClock>,
    glue: GlueService,
}

async fn open_in(dir: TempDir) -> Fixture {
    let (shared, clock) = ManualClock::shared(START_MS);
    let catalog = Catalog::open(&dir.path().join("c.db")).await.unwrap();
    let config = GlueConfig {
        region: "us-east-1".into(),
        account_id: ACCOUNT.into(),
        clock: shared,
    };
    let glue = GlueService::open(config, catalog).await.unwrap();
    Fixture { dir, clock, glue }
}

async fn fixture() -> Fixture {
    open_in(tempfile::tempdir().unwrap()).await
}

/// A typed request from its JSON form, as the edge hands it over.
fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn table_input(name: &str, columns: &[(&str, &str)]) -> Value {
    json!({
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {
            "Columns": columns.iter().map(|(n, t)| json!({"Name": n, "Type": t})).collect::<Vec<_>>(),
            "Location": "s3://bucket/prefix/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            "SortColumns": [],
        },
    })
}

impl Fixture {
    async fn create_database(&self, name: &str) -> Result<Empty, GlueError> {
        self.glue
            .create_database(req(json!({"DatabaseInput": {"Name": name}})))
            .await
    }

    async fn create_table(&self, db: &str, input: Value) -> Result<Empty, GlueError> {
        self.glue
            .create_table(req(json!({"DatabaseName": db, "TableInput": input})))
            .await
    }

    async fn update_table(&self, db: &str, input: Value) -> Result<Empty, GlueError> {
        self.glue
            .update_table(req(json!({"DatabaseName": db, "TableInput": input})))
            .await
    }

    async fn get_table(&self, db: &str, name: &str) -> Result<Table, GlueError> {
        let out = self
            .glue
            .get_table(req(json!({"DatabaseName": db, "Name": name})))
            .await?;
        Ok(out.table)
    }
}

fn assert_err(result: Result<impl std::fmt::Debug, GlueError>, aws_type: &str, message: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.aws_type(), aws_type, "{e}");
    assert_eq!(e.to_string(), message);
    assert!(!e.is_internal());
}

#[tokio::test]
async fn databases_are_created_listed_updated_and_deleted() {
    let f = fixture().await;
    f.glue
        .create_database(req(json!({"DatabaseInput": {
            "Name": "Sales", "Description": "d", "LocationUri": "s3://b/", "Parameters": {"k": "v"}
        }})))
        .await
        .unwrap();
    let db = f
        .glue
        .get_database(req(json!({"Name": "SALES"})))
        .await
        .unwrap()
        .database;
    assert_eq!(db.name, "sales");
    assert_eq!(db.description.as_deref(), Some("d"));
    assert_eq!(db.location_uri.as_deref(), Some("s3://b/"));
    assert_eq!(db.create_time, Timestamp(START_MS));
    assert_eq!(db.catalog_id, ACCOUNT);
    let wire = serde_json::to_value(&db).unwrap();
    assert_eq!(wire["CreateTime"], json!(1_700_000_000.0));
    assert_eq!(
        wire["CreateTableDefaultPermissions"][0]["Principal"]["DataLakePrincipalIdentifier"],
        "IAM_ALLOWED_PRINCIPALS"
    );

    assert_err(
        f.create_database("sales").await,
        "AlreadyExistsException",
        "Database already exists.",
    );

    f.clock.advance(Duration::from_secs(5));
    f.glue
        .update_database(req(
            json!({"Name": "sales", "DatabaseInput": {"Name": "sales", "Description": "new"}}),
        ))
        .await
        .unwrap();
    let db = f
        .glue
        .get_database(req(json!({"Name": "sales"})))
        .await
        .unwrap()
        .database;
    assert_eq!(db.description.as_deref(), Some("new"));
    assert_eq!(db.location_uri, None, "an update replaces the definition");
    assert_eq!(db.create_time, Timestamp(START_MS));
    assert_err(
        f.glue
            .update_database(req(
                json!({"Name": "sales", "DatabaseInput": {"Name": "other"}}),
            ))
            .await,
        "InvalidInputException",
        "Database cannot be renamed",
    );
    assert_err(
        f.glue
            .update_database(req(
                json!({"Name": "nope", "DatabaseInput": {"Name": "nope"}}),
            ))
            .await,
        "EntityNotFoundException",
        "Database nope not found.",
    );

    f.create_table("sales", table_input("t", &[("a", "int")]))
        .await
        .unwrap();
    f.glue
        .delete_database(req(json!({"Name": "Sales"})))
        .await
        .unwrap();
    assert_err(
        f.glue.get_database(req(json!({"Name": "sales"}))).await,
        "EntityNotFoundException",
        "Database sales not found.",
    );
    // Its tables went with it: a new database of that name is empty.
    f.create_database("sales").await.unwrap();
    let tables = f
        .glue
        .get_tables(req(json!({"DatabaseName": "sales"})))
        .await
        .unwrap();
    assert!(tables.table_list.is_empty());
    assert_err(
        f.glue.delete_database(req(json!({"Name": "gone"}))).await,
        "EntityNotFoundException",
        "Database gone not found.",
    );
}

#[tokio::test]
async fn get_databases_pages_in_name_order() {
    let f = fixture().await;
    for name in ["c", "a", "e", "b", "d"] {
        f.create_database(name).await.unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = f
            .glue
            .get_databases(req(json!({"MaxResults": 2, "NextToken": token})))
            .await
            .unwrap();
        pages += 1;
        names.extend(out.database_list.into_iter().map(|d| d.name));
        match out.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    let foreign = f
        .glue
        .get_databases(req(json!({"ResourceShareType": "FOREIGN"})))
        .await
        .unwrap();
    assert!(foreign.database_list.is_empty());
    assert_err(
        f.glue
            .get_databases(req(json!({"NextToken": "garbage"})))
            .await,
        "InvalidInputException",
        "Invalid NextToken.",
    );
}

#[tokio::test]
async fn tables_are_created_read_and_deleted() {
    let f = fixture().await;
    assert_err(
        f.create_table("db", table_input("t", &[])).await,
        "EntityNotFoundException",
        "Database db not found.",
    );
    f.create_database("db").await.unwrap();
    f.create_table(
        "DB",
        table_input("Events", &[("id", "bigint"), ("tags", "array<string>")]),
    )
    .await
    .unwrap();
    let t = f.get_table("db", "EVENTS").await.unwrap();
    assert_eq!(t.name, "events");
    assert_eq!(t.database_name, "db");
    assert_eq!(t.version_id, "0");
    assert_eq!(t.create_time, Timestamp(START_MS));
    assert_eq!(t.update_time, Timestamp(START_MS));
    assert_eq!(t.catalog_id, ACCOUNT);
    assert!(!t.is_registered_with_lake_formation);
    let wire = serde_json::to_value(&t).unwrap();
    assert_eq!(
        wire["StorageDescriptor"]["SortColumns"],
        json!([]),
        "kept as given"
    );
    assert_eq!(
        wire["StorageDescriptor"]["Columns"][1]["Type"],
        "array<string>"
    );
    assert_eq!(wire["PartitionKeys"], json!([]));
    assert_eq!(wire["Retention"], 0);

    assert_err(
        f.create_table("db", table_input("events", &[])).await,
        "AlreadyExistsException",
        "Table already exists.",
    );
    assert_err(
        f.get_table("db", "nope").await,
        "EntityNotFoundException",
        "Table nope not found.",
    );
    assert_err(
        f.get_table("nodb", "events").await,
        "EntityNotFoundException",
        "Database nodb not found.",
    );
    assert_err(
        f.glue
            .create_table(req(json!({"DatabaseName": "db"})))
            .await,
        "InvalidInputException",
        "TableInput is required.",
    );

    f.glue
        .delete_table(req(json!({"DatabaseName": "db", "Name": "Events"})))
        .await
        .unwrap();
    assert_err(
        f.get_table("db", "events").await,
        "EntityNotFoundException",
        "Table events not found.",
    );
    assert_err(
        f.glue
            .delete_table(req(json!({"DatabaseName": "db", "Name": "events"})))
            .await,
        "EntityNotFoundException",
        "Table events not found.",
    );
}

#[tokio::test]
async fn get_tables_filters_by_expression_and_pages() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    for name in ["sales_2024", "sales_2025", "orders", "sales_old", "returns"] {
        f.create_table("db", table_input(name, &[])).await.unwrap();
    }
    let names = |out: GetTablesResponse| -> Vec<String> {
        out.table_list.into_iter().map(|t| t.name).collect()
    };
    let all = f
        .glue
        .get_tables(req(json!({"DatabaseName": "db"})))
        .await
        .unwrap();
    assert_eq!(
        names(all),
        ["orders", "returns", "sales_2024", "sales_2025", "sales_old"]
    );
    let sales = f
        .glue
        .get_tables(req(
            json!({"DatabaseName": "db", "Expression": "sales_20*"}),
        ))
        .await
        .unwrap();
    assert_eq!(names(sales), ["sales_2024", "sales_2025"]);

    let first = f
        .glue
        .get_tables(req(
            json!({"DatabaseName": "db", "Expression": "sales.*", "MaxResults": 2}),
        ))
        .await
        .unwrap();
    let token = first.next_token.clone().unwrap();
    assert_eq!(names(first), ["sales_2024", "sales_2025"]);
    let second = f
        .glue
        .get_tables(req(json!({"DatabaseName": "db", "Expression": "sales.*", "MaxResults": 2, "NextToken": token})))
        .await
        .unwrap();
    assert_eq!(second.next_token, None);
    assert_eq!(names(second), ["sales_old"]);

    assert_err(
        f.glue
            .get_tables(req(json!({"DatabaseName": "nodb"})))
            .await,
        "EntityNotFoundException",
        "Database nodb not found.",
    );
}

#[tokio::test]
async fn updates_make_versions_and_keep_the_old_ones() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    f.create_table("db", table_input("t", &[("a", "int")]))
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(10));
    f.update_table("db", table_input("T", &[("a", "int"), ("b", "string")]))
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(10));
    f.glue
        .update_table(req(json!({
            "DatabaseName": "db", "VersionId": "1",
            "TableInput": table_input("t", &[("a", "int"), ("b", "string"), ("c", "decimal(10,2)")]),
        })))
        .await
        .unwrap();

    let t = f.get_table("db", "t").await.unwrap();
    assert_eq!(t.version_id, "2");
    assert_eq!(t.create_time, Timestamp(START_MS));
    assert_eq!(t.update_time, Timestamp(START_MS + 20_000));

    let versions = f
        .glue
        .get_table_versions(req(json!({"DatabaseName": "db", "TableName": "t"})))
        .await
        .unwrap();
    let ids: Vec<_> = versions
        .table_versions
        .iter()
        .map(|v| v.version_id.as_str())
        .collect();
    assert_eq!(ids, ["2", "1", "0"]);
    assert_eq!(versions.table_versions[2].table.version_id, "0");

    let v1 = f
        .glue
        .get_table_version(req(
            json!({"DatabaseName": "db", "TableName": "t", "VersionId": "1"}),
        ))
        .await
        .unwrap()
        .table_version;
    assert_eq!(v1.version_id, "1");
    let cols = v1.table.storage_descriptor.unwrap().columns.unwrap();
    assert_eq!(cols.len(), 2);
    let latest = f
        .glue
        .get_table_version(req(json!({"DatabaseName": "db", "TableName": "t"})))
        .await
        .unwrap()
        .table_version;
    assert_eq!(latest.version_id, "2");

    // Paging over versions, newest first.
    let page = f
        .glue
        .get_table_versions(req(
            json!({"DatabaseName": "db", "TableName": "t", "MaxResults": 2}),
        ))
        .await
        .unwrap();
    let rest = f
        .glue
        .get_table_versions(req(json!({
            "DatabaseName": "db", "TableName": "t", "MaxResults": 2, "NextToken": page.next_token
        })))
        .await
        .unwrap();
    assert_eq!(rest.table_versions.len(), 1);
    assert_eq!(rest.table_versions[0].version_id, "0");
    assert_eq!(rest.next_token, None);

    assert_err(
        f.glue
            .get_table_version(req(
                json!({"DatabaseName": "db", "TableName": "t", "VersionId": "7"}),
            ))
            .await,
        "EntityNotFoundException",
        "Version not found.",
    );
    assert_err(
        f.glue
            .get_table_version(req(
                json!({"DatabaseName": "db", "TableName": "t", "VersionId": "x"}),
            ))
            .await,
        "InvalidInputException",
        "Invalid VersionId: x. It must be a number.",
    );
}

#[tokio::test]
async fn refused_updates_change_nothing() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    f.create_table("db", table_input("t", &[("a", "int")]))
        .await
        .unwrap();
    f.update_table("db", table_input("t", &[("b", "int")]))
        .await
        .unwrap();
    assert_err(
        f.glue
            .update_table(req(json!({"DatabaseName": "db", "VersionId": "0", "TableInput": table_input("t", &[])})))
            .await,
        "ConcurrentModificationException",
        "Update table failed due to concurrent modifications.",
    );
    assert_err(
        f.glue
            .update_table(req(
                json!({"DatabaseName": "db", "Name": "t", "TableInput": table_input("u", &[])}),
            ))
            .await,
        "InvalidInputException",
        "Table cannot be renamed",
    );
    assert_err(
        f.update_table("db", table_input("missing", &[])).await,
        "EntityNotFoundException",
        "Table missing not found.",
    );
    let t = f.get_table("db", "t").await.unwrap();
    assert_eq!(t.version_id, "1");
    let versions = f
        .glue
        .get_table_versions(req(json!({"DatabaseName": "db", "TableName": "t"})))
        .await
        .unwrap();
    assert_eq!(versions.table_versions.len(), 2);

    // SkipArchive: the next version replaces the current one without keeping it.
    f.glue
        .update_table(req(
            json!({"DatabaseName": "db", "SkipArchive": true, "TableInput": table_input("t", &[])}),
        ))
        .await
        .unwrap();
    let versions = f
        .glue
        .get_table_versions(req(json!({"DatabaseName": "db", "TableName": "t"})))
        .await
        .unwrap();
    let ids: Vec<_> = versions
        .table_versions
        .iter()
        .map(|v| v.version_id.as_str())
        .collect();
    assert_eq!(ids, ["2", "0"]);
}

#[tokio::test]
async fn table_columns_are_the_storage_descriptor_columns_in_order() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    let types = [
        ("s", "string"),
        ("i", "int"),
        ("n", "bigint"),
        ("d", "double"),
        ("arr", "array<string>"),
        ("st", "struct<a:int,b:string>"),
        ("dec", "decimal(10,2)"),
        ("ts", "timestamp"),
    ];
    f.create_table("db", table_input("t", &types))
        .await
        .unwrap();
    let expected: Vec<Column> = types
        .iter()
        .map(|(n, t)| Column {
            name: n.to_string(),
            type_name: t.to_string(),
        })
        .collect();
    assert_eq!(
        f.glue.table_columns("DB", "T", None).await.unwrap(),
        expected
    );
    f.update_table("db", table_input("t", &[("only", "string")]))
        .await
        .unwrap();
    assert_eq!(
        f.glue.table_columns("db", "t", Some("0")).await.unwrap(),
        expected
    );
    assert_eq!(
        f.glue.table_columns("db", "t", None).await.unwrap(),
        [Column {
            name: "only".into(),
            type_name: "string".into()
        }]
    );
    assert!(matches!(
        f.glue.table_columns("db", "missing", None).await,
        Err(GlueError::EntityNotFound(_))
    ));
}

#[tokio::test]
async fn the_catalog_survives_a_reopen() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    f.create_table("db", table_input("t", &[("a", "int")]))
        .await
        .unwrap();
    f.update_table("db", table_input("t", &[("a", "int"), ("b", "string")]))
        .await
        .unwrap();
    let before = f.get_table("db", "t").await.unwrap();
    let Fixture { dir, glue, .. } = f;
    drop(glue);

    let f = open_in(dir).await;
    assert_eq!(f.get_table("db", "t").await.unwrap(), before);
    let v0 = f.glue.table_columns("db", "t", Some("0")).await.unwrap();
    assert_eq!(v0.len(), 1);
    assert_err(
        f.create_database("db").await,
        "AlreadyExistsException",
        "Database already exists.",
    );
    assert!(f.dir.path().join("c.db").exists());
}

#[tokio::test]
async fn other_catalogs_and_governed_tables_are_refused() {
    let f = fixture().await;
    f.create_database("db").await.unwrap();
    assert_err(
        f.glue
            .get_database(req(json!({"CatalogId": "123456789012", "Name": "db"})))
            .await,
        "EntityNotFoundException",
        "Catalog 123456789012 not found.",
    );
    f.glue
        .get_database(req(json!({"CatalogId": ACCOUNT, "Name": "db"})))
        .await
        .unwrap();
    assert_err(
        f.glue
            .create_table(req(json!({"DatabaseName": "db", "TransactionId": "x", "TableInput": table_input("t", &[])})))
            .await,
        "InvalidInputException",
        "TransactionId is not supported by this catalog.",
    );
    assert_err(
        f.glue
            .get_tables(req(json!({"DatabaseName": "db", "Expression": "a("})))
            .await,
        "InvalidInputException",
        "Invalid Expression: a(",
    );
}
