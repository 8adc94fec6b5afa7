//! ListShards: paging, `ExclusiveStartShardId` and every `ShardFilter` type, answered across
//! shard lineage (a shard's life runs from its creation to the creation of its children).

use serde::{Deserialize, Serialize};

use crate::arn::shard_index;
use crate::error::{Result, StreamsError};
use crate::model::*;
use crate::paging;
use crate::service::StreamsService;
use crate::state::{ShardState, Status, StreamState};

const DEFAULT_MAX_RESULTS: i64 = 1000;

/// What a ListShards NextToken remembers: the listing it continues.
#[derive(Serialize, Deserialize)]
struct ShardsToken {
    stream: String,
    created_ms: i64,
    after: Option<u32>,
    filter: Option<(String, Option<u32>, Option<i64>)>,
}

impl StreamsService {
    pub fn list_shards(&self, input: ListShardsInput) -> Result<ListShardsOutput> {
        let max = input.max_results.unwrap_or(DEFAULT_MAX_RESULTS).max(1) as usize;
        let (name, created_ms, after, filter) = match &input.next_token {
            Some(token) => {
                if input.stream.stream_name.is_some() || input.stream.stream_arn.is_some() {
                    return Err(StreamsError::InvalidArgument(
                        "NextToken and StreamName cannot be provided together.".into(),
                    ));
                }
                if input.exclusive_start_shard_id.is_some() {
                    return Err(StreamsError::InvalidArgument(
                        "NextToken and ExclusiveStartShardId cannot be provided together.".into(),
                    ));
                }
                let t: ShardsToken = paging::decode(token, self.now_ms())?;
                (t.stream, Some(t.created_ms), t.after, t.filter)
            }
            None => {
                let name = self.resolve_name(&input.stream)?;
                let after = input
                    .exclusive_start_shard_id
                    .as_deref()
                    .map(|id| shard_index(id).unwrap_or(0));
                let filter = match &input.shard_filter {
                    Some(f) => Some(check_filter(f)?),
                    None => None,
                };
                let created = input.stream_creation_timestamp.map(Timestamp::as_millis);
                (name, created, after, filter)
            }
        };
        let stream = self.find_by_name(&name)?;
        let state = stream.snapshot();
        // ListShards, unlike DescribeStream, needs a stream that is ACTIVE or UPDATING: the model
        // lists ResourceInUseException for it, and the KCL reads that answer as "not in
        // Active/Updating status, wait".
        if !matches!(state.row.status, Status::Active | Status::Updating) {
            return Err(self.not_active(&stream, state.row.status));
        }
        if let Some(created) = created_ms {
            // A token or timestamp from an earlier stream of the same name names other shards.
            if created / 1000 != state.row.created_ms / 1000 {
                return Err(self.not_found(&name));
            }
        }
        let after = match &filter {
            Some((kind, Some(id), _)) if kind == "AFTER_SHARD_ID" => {
                Some(after.unwrap_or(0).max(*id))
            }
            _ => after,
        };
        let horizon_ms = self.now_ms() - state.row.retention_hours * 3_600_000;
        let mut matching = state
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.row.index > a))
            .filter(|s| {
                filter
                    .as_ref()
                    .is_none_or(|f| passes(&state, s, f, horizon_ms))
            });
        let page: Vec<&ShardState> = matching.by_ref().take(max).collect();
        let more = matching.next().is_some();
        let next_token = match (more, page.last()) {
            (true, Some(last)) => Some(paging::encode(
                ShardsToken {
                    stream: name,
                    created_ms: state.row.created_ms,
                    after: Some(last.row.index),
                    filter,
                },
                self.now_ms(),
            )),
            _ => None,
        };
        Ok(ListShardsOutput {
            shards: page.iter().map(|s| s.describe()).collect(),
            next_token,
        })
    }
}

fn check_filter(f: &ShardFilter) -> Result<(String, Option<u32>, Option<i64>)> {
    let shard = match (&f.shard_id, f.kind.as_str()) {
        (Some(id), _) => Some(shard_index(id).unwrap_or(0)),
        (None, "AFTER_SHARD_ID") => {
            return Err(StreamsError::InvalidArgument(
                "ShardId must be specified in the ShardFilter when the filter type is AFTER_SHARD_ID.".into(),
            ));
        }
        (None, _) => None,
    };
    let ts = match (f.timestamp, f.kind.as_str()) {
        (Some(t), _) => Some(t.as_millis()),
        (None, "AT_TIMESTAMP" | "FROM_TIMESTAMP") => {
            return Err(StreamsError::InvalidArgument(format!(
                "Timestamp must be specified in the ShardFilter when the filter type is {}.",
                f.kind
            )));
        }
        (None, _) => None,
    };
    Ok((f.kind.clone(), shard, ts))
}

/// Whether a shard was open at `t`. Shards without parents were there from the stream's start,
/// so they count as open at any time before their closing.
fn open_at(state: &StreamState, shard: &ShardState, t: i64) -> bool {
    let started = shard.row.parent_index.is_none() || shard.row.created_ms <= t;
    started && state.closed_at(shard).is_none_or(|end| end > t)
}

fn passes(
    state: &StreamState,
    shard: &ShardState,
    (kind, _, ts): &(String, Option<u32>, Option<i64>),
    horizon_ms: i64,
) -> bool {
    match kind.as_str() {
        "AT_LATEST" => shard.is_open(),
        "AT_TRIM_HORIZON" => open_at(state, shard, horizon_ms),
        "FROM_TRIM_HORIZON" => state.closed_at(shard).is_none_or(|end| end > horizon_ms),
        "AT_TIMESTAMP" => open_at(state, shard, ts.unwrap_or(0)),
        "FROM_TIMESTAMP" => state
            .closed_at(shard)
            .is_none_or(|end| end > ts.unwrap_or(0)),
        // AFTER_SHARD_ID narrows by index, handled before filtering.
        _ => true,
    }
}
