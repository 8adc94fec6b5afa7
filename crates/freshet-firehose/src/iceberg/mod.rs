//! The Apache Iceberg destination (`IcebergDestinationConfiguration`): JSON records appended
//! to Iceberg tables, or applied to them as updates and deletes by their unique keys, one
//! snapshot per buffer and table, committed through an Iceberg REST catalog.
//!
//! Routing is AWS's: a stream with one table in `DestinationTableConfigurationList` sends every
//! record there; otherwise each record names its table (and its operation) through metadata,
//! from a MetadataExtraction query (`destinationDatabaseName`, `destinationTableName`,
//! `operation`) or a Lambda processor's `metadata.otfMetadata`.

mod schema;
mod write;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{
    BufferingHints, RetryOptions, S3Config, Thresholds, describe_destination, enabled,
};
use crate::error::{Result, invalid};
use crate::prefix::{KeySource, PartitionKeys, key_value};

pub use write::{Delivered, TableWriter, WriteError};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableConfig {
    pub destination_table_name: String,
    pub destination_database_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_spec: Option<Value>,
    #[serde(
        rename = "S3ErrorOutputPrefix",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_error_output_prefix: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogConfiguration {
    #[serde(rename = "CatalogARN", skip_serializing_if = "Option::is_none")]
    pub catalog_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_location: Option<String>,
}

/// `IcebergDestinationConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IcebergConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_table_configuration_list: Option<Vec<TableConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_evolution_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_creation_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering_hints: Option<BufferingHints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(rename = "RoleARN", default)]
    pub role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_only: Option<bool>,
    #[serde(default)]
    pub catalog_configuration: CatalogConfiguration,
    #[serde(rename = "S3Configuration", default)]
    pub s3: S3Config,
}

/// What a record does to its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Delete,
}

impl Operation {
    /// The tag a routed record carries in front of its data through the buffer.
    pub fn tag(self) -> u8 {
        match self {
            Operation::Insert => b'i',
            Operation::Update => b'u',
            Operation::Delete => b'd',
        }
    }

