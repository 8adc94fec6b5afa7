//! The in-memory view of the catalog that every request reads: streams by name and by uid, each
//! with its shards. The catalog is the durable truth; this view is loaded from it at start and
//! changed only after the catalog has committed a change.

use std::collections::BTreeMap;
use std::sync::Arc;

use freshet_catalog::{ConsumerRow, ShardRow, StreamRow};
use freshet_log::ShardLogId;
use parking_lot::{MappedRwLockWriteGuard, RwLock, RwLockWriteGuard};

use crate::arn::shard_id;
use crate::hash_key::HashKeyRange;
use crate::limits::ShardLimits;
use crate::metrics::{ShardMetrics, StreamMetrics};
use crate::model;
use crate::sequence::SequenceNumber;

pub use freshet_runtime::Status;

pub struct Stream {
    pub uid: u64,
    pub name: String,
    pub arn: String,
    /// Requests take a snapshot (a reference count, whatever the shard count) and read it without
    /// the lock; an administrative change edits a copy when snapshots are out (see `edit`).
    state: RwLock<Arc<StreamState>>,
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
    pub metrics: StreamMetrics,
}

#[derive(Clone)]
pub struct StreamState {
    pub row: StreamRow,
    /// Sorted by shard index (see `reindex`).
    pub shards: Vec<ShardState>,
    pub tags: BTreeMap<String, String>,
    pub consumers: Vec<ConsumerRow>,
    /// The open shards as (end of hash-key range, position in `shards`), sorted: a put routes
    /// each record by binary search instead of scanning every shard. Rebuilt after each edit.
    routes: Vec<(u128, usize)>,
}

/// A change to a stream's state in progress; dropping it publishes the change with its routing
/// index rebuilt.
pub struct StateEdit<'a>(MappedRwLockWriteGuard<'a, StreamState>);

impl std::ops::Deref for StateEdit<'_> {
    type Target = StreamState;
    fn deref(&self) -> &StreamState {
        &self.0
    }
}

impl std::ops::DerefMut for StateEdit<'_> {
    fn deref_mut(&mut self) -> &mut StreamState {
        &mut self.0
    }
}

impl Drop for StateEdit<'_> {
    fn drop(&mut self) {
        self.0.reindex();
    }
}

#[derive(Clone)]
pub struct ShardState {
    pub row: ShardRow,
    pub range: HashKeyRange,
    pub log: ShardLogId,
    /// Shared by every snapshot of the shard; its incoming bytes are also the on-demand
    /// scaler's measure of load.
    pub metrics: Arc<ShardMetrics>,
    /// Its throughput budgets (used when limits are enforced), shared likewise.
    pub limits: Arc<ShardLimits>,
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
            metrics: Arc::default(),
            limits: Arc::default(),
        }
    }

    /// The indexes of the shard's parents: none, one after a split, two after a merge.
    pub fn parents(&self) -> impl Iterator<Item = u32> {
        self.row
            .parent_index
            .into_iter()
            .chain(self.row.adjacent_parent_index)
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

    /// The boundary before `offset`, between records: reading AT or AFTER it starts there.
    pub fn boundary(&self, offset: u64) -> SequenceNumber {
        SequenceNumber::boundary(self.row.created_ms, self.row.index, offset)
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
                ending_sequence_number: self.row.closed_next_offset.map(|next| {
                    match next.checked_sub(1) {
                        Some(last) => self.sequence(last),
                        None => self.boundary(0),
                    }
                    .to_string()
                }),
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
            state: RwLock::new(Arc::new(StreamState::new(
                row,
                shards
                    .into_iter()
                    .map(|s| ShardState::new(uid, s))
                    .collect(),
                tags,
                consumers,
            ))),
            admin: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
            scalings: parking_lot::Mutex::new(Default::default()),
            reshaped: tokio::sync::Notify::new(),
            metrics: StreamMetrics::default(),
        })
    }

    pub fn snapshot(&self) -> Arc<StreamState> {
        Arc::clone(&self.state.read())
    }

    /// The state for a change; snapshots taken before keep what they saw.
    pub fn edit(&self) -> StateEdit<'_> {
        StateEdit(RwLockWriteGuard::map(self.state.write(), Arc::make_mut))
    }

    pub fn status(&self) -> Status {
        self.state.read().row.status
    }
}

impl StreamState {
    fn new(
        row: StreamRow,
        shards: Vec<ShardState>,
        tags: BTreeMap<String, String>,
        consumers: Vec<ConsumerRow>,
    ) -> StreamState {
        let mut state = StreamState {
            row,
            shards,
            tags,
            consumers,
            routes: Vec::new(),
        };
        state.reindex();
        state
    }

