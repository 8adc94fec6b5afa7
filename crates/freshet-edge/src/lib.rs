//! The HTTP edge of Freshet: one listener for every API. It authenticates (SigV4), decodes AWS
//! JSON 1.1, CBOR and rest-json bodies, checks them against the service models, hands typed
//! requests to the services, and encodes answers and AWS error envelopes. Services never see
//! HTTP; the edge never decides semantics.
//!
//! The edge is a composition: each service's adapter implements `api::Api` (its target prefix,
//! its routes, its health and metrics) and the binary wires the adapters with `EdgeBuilder`.

mod analytics;
pub mod api;
pub mod cbor;
mod cloudwatch;
pub mod codec;
pub mod cors;
pub mod error;
pub mod eventstream;
pub mod fast;
mod firehose;
mod glue;
mod iceberg;
mod kinesis;
mod kms;
pub mod records_json;
mod request;
mod server;
pub mod shape;
mod signaling;
pub mod sigv4;
mod sts;
pub mod tls;
pub mod validate;
mod video;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use freshet_iam::{Access, AccessDenied, Context, Iam, Identity, Policy, PrincipalKind};
use freshet_runtime::{SharedClock, metrics};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::Value;
use tracing::Instrument;

pub use analytics::{AnalyticsApi, AnalyticsV2Api};
pub use api::{Api, Call, Members, Reply, Scope};
pub use cloudwatch::CloudWatchApi;
pub use codec::Format;
pub use error::ApiError;
pub use firehose::FirehoseApi;
pub use glue::GlueApi;
pub use iceberg::IcebergApi;
pub use kinesis::KinesisApi;
pub use kms::KmsApi;
pub use request::RequestIds;
pub use server::Limits;
pub use server::serve;
pub use sts::StsApi;
pub use video::VideoApi;

/// Largest request body of a data API: a 10 MiB record, base64-encoded, with room for its
/// envelope. Control-plane APIs take less (`Api::max_body_bytes`).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The control planes' bodies: configurations, SQL, policies.
pub const CONTROL_BODY_BYTES: usize = 1024 * 1024;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

/// Checks requests' SigV4 signatures (when keys are configured) against the server's clock,
/// and says who made them.
pub struct Auth {
    pub iam: Arc<Iam>,
    pub clock: SharedClock,
    pub scope: api::Scope,
    bodies: Bodies,
}

/// How request bodies are read: all buffered bodies together hold at most `budget_bytes`
/// (a request that would pass it waits a little, then is answered 503), and a body must
/// arrive within `read_timeout` (a slow sender cannot hold its share forever).
#[derive(Clone, Debug)]
pub struct BodyLimits {
    pub budget_bytes: usize,
    pub read_timeout: std::time::Duration,
}

impl Default for BodyLimits {
    fn default() -> BodyLimits {
        BodyLimits {
            budget_bytes: 512 * 1024 * 1024,
            read_timeout: std::time::Duration::from_secs(60),
        }
    }
}

struct Bodies {
    limits: BodyLimits,
    budget: Arc<tokio::sync::Semaphore>,
}

/// How long a request waits for room in the body budget before it is turned away.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection a request came on, for the `aws:SourceIp` and `aws:SecureTransport` keys.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    pub secure: bool,
}

impl Auth {
    /// Checks a request's signature over `body` (when keys are configured); `None` for a body
    /// that is streamed rather than read whole (GETs, PutMedia).
    pub fn check(
        &self,
        parts: &http::request::Parts,
        body: Option<&[u8]>,
    ) -> Result<Caller, ApiError> {
        let prepared = self.prepare(parts)?;
        self.finish(parts, prepared, body)
    }

    /// The signature's form, date and key, checked before any body is read (`None` on an
    /// anonymous server).
    fn prepare(&self, parts: &http::request::Parts) -> Result<Option<Signing>, ApiError> {
        if !self.iam.enabled() {
            return Ok(None);
        }
        let now_ms = self.clock.now_ms();
        let prepared = sigv4::prepare(parts, now_ms / 1000, |key, token| {
            self.iam.resolve(key, token, now_ms).map_err(|e| match e {
                freshet_iam::CredentialError::Token(freshet_iam::TokenError::Expired) => {
                    ApiError::client("ExpiredTokenException", e.to_string())
                }
                _ => ApiError::client("UnrecognizedClientException", e.to_string()),
            })
        })?;
        Ok(Some((prepared, now_ms)))
    }

