//! Kinesis Video Streams (`kinesisvideo`, `kinesis-video-media`, `kinesis-video-archived-media`
//! 2017-09-30). Streams with their optimistic-concurrency versions, retention, tags and
//! configurations live in the catalog; their media, one fragment per record, in a log of their
//! own (`store`), written by PutMedia (`ingest`, reading MKV with `mkv`) and read back as MKV
//! (`playback`). WebRTC signaling channels and their relay are `signaling`. No HTTP types here:
//! the edge decodes and encodes.

mod arn;
mod clock;
mod error;
pub mod images;
pub mod ingest;
pub mod media;
pub mod metrics;
pub mod mkv;
pub mod model;
pub mod mux;
pub mod packaging;
mod paging;
pub mod playback;
mod service;
pub mod signaling;
pub mod storage;
pub mod store;
mod stream;

pub use error::VideoError;
pub use service::{VideoConfig, VideoService};
