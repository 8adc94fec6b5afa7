//! A minimal Kinesis client over hyper's pooled HTTP/1.1 keep-alive client (or, with `http2`,
//! prior-knowledge HTTP/2 connections that multiplex the calls), speaking JSON 1.1 or, with
//! `Wire::Cbor`, the CBOR form the Java SDKs use: one `call` per operation, with the request body
//! already serialised by the caller so that the load generator's own CPU cost stays small next to
//! the server's. `call_streaming` hands back the response body unread, for SubscribeToShard's
//! event stream.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The body encoding of requests and responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// `application/x-amz-json-1.1`: blobs are base64 strings.
    Json,
    /// `application/x-amz-cbor-1.1`: blobs are CBOR byte strings (the Java SDK's default).
    Cbor,
}

impl Wire {
    fn content_type(self) -> &'static str {
        match self {
            Wire::Json => "application/x-amz-json-1.1",
            Wire::Cbor => "application/x-amz-cbor-1.1",
        }
    }

    /// Serialises a request document (one without blobs: those bodies are built by hand).
    pub fn encode<T: serde::Serialize>(self, doc: &T) -> Bytes {
        let mut out = Vec::new();
        match self {
            // Writing a serde value into a Vec cannot fail.
            Wire::Json => {
                let _ = serde_json::to_writer(&mut out, doc);
            }
            Wire::Cbor => {
                let _ = ciborium::ser::into_writer(doc, &mut out);
            }
        }
        Bytes::from(out)
    }

    /// Parses a response document.
    pub fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, String> {
        match self {
            Wire::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
            Wire::Cbor => ciborium::de::from_reader(body).map_err(|e| e.to_string()),
        }
    }
}

/// What went wrong with one call: the connection, or an error document from the server.
#[derive(Debug, Clone)]
pub enum CallError {
    Transport(String),
    /// A failure reported by a non-Kinesis peer's client library (NATS).
    Peer(String),
    Api {
        status: StatusCode,
        kind: String,
        message: String,
    },
}

impl CallError {
    /// A short key to count errors by: the AWS `__type` or "transport".
    pub fn kind(&self) -> String {
        match self {
            CallError::Transport(_) => "transport".to_owned(),
            CallError::Peer(_) => "peer".to_owned(),
            CallError::Api { status, kind, .. } => format!("{kind} (HTTP {})", status.as_u16()),
        }
    }

    pub fn is_throttle(&self) -> bool {
        matches!(self, CallError::Api { kind, .. }
            if kind == "ProvisionedThroughputExceededException" || kind == "LimitExceededException")
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(e) => write!(f, "transport error: {e}"),
            CallError::Peer(e) => write!(f, "{e}"),
            CallError::Api {
                status,
                kind,
                message,
            } => write!(f, "{kind} (HTTP {}): {message}", status.as_u16()),
        }
    }
}

impl std::error::Error for CallError {}

#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(alias = "Message", default)]
    message: String,
}

/// A pooled HTTP client for a plain `http://` endpoint (HTTP/2 with prior knowledge if
/// `http2`) and the endpoint's URI.
pub(crate) fn plain_http(
    endpoint: &str,
    http2: bool,
) -> anyhow::Result<(Client<HttpConnector, Full<Bytes>>, Uri)> {
    let uri: Uri = endpoint.parse()?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "only http:// endpoints are supported, got {endpoint}"
    );
    let mut connector = HttpConnector::new();
    // Small JSON requests and responses must not wait on Nagle's algorithm.
    connector.set_nodelay(true);
    let http = Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build(connector);
    Ok((http, uri))
}

#[derive(Clone)]
pub struct Kinesis {
    http: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    wire: Wire,
    amz_date: String,
    authorization: String,
}

impl Kinesis {
    /// A client for `endpoint` over HTTP/1.1, or over HTTP/2 with prior knowledge (h2c) if `http2`.
    pub fn new(endpoint: &str, http2: bool, wire: Wire) -> anyhow::Result<Self> {
        let (http, uri) = plain_http(endpoint, http2)?;
        let amz_date = amz_date(SystemTime::now());
        // Unsigned: servers running without credentials (Freshet's default, kinesalite) only check
        // that an Authorization header of the SigV4 shape and an X-Amz-Date are present.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDFRESHETBENCH/{}/us-east-1/kinesis/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
            &amz_date[..8],
            "0".repeat(64)
        );
        Ok(Kinesis {
            http,
            uri,
            wire,
            amz_date,
            authorization,
        })
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Sends one operation with a ready body (in this client's wire format) and returns the raw
    /// response body.
    pub async fn call(&self, operation: &str, body: Bytes) -> Result<Bytes, CallError> {
        let body = self.call_streaming(operation, body).await?;
        collect(body).await
    }

    /// Sends one operation and returns the body of a successful response without reading it
    /// (an error response is read and turned into `CallError::Api`).
    pub async fn call_streaming(
        &self,
        operation: &str,
        body: Bytes,
    ) -> Result<Incoming, CallError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(header::CONTENT_TYPE, self.wire.content_type())
            .header("x-amz-target", format!("{TARGET_PREFIX}{operation}"))
            .header("x-amz-date", &self.amz_date)
            .header(header::AUTHORIZATION, &self.authorization)
            .body(Full::new(body))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(format!("{e:?}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let body = collect(response.into_body()).await?;
        let doc: ErrorDocument = self.wire.decode(&body).unwrap_or(ErrorDocument {
            kind: String::new(),
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
        // `__type` may be namespaced ("com.amazonaws.kinesis#ResourceNotFoundException").
        let kind = doc.kind.rsplit('#').next().unwrap_or_default().to_owned();
        Err(CallError::Api {
            status,
            kind,
            message: doc.message,
        })
    }

    /// Sends one operation built from a JSON value (without blobs) and parses the reply.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        input: &serde_json::Value,
    ) -> Result<T, CallError> {
        let reply = self.call(operation, self.wire.encode(input)).await?;
        self.decode(operation, &reply)
    }

    /// Parses a reply to `operation` in this client's wire format.
    pub fn decode<T: DeserializeOwned>(
        &self,
        operation: &str,
        reply: &[u8],
    ) -> Result<T, CallError> {
        self.wire
            .decode(reply)
            .map_err(|e| CallError::Transport(format!("unparseable {operation} response: {e}")))
    }
}

async fn collect(body: Incoming) -> Result<Bytes, CallError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?
        .to_bytes())
}

/// `YYYYMMDD'T'HHMMSS'Z'`, the X-Amz-Date format.
fn amz_date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn documents_round_trip_in_both_wires() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Out {
            #[serde(rename = "StreamName")]
            name: String,
            #[serde(rename = "Limit")]
            limit: u32,
        }
        let doc = serde_json::json!({ "StreamName": "s", "Limit": 7 });
        for wire in [Wire::Json, Wire::Cbor] {
            let body = wire.encode(&doc);
            let out: Out = wire.decode(&body).unwrap();
            assert_eq!(
                out,
                Out {
                    name: "s".into(),
                    limit: 7
                }
            );
        }
        // CBOR really is CBOR: a map of two entries (major type 5) first.
        assert_eq!(Wire::Cbor.encode(&doc)[0], 0xa2);
    }

    #[test]
    fn amz_date_formats_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(amz_date(t), "20231114T221320Z");
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&amz_date(leap)[..8], "20000229");
    }
}
