//! The Kinesis Data Streams operations at the edge: each `X-Amz-Target` operation name decoded
//! into its typed request, handed to the streams service, and its typed answer encoded back.

use axum::body::{Body, Bytes};
use freshet_runtime::metrics::Exposition;
use freshet_streams::{StreamsError, StreamsService};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use std::sync::Arc;

use freshet_iam::Policy;

use crate::api::{Api, Call, Members, Reply, Scope};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, kinesis};
use crate::{CBOR_CONTENT_TYPE, JSON_CONTENT_TYPE, codec, eventstream};

const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn output<T: Serialize>(format: Format, op: &str, value: &T) -> Result<Vec<u8>, ApiError> {
    let model = kinesis();
    encode(
        format,
        model.operations.get(op).and_then(|o| o.output.as_deref()),
        value,
    )
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

/// The Kinesis Data Streams API (`Kinesis_20131202`), in JSON 1.1 and CBOR.
pub struct KinesisApi {
    svc: StreamsService,
}

impl KinesisApi {
    pub fn new(svc: StreamsService) -> KinesisApi {
        KinesisApi { svc }
    }

    async fn run(&self, call: Call<'_>) -> Result<Reply, ApiError> {
        let model = kinesis();
        if !model.operations.contains_key(call.op) {
            return Err(ApiError::unknown_operation());
        }
        let svc = &self.svc;
        if call.op == "PutRecords"
            && call.format == Format::Json
            && let Some(input) = crate::fast::put_records(model, &call.body)
        {
            let out = svc.put_records(input).await?;
            return put_records_answer(call.format, &out).map(Reply::Body);
        }
        let body = decode_request(model, call.op, call.format, &call.body)?;
        if call.op == "SubscribeToShard" {
            let subscription = svc.subscribe_to_shard(typed(body)?).await?;
            return Ok(Reply::Stream {
                content_type: EVENT_STREAM_CONTENT_TYPE,
                body: event_body(subscription, call.format),
            });
        }
        answer(svc, call.op, body, call.format)
            .await
            .map(Reply::Body)
    }
}

impl Api for KinesisApi {
    fn name(&self) -> &'static str {
        "kinesis"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(kinesis())
    }

    fn speaks_cbor(&self) -> bool {
        true
    }

    fn max_body_bytes(&self) -> usize {
        crate::MAX_BODY_BYTES
    }

    fn iam_prefix(&self) -> &'static str {
        "kinesis"
    }

    fn resources(&self, op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        // ARNs as the service spells them, so a differently written ARN of the same resource
        // meets the same policies.
        let canonical = |arn: &str| {
            self.svc
                .canonical_arn(arn)
                .unwrap_or_else(|| arn.to_string())
        };
        if let Some(arn) = m.get("ConsumerARN").or(m.get("ResourceARN")) {
            return vec![canonical(arn)];
        }
        if let Some(iterator) = m.get("ShardIterator") {
            // GetRecords names its stream only inside the iterator; an iterator that names no
            // stream is refused by the operation itself.
            return vec![
                self.svc
                    .iterator_stream_arn(iterator)
                    .unwrap_or_else(|| "*".to_string()),
            ];
        }
        let stream = match (m.get("StreamARN"), m.get("StreamName")) {
            (Some(arn), _) => canonical(arn),
            (None, Some(name)) => scope.arn("kinesis", &format!("stream/{name}")),
            (None, None) => return vec!["*".to_string()],
        };
        // Consumer operations that name their consumer by stream and name act on the consumer.
        match m.get("ConsumerName") {
            Some(name) if op != "RegisterStreamConsumer" => {
                vec![self.svc.consumer_arn(&stream, name).unwrap_or(stream)]
            }
            _ => vec![stream],
        }
    }

    fn resource_policy<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Option<Arc<Policy>>> {
        Box::pin(async move { self.svc.resource_policy(arn).await.ok().flatten() })
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(self.run(call))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.svc.health().await.map_err(|e| e.to_string()) })
    }

    fn render_metrics(&self, e: &mut Exposition) {
        self.svc.render_metrics(e);
    }
}

impl From<StreamsError> for ApiError {
    fn from(e: StreamsError) -> ApiError {
        ApiError::from_service(e.is_internal(), e.aws_type(), &e)
    }
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
        "GetShardIterator" => run!(async get_shard_iterator),
        "GetRecords" if format == Format::Json => Ok(crate::records_json::get_records(
            &svc.get_records(typed(body)?).await?,
        )),
        "GetRecords" => run!(async get_records),
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

fn event_body(subscription: freshet_streams::Subscription, format: Format) -> Body {
    let content_type = match format {
        Format::Json => JSON_CONTENT_TYPE,
        Format::Cbor => CBOR_CONTENT_TYPE,
    };
    let initial = codec::encode(format, None, &serde_json::json!({})).unwrap_or_default();
    let first = eventstream::event("initial-response", content_type, &initial);
    let events = futures_util::stream::unfold(Some(subscription.events), move |rx| async move {
        let mut rx = rx?;
        let message = match rx.recv().await? {
            Ok(event) => match codec::encode(format, Some("SubscribeToShardEvent"), &event) {
                Ok(payload) => eventstream::event("SubscribeToShardEvent", content_type, &payload),
                Err(e) => exception_message(&e, format, content_type),
            },
            Err(e) => {
                let e = ApiError::from(e);
                if let Some(detail) = &e.detail {
                    // The response went out long ago: the failure is logged where it ends the
                    // stream.
                    tracing::error!(error = %detail, "subscription failed");
                }
                let message = exception_message(&e, format, content_type);
                // An exception is the last message of a stream.
                return Some((Ok::<_, std::convert::Infallible>(message), None));
            }
        };
        Some((Ok(message), Some(rx)))
    });
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first) }),
        events,
    );
    Body::from_stream(stream)
}
fn exception_message(e: &ApiError, format: Format, content_type: &str) -> Bytes {
    // Event-stream exceptions use the modelled exception names (InternalFailure's is
    // InternalFailureException).
    let kind = if e.aws_type == "InternalFailure" {
        "InternalFailureException"
    } else {
        e.aws_type
    };
    let payload =
        codec::encode(format, None, &serde_json::json!({"message": e.message})).unwrap_or_default();
    eventstream::exception(kind, content_type, &payload)
}
