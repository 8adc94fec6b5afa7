//! A minimal AWS Glue Data Catalog: databases and tables with their versions, kept in Freshet's
//! catalog store. It is the schema source of Firehose's record format conversion, which reads a
//! table's columns through `GlueService::table_columns`; the edge serves its operations as the
//! `AWSGlue` target prefix (CreateDatabase, GetDatabase(s), UpdateDatabase, DeleteDatabase,
//! CreateTable, GetTable(s), UpdateTable, DeleteTable, GetTableVersion(s)).
//!
//! Names are folded to lowercase as Glue folds them (`names.rs`); the whole catalog is one
//! stored document (`store.rs`), rewritten by each change before the change is answered.

mod databases;
mod error;
mod expression;
pub mod model;
mod names;
mod paging;
mod service;
mod store;
mod tables;
#[cfg(test)]
mod tests;

pub use error::{GlueError, Result};
pub use service::{GlueConfig, GlueService};

/// A column of a table's schema: its name and its Hive type string (`string`, `int`, `bigint`,
/// `double`, `array<string>`, `struct<a:int,b:string>`, `decimal(10,2)`, `timestamp`, ...), empty
/// when the table gave the column no type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}
