//! The Kinesis Data Streams operations at the edge: each `X-Amz-Target` operation name decoded
//! into its typed request, handed to the streams service, and its typed answer encoded back.

use freshet_streams::{StreamsService, Subscription};
use serde::Serialize;
use serde_json::Value;

use crate::codec::{Format, encode, typed};
use crate::error::ApiError;
use crate::shape::kinesis;

fn output<T: Serialize>(format: Format, op: &str, value: &T) -> Result<Vec<u8>, ApiError> {
    let model = kinesis();
    encode(
        format,
        model.operations.get(op).and_then(|o| o.output.as_deref()),
        value,
    )
}

/// What an operation answers: a body, or (SubscribeToShard) a stream of events.
pub enum Reply {
    Body(Vec<u8>),
    Events(Subscription),
}

/// PutRecords from the fast path's typed request.
pub async fn put_records(
    svc: &StreamsService,
    input: freshet_streams::model::PutRecordsInput,
    format: Format,
) -> Result<Reply, ApiError> {
    put_records_answer(format, &svc.put_records(input).await?).map(Reply::Body)
}

/// PutRecords' answer: JSON from the hot-path encoder, CBOR from the model's.
fn put_records_answer(
    format: Format,
    out: &freshet_streams::model::PutRecordsOutput,
) -> Result<Vec<u8>, ApiError> {
    match format {
        Format::Json => Ok(crate::records_json::put_records(out)),
        _ => output(format, "PutRecords", out),
    }
}

/// Runs one operation whose body has already been checked against the model.
pub async fn dispatch(
    svc: &StreamsService,
    op: &str,
    body: Value,
    format: Format,
) -> Result<Reply, ApiError> {
    if op == "SubscribeToShard" {
        return Ok(Reply::Events(svc.subscribe_to_shard(typed(body)?).await?));
    }
    answer(svc, op, body, format).await.map(Reply::Body)
}

async fn answer(
    svc: &StreamsService,
    op: &str,
    body: Value,
    format: Format,
) -> Result<Vec<u8>, ApiError> {
    macro_rules! run {
        (async $method:ident) => {
            output(format, op, &svc.$method(typed(body)?).await?)
        };
        ($method:ident) => {
            output(format, op, &svc.$method(typed(body)?)?)
        };
    }
    match op {
        "CreateStream" => run!(async create_stream),
        "DeleteStream" => run!(async delete_stream),
        "DescribeStream" => run!(describe_stream),
        "DescribeStreamSummary" => run!(describe_stream_summary),
        "ListStreams" => run!(list_streams),
        "ListShards" => run!(list_shards),
        "DescribeLimits" => output(format, op, &svc.describe_limits()?),
        "PutRecord" => run!(async put_record),
        "PutRecords" => put_records_answer(format, &svc.put_records(typed(body)?).await?),
        "GetShardIterator" => run!(get_shard_iterator),
        "GetRecords" if format == Format::Json => Ok(crate::records_json::get_records(
            &svc.get_records(typed(body)?)?,
        )),
        "GetRecords" => run!(get_records),
        "IncreaseStreamRetentionPeriod" => run!(async increase_stream_retention_period),
        "DecreaseStreamRetentionPeriod" => run!(async decrease_stream_retention_period),
        "AddTagsToStream" => run!(async add_tags_to_stream),
        "RemoveTagsFromStream" => run!(async remove_tags_from_stream),
        "ListTagsForStream" => run!(list_tags_for_stream),
        "TagResource" => run!(async tag_resource),
        "UntagResource" => run!(async untag_resource),
        "ListTagsForResource" => run!(list_tags_for_resource),
        "StartStreamEncryption" => run!(async start_stream_encryption),
        "StopStreamEncryption" => run!(async stop_stream_encryption),
        "EnableEnhancedMonitoring" => run!(async enable_enhanced_monitoring),
        "DisableEnhancedMonitoring" => run!(async disable_enhanced_monitoring),
        "UpdateStreamMode" => run!(async update_stream_mode),
        "UpdateMaxRecordSize" => run!(async update_max_record_size),
        "UpdateStreamWarmThroughput" => run!(async update_stream_warm_throughput),
        "PutResourcePolicy" => run!(async put_resource_policy),
        "GetResourcePolicy" => run!(async get_resource_policy),
        "DeleteResourcePolicy" => run!(async delete_resource_policy),
        "DescribeAccountSettings" => output(format, op, &svc.describe_account_settings().await?),
        "UpdateAccountSettings" => run!(async update_account_settings),
        "SplitShard" => run!(async split_shard),
        "MergeShards" => run!(async merge_shards),
        "UpdateShardCount" => run!(async update_shard_count),
        "RegisterStreamConsumer" => run!(async register_stream_consumer),
        "DeregisterStreamConsumer" => run!(async deregister_stream_consumer),
        "DescribeStreamConsumer" => run!(describe_stream_consumer),
        "ListStreamConsumers" => run!(list_stream_consumers),
        _ => Err(ApiError::unknown_operation()),
    }
}
