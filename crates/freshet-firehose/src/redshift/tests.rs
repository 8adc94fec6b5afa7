use serde_json::json;

use super::*;

const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";

fn config(table: &str, columns: Option<&str>, options: &str) -> RedshiftConfig {
    RedshiftConfig {
        role_arn: ROLE.into(),
        cluster_jdbc_url: "jdbc:redshift://127.0.0.1:5439/dev".into(),
        copy_command: CopyCommand {
            data_table_name: table.into(),
            data_table_columns: columns.map(str::to_string),
            copy_options: Some(options.into()),
        },
        username: Some("u".into()),
        password: Some("p".into()),
        ..Default::default()
    }
}

fn golden(text: &str) -> &str {
    text.trim_end_matches('\n')
}

/// The statements Freshet issues, checked against golden files: what a Redshift cluster runs,
/// and the PostgreSQL form of the same load.
#[test]
fn copy_statements_match_the_golden_files() {
    let json = config(
        "public.events",
        Some("id, name, at"),
        "JSON 'auto' GZIP TIMEFORMAT 'auto'",
    );
    assert_eq!(
        json.redshift_copy("s3://loads/events/manifests/ds-1-2026-02-03-04-05-06-uuid"),
        golden(include_str!("golden/copy-json.redshift.sql"))
    );
    let (sql, data) = json
        .postgres_copy(b"{\"ID\": 1, \"name\": \"a,\\\"b\"}\n{\"id\": 2, \"at\": null}\n")
        .unwrap();
    assert_eq!(sql, golden(include_str!("golden/copy-json.postgres.sql")));
    assert_eq!(
        String::from_utf8(data).unwrap(),
        "\"1\",\"a,\"\"b\",\n\"2\",,\n"
    );

    let delimited = config("sales", None, "delimiter ',' NULL AS 'NA' IGNOREHEADER 1");
    assert_eq!(
        delimited.redshift_copy("s3://loads/manifests/m"),
        golden(include_str!("golden/copy-delimited.redshift.sql"))
    );
    let (sql, data) = delimited.postgres_copy(b"h1,h2\n1,NA\n").unwrap();
    assert_eq!(
        sql,
        golden(include_str!("golden/copy-delimited.postgres.sql"))
    );
    assert_eq!(data, b"1,NA\n");
}

#[test]
fn urls_options_and_rules() {
    assert_eq!(
        parse_jdbc("jdbc:redshift://c.abc.us-east-1.redshift.amazonaws.com:5439/dev"),
        Some(Jdbc {
            host: "c.abc.us-east-1.redshift.amazonaws.com".into(),
            port: 5439,
            database: "dev".into()
        })
    );
    assert_eq!(parse_jdbc("jdbc:redshift://h/db").unwrap().port, 5439);
    assert!(parse_jdbc("postgres://h/db").is_none());
    assert!(copy_options("JSON 's3://bucket/jsonpaths.json'").is_err());
    assert!(copy_options("NOPE").is_err());
    assert_eq!(
        copy_options("FORMAT AS CSV QUOTE AS '\"' MAXERROR 10 TRUNCATECOLUMNS").unwrap(),
        CopyOptions {
            csv: true,
            quote: Some("\"".into()),
            ..Default::default()
        }
    );
    let mut c = config("t", None, "");
    c.s3.bucket_arn = "arn:aws:s3:::b".into();
    c.s3.role_arn = ROLE.into();
    c.check().unwrap();
    c.s3.error_output_prefix = Some("e/".into());
    assert!(c.check().is_err());
    c.s3.error_output_prefix = None;
    c.s3.prefix = Some("p/!{timestamp:yyyy}/".into());
    assert!(c.check().is_err());
    c.s3.prefix = None;
    c.password = None;
    assert!(c.check().is_err());
    let described = config("t", None, "").describe();
    assert!(described.get("Password").is_none(), "write-only");
    assert_eq!(
        described["RetryOptions"],
        json!({"DurationInSeconds": 3600})
    );
}
