//! Resharding: SplitShard, MergeShards and UpdateShardCount. A step closes parent shards at their
//! final log offsets and opens children whose hash-key ranges exactly tile the parents' ranges;
//! it is committed to the catalog in one transaction, so after a crash the stream has either the
//! old shards or the new ones.

use std::sync::Arc;

use freshet_catalog::ShardRow;

use crate::arn::shard_index;
use crate::error::{Result, StreamsError};
use crate::hash_key::HashKeyRange;
use crate::model::*;
use crate::sequence::MAX_SHARD_INDEX;
use crate::service::StreamsService;
use crate::state::{ShardState, Status, Stream, StreamState};

/// A resharding step being planned on a copy of the stream's shards.
struct Plan {
    shards: Vec<ShardRow>,
    next_index: i64,
    /// Open shards (existing before the plan) that the plan closes.
    closed: Vec<u32>,
    first_new: usize,
    now: i64,
}

impl Plan {
    fn new(state: &StreamState, now: i64) -> Plan {
        Plan {
            shards: state.shards.iter().map(|s| s.row.clone()).collect(),
            next_index: state.row.next_shard_index,
            closed: Vec::new(),
            first_new: state.shards.len(),
            now,
        }
    }

    fn position(&self, index: u32) -> Option<usize> {
        self.shards.iter().position(|s| s.index == index)
    }

    fn close(&mut self, pos: usize) {
        if pos < self.first_new {
            self.closed.push(self.shards[pos].index);
        }
        // Shards made and closed within one plan never held records.
        self.shards[pos].closed_next_offset = Some(0);
    }

    fn child(&mut self, range: HashKeyRange, parent: u32, adjacent: Option<u32>) -> Result<u32> {
        if self.next_index > MAX_SHARD_INDEX as i64 {
            return Err(StreamsError::LimitExceeded(format!(
                "A stream can have at most {} shards over its lifetime.",
                MAX_SHARD_INDEX as i64 + 1
            )));
        }
        let index = self.next_index as u32;
        self.next_index += 1;
        // A child is created strictly after its parents, which makes its sequence numbers
        // larger than any of theirs (see `sequence`).
        let parents_created = self
            .shards
            .iter()
            .filter(|s| s.index == parent || Some(s.index) == adjacent)
            .map(|s| s.created_ms)
            .max()
            .unwrap_or(0);
        self.shards.push(ShardRow {
            index,
            hash_start: range.start,
            hash_end: range.end,
            parent_index: Some(parent),
            adjacent_parent_index: adjacent,
            created_ms: self.now.max(parents_created + 1),
            closed_next_offset: None,
        });
        Ok(index)
    }

    fn split(&mut self, pos: usize, new_start: u128) -> Result<(u32, u32)> {
        let parent = self.shards[pos].clone();
        self.close(pos);
        let low = self.child(
            HashKeyRange {
                start: parent.hash_start,
                end: new_start - 1,
            },
            parent.index,
            None,
        )?;
        let high = self.child(
            HashKeyRange {
                start: new_start,
                end: parent.hash_end,
            },
            parent.index,
            None,
        )?;
        Ok((low, high))
    }

    fn merge(&mut self, a: usize, b: usize) -> Result<u32> {
        let (first, second) = (self.shards[a].clone(), self.shards[b].clone());
        self.close(a);
        self.close(b);
        self.child(
            HashKeyRange {
                start: first.hash_start.min(second.hash_start),
                end: first.hash_end.max(second.hash_end),
            },
            first.index,
            Some(second.index),
        )
    }

    fn open(&self) -> impl Iterator<Item = &ShardRow> {
        self.shards
            .iter()
            .filter(|s| s.closed_next_offset.is_none())
    }
}

