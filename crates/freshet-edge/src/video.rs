//! Kinesis Video Streams at the edge (`kinesisvideo`, `kinesis-video-media`,
//! `kinesis-video-archived-media`; all rest-json): a `POST` to an operation's path
//! (`/createStream`, `/getMedia`) with a JSON body, checked against its model and run on the
//! video service, plus PutMedia (in no botocore model): a chunked MKV upload answered by a
//! stream of JSON acknowledgements. Errors follow rest-json: the model's HTTP status for the
//! error shape, its name in `x-amzn-ErrorType` (where botocore reads the code) and
//! `{"message"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use axum::routing::any;
use freshet_video::ingest::Ack;
use freshet_video::model::{
    GetHlsStreamingSessionUrlInput, SessionFragmentSelector, SessionTimestampRange, StreamRef,
};
use freshet_video::playback::{MediaStream, PutMediaInput};
use freshet_video::{VideoError, VideoService};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::{Api, Members, Scope};
use crate::codec::{Format, decode_request, typed};
use crate::error::{ApiError, FailureDetail};
use crate::shape::{self, Model};
use crate::{Auth, Caller};

const JSON_CONTENT_TYPE: &str = "application/json";
const PUT_MEDIA_PATH: &str = "/putMedia";

/// The four Kinesis Video models, control plane first.
fn models() -> [&'static Model; 5] {
    [
        shape::kinesisvideo(),
        shape::kinesis_video_media(),
        shape::kinesis_video_archived_media(),
        shape::kinesis_video_signaling(),
        shape::kinesis_video_webrtc_storage(),
    ]
}

/// Kinesis Video Streams: the control plane, media and archived media (rest-json paths),
/// PutMedia, the HLS/DASH session paths and the player page.
pub struct VideoApi {
    svc: VideoService,
}

impl VideoApi {
    pub fn new(svc: VideoService) -> VideoApi {
        VideoApi { svc }
    }
}

impl VideoApi {
    /// Authorizes `kinesisvideo:<op>` on what a JSON request names.
    async fn authorize(
        &self,
        caller: &Caller,
        scope: &Scope,
        model: &Model,
        op: &str,
        body: &[u8],
    ) -> Result<(), ApiError> {
        if !caller.restricted() {
            return Ok(());
        }
        let members = Members::of(Format::Json, body)?.of_operation(model, op);
        self.authorize_members(caller, scope, op, &members).await
    }

    async fn authorize_members(
        &self,
        caller: &Caller,
        scope: &Scope,
        op: &str,
        m: &Members,
    ) -> Result<(), ApiError> {
        if !caller.restricted() {
            return Ok(());
        }
        let resource = match (
            m.get("StreamARN")
                .or(m.get("ResourceARN"))
                .or(m.get("ChannelARN")),
            m.get("StreamName"),
            m.get("ChannelName"),
        ) {
            (Some(arn), _, _) => arn.to_string(),
            (None, Some(name), _) => match self.svc.arn_of(name, false).await {
                Some(arn) => arn,
                // Not yet created (or gone): any creation time.
                None => scope.arn("kinesisvideo", &format!("stream/{name}/*")),
            },
            (None, None, Some(name)) => match self.svc.arn_of(name, true).await {
                Some(arn) => arn,
                None => scope.arn("kinesisvideo", &format!("channel/{name}/*")),
            },
            (None, None, None) => "*".to_string(),
        };
        caller
            .authorize(&format!("kinesisvideo:{op}"), &resource, None)
            .map_err(video_access_denied)
    }
}

/// Kinesis Video answers a refusal with its modelled `AccessDeniedException` (401).
pub(crate) fn video_access_denied(denied: freshet_iam::AccessDenied) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        ..ApiError::client("AccessDeniedException", denied.message())
    }
}

