//! Arbitrary bytes as a SigV4-signed request, written like HTTP/1: a request line
//! (`METHOD target`), `name: value` header lines, a blank line, the body. The verifier must
//! refuse anything it cannot check without panicking, whatever the Authorization header, query
//! (percent escapes, repeated or bare parameters, the presigned form), header bytes or dates.
//! Every key has the secret of AWS's documented example and the clock reads that example's
//! time, so seeds made under them (fuzz/seeds/sigv4_request) verify and mutations start from
//! requests that get all the way to the signature.
#![no_main]

use freshet_edge::ApiError;
use freshet_edge::sigv4::verify;
use http::{HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20150830T123600Z.
const NOW: i64 = 1_440_938_160;

/// The request target with the bytes a URI cannot hold percent-encoded; `%` stays as it is, so
/// broken escapes reach the verifier.
fn target(bytes: &[u8]) -> Uri {
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    // Origin form, or absolute (the host then comes from the URI, as HTTP/2's :authority).
    if !text.starts_with('/') && !text.starts_with("http://") {
        text.insert(0, '/');
    }
    text.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

fn lookup(_key: &str, _token: Option<&str>) -> Result<(String, ()), ApiError> {
    Ok((SECRET.to_string(), ()))
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let (method, uri) = match request_line.iter().position(|&b| b == b' ') {
        Some(i) => (&request_line[..i], &request_line[i + 1..]),
        None => (&b"GET"[..], request_line),
    };
    let mut builder = http::Request::builder()
        .method(Method::from_bytes(method).unwrap_or(Method::GET))
        .uri(target(uri));
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            builder = builder.header(name, value);
        }
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    if verify(&parts, body, NOW, lookup).is_ok() {
        // The body is signed (a declared x-amz-content-sha256 must be its hash too): one byte
        // more must be refused.
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(
            verify(&parts, &longer, NOW, lookup).is_err(),
            "a changed body still verifies"
        );
    }
});
