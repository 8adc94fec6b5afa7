//! Kinesis Video Streams (`kinesisvideo` 2017-09-30): the control plane. Streams with their
//! optimistic-concurrency versions, retention, tags and configurations live in the catalog; media
//! ingest and playback are not built yet. No HTTP types here: the edge decodes and encodes.

mod arn;
mod error;
pub mod media;
pub mod model;
mod paging;
mod service;
mod stream;

pub use error::VideoError;
pub use service::{VideoConfig, VideoService};
