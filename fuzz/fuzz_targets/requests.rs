//! The request path shared by `json_request` and `cbor_request`: the first byte picks one of the
//! Kinesis operations, the rest is its body, run through exactly what the edge does before it
//! calls the service (`codec::decode_request`, then `codec::typed`; for JSON PutRecords also
//! `fast::put_records`, checked against that generic path).

use std::sync::OnceLock;

use freshet_edge::ApiError;
use freshet_edge::codec::{self, Format};
use freshet_edge::fast;
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
fn typed(op: &str, doc: Value) -> Result<(), ApiError> {
    fn to<T: serde::de::DeserializeOwned>(doc: Value) -> Result<(), ApiError> {
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
    let generic = codec::decode_request(kinesis(), op, format, body);
    if op == "PutRecords" && format == Format::Json {
        check_fast_path(body, generic.clone());
    }
    let Ok(doc) = generic else {
        return;
    };
    // A request the model accepts must become its typed request: otherwise the client gets a
    // serde message instead of AWS's wording, which means the validator missed a rule.
    if let Err(e) = typed(op, doc.clone()) {
        panic!("{op}: checked document {doc} does not convert: {e:?}");
    }
}

/// The server decodes JSON PutRecords on `fast::put_records` first and falls back to the generic
/// path when it declines: it may decline anything, but what it accepts the generic path must
/// accept too, as the same records.
fn check_fast_path(body: &[u8], generic: Result<Value, ApiError>) {
    let Some(fast) = fast::put_records(kinesis(), body) else {
        return;
    };
    let generic = generic
        .and_then(codec::typed::<PutRecordsInput>)
        .unwrap_or_else(|e| panic!("fast path accepted what the generic path refuses: {e:?}"));
    assert_eq!(fast.stream.stream_name, generic.stream.stream_name);
    assert_eq!(fast.stream.stream_arn, generic.stream.stream_arn);
    assert_eq!(fast.records.len(), generic.records.len());
    for (f, g) in fast.records.iter().zip(&generic.records) {
        assert_eq!(f.data, g.data);
        assert_eq!(f.partition_key, g.partition_key);
        assert_eq!(f.explicit_hash_key, g.explicit_hash_key);
    }
}
