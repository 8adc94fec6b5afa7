//! The HTTP edge of Freshet: one listener for every API. It authenticates (SigV4), decodes AWS
//! JSON 1.1, CBOR and rest-json (Kinesis Video) bodies, checks them against the service model,
//! hands typed requests to the services, and encodes answers and AWS error envelopes. Services
//! never see HTTP; the edge never decides semantics.

pub mod cbor;
pub mod codec;
pub mod cors;
pub mod error;
pub mod eventstream;
pub mod fast;
mod firehose;
mod kinesis;
pub mod records_json;
mod server;
pub mod shape;
pub mod sigv4;
pub mod tls;
pub mod validate;
mod video;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use freshet_firehose::FirehoseService;
use freshet_runtime::SharedClock;
use freshet_streams::StreamsService;
use freshet_video::VideoService;
use http::{HeaderValue, Method, Request, StatusCode, header};
use serde_json::Value;

pub use codec::Format;
pub use error::ApiError;
pub use kinesis::Reply;
pub use server::serve;
pub use sigv4::Credentials;

/// Largest request body accepted: a 10 MiB record, base64-encoded, with room for its envelope.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

const FIREHOSE_TARGET_PREFIX: &str = "Firehose_20150804.";
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";
const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

pub struct Edge {
    pub streams: StreamsService,
    /// None serves Kinesis only (Firehose targets are unknown operations).
    pub firehose: Option<FirehoseService>,
    /// None leaves the Kinesis Video paths unrouted.
    pub video: Option<VideoService>,
    pub credentials: Credentials,
    request_ids: Arc<RequestIds>,
    clock: SharedClock,
}

/// Request ids in AWS's UUID shape, unique for this process: the boot time, then a counter.
pub struct RequestIds {
    boot: u64,
    next: AtomicU64,
}