    fn finish(
        &self,
        parts: &http::request::Parts,
        prepared: Option<Signing>,
        body: Option<&[u8]>,
    ) -> Result<Caller, ApiError> {
        let peer = parts.extensions.get::<Peer>().copied();
        let Some((prepared, now_ms)) = prepared else {
            return Ok(Caller {
                identity: None,
                account: String::new(),
                peer,
                region: String::new(),
                now_ms: 0,
                context: std::sync::OnceLock::new(),
            });
        };
        let verified = prepared.finish(parts, body)?;
        Ok(Caller {
            identity: Some(verified.signer),
            account: self.scope.account.clone(),
            peer,
            region: verified.region,
            now_ms,
            context: std::sync::OnceLock::new(),
        })
    }

    /// The body of a request (at most `max` bytes), once its signature checks out, who sent
    /// it, and its room in the body budget (held while the call runs, as the body is).
    pub async fn body(
        &self,
        req: Request,
        max: usize,
    ) -> Result<(http::request::Parts, Bytes, Caller, BodyRoom), ApiError> {
        let (parts, body) = req.into_parts();
        let too_large = || ApiError::serialization(format!("Request body exceeds {max} bytes."));
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        // A stranger (unknown key, stale date, malformed signature) is refused before the body
        // takes any room.
        let prepared = self.prepare(&parts)?;
        // Room for what the body may be: its declared length, or the most it may be.
        let want = declared.unwrap_or(max).min(self.bodies.limits.budget_bytes);
        let permits = u32::try_from(want).unwrap_or(u32::MAX);
        let budget = self.bodies.budget.clone();
        let room = match budget.clone().try_acquire_many_owned(permits) {
            Ok(room) => room,
            Err(_) => tokio::time::timeout(BUDGET_WAIT, budget.acquire_many_owned(permits))
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(|| ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    ..ApiError::client(
                        "ServiceUnavailable",
                        "The server is receiving too much request data at once. Retry later.",
                    )
                })?,
        };
        let body: Bytes = tokio::time::timeout(
            self.bodies.limits.read_timeout,
            axum::body::to_bytes(body, max),
        )
        .await
        .map_err(|_| ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            ..ApiError::client(
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            )
        })?
        .map_err(|_| too_large())?;
        let caller = self.finish(&parts, prepared, Some(&body))?;
        Ok((parts, body, caller, BodyRoom { _permit: room }))
    }
}

/// A signature checked but for its payload, and the time it was checked at (ms).
type Signing = (sigv4::Prepared<Arc<Identity>>, i64);

/// A request body's share of the body budget, given back when dropped.
pub struct BodyRoom {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Who made a request: nobody in particular on an anonymous server, otherwise the principal
/// whose key signed it.
pub struct Caller {
    identity: Option<Arc<Identity>>,
    /// The server's account: the one calls on no particular resource act in.
    account: String,
    peer: Option<Peer>,
    region: String,
    now_ms: i64,
    /// The request's condition keys, made once however many resources a call authorizes.
    context: std::sync::OnceLock<Context>,
}

impl Caller {
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }

    /// Whether policies decide what this caller may do: a principal other than the account's
    /// root (whose key may do anything in its account).
    pub fn restricted(&self) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|i| i.kind != PrincipalKind::Root)
    }

    /// The request's condition keys.
    pub fn context(&self) -> Context {
        let mut ctx = Context::default();
        if let Some(identity) = &self.identity {
            identity.describe(&mut ctx);
        }
        if let Some(peer) = self.peer {
            ctx.set("aws:SourceIp", peer.addr.ip().to_canonical().to_string());
            ctx.set("aws:SecureTransport", peer.secure.to_string());
        }
        ctx.set("aws:CurrentTime", freshet_iam::iso8601(self.now_ms));
        ctx.set("aws:EpochTime", (self.now_ms / 1000).to_string());
        if !self.region.is_empty() {
            ctx.set("aws:RequestedRegion", &self.region);
        }
        ctx.set("aws:ViaAWSService", "false");
        ctx
    }

    /// Whether the caller may do `action` on `resource` (an ARN, or `*`), given the resource's
    /// own policy.
    pub fn authorize(
        &self,
        action: &str,
        resource: &str,
        resource_policy: Option<&Policy>,
    ) -> Result<(), AccessDenied> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        if !self.restricted() && resource_policy.is_none() {
            return Ok(());
        }
        let access = Access {
            action,
            resource,
            resource_policy,
            context: self.context.get_or_init(|| self.context()),
        };
        freshet_iam::authorize(identity, &access)?;
        // A call on no particular resource acts in the server's account, which no resource
        // policy opens to another account's principals.
        if resource == "*" && identity.account != self.account {
            return Err(AccessDenied {
                principal: identity.arn.clone(),
                action: action.to_string(),
                resource: resource.to_string(),
                why: freshet_iam::Denial::NoResourceAllow,
            });
        }
        Ok(())
    }
}

