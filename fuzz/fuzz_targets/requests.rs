//! The request path shared by `json_request` and `cbor_request`: the first byte picks one of the
//! Kinesis operations, the rest is its body, run through exactly what the edge does before it
//! calls the service (`codec::decode_request`, then `codec::typed`).

use std::sync::OnceLock;

use freshet_edge::codec::{self, Format};
use freshet_edge::shape::kinesis;
use freshet_streams::model::*;
use serde_json::Value;

/// The model's operation names in a stable order, so a corpus entry keeps its operation.
fn operations() -> &'static [String] {
    static OPS: OnceLock<Vec<String>> = OnceLock::new();
    OPS.get_or_init(|| {
        let mut ops: Vec<String> = kinesis().operations.keys().cloned().collect();
        ops.sort();
        ops
    })
}

/// The typed request the edge builds for `op` (the service methods' input types, as
/// `kinesis.rs` dispatches them); operations without input members take none.
fn typed(op: &str, doc: Value) -> Result<(), freshet_edge::ApiError> {
    fn to<T: serde::de::DeserializeOwned>(doc: Value) -> Result<(), freshet_edge::ApiError> {
        codec::typed::<T>(doc).map(drop)
    }
    match op {
        "CreateStream" => to::<CreateStreamInput>(doc),
        "DeleteStream" => to::<DeleteStreamInput>(doc),
        "DescribeStream" => to::<DescribeStreamInput>(doc),
        "DescribeStreamSummary" => to::<StreamOnlyInput>(doc),
        "ListStreams" => to::<ListStreamsInput>(doc),
        "ListShards" => to::<ListShardsInput>(doc),
        "PutRecord" => to::<PutRecordInput>(doc),
        "PutRecords" => to::<PutRecordsInput>(doc),
        "GetShardIterator" => to::<GetShardIteratorInput>(doc),
        "GetRecords" => to::<GetRecordsInput>(doc),
        "IncreaseStreamRetentionPeriod" | "DecreaseStreamRetentionPeriod" => {
            to::<RetentionInput>(doc)
        }
        "AddTagsToStream" => to::<AddTagsToStreamInput>(doc),
        "RemoveTagsFromStream" => to::<RemoveTagsFromStreamInput>(doc),
        "ListTagsForStream" => to::<ListTagsForStreamInput>(doc),
        "TagResource" => to::<TagResourceInput>(doc),
        "UntagResource" => to::<UntagResourceInput>(doc),
        "ListTagsForResource" | "GetResourcePolicy" | "DeleteResourcePolicy" => {
            to::<ResourceArnInput>(doc)
        }
        "StartStreamEncryption" | "StopStreamEncryption" => to::<EncryptionInput>(doc),
        "EnableEnhancedMonitoring" | "DisableEnhancedMonitoring" => to::<MonitoringInput>(doc),
        "UpdateStreamMode" => to::<UpdateStreamModeInput>(doc),
        "UpdateMaxRecordSize" => to::<UpdateMaxRecordSizeInput>(doc),
        "UpdateStreamWarmThroughput" => to::<UpdateStreamWarmThroughputInput>(doc),
        "PutResourcePolicy" => to::<PutResourcePolicyInput>(doc),
        "UpdateAccountSettings" => to::<UpdateAccountSettingsInput>(doc),
        "SplitShard" => to::<SplitShardInput>(doc),
        "MergeShards" => to::<MergeShardsInput>(doc),
        "UpdateShardCount" => to::<UpdateShardCountInput>(doc),
        "RegisterStreamConsumer" => to::<RegisterStreamConsumerInput>(doc),
        "DeregisterStreamConsumer" | "DescribeStreamConsumer" => to::<ConsumerRef>(doc),
        "ListStreamConsumers" => to::<ListStreamConsumersInput>(doc),
        "SubscribeToShard" => to::<SubscribeToShardInput>(doc),
        // DescribeLimits, DescribeAccountSettings: no input to convert.
        _ => Ok(()),
    }
}

pub fn check(format: Format, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ops = operations();
    let op = &ops[usize::from(pick) % ops.len()];
    let Ok(doc) = codec::decode_request(kinesis(), op, format, body) else {
        return;
    };
    // A request the model accepts must become its typed request: otherwise the client gets a
    // serde message instead of AWS's wording, which means the validator missed a rule.
    if let Err(e) = typed(op, doc.clone()) {
        panic!("{op}: checked document {doc} does not convert: {e:?}");
    }
}
