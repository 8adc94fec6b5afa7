//! The in-memory view of the catalog that every request reads: streams by name and by uid, each
//! with its shards. The catalog is the durable truth; this view is loaded from it at start and
//! changed only after the catalog has committed a change.

use std::collections::BTreeMap;
use std::sync::Arc;

use freshet_catalog::{ConsumerRow, ShardRow, StreamRow};
use freshet_log::ShardLogId;
use parking_lot::RwLock;

use crate::arn::shard_id;
use crate::hash_key::HashKeyRange;
use crate::model;
use crate::sequence::SequenceNumber;

pub const STATUS_CREATING: &str = "CREATING";
pub const STATUS_ACTIVE: &str = "ACTIVE";
pub const STATUS_UPDATING: &str = "UPDATING";
pub const STATUS_DELETING: &str = "DELETING";

pub const MODE_PROVISIONED: &str = "PROVISIONED";
pub const MODE_ON_DEMAND: &str = "ON_DEMAND";

pub struct Stream {
    pub uid: u64,
    pub name: String,
    pub arn: String,
    pub state: RwLock<StreamState>,
    /// Serializes the administrative changes of one stream: each one reads the state, commits
    /// the new state to the catalog (an await) and publishes it, and two of them interleaving
    /// would lose one. Data-plane calls never take it.
    pub admin: tokio::sync::Mutex<()>,
    /// Puts hold it shared from routing until their append is durable; resharding holds it
    /// exclusively while it closes shards, so a parent's final offset is final: no put routed
    /// to a parent can land after the parent's ending sequence number.
    pub gate: tokio::sync::RwLock<()>,
    /// When UpdateShardCount last ran (for AWS's per-day limit; not persisted, as a restart
    /// resets the window harmlessly).
    pub scalings: parking_lot::Mutex<std::collections::VecDeque<i64>>,
    /// Woken when shards close or the stream goes away, so push subscribers notice at once.
    pub reshaped: tokio::sync::Notify,
}

#[derive(Clone)]
pub struct StreamState {
    pub row: StreamRow,
    pub shards: Vec<ShardState>,
    pub tags: BTreeMap<String, String>,
    pub consumers: Vec<ConsumerRow>,
}

#[derive(Clone)]
pub struct ShardState {
    pub row: ShardRow,
    pub range: HashKeyRange,
    pub log: ShardLogId,
    /// Bytes (data and partition keys) accepted since the shard opened, shared by every
    /// snapshot of the shard: the on-demand scaler's measure of load.
    pub written: Arc<std::sync::atomic::AtomicU64>,
}

impl ShardState {
    pub fn new(stream_uid: u64, row: ShardRow) -> ShardState {
        ShardState {
            range: HashKeyRange {
                start: row.hash_start,
                end: row.hash_end,
            },
            log: ShardLogId {
                stream: stream_uid,
                shard: row.index,
            },
            row,
            written: Arc::default(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.row.closed_next_offset.is_none()
    }

    pub fn id(&self) -> String {
        shard_id(self.row.index)
    }

    /// The sequence number of the record at `offset`.
    pub fn sequence(&self, offset: u64) -> SequenceNumber {
        SequenceNumber::record(self.row.created_ms, self.row.index, offset)
    }

    /// The sequence number that reading AFTER resumes at `position`.
    pub fn boundary(&self, position: u64) -> SequenceNumber {
        SequenceNumber::boundary(self.row.created_ms, self.row.index, position)
    }

    /// The shard as DescribeStream and ListShards show it.
    pub fn describe(&self) -> model::Shard {
        model::Shard {
            shard_id: self.id(),
            parent_shard_id: self.row.parent_index.map(shard_id),
            adjacent_parent_shard_id: self.row.adjacent_parent_index.map(shard_id),
            hash_key_range: model::HashKeyRange {
                starting_hash_key: self.range.start.to_string(),
                ending_hash_key: self.range.end.to_string(),
            },
            sequence_number_range: model::SequenceNumberRange {
                starting_sequence_number: self.boundary(0).to_string(),
                // The last record's number, or the start for a shard closed without records.
                ending_sequence_number: self
                    .row
                    .closed_next_offset
                    .map(|next| self.boundary(next).to_string()),
            },
        }
    }
}

impl Stream {
    pub fn new(
        arn: String,
        row: StreamRow,
        shards: Vec<ShardRow>,
        tags: BTreeMap<String, String>,
        consumers: Vec<ConsumerRow>,
    ) -> Arc<Stream> {
        let uid = row.uid;
        Arc::new(Stream {
            uid,
            name: row.name.clone(),
            arn,
            state: RwLock::new(StreamState {
                row,
                shards: shards
                    .into_iter()
                    .map(|s| ShardState::new(uid, s))
                    .collect(),
                tags,
                consumers,
            }),
            admin: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
            scalings: parking_lot::Mutex::new(Default::default()),
            reshaped: tokio::sync::Notify::new(),
        })
    }

    pub fn snapshot(&self) -> StreamState {
        self.state.read().clone()
    }

    pub fn status(&self) -> String {
        self.state.read().row.status.clone()
    }
}

impl StreamState {
    pub fn open_shard_count(&self) -> usize {
        self.shards.iter().filter(|s| s.is_open()).count()
    }

    pub fn shard(&self, index: u32) -> Option<&ShardState> {
        self.shards.iter().find(|s| s.row.index == index)
    }

    pub fn encryption_type(&self) -> String {
        self.row.encryption_type.clone()
    }

    pub fn mode_details(&self) -> model::StreamModeDetails {
        model::StreamModeDetails {
            stream_mode: self.row.mode.clone(),
        }
    }

    pub fn enhanced_monitoring(&self) -> Vec<model::EnhancedMetrics> {
        vec![model::EnhancedMetrics {
            shard_level_metrics: self.row.shard_level_metrics.clone(),
        }]
    }

    /// When a shard stopped taking records: the creation time of its children, if it is closed.
    pub fn closed_at(&self, shard: &ShardState) -> Option<i64> {
        shard.row.closed_next_offset?;
        self.shards
            .iter()
            .filter(|c| {
                c.row.parent_index == Some(shard.row.index)
                    || c.row.adjacent_parent_index == Some(shard.row.index)
            })
            .map(|c| c.row.created_ms)
            .min()
            .or(Some(shard.row.created_ms))
    }

    /// The open shard whose hash-key range holds `key`.
    pub fn route(&self, key: u128) -> Option<&ShardState> {
        self.shards
            .iter()
            .find(|s| s.is_open() && s.range.contains(key))
    }
}