/// Builds the router for every API on the edge port.
pub struct EdgeBuilder {
    auth: Auth,
    origins: cors::AllowedOrigins,
    apis: Vec<Arc<dyn Api>>,
    home: Option<&'static str>,
}

impl EdgeBuilder {
    pub fn new(iam: Arc<Iam>, clock: SharedClock, scope: api::Scope) -> EdgeBuilder {
        EdgeBuilder {
            auth: Auth {
                iam,
                clock,
                scope,
                bodies: Bodies {
                    budget: Arc::new(tokio::sync::Semaphore::new(
                        BodyLimits::default().budget_bytes,
                    )),
                    limits: BodyLimits::default(),
                },
            },
            origins: cors::AllowedOrigins::Any,
            apis: Vec::new(),
            home: None,
        }
    }

    /// Where a browser opening the root (`GET /`, not a WebSocket upgrade) is sent.
    pub fn home(mut self, path: &'static str) -> EdgeBuilder {
        self.home = Some(path);
        self
    }

    /// The origins whose browser code may call the APIs (default: any, as AWS).
    pub fn cors(mut self, origins: cors::AllowedOrigins) -> EdgeBuilder {
        self.origins = origins;
        self
    }

    /// How much request data may be buffered at once, and how fast it must come.
    pub fn body_limits(mut self, limits: BodyLimits) -> EdgeBuilder {
        self.auth.bodies = Bodies {
            budget: Arc::new(tokio::sync::Semaphore::new(limits.budget_bytes)),
            limits,
        };
        self
    }

    pub fn api(mut self, api: impl Api) -> EdgeBuilder {
        self.apis.push(Arc::new(api));
        self
    }

    pub fn router(self) -> Router {
        let auth = Arc::new(self.auth);
        let ids = RequestIds::new(&auth.clock);
        let targets: HashMap<&'static str, Arc<dyn Api>> = self
            .apis
            .iter()
            .filter_map(|api| Some((api.model()?.target_prefix.as_str(), api.clone())))
            .collect();
        let mut router = Router::new();
        for api in &self.apis {
            router = router.merge(api.clone().routes(auth.clone()));
        }
        let services = Arc::new(self.apis);
        let front = Arc::new(Front {
            targets,
            auth,
            origins: self.origins,
            ids,
            home: self.home,
        });
        router
            .route("/health", get(health).with_state(services.clone()))
            .route("/metrics", get(metrics).with_state(services))
            .fallback(|| async { error_response(ApiError::unknown_operation(), Format::Json) })
            .layer(from_fn_with_state(front, front_door))
    }
}

/// What every request passes through first: its id, CORS, and the routing of `X-Amz-Target`
/// calls to the service owning the target's prefix (on any path, as on AWS). One middleware
/// rather than three: each layer costs a boxed future and a service clone per request, which
/// showed on one-record puts.
struct Front {
    targets: HashMap<&'static str, Arc<dyn Api>>,
    auth: Arc<Auth>,
    origins: cors::AllowedOrigins,
    ids: RequestIds,
    home: Option<&'static str>,
}

/// A browser opening the root: a GET of `/` that is not the signaling WebSocket's upgrade (which
/// shares the path) and not an `X-Amz-Target` call.
fn opens_home(req: &Request) -> bool {
    req.method() == Method::GET
        && req.uri().path() == "/"
        && !req.headers().contains_key(header::UPGRADE)
        && !req.headers().contains_key("x-amz-target")
}

async fn front_door(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    let id = front.ids.next();
    let span = tracing::debug_span!("request", id = %id);
    // A cross-origin request (from a browser page) carries its page's origin.
    let cross_origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|origin| (origin.clone(), req.uri().path().to_string()));
    let home = front.home.filter(|_| opens_home(&req));
    let mut response = match (&cross_origin, home) {
        (_, Some(home)) => redirect(home),
        (Some((origin, path)), None) if req.method() == Method::OPTIONS => {
            cors::preflight(&front.origins, origin, req.headers(), path)
        }
        _ => {
            let mut response = if req.headers().contains_key("x-amz-target") {
                dispatch_target(&front, req).instrument(span).await
            } else {
                next.run(req).instrument(span).await
            };
            if let Some((origin, path)) = &cross_origin {
                cors::decorate_response(&front.origins, origin, path, &mut response);
            }
            response
        }
    };
    request::finish(&mut response, &id);
    response
}

