//! The Firehose operations at the edge: `Firehose_20150804.*` targets decoded into typed
//! requests for the firehose service and its answers encoded back (AWS JSON 1.1 only, the
//! protocol every Firehose SDK speaks).

use freshet_firehose::FirehoseService;
use serde::Serialize;
use serde_json::Value;

use crate::codec::{Format, encode, typed};
use crate::error::ApiError;

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

/// Runs one operation whose body has already been checked against the Firehose model.
pub async fn dispatch(svc: &FirehoseService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    macro_rules! run {
        (async $method:ident) => {
            output(&svc.$method(typed(body)?).await?)
        };
        ($method:ident) => {
            output(&svc.$method(typed(body)?)?)
        };
    }
    match op {
        "CreateDeliveryStream" => run!(async create_delivery_stream),
        "DeleteDeliveryStream" => run!(async delete_delivery_stream),
        "DescribeDeliveryStream" => run!(describe_delivery_stream),
        "ListDeliveryStreams" => run!(list_delivery_streams),
        "UpdateDestination" => run!(async update_destination),
        "PutRecord" => run!(async put_record),
        "PutRecordBatch" => run!(async put_record_batch),
        "TagDeliveryStream" => run!(async tag_delivery_stream),
        "UntagDeliveryStream" => run!(async untag_delivery_stream),
        "ListTagsForDeliveryStream" => run!(list_tags_for_delivery_stream),
        "StartDeliveryStreamEncryption" => run!(async start_delivery_stream_encryption),
        "StopDeliveryStreamEncryption" => run!(async stop_delivery_stream_encryption),
        _ => Err(ApiError::unknown_operation()),
    }
}
