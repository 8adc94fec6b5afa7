//! The web console at `/console/`: pages for every stream, delivery stream, application and
//! video stream. The pages are plain ES modules committed under `assets/` (with their vendored
//! libraries) and compiled into the binary: nothing to build, no Node toolchain.
//!
//! The pages call the public APIs, signed with SigV4 in the browser when keys are configured,
//! and a few read-only console endpoints for what no AWS API answers: per-shard counters, a
//! live tail of a stream (server-sent events from the log's tail notifier), a delivery
//! stream's recent deliveries and an application's recent errors. Those endpoints are signed like any API call.

mod assets;
mod tail;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use freshet_analytics::AnalyticsService;
use freshet_edge::{Api, ApiError, Auth, redirect};
use freshet_firehose::FirehoseService;
use freshet_streams::StreamsService;
use futures_util::future::BoxFuture;
use http::{HeaderValue, header};
use serde::Serialize;

/// Where the console lives; the root redirects here.
pub const HOME: &str = "/console/";

pub struct ConsoleApi {
    streams: StreamsService,
    firehose: FirehoseService,
    analytics: AnalyticsService,
    /// What the pages need before their first call.
    config: ConsoleConfig,
}

/// `GET /console/api/config`: whether calls must be signed, and for which region.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleConfig {
    pub region: String,
    pub auth: bool,
}

impl ConsoleApi {
    pub fn new(
        streams: StreamsService,
        firehose: FirehoseService,
        analytics: AnalyticsService,
        config: ConsoleConfig,
    ) -> ConsoleApi {
        ConsoleApi {
            streams,
            firehose,
            analytics,
            config,
        }
    }
}

impl Api for ConsoleApi {
    fn name(&self) -> &'static str {
        "console"
    }

    fn routes(self: Arc<Self>, auth: Arc<Auth>) -> Router {
        let config = self.config.clone();
        let tail = (self.clone(), auth.clone());
        Router::new()
            .route("/console", get(|| async { redirect(HOME) }))
            .route("/console/", get(|| async { assets::serve("index.html") }))
            .route(
                "/console/assets/{*file}",
                get(|Path(file): Path<String>| async move { assets::serve(&file) }),
            )
            .route(
                "/console/api/config",
                get(move || async move { json(&config) }),
            )
            .route(
                "/console/api/streams/{name}/shards",
                signed_json(&self, &auth, ("kinesis:ListShards", "stream/"), |api, name| {
                    Ok(api.streams.shard_counters(name)?)
                }),
            )
            .route(
                "/console/api/streams/{name}/tail",
                get(
                    move |Path(name): Path<String>, RawQuery(query): RawQuery, req: Request| async move {
                        let (api, auth) = tail;
                        signed(&api, &auth, req, "kinesis:GetRecords", &format!("stream/{name}"))
                            .await?;
                        tail::open(&api.streams, &name, query.as_deref()).await
                    },
                ),
            )
            .route(
                "/console/api/deliverystreams/{name}/deliveries",
                signed_json(&self, &auth, ("firehose:DescribeDeliveryStream", "deliverystream/"), |api, name| {
                    Ok(api.firehose.recent_deliveries(name)?)
                }),
            )
            .route(
                "/console/api/applications/{name}/errors",
                signed_json(&self, &auth, ("kinesisanalytics:DescribeApplication", "application/"), |api, name| {
                    Ok(api.analytics.recent_errors(name)?)
                }),
            )
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A console endpoint's call passes the same SigV4 check as an API call (a GET: no body), and
/// the same authorization as the API call that reads the same thing: `action` on the resource
/// `resource` (of the server's scope) names.
async fn signed(
    api: &ConsoleApi,
    auth: &Auth,
    req: Request,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    let (parts, _) = req.into_parts();
    let caller = auth.check(&parts, None)?;
    let service = action.split(':').next().unwrap_or_default();
    let arn = auth.scope.arn(service, resource);
    // A stream's resource policy counts here as on the API call.
    let policy = match service {
        "kinesis" => api.streams.resource_policy(&arn).await.ok().flatten(),
        _ => None,
    };
    caller
        .authorize(action, &arn, policy.as_deref())
        .map_err(|denied| ApiError::client("AccessDeniedException", denied.message()))
}

/// A signed read-only endpoint about the resource its path names, answering JSON.
fn signed_json<T, F>(
    api: &Arc<ConsoleApi>,
    auth: &Arc<Auth>,
    (action, kind): (&'static str, &'static str),
    answer: F,
) -> MethodRouter
where
    T: Serialize,
    F: Fn(&ConsoleApi, &str) -> Result<T, ApiError> + Clone + Send + Sync + 'static,
{
    let (api, auth) = (api.clone(), auth.clone());
    get(move |Path(name): Path<String>, req: Request| async move {
        signed(&api, &auth, req, action, &format!("{kind}{name}")).await?;
        Ok::<_, ApiError>(json(&answer(&api, &name)?))
    })
}

fn json(value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