impl Api for VideoApi {
    fn name(&self) -> &'static str {
        "video"
    }

    fn routes(self: Arc<Self>, auth: Arc<Auth>) -> Router {
        let mut router = Router::new();
        for model in models() {
            for (op, shape) in &model.operations {
                let (api, auth, op) = (self.clone(), auth.clone(), op.as_str());
                router = router.route(
                    &shape.request_uri,
                    any(move |req: Request| async move {
                        if req.method() != Method::POST {
                            return crate::error_response(
                                ApiError::unknown_operation(),
                                Format::Json,
                            );
                        }
                        let result = match auth.body(req, crate::CONTROL_BODY_BYTES).await {
                            Ok((_, body, caller, _room)) => {
                                match api.authorize(&caller, &auth.scope, model, op, &body).await {
                                    Ok(()) => call(&api.svc, model, op, &body).await,
                                    Err(e) => Err(e),
                                }
                            }
                            Err(e) => Err(e),
                        };
                        respond(result)
                    }),
                );
            }
        }
        let (api, put_auth) = (self.clone(), auth.clone());
        router = router.route(
            PUT_MEDIA_PATH,
            any(move |req: Request| async move {
                if req.method() != Method::POST {
                    return crate::error_response(ApiError::unknown_operation(), Format::Json);
                }
                let (parts, body) = req.into_parts();
                // The body is a live stream: the signature covers the headers, and the payload
                // hash the producer declared (UNSIGNED-PAYLOAD or that of an empty body).
                let authorized = match put_auth.check(&parts, None) {
                    Ok(caller) => {
                        // PutMedia names its stream in headers, not a body.
                        let header =
                            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
                        let members = Members::from_pairs([
                            ("StreamName", header("x-amzn-stream-name")),
                            ("StreamARN", header("x-amzn-stream-arn")),
                        ]);
                        api.authorize_members(&caller, &put_auth.scope, "PutMedia", &members)
                            .await
                    }
                    Err(e) => Err(e),
                };
                let result = match authorized {
                    Ok(()) => put_media(&api.svc, &parts.headers, body).await,
                    Err(e) => Err(e),
                };
                respond(result)
            }),
        );
        // HLS and DASH sessions are authorized by their session token, not SigV4: players
        // cannot sign.
        for prefix in ["/hls/v1/{action}", "/dash/v1/{action}"] {
            let api = self.clone();
            router = router.route(
                prefix,
                any(move |req: Request| async move {
                    let action = req.uri().path().rsplit('/').next().unwrap_or_default();
                    if req.method() != Method::GET {
                        return crate::error_response(ApiError::unknown_operation(), Format::Json);
                    }
                    packaged(&api.svc, action, req.uri().query()).await
                }),
            );
        }
        // The signaling WebSocket lives at the root (JSON APIs there route by X-Amz-Target
        // before reaching the router).
        let (api, ws_auth) = (self.clone(), auth.clone());
        router = router.route(
            "/",
            any(move |req: Request| async move {
                if crate::signaling::is_connect(&req) {
                    crate::signaling::connect(api.svc.clone(), ws_auth, req).await
                } else {
                    crate::error_response(ApiError::unknown_operation(), Format::Json)
                }
            }),
        );
        let api = self;
        router.route(
            "/video/{*rest}",
            any(move |req: Request| async move {
                // The player page mints a playback session without a signature (a browser
                // cannot sign): only an anonymous server offers it.
                if auth.iam.enabled() {
                    return crate::error_response(
                        ApiError {
                            status: StatusCode::UNAUTHORIZED,
                            ..ApiError::client(
                                "AccessDeniedException",
                                "The player page is served only when the server checks no signatures; sign GetHLSStreamingSessionURL instead.",
                            )
                        },
                        Format::Json,
                    );
                }
                let page = match req.method() == Method::GET {
                    true => page(&api.svc, req.uri().path(), req.uri().query()).await,
                    false => None,
                };
                page.unwrap_or_else(|| {
                    crate::error_response(ApiError::unknown_operation(), Format::Json)
                })
            }),
        )
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.svc.health().await.map_err(|e| e.to_string()) })
    }

    fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        self.svc.render_metrics(e);
    }
}

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> ApiError {
        let mut error = ApiError::from_service(e.is_internal(), e.aws_type(), &e);
        // rest-json errors carry the status the model gives their shape (404 for not found).
        if let Some(status) = models()
            .iter()
            .find_map(|m| m.error_status.get(e.aws_type()))
            .and_then(|&s| StatusCode::from_u16(s).ok())
            && !e.is_internal()
        {
            error.status = status;
        }
        error
    }
}

/// What an operation answers: a JSON document, or media produced as it is read.
enum VideoReply {
    Json(Vec<u8>),
    Media(MediaStream),
    /// PutMedia's acknowledgements, one JSON object per line as they come.
    Acks(mpsc::Receiver<Ack>),
}

/// Decodes and checks the body of `op`, then runs it. The models have no ValidationException:
/// KVS reports malformed and out-of-bounds input as `InvalidArgumentException`, so the
/// validator's findings keep their text under that name.
async fn call(
    svc: &VideoService,
    model: &Model,
    op: &str,
    body: &[u8],
) -> Result<VideoReply, ApiError> {
    // botocore sends no body for an operation whose input members are all absent.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let document = decode_request(model, op, Format::Json, body).map_err(|e| match e.aws_type {
        "ValidationException" | "SerializationException" => ApiError::client(
            "InvalidArgumentException",
            e.message
                .unwrap_or_else(|| "The request body is not valid JSON.".into()),
        ),
        _ => e,
    })?;
    dispatch(svc, op, document).await
}