    fn reindex(&mut self) {
        self.shards.sort_by_key(|s| s.row.index);
        self.routes = self
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_open())
            .map(|(at, s)| (s.range.end, at))
            .collect();
        self.routes.sort_unstable();
    }

    pub fn open_shard_count(&self) -> usize {
        self.shards.iter().filter(|s| s.is_open()).count()
    }

    pub fn shard(&self, index: u32) -> Option<&ShardState> {
        let at = self
            .shards
            .binary_search_by_key(&index, |s| s.row.index)
            .ok()?;
        Some(&self.shards[at])
    }

    pub fn encryption_type(&self) -> String {
        self.row.encryption_type.clone()
    }

    pub fn mode_details(&self) -> model::StreamModeDetails {
        model::StreamModeDetails {
            stream_mode: self.row.mode,
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
        let i = self.routes.partition_point(|&(end, _)| end < key);
        let &(_, at) = self.routes.get(i)?;
        let shard = &self.shards[at];
        // Open shards tile the hash space; a gap would mean a damaged catalog.
        shard.range.contains(key).then_some(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u32, range: HashKeyRange, closed: bool) -> ShardRow {
        ShardRow {
            index,
            hash_start: range.start,
            hash_end: range.end,
            parent_index: None,
            adjacent_parent_index: None,
            created_ms: 1,
            closed_next_offset: closed.then_some(7),
        }
    }

    fn stream(shards: Vec<ShardRow>) -> Arc<Stream> {
        let row = StreamRow {
            uid: 9,
            name: "s".into(),
            status: Status::Active,
            mode: freshet_catalog::StreamMode::Provisioned,
            created_ms: 1,
            retention_hours: 24,
            encryption_type: "NONE".into(),
            key_id: None,
            shard_level_metrics: Vec::new(),
            max_record_size_kib: 1024,
            next_shard_index: shards.len() as i64,
            warm_throughput_mibps: None,
        };
        Stream::new("arn".into(), row, shards, BTreeMap::new(), Vec::new())
    }

    /// The shard a linear scan over the open shards picks: what routing must agree with.
    fn scan(state: &StreamState, key: u128) -> Option<u32> {
        let open = state.shards.iter().filter(|s| s.is_open());
        open.filter(|s| s.range.contains(key))
            .map(|s| s.row.index)
            .next()
    }

    fn probes(ranges: &[HashKeyRange]) -> Vec<u128> {
        let mut keys = vec![0, u128::MAX];
        for r in ranges {
            keys.extend([r.start, r.end, r.start + (r.end - r.start) / 2]);
        }
        keys
    }

    #[test]
    fn routes_every_key_to_the_open_shard_that_owns_it() {
        let ranges = HashKeyRange::even(7);
        let s = stream(
            ranges
                .iter()
                .enumerate()
                .map(|(i, r)| shard(i as u32, *r, false))
                .collect(),
        );
        let state = s.snapshot();
        for key in probes(&ranges) {
            let routed = state.route(key).map(|s| s.row.index);
            assert!(routed.is_some(), "key {key} unrouted");
            assert_eq!(routed, scan(&state, key), "key {key}");
        }
    }

    #[test]
    fn an_edit_reroutes_to_children_and_keeps_old_snapshots() {
        let halves = HashKeyRange::even(2);
        let s = stream(vec![shard(0, halves[0], false), shard(1, halves[1], false)]);
        let before = s.snapshot();
        let mid = halves[0].start + (halves[0].end - halves[0].start) / 2;
        let quarters = [
            HashKeyRange {
                start: halves[0].start,
                end: mid,
            },
            HashKeyRange {
                start: mid + 1,
                end: halves[0].end,
            },
        ];
        {
            let mut edit = s.edit();
            edit.shards[0].row.closed_next_offset = Some(3);
            // Out of index order on purpose: the edit sorts the shards again.
            edit.shards
                .push(ShardState::new(9, shard(3, quarters[1], false)));
            edit.shards
                .push(ShardState::new(9, shard(2, quarters[0], false)));
        }
        let after = s.snapshot();
        assert_eq!(before.route(mid).map(|s| s.row.index), Some(0));
        assert_eq!(after.route(mid).map(|s| s.row.index), Some(2));
        assert_eq!(after.route(mid + 1).map(|s| s.row.index), Some(3));
        assert_eq!(after.route(halves[1].start).map(|s| s.row.index), Some(1));
        for key in probes(&[halves[0], halves[1], quarters[0], quarters[1]]) {
            assert_eq!(after.route(key).map(|s| s.row.index), scan(&after, key));
        }
        let indexes: Vec<u32> = after.shards.iter().map(|s| s.row.index).collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
        assert_eq!(after.shard(3).map(|s| s.range), Some(quarters[1]));
        assert!(after.shard(4).is_none());
        assert_eq!(before.shards.len(), 2);
    }

    #[test]
    fn a_gap_in_the_open_shards_routes_nowhere() {
        let halves = HashKeyRange::even(2);
        let s = stream(vec![shard(0, halves[0], true), shard(1, halves[1], false)]);
        let state = s.snapshot();
        assert!(state.route(halves[0].start).is_none());
        assert_eq!(state.route(halves[1].end).map(|s| s.row.index), Some(1));
    }
}
