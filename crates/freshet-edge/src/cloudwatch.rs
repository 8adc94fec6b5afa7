//! The CloudWatch metric reads at the edge: `GraniteServiceVersion20100801.*` targets, AWS JSON
//! 1.0 as the SDKs send them (CloudWatch is query-compatible: an error also carries its query
//! code in `x-amzn-query-error`).

use freshet_cloudwatch::{CloudWatchError, CloudWatchService};
use freshet_runtime::SharedClock;
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::api::{Api, Call, Reply};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, cloudwatch};

pub struct CloudWatchApi {
    svc: CloudWatchService,
    clock: SharedClock,
}

impl CloudWatchApi {
    pub fn new(svc: CloudWatchService, clock: SharedClock) -> CloudWatchApi {
        CloudWatchApi { svc, clock }
    }

    fn run(&self, call: Call<'_>) -> Result<Reply, ApiError> {
        let model = cloudwatch();
        if !model.operations.contains_key(call.op) {
            return Err(ApiError::unknown_operation());
        }
        let body =
            decode_request(model, call.op, Format::Json, &call.body).map_err(query_compatible)?;
        let svc = &self.svc;
        let answer = match call.op {
            "GetMetricStatistics" => output(&svc.get_metric_statistics(typed(body)?)?),
            "GetMetricData" => output(&svc.get_metric_data(typed(body)?)?),
            "ListMetrics" => output(&svc.list_metrics(typed(body)?, self.clock.now_ms())?),
            _ => Err(ApiError::unknown_operation()),
        };
        answer.map(Reply::Body)
    }
}

/// The model's checks answer as JSON services do (ValidationException, SerializationException);
/// CloudWatch names the same faults with its query errors: a required member missing is
/// MissingParameter, anything else about a value InvalidParameterValue.
fn query_compatible(e: ApiError) -> ApiError {
    let message = e.message.unwrap_or_default();
    if message.contains("Member must not be null") {
        CloudWatchError::MissingParameter(message).into()
    } else {
        CloudWatchError::InvalidParameterValue(message).into()
    }
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

impl Api for CloudWatchApi {
    fn name(&self) -> &'static str {
        "cloudwatch"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(cloudwatch())
    }

    /// CloudWatch answers a refusal with its query error `AccessDenied` (403).
    fn access_denied(&self, denied: freshet_iam::AccessDenied) -> ApiError {
        ApiError {
            status: http::StatusCode::FORBIDDEN,
            query_code: Some("AccessDenied"),
            ..ApiError::client("AccessDenied", denied.message())
        }
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(async move { self.run(call) })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

impl From<CloudWatchError> for ApiError {
    fn from(e: CloudWatchError) -> ApiError {
        ApiError {
            query_code: Some(e.query_code()),
            ..ApiError::client(e.aws_type(), e.to_string())
        }
    }
}