fn output<T: Serialize>(value: &T) -> Result<VideoReply, ApiError> {
    serde_json::to_vec(value)
        .map(VideoReply::Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn dispatch(svc: &VideoService, op: &str, body: Value) -> Result<VideoReply, ApiError> {
    macro_rules! run {
        ($method:ident) => {
            output(&svc.$method(typed(body)?).await?)
        };
    }
    macro_rules! media {
        ($method:ident) => {
            Ok(VideoReply::Media(svc.$method(typed(body)?).await?))
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
        "ListFragments" => run!(list_fragments),
        "GetMedia" => media!(get_media),
        "GetMediaForFragmentList" => media!(get_media_for_fragment_list),
        "GetHLSStreamingSessionURL" => run!(get_hls_streaming_session_url),
        "GetDASHStreamingSessionURL" => run!(get_dash_streaming_session_url),
        "GetClip" => media!(get_clip),
        "GetImages" => run!(get_images),
        "CreateSignalingChannel" => run!(create_signaling_channel),
        "DescribeSignalingChannel" => run!(describe_signaling_channel),
        "ListSignalingChannels" => run!(list_signaling_channels),
        "UpdateSignalingChannel" => run!(update_signaling_channel),
        "DeleteSignalingChannel" => run!(delete_signaling_channel),
        "GetSignalingChannelEndpoint" => run!(get_signaling_channel_endpoint),
        "GetIceServerConfig" => run!(get_ice_server_config),
        "SendAlexaOfferToMaster" => run!(send_alexa_offer_to_master),
        "UpdateMediaStorageConfiguration" => run!(update_media_storage_configuration),
        "DescribeMediaStorageConfiguration" => run!(describe_media_storage_configuration),
        "DescribeMappedResourceConfiguration" => run!(describe_mapped_resource_configuration),
        "JoinStorageSession" => run!(join_storage_session),
        "JoinStorageSessionAsViewer" => run!(join_storage_session_as_viewer),
        // Edge agents, media and stream storage configurations.
        _ => Err(ApiError::client(
            "InvalidArgumentException",
            format!("{op} is not supported by Freshet yet."),
        )),
    }
}

/// A playlist, manifest or fragment of a streaming session (read and muxed on a blocking
/// thread: fragments come from disk and muxing is CPU work).
async fn packaged(svc: &VideoService, action: &str, query: Option<&str>) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (svc, action) = (svc.clone(), action.to_string());
    let result = tokio::task::spawn_blocking(move || svc.packaged(&action, &query))
        .await
        .unwrap_or_else(|e| Err(freshet_video::VideoError::Internal(e.to_string())));
    match result {
        Ok(p) => {
            let mut response = Response::new(Body::from(p.body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(p.content_type),
            );
            // Players on other origins (a page served elsewhere) may fetch the session.
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            response
        }
        Err(e) => respond(Err(e.into())),
    }
}

const HLS_JS: &[u8] = include_bytes!("../assets/hls.light.min.js");
const HLS_JS_PATH: &str = "/video/assets/hls.light.min.js";

/// `GET /video/<stream>`: a page that plays the stream with hls.js, LIVE by default, or
/// ON_DEMAND between `start` and `end` (epoch seconds). Also serves hls.js itself.
async fn page(svc: &VideoService, path: &str, query: Option<&str>) -> Option<Response> {
    if path == HLS_JS_PATH {
        let mut response = Response::new(Body::from(HLS_JS));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript"),
        );
        return Some(response);
    }
    let stream = path.strip_prefix("/video/").filter(|s| !s.contains('/'))?;
    let query: HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let epoch = |key: &str| query.get(key).and_then(|v| v.parse::<f64>().ok());
    let (mode, range) = match (epoch("start"), epoch("end")) {
        (Some(start), Some(end)) => (
            "ON_DEMAND",
            Some(SessionFragmentSelector {
                fragment_selector_type: Some("PRODUCER_TIMESTAMP".into()),
                timestamp_range: Some(SessionTimestampRange {
                    start_timestamp: Some(start),
                    end_timestamp: Some(end),
                }),
            }),
        ),
        _ => ("LIVE", None),
    };
    let session = svc
        .get_hls_streaming_session_url(GetHlsStreamingSessionUrlInput {
            stream: StreamRef {
                name: Some(stream.to_string()),
                arn: None,
            },
            playback_mode: Some(mode.into()),
            fragment_selector: range,
            container_format: None,
            discontinuity_mode: None,
            display_fragment_timestamp: None,
            expires: Some(43_200),
            max_media_playlist_fragment_results: None,
        })
        .await;
    let (status, html) = match session {
        Ok(out) => (StatusCode::OK, player_html(stream, &out.url)),
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!(
                "<!doctype html><meta charset=\"utf-8\"><title>{0}</title><p>{0}: {1}</p>",
                escape(stream),
                escape(&e.to_string())
            ),
        ),
    };
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Some(response)
}

/// Text safe inside HTML or XML markup and attribute values.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The player: hls.js where Media Source Extensions exist, the browser's own HLS otherwise.
/// `window.playback` exposes what happened, for people and for the browser test.
fn player_html(stream: &str, url: &str) -> String {
    let url = serde_json::to_string(url).unwrap_or_default();
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>{title} · Freshet video</title>
<style>body{{font-family:sans-serif;margin:2em}}video{{max-width:100%;background:#000}}</style></head>
<body><h1>{title}</h1>
<video id="video" controls muted autoplay playsinline width="640"></video>
<p id="status"></p>
<script src="{HLS_JS_PATH}"></script>
<script>
const url = {url};
const video = document.getElementById('video');
const status = document.getElementById('status');
window.playback = {{ url, errors: [], engine: '' }};
function report(text) {{ status.textContent = text; }}
if (window.Hls && Hls.isSupported()) {{
  window.playback.engine = 'hls.js';
  const hls = new Hls({{ liveSyncDurationCount: 2 }});
  hls.on(Hls.Events.ERROR, (_, d) => {{
    window.playback.errors.push(d.details + (d.fatal ? ' (fatal)' : ''));
    if (d.fatal) report('playback error: ' + d.details);
  }});
  hls.loadSource(url);
  hls.attachMedia(video);
}} else if (video.canPlayType('application/vnd.apple.mpegurl')) {{
  window.playback.engine = 'native';
  video.src = url;
}} else {{
  report('this browser cannot play HLS');
}}
video.addEventListener('error', () => window.playback.errors.push('video element error'));
video.play().catch(() => {{}});
</script></body></html>
"#,
        title = escape(stream)
    )
}

/// Starts a PutMedia: the stream and headers are checked before the 200; then the body is
/// read while acknowledgements stream back, one JSON object per line.
async fn put_media(
    svc: &VideoService,
    headers: &HeaderMap,
    body: Body,
) -> Result<VideoReply, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ingest = svc
        .put_media(PutMediaInput {
            stream: StreamRef {
                name: header("x-amzn-stream-name"),
                arn: header("x-amzn-stream-arn"),
            },
            timecode_type: header("x-amzn-fragment-timecode-type"),
            producer_start_timestamp: header("x-amzn-producer-start-timestamp"),
        })
        .await?;
    let (acks, received) = mpsc::channel(64);
    tokio::spawn(ingest.run(body.into_data_stream(), acks));
    Ok(VideoReply::Acks(received))
}

/// A response body of whatever a channel yields, each item encoded by `encode`.
fn streamed<T: Send + 'static>(rx: mpsc::Receiver<T>, encode: fn(T) -> Bytes) -> Body {
    let chunks = futures_util::stream::unfold(rx, move |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (Ok::<_, std::convert::Infallible>(encode(item)), rx))
    });
    Body::from_stream(chunks.boxed())
}

fn ack_line(ack: Ack) -> Bytes {
    let mut line = serde_json::to_vec(&ack).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The rest-json response for an answer or an error.
fn respond(result: Result<VideoReply, ApiError>) -> Response {
    let mut detail = None;
    let (status, body, content_type, error_type) = match result {
        Ok(VideoReply::Json(body)) => (StatusCode::OK, Body::from(body), JSON_CONTENT_TYPE, None),
        Ok(VideoReply::Media(media)) => (
            StatusCode::OK,
            streamed(media.chunks, |chunk| chunk),
            media.content_type,
            None,
        ),
        Ok(VideoReply::Acks(acks)) => (
            StatusCode::OK,
            streamed(acks, ack_line),
            JSON_CONTENT_TYPE,
            None,
        ),
        Err(e) => {
            detail = e.detail.clone();
            let message = e.message.clone().unwrap_or_default();
            let body =
                serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default();
            (
                e.status,
                Body::from(body),
                JSON_CONTENT_TYPE,
                Some(e.aws_type),
            )
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(kind) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    if let Some(detail) = detail {
        response.extensions_mut().insert(FailureDetail(detail));
    }
    response
}
