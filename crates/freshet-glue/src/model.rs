//! The AWSGlue requests and responses Freshet serves, members named as in the service model.
//! What the catalog interprets is typed; members it only keeps and gives back (Lake Formation
//! permissions, view definitions, skew and sort settings, target tables, ...) ride along in each
//! structure's `rest`, so a table reads back as it was written.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A `ParametersMap`: free-form key-value properties.
pub type Parameters = BTreeMap<String, String>;

/// A point in time. AWS JSON 1.1 writes timestamps as epoch seconds with a fraction; Freshet
/// holds them in milliseconds (the clock's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(d)?;
        Ok(Timestamp((seconds * 1000.0).round() as i64))
    }
}

/// A column of a table's schema or of its partition keys (`Column`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableColumn {
    pub name: String,
    /// A Hive type string: `string`, `bigint`, `array<string>`, `struct<a:int,b:string>`, ...
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SerDeInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization_library: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// Where and how a table's data is stored, and its columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StorageDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<TableColumn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_buckets: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serde_info: Option<SerDeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// AdditionalLocations, BucketColumns, SortColumns, SkewedInfo, StoredAsSubDirectories,
    /// SchemaReference: kept as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseInput {
    pub name: String,
    pub description: Option<String>,
    pub location_uri: Option<String>,
    pub parameters: Option<Parameters>,
    pub create_table_default_permissions: Option<Vec<Value>>,
    /// TargetDatabase, FederatedDatabase: kept as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A database as GetDatabase answers it (and as it is stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Database {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    pub create_time: Timestamp,
    pub create_table_default_permissions: Vec<Value>,
    pub catalog_id: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableInput {
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub last_access_time: Option<Timestamp>,
    pub last_analyzed_time: Option<Timestamp>,
    pub retention: Option<i32>,
    pub storage_descriptor: Option<StorageDescriptor>,
    pub partition_keys: Option<Vec<TableColumn>>,
    pub view_original_text: Option<String>,
    pub view_expanded_text: Option<String>,
    pub table_type: Option<String>,
    pub parameters: Option<Parameters>,
    /// TargetTable, ViewDefinition: kept as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A table version as GetTable answers it (and as it is stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    pub name: String,
    pub database_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_access_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analyzed_time: Option<Timestamp>,
    pub retention: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_descriptor: Option<StorageDescriptor>,
    pub partition_keys: Vec<TableColumn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_original_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_expanded_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    pub is_registered_with_lake_formation: bool,
    pub catalog_id: String,
    pub version_id: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// The answer of the operations that answer nothing: `{}`.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatabaseRequest {
    pub catalog_id: Option<String>,
    pub database_input: DatabaseInput,
    /// Accepted and not kept: Freshet serves no Glue tagging operations.
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseRequest {
    pub catalog_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabaseResponse {
    pub database: Database,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabasesRequest {
    pub catalog_id: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    /// `FOREIGN` (shared from other accounts: none here), `ALL`, `FEDERATED`.
    pub resource_share_type: Option<String>,
    /// Which members to answer; whole databases are answered (a superset).
    pub attributes_to_get: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetDatabasesResponse {
    pub database_list: Vec<Database>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDatabaseRequest {
    pub catalog_id: Option<String>,
    pub name: String,
    pub database_input: DatabaseInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteDatabaseRequest {
    pub catalog_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTableRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    /// The table's name for OpenTableFormatInput creations; otherwise TableInput's.
    pub name: Option<String>,
    pub table_input: Option<TableInput>,
    /// Accepted and not kept: Freshet serves no partitions.
    pub partition_indexes: Option<Vec<Value>>,
    pub transaction_id: Option<String>,
    pub open_table_format_input: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    pub name: String,
    pub transaction_id: Option<String>,
    pub query_as_of_time: Option<Timestamp>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableResponse {
    pub table: Table,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTablesRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    /// A pattern the table names must match (see `expression.rs`).
    pub expression: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub transaction_id: Option<String>,
    pub query_as_of_time: Option<Timestamp>,
    /// Which members to answer; whole tables are answered (a superset).
    pub attributes_to_get: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTablesResponse {
    pub table_list: Vec<Table>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTableRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    pub name: Option<String>,
    pub table_input: Option<TableInput>,
    /// When true the version replaced is not kept for GetTableVersion(s).
    pub skip_archive: Option<bool>,
    pub transaction_id: Option<String>,
    /// The version the update was made from: another current version refuses it.
    pub version_id: Option<String>,
    pub view_update_action: Option<String>,
    pub force: Option<bool>,
    pub update_open_table_format_input: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteTableRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    pub name: String,
    pub transaction_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    pub table_name: String,
    /// None: the current version.
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableVersion {
    pub table: Table,
    pub version_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionResponse {
    pub table_version: TableVersion,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionsRequest {
    pub catalog_id: Option<String>,
    pub database_name: String,
    pub table_name: String,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTableVersionsResponse {
    pub table_versions: Vec<TableVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