impl RequestIds {
    /// Ids that start with `boot`, which tells this process's ids from an earlier one's.
    pub fn new(boot: u64) -> RequestIds {
        RequestIds {
            boot,
            next: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> String {
        request_id(self.boot, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Edge {
    pub fn new(
        streams: StreamsService,
        firehose: Option<FirehoseService>,
        video: Option<VideoService>,
        credentials: Credentials,
        clock: SharedClock,
    ) -> Arc<Edge> {
        // Microseconds of the start time: distinct across restarts.
        let boot = (clock.now_ms() as u64).wrapping_mul(1000) ^ u64::from(std::process::id());
        Arc::new(Edge {
            streams,
            firehose,
            video,
            credentials,
            request_ids: Arc::new(RequestIds::new(boot)),
            clock,
        })
    }

    fn request_id(&self) -> String {
        self.request_ids.next()
    }
}

/// The 128 bits of `boot` then `n`, in the 8-4-4-4-12 hex groups of a UUID.
fn request_id(boot: u64, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        boot >> 32,
        (boot >> 16) & 0xffff,
        boot & 0xffff,
        n >> 48,
        n & 0xffff_ffff_ffff
    )
}

/// The router for every API on the edge port, answering cross-origin requests from `origins`.
pub fn router(edge: Arc<Edge>, origins: cors::AllowedOrigins) -> Router {
    let cors = Arc::new(cors::Cors {
        origins,
        ids: Arc::clone(&edge.request_ids),
    });
    Router::new()
        .fallback(handle)
        .with_state(edge)
        .layer(axum::middleware::from_fn_with_state(cors, cors::layer))
}

async fn handle(State(edge): State<Arc<Edge>>, req: Request<Body>) -> Response {
    let request_id = edge.request_id();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let firehose = target.is_some_and(|t| t.starts_with(FIREHOSE_TARGET_PREFIX));
    // Kinesis Video is rest-json: no target, the operation is the path.
    if target.is_none()
        && req.method() == Method::POST
        && let Some(svc) = &edge.video
    {
        if req.uri().path() == video::PUT_MEDIA_PATH {
            let (parts, body) = req.into_parts();
            // The body is a live stream: the signature covers the headers, and the payload
            // hash the producer declared (UNSIGNED-PAYLOAD or that of an empty body).
            let result = match authenticate(&edge, &parts, &[]) {
                Ok(()) => video::put_media(svc, &parts.headers, body).await,
                Err(e) => Err(e),
            };
            return video::respond(result, &request_id);
        }
        if let Some((model, op)) = video::operation(req.uri().path()) {
            let result = match authenticated_body(&edge, req).await {
                Ok((_, body)) => video::call(svc, model, op, &body).await,
                Err(e) => Err(e),
            };
            return video::respond(result, &request_id);
        }
    }
    let format = match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // Firehose speaks JSON only.
        Some(ct) if ct.contains("cbor") && !firehose => Format::Cbor,
        _ => Format::Json,
    };
    let result = match (req.method(), target.is_some()) {
        (&Method::POST, true) => call(&edge, req, format).await,
        (&Method::GET, false)
            if let Some(svc) = &edge.video
                && let Some(action) = video::packaged_action(req.uri().path()) =>
        {
            return video::packaged(svc, action, req.uri().query()).await;
        }
        (&Method::GET, false)
            if let Some(svc) = &edge.video
                && req.uri().path().starts_with("/video/") =>
        {
            if let Some(page) = video::page(svc, req.uri().path(), req.uri().query()).await {
                return page;
            }
            Err(ApiError::unknown_operation())
        }
        (&Method::GET, false) if req.uri().path() == "/health" => {
            return plain(StatusCode::OK, "ok\n");
        }
        (&Method::GET, false) if req.uri().path() == "/metrics" => {
            return metrics(&edge);
        }
        _ => Err(ApiError::unknown_operation()),
    };
    let content_type = match format {
        Format::Json => JSON_CONTENT_TYPE,
        Format::Cbor => CBOR_CONTENT_TYPE,
    };
    let (status, body, content_type) = match result {
        Ok(Reply::Body(body)) => (StatusCode::OK, Body::from(body), content_type),
        Ok(Reply::Events(subscription)) => (
            StatusCode::OK,
            event_body(subscription, format),
            EVENT_STREAM_CONTENT_TYPE,
        ),
        Err(e) => (e.status, Body::from(error_body(&e, format)), content_type),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// Prometheus text exposition of the services' metrics.
fn metrics(edge: &Edge) -> Response {
    let mut text = String::new();
    if let Some(firehose) = &edge.firehose {
        firehose.render_metrics(&mut text);
    }
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

/// A SubscribeToShard answer: the `initial-response` event, then one event per batch of records,
/// and an exception message if the subscription fails; the body ends when the subscription does.
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

/// The body of a request, once its SigV4 signature checks out (when keys are configured).
async fn authenticated_body(
    edge: &Edge,
    req: Request<Body>,
) -> Result<(http::request::Parts, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::serialization(format!("Request body exceeds {MAX_BODY_BYTES} bytes."))
        })?;
    authenticate(edge, &parts, &body)?;
    Ok((parts, body))
}

/// Checks a request's SigV4 signature (when keys are configured).
fn authenticate(edge: &Edge, parts: &http::request::Parts, body: &[u8]) -> Result<(), ApiError> {
    if edge.credentials.is_empty() {
        return Ok(());
    }
    sigv4::verify(&edge.credentials, parts, body, edge.clock.now_ms() / 1000)
}

async fn call(edge: &Edge, req: Request<Body>, format: Format) -> Result<Reply, ApiError> {
    let (parts, body) = authenticated_body(edge, req).await?;
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (prefix, op) = target
        .split_once('.')
        .ok_or_else(ApiError::unknown_operation)?;
    let firehose = match &edge.firehose {
        Some(svc) if prefix == FIREHOSE_TARGET_PREFIX.trim_end_matches('.') => Some(svc),
        _ => None,
    };
    let model = match firehose {
        Some(_) => shape::firehose(),
        None => shape::kinesis(),
    };
    if prefix != model.target_prefix || !model.operations.contains_key(op) {
        return Err(ApiError::unknown_operation());
    }
    if firehose.is_none()
        && op == "PutRecords"
        && format == Format::Json
        && let Some(input) = fast::put_records(model, &body)
    {
        return kinesis::put_records(&edge.streams, input, format).await;
    }
    let document = codec::decode_request(model, op, format, &body)?;
    match firehose {
        Some(svc) => firehose::dispatch(svc, op, document).await.map(Reply::Body),
        None => kinesis::dispatch(&edge.streams, op, document, format).await,
    }
}

fn error_body(e: &ApiError, format: Format) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    doc.insert("__type".into(), Value::String(e.aws_type.to_string()));
    if let Some(message) = &e.message {
        doc.insert("message".into(), Value::String(message.clone()));
    }
    let doc = Value::Object(doc);
    match format {
        Format::Json => serde_json::to_vec(&doc).unwrap_or_default(),
        Format::Cbor => cbor::encode(shape::kinesis(), None, &doc),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_the_hex_of_boot_then_counter_in_uuid_groups() {
        assert_eq!(
            super::request_id(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            super::request_id(1, 2),
            "00000000-0000-0001-0000-000000000002"
        );
    }
}
