//! On-demand capacity: streams in ON_DEMAND mode split hot shards and merge cold neighbours by
//! themselves, with the same SplitShard/MergeShards steps a user would call, so lineage and
//! readers behave exactly as after manual resharding.
//!
//! The policy, measured per open shard over each `interval`:
//! - a shard writing at least `split_bytes_per_sec` or `split_records_per_sec` (default 80 % of
//!   a provisioned shard's 1 MiB/s and 1,000 records/s) is split at the middle of its hash
//!   range — the hottest one per stream per interval;
//! - two adjacent shards that have both stayed under `merge_fraction` of those rates for
//!   `cold_intervals` consecutive intervals are merged — one pair per stream per interval — as
//!   long as the stream keeps at least `min_shards` (AWS starts on-demand streams with 4).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::model::StreamMode;
use crate::model::{MergeShardsInput, SplitShardInput, StreamRef};
use crate::service::StreamsService;
use crate::state::{Status, Stream};

#[derive(Clone, Debug)]
pub struct OnDemandPolicy {
    pub interval: Duration,
    pub split_bytes_per_sec: f64,
    pub split_records_per_sec: f64,
    pub merge_fraction: f64,
    pub cold_intervals: u32,
    pub min_shards: usize,
}

impl Default for OnDemandPolicy {
    fn default() -> Self {
        OnDemandPolicy {
            interval: Duration::from_secs(10),
            split_bytes_per_sec: 0.8 * 1024.0 * 1024.0,
            split_records_per_sec: 800.0,
            merge_fraction: 0.1,
            cold_intervals: 6,
            min_shards: 4,
        }
    }
}

/// What the scaler remembers between intervals, per (stream uid, shard index).
#[derive(Default)]
pub(crate) struct Scaler {
    last: HashMap<(u64, u32), (u64, u64, Duration)>,
    cold: HashMap<(u64, u32), u32>,
}

struct Load {
    index: u32,
    start: u128,
    end: u128,
    bytes_per_sec: f64,
    records_per_sec: f64,
}

impl StreamsService {
    /// One scaling pass over every ACTIVE on-demand stream.
    pub(crate) async fn autoscale(&self, scaler: &mut Scaler) {
        let streams: Vec<Arc<Stream>> =
            self.inner.streams.read().by_uid.values().cloned().collect();
        let policy = self.config().on_demand.clone();
        for stream in streams {
            let state = stream.snapshot();
            if state.row.mode != StreamMode::OnDemand || state.row.status != Status::Active {
                continue;
            }
            let now = self.config().clock.elapsed();
            let mut loads = Vec::new();
            for shard in state.shards.iter().filter(|s| s.is_open()) {
                let bytes = shard.metrics.incoming_bytes.get();
                let Ok((_, records)) = self.inner.log.bounds(shard.log).await else {
                    continue;
                };
                let key = (stream.uid, shard.row.index);
                if let Some((b0, r0, t0)) = scaler.last.insert(key, (bytes, records, now)) {
                    let secs = now.saturating_sub(t0).as_secs_f64().max(1e-3);
                    loads.push(Load {
                        index: shard.row.index,
                        start: shard.range.start,
                        end: shard.range.end,
                        bytes_per_sec: bytes.saturating_sub(b0) as f64 / secs,
                        records_per_sec: records.saturating_sub(r0) as f64 / secs,
                    });
                }
            }
            let heat = |l: &Load| {
                (l.bytes_per_sec / policy.split_bytes_per_sec)
                    .max(l.records_per_sec / policy.split_records_per_sec)
            };
            for l in &loads {
                let cold = scaler.cold.entry((stream.uid, l.index)).or_default();
                *cold = if heat(l) < policy.merge_fraction {
                    *cold + 1
                } else {
                    0
                };
            }
            let hottest = loads
                .iter()
                .filter(|l| heat(l) >= 1.0 && l.end > l.start + 2)
                .max_by(|a, b| heat(a).total_cmp(&heat(b)));
            let target = StreamRef {
                stream_name: Some(stream.name.clone()),
                stream_arn: None,
            };
            let result = if let Some(hot) = hottest {
                let middle = hot.start + (hot.end - hot.start) / 2 + 1;
                tracing::info!(stream = %stream.name, shard = hot.index, heat = heat(hot), "on-demand split of a hot shard");
                self.split_shard(SplitShardInput {
                    stream: target,
                    shard_to_split: crate::arn::shard_id(hot.index),
                    new_starting_hash_key: middle.to_string(),
                })
                .await
                .map(drop)
            } else if loads.len() > policy.min_shards {
                let mut sorted: Vec<&Load> = loads.iter().collect();
                sorted.sort_by_key(|l| l.start);
                let is_cold = |l: &Load| {
                    scaler
                        .cold
                        .get(&(stream.uid, l.index))
                        .copied()
                        .unwrap_or(0)
                        >= policy.cold_intervals
                };
                let pair = sorted
                    .windows(2)
                    .filter(|w| {
                        w[0].end.checked_add(1) == Some(w[1].start)
                            && is_cold(w[0])
                            && is_cold(w[1])
                    })
                    .min_by(|a, b| (heat(a[0]) + heat(a[1])).total_cmp(&(heat(b[0]) + heat(b[1]))))
                    .map(|w| (w[0].index, w[1].index));
                match pair {
                    Some((low, high)) => {
                        tracing::info!(stream = %stream.name, low, high, "on-demand merge of cold shards");
                        self.merge_shards(MergeShardsInput {
                            stream: target,
                            shard_to_merge: crate::arn::shard_id(low),
                            adjacent_shard_to_merge: crate::arn::shard_id(high),
                        })
                        .await
                        .map(drop)
                    }
                    None => Ok(()),
                }
            } else {
                Ok(())
            };
            if let Err(error) = result {
                tracing::warn!(stream = %stream.name, %error, "on-demand scaling step failed");
            }
        }
        // Forget shards that closed or streams that went away.
        let live: std::collections::HashSet<(u64, u32)> = self
            .inner
            .streams
            .read()
            .by_uid
            .values()
            .flat_map(|s| {
                let uid = s.uid;
                s.snapshot()
                    .shards
                    .iter()
                    .filter(|x| x.is_open())
                    .map(move |x| (uid, x.row.index))
                    .collect::<Vec<_>>()
            })
            .collect();
        scaler.last.retain(|k, _| live.contains(k));
        scaler.cold.retain(|k, _| live.contains(k));
    }
}