    pub fn from_tag(tag: u8) -> Option<Operation> {
        match tag {
            b'i' => Some(Operation::Insert),
            b'u' => Some(Operation::Update),
            b'd' => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// A record's table and operation, or why it has none (an error-output code and message).
pub type Routed = std::result::Result<(String, String, Operation), (&'static str, String)>;

impl IcebergConfig {
    pub fn thresholds(&self) -> Thresholds {
        BufferingHints::thresholds(self.buffering_hints, false)
    }

    /// How long a failing commit is retried before its records go to the error output
    /// (AWS: 300 s).
    pub fn retry_ms(&self) -> u64 {
        RetryOptions::ms(self.retry_options, 300)
    }

    pub fn backup_all(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("AllData")
    }

    fn tables(&self) -> &[TableConfig] {
        self.destination_table_configuration_list
            .as_deref()
            .unwrap_or_default()
    }

    /// The configured table `database.table` (names compare as Glue folds them).
    pub fn table(&self, database: &str, table: &str) -> Option<&TableConfig> {
        self.tables().iter().find(|t| {
            t.destination_database_name.eq_ignore_ascii_case(database)
                && t.destination_table_name.eq_ignore_ascii_case(table)
        })
    }

    pub(crate) fn check(&self) -> Result<()> {
        if enabled(&self.schema_evolution_configuration) {
            return Err(invalid(
                "SchemaEvolutionConfiguration is not supported by Freshet yet: evolve the table through its catalog, and records with fields the table lacks are written without them.",
            ));
        }
        if enabled(&self.table_creation_configuration) {
            return Err(invalid(
                "TableCreationConfiguration is not supported by Freshet yet: create the tables through the Iceberg REST catalog (/iceberg) or Glue first.",
            ));
        }
        let arn = self
            .catalog_configuration
            .catalog_arn
            .as_deref()
            .ok_or_else(|| invalid("CatalogConfiguration.CatalogARN is required."))?;
        if !arn.starts_with("arn:") || arn.split(':').nth(2) != Some("glue") {
            return Err(invalid(format!("Invalid CatalogARN: {arn}.")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in self.tables() {
            let name = format!(
                "{}.{}",
                t.destination_database_name.to_ascii_lowercase(),
                t.destination_table_name.to_ascii_lowercase()
            );
            if !seen.insert(name.clone()) {
                return Err(invalid(format!(
                    "DestinationTableConfigurationList names the table {name} more than once."
                )));
            }
            if self.append_only == Some(true)
                && t.unique_keys.as_ref().is_some_and(|k| !k.is_empty())
            {
                return Err(invalid(format!(
                    "UniqueKeys of {name} cannot be given when AppendOnly is true."
                )));
            }
            if t.partition_spec
                .as_ref()
                .and_then(|p| p.get("Identity"))
                .and_then(Value::as_array)
                .is_some_and(|fields| !fields.is_empty())
            {
                // AWS uses PartitionSpec only for the tables it creates.
                return Err(invalid(format!(
                    "PartitionSpec of {name} applies to tables Firehose creates, which Freshet does not yet (TableCreationConfiguration)."
                )));
            }
        }
        crate::process::Processing::parse(self.processing_configuration.as_ref(), true)?;
        self.s3.check("S3Configuration")
    }

    pub(crate) fn describe(&self) -> Value {
        let mut d = describe_destination(self, &self.s3, self.retry_ms(), "FailedDataOnly");
        d.insert(
            "BufferingHints".into(),
            BufferingHints::described(self.buffering_hints, false),
        );
        d.entry("AppendOnly").or_insert_with(|| json!(false));
        Value::Object(d)
    }

    /// Where a record goes: the table (database, name) its metadata names, or the one table
    /// configured; and what it does there.
    pub fn route(&self, keys: &PartitionKeys) -> Routed {
        let meta = |name: &str| {
            key_value(keys, KeySource::Query, name)
                .or_else(|| key_value(keys, KeySource::Lambda, name))
        };
        let (database, table) = match (
            meta("destinationDatabaseName"),
            meta("destinationTableName"),
        ) {
            (Some(d), Some(t)) => (d.to_string(), t.to_string()),
            (None, None) => match self.tables() {
                [one] => (
                    one.destination_database_name.clone(),
                    one.destination_table_name.clone(),
                ),
                _ => {
                    return Err((
                        "Iceberg.DestinationTableMissing",
                        "The record names no destination table (destinationDatabaseName and destinationTableName) and the stream has not exactly one table in DestinationTableConfigurationList.".into(),
                    ));
                }
            },
            _ => {
                return Err((
                    "Iceberg.DestinationTableMissing",
                    "The record's metadata gives only one of destinationDatabaseName and destinationTableName.".into(),
                ));
            }
        };
        let operation = match meta("operation").map(str::to_ascii_lowercase).as_deref() {
            None | Some("insert") => Operation::Insert,
            _ if self.append_only == Some(true) => Operation::Insert,
            Some("update") => Operation::Update,
            Some("delete") => Operation::Delete,
            Some(other) => {
                return Err((
                    "Iceberg.InvalidOperation",
                    format!("Unknown operation {other:?}: it must be insert, update or delete."),
                ));
            }
        };
        if operation != Operation::Insert
            && self
                .table(&database, &table)
                .and_then(|t| t.unique_keys.as_ref())
                .is_none_or(|k| k.is_empty())
        {
            return Err((
                "Iceberg.UniqueKeysMissing",
                format!(
                    "An {operation:?} of {database}.{table} needs the table's UniqueKeys in DestinationTableConfigurationList."
                ),
            ));
        }
        Ok((database, table, operation))
    }
}

/// A buffer's partition id for a table: its names as routed (a remote catalog may tell
/// case apart, as Glue does not).
pub fn part_id(database: &str, table: &str) -> String {
    format!("{database}\u{1}{table}")
}

/// A fresh snapshot id: positive, as Iceberg's are.
pub fn new_snapshot_id() -> i64 {
    (rand::random::<u64>() >> 1).max(1) as i64
}

/// The table of a buffer's partition id.
pub fn part_table(id: &str) -> Option<(&str, &str)> {
    id.split_once('\u{1}')
}

#[cfg(test)]
mod tests;
