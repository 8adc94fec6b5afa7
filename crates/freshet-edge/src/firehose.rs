//! The Firehose operations at the edge: `Firehose_20150804.*` targets decoded into typed
//! requests for the firehose service and its answers encoded back (AWS JSON 1.1 only, the
//! protocol every Firehose SDK speaks).

use freshet_firehose::{FirehoseError, FirehoseService};
use freshet_runtime::metrics::Exposition;
use futures_util::future::BoxFuture;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::api::{Api, Call, Members, Reply, Scope};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, firehose};

/// The Firehose API (`Firehose_20150804`), JSON 1.1 only: the protocol every Firehose SDK
/// speaks.
pub struct FirehoseApi {
    svc: FirehoseService,
}

impl FirehoseApi {
    pub fn new(svc: FirehoseService) -> FirehoseApi {
        FirehoseApi { svc }
    }

    async fn run(&self, call: Call<'_>) -> Result<Reply, ApiError> {
        let model = firehose();
        if !model.operations.contains_key(call.op) {
            return Err(ApiError::unknown_operation());
        }
        let body = decode_request(model, call.op, call.format, &call.body)?;
        dispatch(&self.svc, call.op, body).await.map(Reply::Body)
    }
}

impl Api for FirehoseApi {
    fn name(&self) -> &'static str {
        "firehose"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(firehose())
    }

    fn max_body_bytes(&self) -> usize {
        crate::MAX_BODY_BYTES
    }

    fn resources(&self, _op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        match m.get("DeliveryStreamName") {
            Some(name) => vec![scope.arn("firehose", &format!("deliverystream/{name}"))],
            None => vec!["*".to_string()],
        }
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

impl From<FirehoseError> for ApiError {
    fn from(e: FirehoseError) -> ApiError {
        let mut error = ApiError::from_service(e.is_internal(), e.aws_type(), &e);
        if matches!(e, FirehoseError::ServiceUnavailable(_)) {
            // Backpressure: SDKs retry a 503 with backoff.
            error.status = StatusCode::SERVICE_UNAVAILABLE;
        }
        error
    }
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

/// Runs one operation whose body has already been checked against the Firehose model.
async fn dispatch(svc: &FirehoseService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
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
