//! A running application's checkpoint: the engine's state and every input partition's position,
//! in one document so they commit together (a crash can never pair state with positions from
//! another moment).

use std::collections::BTreeMap;

use freshet_streams::Checkpoint;
use serde::{Deserialize, Serialize};

/// A closed shard read to its end, as stored (the text Firehose's checkpoints use too).
const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CheckpointDoc {
    /// Per input id, per partition, where reading resumes. A Kinesis input's partitions are its
    /// shards (by shard id: a sequence number or SHARD_END); a delivery stream's are what its
    /// reader names them: `log` for its own log (the next offset, a key no shard id can take),
    /// or its source stream's shard ids.
    pub positions: BTreeMap<String, BTreeMap<String, String>>,
    /// The engine's snapshot (its open windows), as the engine wrote it.
    pub state: Option<String>,
    /// Written by a run that StopApplication ended (not the server's shutdown): a Flink
    /// application's next start takes its state from the snapshot it names instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

impl CheckpointDoc {
    pub(crate) fn parse(text: &str) -> Result<CheckpointDoc, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint: {e}"))
    }

    pub(crate) fn to_text(&self) -> String {
        // A map of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The positions of one input, as stored.
    pub(crate) fn input_positions(&self, input: &str) -> BTreeMap<String, String> {
        self.positions.get(input).cloned().unwrap_or_default()
    }

    pub(crate) fn set_position(&mut self, input: &str, partition: String, position: String) {
        self.positions
            .entry(input.to_string())
            .or_default()
            .insert(partition, position);
    }
}

/// Stored shard positions as the stream reader takes them.
pub(crate) fn shard_checkpoints(
    positions: BTreeMap<String, String>,
) -> BTreeMap<String, Checkpoint> {
    positions
        .into_iter()
        .map(|(shard, position)| {
            let checkpoint = if position == SHARD_END {
                Checkpoint::ShardEnd
            } else {
                Checkpoint::After(position)
            };
            (shard, checkpoint)
        })
        .collect()
}

/// A shard position as stored.
pub(crate) fn shard_position(checkpoint: Checkpoint) -> String {
    match checkpoint {
        Checkpoint::After(sequence) => sequence,
        Checkpoint::ShardEnd => SHARD_END.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_state_round_trip() {
        let mut doc = CheckpointDoc::default();
        doc.set_position(
            "1.1",
            "shardId-000000000000".into(),
            shard_position(Checkpoint::After("4960".into())),
        );
        doc.set_position(
            "1.1",
            "shardId-000000000001".into(),
            shard_position(Checkpoint::ShardEnd),
        );
        doc.set_position("2.1", "log".into(), "17".into());
        doc.state = Some("{\"windows\":[]}".into());
        let back = CheckpointDoc::parse(&doc.to_text()).expect("parses");
        let positions = shard_checkpoints(back.input_positions("1.1"));
        assert_eq!(
            positions["shardId-000000000000"],
            Checkpoint::After("4960".into())
        );
        assert_eq!(positions["shardId-000000000001"], Checkpoint::ShardEnd);
        assert_eq!(back.input_positions("2.1")["log"], "17");
        assert_eq!(back.state.as_deref(), Some("{\"windows\":[]}"));
        assert!(back.input_positions("3.1").is_empty());
    }
}