impl StreamsService {
    pub async fn split_shard(&self, input: SplitShardInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.reshard(&stream, 1, |svc, state, plan| {
            let pos = svc.open_shard_position(&stream, state, plan, &input.shard_to_split)?;
            let parent = &plan.shards[pos];
            let key = input.new_starting_hash_key.parse::<u128>().ok();
            match key {
                Some(k) if k > parent.hash_start.saturating_add(1) && k < parent.hash_end => {
                    plan.split(pos, k)?;
                    Ok(())
                }
                _ => Err(StreamsError::InvalidArgument(format!(
                    "NewStartingHashKey {} used in SplitShard() on shard {} in stream {} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                    input.new_starting_hash_key,
                    crate::arn::shard_id(parent.index),
                    stream.name,
                    svc.config().account_id,
                    parent.hash_start,
                    parent.hash_end
                ))),
            }
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn merge_shards(&self, input: MergeShardsInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        self.reshard(&stream, -1, |svc, state, plan| {
            let a = svc.open_shard_position(&stream, state, plan, &input.shard_to_merge)?;
            let b = svc.open_shard_position(&stream, state, plan, &input.adjacent_shard_to_merge)?;
            let (x, y) = (&plan.shards[a], &plan.shards[b]);
            let adjacent = a != b
                && (x.hash_end.checked_add(1) == Some(y.hash_start)
                    || y.hash_end.checked_add(1) == Some(x.hash_start));
            if !adjacent {
                return Err(StreamsError::InvalidArgument(format!(
                    "Shards {} and {} in stream {} under account {} are not an adjacent pair of shards eligible for merging",
                    crate::arn::shard_id(x.index),
                    crate::arn::shard_id(y.index),
                    stream.name,
                    svc.config().account_id
                )));
            }
            plan.merge(a, b)?;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    /// UNIFORM_SCALING: splits every open shard at the target layout's boundaries that fall
    /// inside it, then merges the pieces within each target range, so the result is `target`
    /// shards of equal width with a lineage of ordinary splits and merges, as AWS produces.
    pub async fn update_shard_count(
        &self,
        input: UpdateShardCountInput,
    ) -> Result<UpdateShardCountOutput> {
        let stream = self.find(&input.stream)?;
        let current = stream.snapshot().open_shard_count() as i64;
        let target = input.target_shard_count;
        let account = self.config().account_id.clone();
        if target > current * 2 || target * 2 < current {
            return Err(StreamsError::LimitExceeded(format!(
                "UpdateShardCount cannot scale stream {} under account {account} from {current} to {target} shards: a call can at most double or halve the open shard count.",
                stream.name
            )));
        }
        self.check_scaling_rate(&stream)?;
        self.reshard(&stream, target - current, |_, _, plan| {
            let layout = HashKeyRange::even(target as u32);
            // Split at every target boundary strictly inside an open shard.
            for boundary in layout.iter().skip(1).map(|r| r.start) {
                let holder = plan
                    .open()
                    .find(|s| s.hash_start < boundary && boundary <= s.hash_end)
                    .map(|s| s.index);
                if let Some(index) = holder {
                    let pos = plan.position(index).unwrap_or_default();
                    plan.split(pos, boundary)?;
                }
            }
            // Merge neighbours that now lie within the same target range.
            for range in &layout {
                loop {
                    let mut inside: Vec<&ShardRow> = plan
                        .open()
                        .filter(|s| range.start <= s.hash_start && s.hash_end <= range.end)
                        .collect();
                    if inside.len() < 2 {
                        break;
                    }
                    inside.sort_by_key(|s| s.hash_start);
                    let (a, b) = (inside[0].index, inside[1].index);
                    let (pa, pb) = (
                        plan.position(a).unwrap_or_default(),
                        plan.position(b).unwrap_or_default(),
                    );
                    plan.merge(pa, pb)?;
                }
            }
            Ok(())
        })
        .await?;
        self.record_scaling(&stream);
        Ok(UpdateShardCountOutput {
            stream_name: stream.name.clone(),
            current_shard_count: current,
            target_shard_count: target,
            stream_arn: stream.arn.clone(),
        })
    }

    /// AWS allows a bounded number of UpdateShardCount calls per stream in a rolling 24 hours.
    fn check_scaling_rate(&self, stream: &Stream) -> Result<()> {
        let limit = self.config().shard_count_updates_per_day as usize;
        let day_ago = self.now_ms() - 86_400_000;
        let mut recent = stream.scalings.lock();
        recent.retain(|t| *t > day_ago);
        if recent.len() >= limit {
            return Err(StreamsError::LimitExceeded(format!(
                "Stream {} under account {} has reached its limit of {limit} UpdateShardCount calls in a rolling 24-hour period.",
                stream.name,
                self.config().account_id
            )));
        }
        Ok(())
    }

    fn record_scaling(&self, stream: &Stream) {
        stream.scalings.lock().push_back(self.now_ms());
    }

    /// Finds an open shard for a split or merge, with AWS's errors for unknown or closed ones.
    fn open_shard_position(
        &self,
        stream: &Stream,
        state: &StreamState,
        plan: &Plan,
        id: &str,
    ) -> Result<usize> {
        let account = &self.config().account_id;
        let missing = || {
            StreamsError::ResourceNotFound(format!(
                "Could not find shard {id} in stream {} under account {account}.",
                stream.name
            ))
        };
        let index = shard_index(id).ok_or_else(missing)?;
        state.shard(index).ok_or_else(missing)?;
        let pos = plan.position(index).ok_or_else(missing)?;
        if plan.shards[pos].closed_next_offset.is_some() {
            return Err(StreamsError::InvalidArgument(format!(
                "Shard {} in stream {} under account {account} has already been merged or split, and thus is not eligible for merging or splitting.",
                crate::arn::shard_id(index),
                stream.name
            )));
        }
        Ok(pos)
    }

    /// Plans and commits one resharding step on an ACTIVE stream. `added` is the change in open
    /// shards, checked against the account's shard limit.
    async fn reshard<F>(&self, stream: &Arc<Stream>, added: i64, plan_step: F) -> Result<()>
    where
        F: FnOnce(&Self, &StreamState, &mut Plan) -> Result<()>,
    {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        let state = stream.snapshot();
        if state.row.status != Status::Active {
            return Err(self.not_active(stream, state.row.status));
        }
        if added > 0 {
            self.check_shard_limit(added)?;
        }
        let mut plan = Plan::new(&state, self.now_ms());
        plan_step(self, &state, &mut plan)?;
        if plan.closed.is_empty() && plan.first_new == plan.shards.len() {
            // Already the requested layout (UpdateShardCount to the current uniform count):
            // nothing to commit, and no UPDATING window.
            return Ok(());
        }
        let new_rows: Vec<ShardRow> = plan.shards[plan.first_new..].to_vec();
        let new_ids: Vec<_> = new_rows
            .iter()
            .map(|r| freshet_log::ShardLogId {
                stream: stream.uid,
                shard: r.index,
            })
            .collect();
        // Child logs exist before the catalog names them; if the commit never happens they are
        // orphans, removed at the next start.
        self.create_logs(new_ids).await?;

        // No put may be between routing and durability while parents close: see `Stream::gate`.
        let _gate = stream.gate.write().await;
        let mut closed = Vec::with_capacity(plan.closed.len());
        for index in &plan.closed {
            let id = freshet_log::ShardLogId {
                stream: stream.uid,
                shard: *index,
            };
            let (_, next) = self.inner.log.bounds(id).await?;
            closed.push((*index, next));
            if let Some(pos) = plan.position(*index) {
                plan.shards[pos].closed_next_offset = Some(next);
            }
        }
        let mut row = state.row.clone();
        row.next_shard_index = plan.next_index;
        let delay = self.config().update_delay;
        row.status = if delay.is_zero() {
            Status::Active
        } else {
            Status::Updating
        };
        self.inner.catalog.reshard(&row, &closed, &new_rows).await?;
        {
            let mut live = stream.edit();
            let meters: std::collections::HashMap<u32, _> = live
                .shards
                .iter()
                .map(|s| (s.row.index, (s.metrics.clone(), s.limits.clone())))
                .collect();
            live.row = row;
            live.shards = plan
                .shards
                .into_iter()
                .map(|s| {
                    let mut shard = ShardState::new(stream.uid, s);
                    if let Some((metrics, limits)) = meters.get(&shard.row.index) {
                        shard.metrics = metrics.clone();
                        shard.limits = limits.clone();
                    }
                    shard
                })
                .collect();
        }
        stream.reshaped.notify_waiters();
        tracing::info!(stream = %stream.name, closed = closed.len(), opened = new_rows.len(), "stream resharded");
        if !delay.is_zero() {
            self.after(delay, stream.clone(), |service, stream| async move {
                service
                    .move_status(&stream, Status::Updating, Status::Active)
                    .await
            });
        }
        Ok(())
    }
}
