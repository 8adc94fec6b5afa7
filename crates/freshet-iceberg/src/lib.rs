//! Apache Iceberg tables for Freshet.
//!
//! - `catalog`: the Iceberg REST catalog, kept in the Glue Data Catalog as AWS Glue keeps it (a
//!   namespace is a Glue database; a table is a Glue table whose `metadata_location` parameter
//!   names its current metadata file). The edge serves it under `/iceberg`, where AWS Glue serves
//!   its Iceberg REST endpoint.
//! - `client`: what Firehose's Iceberg destination needs of a catalog (load a table, commit a
//!   change), served in process by `catalog` or over HTTP by any Iceberg REST catalog.
//! - `files`: table files (metadata, manifests, data) in S3 buckets, through whatever object
//!   store the binary gives, also as Iceberg's `FileIO` storage.

pub mod catalog;
pub mod client;
pub mod files;

pub use catalog::{IcebergCatalog, IcebergConfig, IcebergError};
pub use client::{RestClient, TableCatalog, TableName};
pub use files::{Files, files_io, split_location};

// The table format's types, for the crates that write tables.
pub use iceberg;
pub use iceberg_catalog_rest as rest;
