//! How a service plugs into the edge. Each service's adapter (`kinesis.rs`, `firehose.rs`,
//! `video.rs`) implements `Api`: the `X-Amz-Target` prefix it answers (AWS JSON 1.1 and CBOR
//! services), the routes it adds (rest-json services such as Kinesis Video), its health and
//! its metrics. The binary hands the adapters to `EdgeBuilder`; the edge's dispatch never names
//! a service.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use freshet_runtime::metrics::Exposition;
use futures_util::future::BoxFuture;

use crate::Auth;
use crate::codec::Format;
use crate::error::ApiError;
use crate::shape::Model;

/// One `X-Amz-Target` call, authenticated, its body not yet decoded (adapters may take a fast
/// path over the raw bytes).
pub struct Call<'a> {
    /// The operation: the target after its prefix's `.`.
    pub op: &'a str,
    pub format: Format,
    pub body: Bytes,
}

/// What an operation answers: a body in the request's format, or a stream of its own kind
/// (SubscribeToShard's event stream).
pub enum Reply {
    Body(Vec<u8>),
    Stream {
        content_type: &'static str,
        body: Body,
    },
}

pub trait Api: Send + Sync + 'static {
    /// The service's name in `/health` and the logs.
    fn name(&self) -> &'static str;

    /// For a service spoken as AWS JSON 1.1 (and CBOR): its model, whose `target_prefix` routes
    /// `X-Amz-Target` calls here.
    fn model(&self) -> Option<&'static Model> {
        None
    }

    /// Whether requests may come as CBOR (`application/x-amz-cbor-1.1`); JSON otherwise.
    fn speaks_cbor(&self) -> bool {
        false
    }

    /// Runs one target operation of `model()`.
    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        let _ = call;
        Box::pin(async { Err(ApiError::unknown_operation()) })
    }

    /// The routes a rest-json service serves, given the edge's authenticator.
    fn routes(self: Arc<Self>, auth: Arc<Auth>) -> Router {
        let _ = auth;
        Router::new()
    }

    /// Whether the service is open and its storage takes durable writes.
    fn health(&self) -> BoxFuture<'_, Result<(), String>>;

    /// Adds the service's metrics to a `/metrics` scrape.
    fn render_metrics(&self, e: &mut Exposition) {
        let _ = e;
    }
}
