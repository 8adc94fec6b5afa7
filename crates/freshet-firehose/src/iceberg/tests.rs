use serde_json::json;

use super::*;
use crate::config::Destination;

const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";
const CATALOG: &str = "arn:aws:glue:us-east-1:000000000000:catalog";

fn create(config: Value) -> Result<Destination> {
    let request = json!({ "IcebergDestinationConfiguration": config });
    Destination::from_create(request.as_object().unwrap())
}

fn config(tables: Value) -> Value {
    json!({
        "RoleARN": ROLE,
        "CatalogConfiguration": {"CatalogARN": CATALOG, "WarehouseLocation": "s3://wh/"},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::errors"},
        "DestinationTableConfigurationList": tables,
    })
}

fn iceberg(d: Destination) -> IcebergConfig {
    match d {
        Destination::Iceberg(c) => *c,
        other => panic!("{other:?}"),
    }
}

fn keys(pairs: &[(KeySource, &str, &str)]) -> PartitionKeys {
    pairs
        .iter()
        .map(|(s, k, v)| ((*s, k.to_string()), v.to_string()))
        .collect()
}

#[test]
fn one_table_takes_every_record_and_metadata_routes_the_rest() {
    let one = iceberg(
        create(config(
            json!([{"DestinationDatabaseName": "db", "DestinationTableName": "t",
            "UniqueKeys": ["id"]}]),
        ))
        .unwrap(),
    );
    assert_eq!(
        one.route(&PartitionKeys::new()),
        Ok(("db".into(), "t".into(), Operation::Insert))
    );
    let routed = one.route(&keys(&[
        (KeySource::Query, "destinationDatabaseName", "other"),
        (KeySource::Query, "destinationTableName", "u"),
        (KeySource::Query, "operation", "INSERT"),
    ]));
    assert_eq!(routed, Ok(("other".into(), "u".into(), Operation::Insert)));
    let update = one.route(&keys(&[(KeySource::Lambda, "operation", "update")]));
    assert_eq!(update, Ok(("db".into(), "t".into(), Operation::Update)));
    // An update of a table without unique keys cannot be applied.
    let no_keys = one.route(&keys(&[
        (KeySource::Lambda, "destinationDatabaseName", "db"),
        (KeySource::Lambda, "destinationTableName", "other"),
        (KeySource::Lambda, "operation", "delete"),
    ]));
    assert_eq!(no_keys.unwrap_err().0, "Iceberg.UniqueKeysMissing");
    let bad = one.route(&keys(&[(KeySource::Query, "operation", "upsert")]));
    assert_eq!(bad.unwrap_err().0, "Iceberg.InvalidOperation");

    let two = iceberg(
        create(config(json!([
            {"DestinationDatabaseName": "db", "DestinationTableName": "a"},
            {"DestinationDatabaseName": "db", "DestinationTableName": "b"}])))
        .unwrap(),
    );
    assert_eq!(
        two.route(&PartitionKeys::new()).unwrap_err().0,
        "Iceberg.DestinationTableMissing"
    );
}

#[test]
fn append_only_streams_insert_whatever_the_operation() {
    let mut c = config(json!([{"DestinationDatabaseName": "db", "DestinationTableName": "t"}]));
    c["AppendOnly"] = json!(true);
    let d = iceberg(create(c).unwrap());
    assert_eq!(
        d.route(&keys(&[(KeySource::Query, "operation", "delete")])),
        Ok(("db".into(), "t".into(), Operation::Insert))
    );
}

#[test]
fn unsupported_and_bad_configurations_are_refused() {
    let mut evolve = config(json!([]));
    evolve["SchemaEvolutionConfiguration"] = json!({"Enabled": true});
    assert!(
        create(evolve)
            .unwrap_err()
            .to_string()
            .contains("SchemaEvolution")
    );
    let mut creation = config(json!([]));
    creation["TableCreationConfiguration"] = json!({"Enabled": true});
    assert!(
        create(creation)
            .unwrap_err()
            .to_string()
            .contains("TableCreation")
    );
    let mut no_catalog = config(json!([]));
    no_catalog["CatalogConfiguration"] = json!({});
    assert!(
        create(no_catalog)
            .unwrap_err()
            .to_string()
            .contains("CatalogARN")
    );
    let twice = config(json!([
        {"DestinationDatabaseName": "db", "DestinationTableName": "t"},
        {"DestinationDatabaseName": "DB", "DestinationTableName": "T"}]));
    assert!(
        create(twice)
            .unwrap_err()
            .to_string()
            .contains("more than once")
    );
    let mut keys_and_append = config(
        json!([{"DestinationDatabaseName": "db", "DestinationTableName": "t", "UniqueKeys": ["id"]}]),
    );
    keys_and_append["AppendOnly"] = json!(true);
    assert!(
        create(keys_and_append)
            .unwrap_err()
            .to_string()
            .contains("AppendOnly")
    );
}

#[test]
fn described_with_aws_defaults_and_updated_by_merging() {
    let d = create(config(
        json!([{"DestinationDatabaseName": "db", "DestinationTableName": "t"}]),
    ))
    .unwrap();
    let desc = &d.describe()["IcebergDestinationDescription"];
    assert_eq!(
        desc["BufferingHints"],
        json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
    );
    assert_eq!(desc["RetryOptions"], json!({"DurationInSeconds": 300}));
    assert_eq!(desc["S3BackupMode"], "FailedDataOnly");
    assert_eq!(desc["AppendOnly"], false);
    assert_eq!(desc["CatalogConfiguration"]["CatalogARN"], CATALOG);
    assert_eq!(
        desc["S3DestinationDescription"]["BucketARN"],
        "arn:aws:s3:::errors"
    );
    let updated = d
        .update(
            json!({"IcebergDestinationUpdate": {"BufferingHints": {"IntervalInSeconds": 60}}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    let c = iceberg(updated);
    assert_eq!(c.thresholds().interval_ms, 60_000);
    assert!(c.table("DB", "T").is_some());
}
