//! The log's typed errors; the streams service maps them to AWS errors once, at its edge.

use std::path::PathBuf;

use crate::ShardLogId;

#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum LogError {
    #[error("shard log {0} not found")]
    ShardNotFound(ShardLogId),
    #[error("the log is closed")]
    Closed,
    #[error("log i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data failed its checksum or structure checks where it should be intact.
    #[error("corrupt log data in {} at byte {pos}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        pos: u64,
        reason: String,
    },
    /// Checksum-valid data written by a newer format version; it is left untouched.
    #[error("{} holds record format version {version}, which this build cannot read", path.display())]
    UnsupportedFormat { path: PathBuf, version: u8 },
    /// A record the log cannot store (partition key or data too large).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// The shard stopped taking writes after an fsync failure; reopening the log recovers it.
    #[error("shard log {shard} stopped taking writes: {reason}")]
    ShardFailed { shard: ShardLogId, reason: String },
    /// A writer whose epoch was overtaken by a newer open of the same storage under the same
    /// name (a restarted cluster node): its appends are refused so it cannot commit after its
    /// successor.
    #[error("log writer epoch {0} was overtaken by a newer writer")]
    Fenced(u64),
    /// A sealed stream's data key cannot be used (`Sealing`).
    #[error("{0}")]
    Key(#[from] crate::KeyError),
}
