//! How a service plugs into the edge. Each service's adapter (`kinesis.rs`, `firehose.rs`,
//! `video.rs`) implements `Api`: the `X-Amz-Target` prefix it answers (AWS JSON 1.1 and CBOR
//! services), the routes it adds (rest-json services such as Kinesis Video), its health and
//! its metrics. The binary hands the adapters to `EdgeBuilder`; the edge's dispatch never names
//! a service.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use freshet_iam::{AccessDenied, Policy};
use freshet_runtime::metrics::Exposition;
use futures_util::future::BoxFuture;
use serde::de::{IgnoredAny, MapAccess, Visitor};

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

/// A target request's top-level string members (`StreamName`, `ConsumerARN`, ...): what its
/// authorization needs, read without decoding the rest (a PutRecords' records are skipped).
#[derive(Default)]
pub struct Members(Vec<(String, String)>);

impl Members {
    pub fn of(format: Format, body: &[u8]) -> Result<Members, ApiError> {
        // A body that is not a map is left for the operation's decoding to refuse.
        match format {
            Format::Json => match serde_json::from_slice(body) {
                Ok(members) => Ok(members),
                Err(e) if e.to_string().starts_with("duplicate member") => {
                    Err(ApiError::bare_serialization())
                }
                Err(_) => Ok(Members::default()),
            },
            Format::Cbor => {
                let value = crate::cbor::decode_request(body)?;
                Ok(Members(
                    value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect(),
                ))
            }
        }
    }

    /// Only the members operation `op` of `model` takes: decoding drops the others, so they
    /// must not name the resource to authorization either.
    pub fn of_operation(mut self, model: &Model, op: &str) -> Members {
        let input = model.operations.get(op).and_then(|o| o.input.as_deref());
        match input.and_then(|i| model.shapes.get(i)) {
            Some(crate::shape::Shape::Structure { members, .. }) => {
                self.0.retain(|(k, _)| members.iter().any(|(m, _)| m == k));
            }
            _ => self.0.clear(),
        }
        self
    }

    /// Members given one by one (a request that names its resource in headers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Members {
        Members(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        struct Strings;
        impl<'de> Visitor<'de> for Strings {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    // A repeated member could name one resource to authorization and another
                    // to the operation (decoding keeps the last): refused.
                    if seen.contains(&key) {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                    seen.push(key.clone());
                    match map.next_value::<StringOrOther>()? {
                        StringOrOther::String(v) => out.push((key, v)),
                        StringOrOther::Other(_) => {}
                    }
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Strings)
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StringOrOther {
    String(String),
    Other(IgnoredAny),
}

/// The region and account this server's resources live in: the parts of their ARNs.
#[derive(Clone, Debug)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

pub trait Api: Send + Sync + 'static {
    /// The service's name in `/health` and the logs.
    fn name(&self) -> &'static str;

    /// For a service spoken as AWS JSON 1.1 (and CBOR): its model, whose `target_prefix` routes
    /// `X-Amz-Target` calls here.
    fn model(&self) -> Option<&'static Model> {
        None
    }

    /// The prefix of its actions in IAM policies (`kinesis` for `kinesis:PutRecord`).
    fn iam_prefix(&self) -> &'static str {
        self.name()
    }

    /// The ARNs a target operation acts on, each authorized on its own; `*` for an operation
    /// on no resource in particular.
    fn resources(&self, op: &str, members: &Members, scope: &Scope) -> Vec<String> {
        let _ = (op, members, scope);
        vec!["*".to_string()]
    }

    /// A resource's own policy, taking part in authorization (Kinesis streams and consumers).
    fn resource_policy<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Option<Arc<Policy>>> {
        let _ = arn;
        Box::pin(async { None })
    }

    /// The service's answer to a refused call (AWS JSON services: `AccessDeniedException`).
    fn access_denied(&self, denied: AccessDenied) -> ApiError {
        ApiError::client("AccessDeniedException", denied.message())
    }

    /// The largest request body an operation of this service takes.
    fn max_body_bytes(&self) -> usize {
        crate::CONTROL_BODY_BYTES
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
