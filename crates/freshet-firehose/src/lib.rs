//! Firehose delivery streams: the `Firehose_20150804` API over a durable input log per
//! delivery stream (or a Kinesis data stream as the source), delivery workers that buffer,
//! compress and write to S3-compatible storage or HTTP endpoints, at least once, and readers of
//! a delivery stream's records for Analytics applications.

mod activity;
pub mod arn;
mod buffers;
pub mod compress;
pub mod config;
pub mod convert;
pub mod error;
pub mod iceberg;
mod metrics;
pub mod model;
pub mod prefix;
mod process;
mod reader;
mod redshift;
mod retention;
mod search;
mod service;
pub mod sink;
mod source;
mod splunk;
mod worker;

pub use activity::Delivery;
pub use convert::SchemaSource;
pub use error::{FirehoseError, Result};
pub use reader::DeliveryReader;
pub use service::{FirehoseConfig, FirehoseService};
pub use sink::{S3Endpoint, S3Target};
pub use source::{Partition, SourceRecord};
