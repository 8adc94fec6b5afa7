//! Cross-origin requests: browser code using an AWS SDK (the SDK for JavaScript) calls the
//! endpoint directly, so the browser first sends a preflight `OPTIONS` and then reads only the
//! response headers the server exposes. AWS answers the preflight for every service and adds
//! `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` (the request id and the
//! `x-amz*` headers SDKs read) to every response; this layer does the same for every API on the
//! port, for the origins the settings allow (the edge's front middleware in `lib.rs` calls it).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// Sent when a preflight names no method: what the APIs on this port use.
const ALLOW_METHODS: &str = "POST,GET";
/// Sent when a preflight names no headers: those the AWS SDKs sign and send.
const ALLOW_HEADERS: &str = "authorization, content-type, content-length, content-md5, \
    x-amz-target, x-amz-date, x-amz-security-token, x-amz-content-sha256, x-amz-user-agent, \
    amz-sdk-invocation-id, amz-sdk-request, x-amzn-fragment-acknowledgment-required, \
    x-amzn-fragment-timecode-type, x-amzn-producer-start-timestamp, x-amzn-stream-name, \
    x-amzn-stream-arn";
/// Response headers a browser may read, as AWS's Kinesis and Firehose endpoints list them
/// (captured from both in 2021; kinesalite and kinesis-mock send the same list).
const EXPOSE_HEADERS_JSON: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";
/// The same for Kinesis Video's rest-json paths, whose endpoints leave out the S3-style ids.
const EXPOSE_HEADERS_REST: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date";
/// How long a browser may cache a preflight answer (AWS answers 172800, two days).
const MAX_AGE_SECS: &str = "172800";

/// The origins allowed to call the APIs from a browser.
#[derive(Clone, Debug)]
pub enum AllowedOrigins {
    /// Any origin (`*`), the default: the server is an emulator's stand-in for AWS, which
    /// allows every origin.
    Any,
    /// Only these, compared exactly (scheme, host and port, as browsers send them).
    List(Vec<String>),
    /// None: no CORS headers, and preflights are refused.
    None,
}

impl AllowedOrigins {
    /// From the settings' list: `["*"]` is any origin, `[]` none.
    pub fn from_list(origins: &[String]) -> AllowedOrigins {
        if origins.iter().any(|o| o == "*") {
            AllowedOrigins::Any
        } else if origins.is_empty() {
            AllowedOrigins::None
        } else {
            AllowedOrigins::List(origins.to_vec())
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match self {
            AllowedOrigins::Any => Some(HeaderValue::from_static("*")),
            AllowedOrigins::List(list) => {
                let text = origin.to_str().ok()?;
                list.iter().any(|o| o == text).then(|| origin.clone())
            }
            AllowedOrigins::None => None,
        }
    }
}

/// Adds AWS's CORS headers to the answer to a cross-origin request from an allowed origin.
pub(crate) fn decorate_response(
    origins: &AllowedOrigins,
    origin: &HeaderValue,
    path: &str,
    response: &mut Response,
) {
    if let Some(allow) = origins.allow(origin) {
        decorate(response.headers_mut(), allow, expose_headers(path));
    }
}

/// Kinesis and Firehose are served at `/`; every other path is Kinesis Video's.
fn expose_headers(path: &str) -> &'static str {
    if path == "/" {
        EXPOSE_HEADERS_JSON
    } else {
        EXPOSE_HEADERS_REST
    }
}

/// AWS's preflight answer: 200, no body, the asked method and headers echoed (the signature,
/// not a header list, is what protects the APIs), cacheable for two days.
pub(crate) fn preflight(
    origins: &AllowedOrigins,
    origin: &HeaderValue,
    asked: &HeaderMap,
    path: &str,
) -> Response {
    let Some(allow) = origins.allow(origin) else {
        // S3's answer to a preflight from an origin it does not allow.
        let mut response = Response::new(Body::from(
            "CORSResponse: This CORS request is not allowed.",
        ));
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    };
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    decorate(headers, allow, expose_headers(path));
    let echo = |name, default| {
        asked
            .get(name)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(default))
    };
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        echo(header::ACCESS_CONTROL_REQUEST_METHOD, ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        echo(header::ACCESS_CONTROL_REQUEST_HEADERS, ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    response
}

fn decorate(headers: &mut HeaderMap, allow: HeaderValue, expose: &'static str) {
    if allow != "*" {
        // The answer depends on the origin: caches must keep one per origin.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(expose),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_from_settings() {
        let origin = HeaderValue::from_static("https://a.example");
        let any = AllowedOrigins::from_list(&["https://a.example".into(), "*".into()]);
        assert_eq!(any.allow(&origin), Some(HeaderValue::from_static("*")));
        let none = AllowedOrigins::from_list(&[]);
        assert_eq!(none.allow(&origin), None);
        let list = AllowedOrigins::from_list(&["https://a.example".into()]);
        assert_eq!(list.allow(&origin), Some(origin));
        assert_eq!(
            list.allow(&HeaderValue::from_static("https://a.example:8443")),
            None
        );
    }
}
