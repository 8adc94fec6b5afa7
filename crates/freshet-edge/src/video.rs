//! The Kinesis Video Streams control plane at the edge (`kinesisvideo`, rest-json): a `POST` to
//! an operation's path (`/createStream`) with a JSON body, checked against the embedded model and
//! run on the video service. Errors follow rest-json: the model's HTTP status for the error
//! shape, its name in `x-amzn-ErrorType` (where botocore reads the code) and `{"message"}`.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::response::Response;
use freshet_video::VideoService;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use crate::codec::{Format, decode_request, typed};
use crate::error::ApiError;
use crate::shape;

const JSON_CONTENT_TYPE: &str = "application/json";

/// The operation whose `requestUri` is `path`, if the model has one.
pub fn operation(path: &str) -> Option<&'static str> {
    static BY_PATH: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    BY_PATH
        .get_or_init(|| {
            shape::kinesisvideo()
                .operations
                .iter()
                .map(|(name, op)| (op.request_uri.as_str(), name.as_str()))
                .collect()
        })
        .get(path)
        .copied()
}

/// Decodes and checks the body of `op`, then runs it. The model has no ValidationException:
/// KVS reports malformed and out-of-bounds input as `InvalidArgumentException`, so the
/// validator's findings keep their text under that name.
pub async fn call(svc: &VideoService, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    // botocore sends no body for an operation whose input members are all absent.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let document = decode_request(shape::kinesisvideo(), op, Format::Json, body).map_err(|e| {
        match e.aws_type {
            "ValidationException" | "SerializationException" => ApiError::client(
                "InvalidArgumentException",
                e.message
                    .unwrap_or_else(|| "The request body is not valid JSON.".into()),
            ),
            _ => e,
        }
    })?;
    dispatch(svc, op, document).await
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))
}

async fn dispatch(svc: &VideoService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    macro_rules! run {
        ($method:ident) => {
            output(&svc.$method(typed(body)?).await?)
        };
    }
    match op {
        "CreateStream" => run!(create_stream),
        "DescribeStream" => run!(describe_stream),
        "ListStreams" => run!(list_streams),
        "DeleteStream" => run!(delete_stream),
        "UpdateStream" => run!(update_stream),
        "UpdateDataRetention" => run!(update_data_retention),
        "TagStream" => run!(tag_stream),
        "UntagStream" => run!(untag_stream),
        "ListTagsForStream" => run!(list_tags_for_stream),
        "TagResource" => run!(tag_resource),
        "UntagResource" => run!(untag_resource),
        "ListTagsForResource" => run!(list_tags_for_resource),
        "GetDataEndpoint" => run!(get_data_endpoint),
        "UpdateImageGenerationConfiguration" => run!(update_image_generation_configuration),
        "DescribeImageGenerationConfiguration" => run!(describe_image_generation_configuration),
        "UpdateNotificationConfiguration" => run!(update_notification_configuration),
        "DescribeNotificationConfiguration" => run!(describe_notification_configuration),
        // Signaling channels, edge agents, media and stream storage configurations.
        _ => Err(ApiError::client(
            "InvalidArgumentException",
            format!("{op} is not supported by Freshet yet."),
        )),
    }
}

/// The rest-json response for an answer or an error.
pub fn respond(result: Result<Vec<u8>, ApiError>, request_id: &str) -> Response {
    let (status, body, error_type) = match result {
        Ok(body) => (StatusCode::OK, body, None),
        Err(e) => {
            let message = e.message.clone().unwrap_or_default();
            let body =
                serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default();
            (e.status, body, Some(e.aws_type))
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    if let Some(kind) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}
