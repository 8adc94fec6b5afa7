//! A running application's checkpoint: the engine's state and every input shard's position, in
//! one document so they commit together (a crash can never pair state with positions from
//! another moment).

use std::collections::BTreeMap;

use freshet_streams::Checkpoint;
use serde::{Deserialize, Serialize};

/// A position as stored: the sequence number to resume after, or the end of a closed shard.
const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CheckpointDoc {
    /// Per input id, per shard id, where reading resumes.
    pub positions: BTreeMap<String, BTreeMap<String, String>>,
    /// The engine's snapshot (its open windows), as the engine wrote it.
    pub state: Option<String>,
}

impl CheckpointDoc {
    pub(crate) fn parse(text: &str) -> Result<CheckpointDoc, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint: {e}"))
    }

    pub(crate) fn to_text(&self) -> String {
        // A map of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The positions of one input as the stream reader takes them.
    pub(crate) fn input_positions(&self, input: &str) -> BTreeMap<String, Checkpoint> {
        self.positions
            .get(input)
            .map(|shards| {
                shards
                    .iter()
                    .map(|(shard, p)| (shard.clone(), decode(p)))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn set_position(&mut self, input: &str, shard: &str, checkpoint: &Checkpoint) {
        self.positions
            .entry(input.to_string())
            .or_default()
            .insert(shard.to_string(), encode(checkpoint));
    }
}

fn encode(checkpoint: &Checkpoint) -> String {
    match checkpoint {
        Checkpoint::After(sequence) => sequence.clone(),
        Checkpoint::ShardEnd => SHARD_END.to_string(),
    }
}

fn decode(text: &str) -> Checkpoint {
    if text == SHARD_END {
        Checkpoint::ShardEnd
    } else {
        Checkpoint::After(text.to_string())
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
            "shardId-000000000000",
            &Checkpoint::After("4960".into()),
        );
        doc.set_position("1.1", "shardId-000000000001", &Checkpoint::ShardEnd);
        doc.state = Some("{\"windows\":[]}".into());
        let back = CheckpointDoc::parse(&doc.to_text()).expect("parses");
        let positions = back.input_positions("1.1");
        assert_eq!(
            positions["shardId-000000000000"],
            Checkpoint::After("4960".into())
        );
        assert_eq!(positions["shardId-000000000001"], Checkpoint::ShardEnd);
        assert_eq!(back.state.as_deref(), Some("{\"windows\":[]}"));
        assert!(back.input_positions("2.1").is_empty());
    }
}