/// A `302 Found` to `to`.
pub fn redirect(to: &'static str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}

/// Runs an `X-Amz-Target` call on the service owning the target's prefix.
async fn dispatch_target(front: &Front, req: Request) -> Response {
    // A cheap clone (the request's own bytes), so the target outlives the request's body.
    let target = req.headers().get("x-amz-target").cloned();
    let target = target
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
    let api = front.targets.get(prefix);
    let cbor = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("cbor"));
    let format = match api {
        Some(api) if cbor && api.speaks_cbor() => Format::Cbor,
        _ => Format::Json,
    };
    let result = async {
        if req.method() != Method::POST {
            return Err(ApiError::unknown_operation());
        }
        let api = api.ok_or_else(ApiError::unknown_operation)?;
        let (_, body, caller, _room) = front.auth.body(req, api.max_body_bytes()).await?;
        if caller.restricted() {
            authorize_target(api.as_ref(), &caller, &front.auth.scope, op, format, &body).await?;
        }
        api.call(Call { op, format, body }).await
    }
    .await;
    match result {
        Ok(Reply::Body(body)) => typed_response(StatusCode::OK, body.into(), format),
        Ok(Reply::Stream { content_type, body }) => {
            let mut response = Response::new(body);
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Err(e) => error_response(e, format),
    }
}

/// Authorizes a target call: the action is the service's IAM prefix and the operation, the
/// resources those the request names (its top-level members tell which).
async fn authorize_target(
    api: &dyn Api,
    caller: &Caller,
    scope: &api::Scope,
    op: &str,
    format: Format,
    body: &[u8],
) -> Result<(), ApiError> {
    let mut members = api::Members::of(format, body)?;
    if let Some(model) = api.model() {
        members = members.of_operation(model, op);
    }
    let action = format!("{}:{op}", api.iam_prefix());
    for resource in api.resources(op, &members, scope) {
        let policy = api.resource_policy(&resource).await;
        caller
            .authorize(&action, &resource, policy.as_deref())
            .map_err(|e| api.access_denied(e))?;
    }
    Ok(())
}

fn typed_response(status: StatusCode, body: Body, format: Format) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let content_type = match format {
        Format::Json => JSON_CONTENT_TYPE,
        Format::Cbor => CBOR_CONTENT_TYPE,
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An error answered outside an `X-Amz-Target` call (a route of its own) is AWS JSON.
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self, Format::Json)
    }
}

/// An AWS JSON 1.1 (or CBOR) error envelope: `__type` and `message`.
pub(crate) fn error_response(e: ApiError, format: Format) -> Response {
    let mut response = typed_response(e.status, error_body(&e, format).into(), format);
    if let Some(code) = e.query_code
        && let Ok(value) = HeaderValue::from_str(&format!("{code};Sender"))
    {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    if let Some(detail) = e.detail {
        response
            .extensions_mut()
            .insert(error::FailureDetail(detail));
    }
    response
}

fn error_body(e: &ApiError, format: Format) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    doc.insert("__type".into(), Value::String(e.aws_type.to_string()));
    if let Some(message) = &e.message {
        doc.insert("message".into(), Value::String(message.clone()));
    }
    if let Some(members) = &e.members {
        doc.extend(members.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let doc = Value::Object(doc);
    match format {
        Format::Json => serde_json::to_vec(&doc).unwrap_or_default(),
        Format::Cbor => cbor::encode(shape::kinesis(), None, &doc),
    }
}

/// `GET /health`: every service open and its storage taking durable writes → 200; otherwise
/// 503 naming what is wrong. The body is one JSON object for people and probes alike.
async fn health(State(apis): State<Arc<Vec<Arc<dyn Api>>>>) -> Response {
    let mut services = serde_json::Map::new();
    let mut healthy = true;
    for api in apis.iter() {
        let state = match api.health().await {
            Ok(()) => "ok".to_string(),
            Err(why) => {
                healthy = false;
                tracing::warn!(service = api.name(), reason = %why, "health check failed");
                why
            }
        };
        services.insert(api.name().into(), Value::String(state));
    }
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "services": services,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    if !healthy {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /metrics`: the services' and the process's metrics, in the Prometheus text format or,
/// when the scraper asks for it, OpenMetrics.
async fn metrics(State(apis): State<Arc<Vec<Arc<dyn Api>>>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = metrics::Format::negotiate(accept);
    let mut exposition = metrics::Exposition::new(format);
    for api in apis.iter() {
        api.render_metrics(&mut exposition);
    }
    metrics::render_process(&mut exposition);
    let mut response = Response::new(Body::from(exposition.finish()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}
