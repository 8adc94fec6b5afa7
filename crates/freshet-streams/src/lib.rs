//! Kinesis Data Streams semantics: streams, shards, records, iterators, tags and settings, over
//! the durable log (`freshet-log`) and the catalog (`freshet-catalog`). No HTTP types here: the
//! edge decodes requests into `model` types and encodes what these operations return.

pub mod arn;
mod autoscale;
pub mod config;
pub mod error;
pub mod hash_key;
pub mod iterator;
pub mod kpl;
mod limits;
mod metrics;
pub mod model;
mod ops;
mod paging;
mod reader;
pub mod sequence;
mod service;
mod state;

pub use autoscale::OnDemandPolicy;
pub use config::StreamsConfig;
pub use error::{Result, StreamsError};
pub use metrics::ShardCounters;
pub use ops::subscribe::Subscription;
pub use reader::{Checkpoint, ShardLineage, ShardRecords, StartingPosition, StreamReader};
pub use service::StreamsService;
