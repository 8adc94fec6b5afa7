//! AWS Signature Version 4 verification, for the `Authorization` header form and the
//! query-string (presigned) form, as AWS enforces it: the 15-minute clock-skew window, presigned
//! expiry (`X-Amz-Expires`, at most a week), `host` among the signed headers, and session
//! tokens. Used only when keys are configured; otherwise the edge is anonymous, like the other
//! local emulators. Which secret a key has is the caller's to say (`lookup`).

use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// AWS rejects requests signed more than 15 minutes away from its clock.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest a presigned URL may live.
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

struct Signed {
    access_key: String,
    scope: String,
    date: String,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: bool,
}

/// What a good signature tells: whose key signed it (as `lookup` named them) and the region of
/// its credential scope.
#[derive(Debug)]
pub struct Verified<T> {
    pub signer: T,
    pub region: String,
}

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::client("IncompleteSignatureException", msg)
}

/// Checks a request's signature. `lookup` gives the secret key (and who holds it) of an access
/// key id and the session token sent with it, or the error to answer.
pub fn verify<T>(
    parts: &Parts,
    body: &[u8],
    now_secs: i64,
    lookup: impl FnOnce(&str, Option<&str>) -> Result<(String, T), ApiError>,
) -> Result<Verified<T>, ApiError> {
    verify_payload(parts, Some(body), now_secs, lookup)
}

/// `verify` for a request whose body is streamed and not at hand (PutMedia, GETs): the
/// signature covers the payload hash the request declares.
pub fn verify_streamed<T>(
    parts: &Parts,
    now_secs: i64,
    lookup: impl FnOnce(&str, Option<&str>) -> Result<(String, T), ApiError>,
) -> Result<Verified<T>, ApiError> {
    verify_payload(parts, None, now_secs, lookup)
}

fn verify_payload<T>(
    parts: &Parts,
    body: Option<&[u8]>,
    now_secs: i64,
    lookup: impl FnOnce(&str, Option<&str>) -> Result<(String, T), ApiError>,
) -> Result<Verified<T>, ApiError> {
    prepare(parts, now_secs, lookup)?.finish(parts, body)
}

/// A request whose signature's form, date and key check out, before its payload is read: what
/// can be refused without reading a body is refused before anyone spends memory on it.
pub struct Prepared<T> {
    signed: Signed,
    params: Vec<(String, String)>,
    secret: String,
    signer: T,
}

/// The first half of `verify`: everything but the signature over the payload.
pub fn prepare<T>(
    parts: &Parts,
    now_secs: i64,
    lookup: impl FnOnce(&str, Option<&str>) -> Result<(String, T), ApiError>,
) -> Result<Prepared<T>, ApiError> {
    let query = parts.uri.query().unwrap_or("");
    let params = parse_query(query);
    let header_auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let signed = match (
        header_auth,
        params.iter().any(|(k, _)| k == "X-Amz-Signature"),
    ) {
        (Some(auth), _) => from_header(auth, parts)?,
        (None, true) => from_query(&params, now_secs)?,
        (None, false) => {
            return Err(ApiError::client(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        }
    };
    if !signed.signed_headers.iter().any(|h| h == "host") {
        return Err(ApiError::client(
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let token = if signed.presigned {
        params
            .iter()
            .find(|(k, _)| k == "X-Amz-Security-Token")
            .map(|(_, v)| v.as_str())
    } else {
        let token = parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        for (header, present) in [
            ("x-amz-date", true),
            ("x-amz-security-token", token.is_some()),
        ] {
            if present && !signed.signed_headers.iter().any(|h| h == header) {
                return Err(ApiError::client(
                    "InvalidSignatureException",
                    format!("'{header}' must be a 'SignedHeader' in the AWS Authorization."),
                ));
            }
        }
        token
    };
    let Some(t) = parse_amz_date(&signed.amz_date) else {
        return Err(incomplete(
            "Date must be in ISO-8601 'basic format'. Got '".to_string() + &signed.amz_date + "'.",
        ));
    };
    check_skew(t, now_secs, signed.presigned)?;
    let (secret, signer) = lookup(&signed.access_key, token)?;
    Ok(Prepared {
        signed,
        params,
        secret,
        signer,
    })
}

impl<T> Prepared<T> {
    /// The second half of `verify`: the signature over the request and `body` (`None`: a
    /// streamed body, covered by the hash it declares).
    pub fn finish(self, parts: &Parts, body: Option<&[u8]>) -> Result<Verified<T>, ApiError> {
        let Prepared {
            signed,
            params,
            secret,
            signer,
        } = self;

        let mut canonical_headers = String::new();
        for name in &signed.signed_headers {
            let value = if name == "host" {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                    .unwrap_or_default()
            } else {
                parts
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(collapse_spaces)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&value);
            canonical_headers.push('\n');
        }
        let declared = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok());
        let payload_hash = match (declared, body) {
            // A streamed body (PutMedia) is not at hand: the signature covers the hash it declared.
            (Some(h), None) => h.to_string(),
            (None, None) => hex::encode(Sha256::digest(b"")),
            (declared, Some(body)) => {
                let actual = hex::encode(Sha256::digest(body));
                // A declared hash must be the body's: otherwise a captured signature would carry
                // any body.
                if declared.is_some_and(|h| h != actual) {
                    return Err(ApiError::client(
                        "InvalidSignatureException",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    ));
                }
                actual
            }
        };
        let mut query_pairs: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        query_pairs.sort();
        let canonical_query = query_pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let path = parts.uri.path();
        let canonical_uri = if path.is_empty() {
            "/".to_string()
        } else {
            uri_encode(path, false)
        };
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            parts.method.as_str(),
            canonical_uri,
            canonical_query,
            canonical_headers,
            signed.signed_headers.join(";"),
            payload_hash
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            signed.amz_date,
            signed.scope,
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let scope_parts: Vec<&str> = signed.scope.split('/').collect();
        let (region, service) = (
            scope_parts.get(1).copied().unwrap_or(""),
            scope_parts.get(2).copied().unwrap_or(""),
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), signed.date.as_bytes());
        key = hmac(&key, region.as_bytes());
        key = hmac(&key, service.as_bytes());
        key = hmac(&key, b"aws4_request");
        let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        if !constant_time_eq(expected.as_bytes(), signed.signature.as_bytes()) {
            return Err(ApiError::client(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ));
        }
        Ok(Verified {
            signer,
            region: region.to_string(),
        })
    }
}

/// A request signed outside the window around the server's clock is refused (so a captured
/// request cannot be replayed later), in AWS's words. A presigned URL may be used until it
/// expires (checked with its parameters) but not before it was signed.
fn check_skew(signed_at: i64, now: i64, presigned: bool) -> Result<(), ApiError> {
    let fmt = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    if signed_at > now + MAX_SKEW_SECS {
        return Err(ApiError::client(
            "InvalidSignatureException",
            format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                fmt(signed_at),
                fmt(now + MAX_SKEW_SECS),
                fmt(now)
            ),
        ));
    }
    if !presigned && signed_at < now - MAX_SKEW_SECS {
        return Err(ApiError::client(
            "InvalidSignatureException",
            format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                fmt(signed_at),
                fmt(now - MAX_SKEW_SECS),
                fmt(now)
            ),
        ));
    }
    Ok(())
}

fn from_header(auth: &str, parts: &Parts) -> Result<Signed, ApiError> {
    let rest = auth
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}")))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for piece in rest.split(',') {
        let piece = piece.trim();
        if let Some(v) = piece.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = piece.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = piece.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={auth}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}")))?
        .to_string();
    split_credential(
        credential,
        amz_date,
        signed_headers,
        signature.to_string(),
        false,
    )
}

fn from_query(params: &[(String, String)], now_secs: i64) -> Result<Signed, ApiError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let missing = |name: &str| {
        incomplete(format!(
            "Query-string authentication requires the {name} parameter."
        ))
    };
    if get("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(missing("X-Amz-Algorithm"));
    }
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let amz_date = get("X-Amz-Date")
        .ok_or_else(|| missing("X-Amz-Date"))?
        .to_string();
    let signed_headers =
        get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
    let signature = get("X-Amz-Signature")
        .ok_or_else(|| missing("X-Amz-Signature"))?
        .to_string();
    let expires = get("X-Amz-Expires").ok_or_else(|| missing("X-Amz-Expires"))?;
    let expires: i64 = expires
        .parse()
        .map_err(|_| incomplete("X-Amz-Expires should be a number"))?;
    if expires <= 0 {
        return Err(incomplete("X-Amz-Expires must be non-negative"));
    }
    if expires > MAX_EXPIRES_SECS {
        return Err(incomplete(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    if let Some(t) = parse_amz_date(&amz_date)
        && now_secs > t + expires
    {
        return Err(ApiError::client(
            "InvalidSignatureException",
            "Signature expired: the presigned request has expired.",
        ));
    }
    split_credential(credential, amz_date, signed_headers, signature, true)
}

fn split_credential(
    credential: &str,
    amz_date: String,
    signed_headers: &str,
    signature: String,
    presigned: bool,
) -> Result<Signed, ApiError> {
    let (access_key, scope) = credential.split_once('/').ok_or_else(|| {
        incomplete(format!(
            "Credential should be scoped to a valid region. Credential={credential}"
        ))
    })?;
    let date = scope.split('/').next().unwrap_or("");
    if scope.split('/').count() != 4 || !scope.ends_with("/aws4_request") {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request'. Credential={credential}"
        )));
    }
    Ok(Signed {
        access_key: access_key.to_string(),
        scope: scope.to_string(),
        date: date.to_string(),
        amz_date,
        signed_headers: signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect(),
        signature,
        presigned,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV4's encoding: everything but unreserved characters, and `/` too unless in a path.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `20150830T123600Z` → epoch seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    // Bytes, not a str slice: a presigned X-Amz-Date is decoded from the query and may put a
    // multi-byte character across byte 8.
    if s.len() != 16 || s.as_bytes()[8] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(
        pairs: &[(&str, &str)],
    ) -> impl Fn(&str, Option<&str>) -> Result<(String, ()), ApiError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, s)| (k.to_string(), s.to_string()))
            .collect();
        move |key, _| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, s)| (s.clone(), ()))
                .ok_or_else(|| ApiError::client("UnrecognizedClientException", "unknown"))
        }
    }

    /// The worked example of the AWS SigV4 documentation ("GET /?Action=ListUsers" on IAM).
    #[test]
    fn aws_documentation_example_verifies() {
        let creds = keys(&[("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")]);
        let req = http::Request::builder()
            .method("GET")
            .uri("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
            .header("host", "iam.amazonaws.com")
            .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            .header("x-amz-date", "20150830T123600Z")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let verified = verify(&parts, b"", now, &creds).unwrap();
        assert_eq!(verified.region, "us-east-1");
        // Within 15 minutes either way the clock may differ; beyond, refused.
        verify(&parts, b"", now + 15 * 60, &creds).unwrap();
        verify(&parts, b"", now - 15 * 60, &creds).unwrap();
        let err = verify(&parts, b"", now - 15 * 60 - 1, &creds).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some(
                "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T122059Z + 15 min.)"
            )
        );

        let err = verify(&parts, b"", now, keys(&[("AKIDEXAMPLE", "wrong")])).unwrap_err();
        assert_eq!(err.aws_type, "InvalidSignatureException");
        let err = verify(&parts, b"", now, keys(&[("OTHER", "x")])).unwrap_err();
        assert_eq!(err.aws_type, "UnrecognizedClientException");
        let err = verify(&parts, b"", now + 3600, &creds).unwrap_err();
        assert_eq!(err.aws_type, "InvalidSignatureException");
        assert_eq!(
            err.message.as_deref(),
            Some(
                "Signature expired: 20150830T123600Z is now earlier than 20150830T132100Z (20150830T133600Z - 15 min.)"
            )
        );
    }

    #[test]
    fn unsigned_requests_are_refused() {
        let (parts, ()) = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        let err = verify(&parts, b"", 0, keys(&[("a", "b")])).unwrap_err();
        assert_eq!(err.aws_type, "MissingAuthenticationTokenException");
    }

    #[test]
    fn host_must_be_signed() {
        let (parts, ()) = http::Request::builder()
            .uri("/")
            .header("host", "h")
            .header("x-amz-date", "20150830T123600Z")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=x-amz-date, Signature=00")
            .body(())
            .unwrap()
            .into_parts();
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let err = verify(&parts, b"", now, keys(&[("AKIDEXAMPLE", "x")])).unwrap_err();
        assert_eq!(
            err.message.as_deref(),
            Some("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        );
    }

    #[test]
    fn presigned_urls_need_a_sane_expiry() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let url = |expires: &str| {
            let q = format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fkinesisvideo%2Faws4_request&X-Amz-Date=20150830T123600Z{expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
            );
            http::Request::builder()
                .uri(format!("/?{q}"))
                .header("host", "h")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let check = |expires: &str, at: i64| {
            verify(&url(expires), b"", at, keys(&[("AKIDEXAMPLE", "x")]))
                .err()
                .and_then(|e| e.message)
                .unwrap_or_default()
        };
        assert!(check("", now).contains("X-Amz-Expires"));
        assert_eq!(
            check("&X-Amz-Expires=soon", now),
            "X-Amz-Expires should be a number"
        );
        assert_eq!(
            check("&X-Amz-Expires=604801", now),
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        );
        assert_eq!(
            check("&X-Amz-Expires=60", now + 61),
            "Signature expired: the presigned request has expired."
        );
        // Within its minute it gets as far as the signature.
        assert!(check("&X-Amz-Expires=60", now + 60).starts_with("The request signature"));
        assert!(check("&X-Amz-Expires=60", now - 16 * 60).starts_with("Signature not yet current"));
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }

    // Properties. Hostile requests (any Authorization value, query, header bytes, date) must be
    // refused without a panic; a request signed by the independent signer below must verify,
    // and stop verifying when any byte it signs changes.

    use std::fmt::Write as _;

    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;
    use proptest::sample::select;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EXAMPLE_NOW: i64 = 1_440_938_160;

    /// Every key is known (so hostile requests reach the signature check); the signer is the
    /// key and token the verifier passed on.
    type Seen = (String, Option<String>);
    fn any_key(key: &str, token: Option<&str>) -> Result<(String, Seen), ApiError> {
        Ok((
            SECRET.to_string(),
            (key.to_string(), token.map(str::to_string)),
        ))
    }

    /// Every key has `secret`.
    fn key_with(
        secret: &str,
    ) -> impl Fn(&str, Option<&str>) -> Result<(String, Seen), ApiError> + '_ {
        move |key, token| {
            Ok((
                secret.to_string(),
                (key.to_string(), token.map(str::to_string)),
            ))
        }
    }

    fn amz_date(t: i64) -> String {
        chrono::DateTime::from_timestamp(t, 0)
            .expect("a time of years 0 to 9999")
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    }

    /// SigV4's URI encoding written out again from the specification, so the signer shares no
    /// code with what it checks.
    fn spec_encode(s: &str, encode_slash: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'~')
                || (b == b'/' && !encode_slash)
            {
                out.push(char::from(b));
            } else {
                write!(out, "%{b:02X}").unwrap();
            }
        }
        out
    }

    /// Spellings of one query that a server must read alike.
    #[derive(Debug, Clone, Copy)]
    struct Wire {
        /// Spaces as `+`, as HTML forms send them.
        plus_for_space: bool,
        /// `%2f` rather than `%2F`.
        lower_hex: bool,
        /// `k` rather than `k=` for an empty value.
        bare_empty: bool,
    }

    /// A request as a client means it (path segments and query parameters unencoded), signed
    /// as the SigV4 specification says, in the header form or (with `expires`) presigned.
    #[derive(Debug, Clone)]
    struct Signable {
        method: &'static str,
        segments: Vec<String>,
        query: Vec<(String, String)>,
        /// Signed besides host, x-amz-date and the token; a name may repeat.
        headers: Vec<(String, String)>,
        unsigned: Vec<(String, String)>,
        body: Vec<u8>,
        signed_at: i64,
        region: String,
        service: String,
        access_key: String,
        secret: String,
        token: Option<String>,
        host: String,
        /// The host in an absolute URI rather than a Host header (HTTP/2's `:authority`).
        host_in_uri: bool,
        expires: Option<i64>,
        wire: Wire,
    }

    impl Signable {
        fn scope(&self) -> String {
            format!(
                "{}/{}/{}/aws4_request",
                &amz_date(self.signed_at)[..8],
                self.region,
                self.service
            )
        }

        /// The presigning parameters, but the signature.
        fn auth_params(&self) -> Vec<(String, String)> {
            let Some(expires) = self.expires else {
                return Vec::new();
            };
            let mut params = vec![
                ("X-Amz-Algorithm".to_string(), ALGORITHM.to_string()),
                (
                    "X-Amz-Credential".to_string(),
                    format!("{}/{}", self.access_key, self.scope()),
                ),
                ("X-Amz-Date".to_string(), amz_date(self.signed_at)),
                ("X-Amz-Expires".to_string(), expires.to_string()),
                (
                    "X-Amz-SignedHeaders".to_string(),
                    self.signed_names().join(";"),
                ),
            ];
            if let Some(token) = &self.token {
                params.push(("X-Amz-Security-Token".to_string(), token.clone()));
            }
            params
        }

        fn signed_headers(&self) -> Vec<(String, String)> {
            let mut headers = vec![("host".to_string(), self.host.clone())];
            if self.expires.is_none() {
                headers.push(("x-amz-date".to_string(), amz_date(self.signed_at)));
                if let Some(token) = &self.token {
                    headers.push(("x-amz-security-token".to_string(), token.clone()));
                }
            }
            headers.extend(self.headers.iter().cloned());
            headers
        }

        fn signed_names(&self) -> Vec<String> {
            let mut names: Vec<String> =
                self.signed_headers().into_iter().map(|(n, _)| n).collect();
            names.sort();
            names.dedup();
            names
        }

        fn path(&self) -> String {
            let segments: Vec<String> =
                self.segments.iter().map(|s| spec_encode(s, true)).collect();
            format!("/{}", segments.join("/"))
        }

        fn signature(&self) -> String {
            let mut query: Vec<(String, String)> = self
                .query
                .iter()
                .chain(&self.auth_params())
                .map(|(k, v)| (spec_encode(k, true), spec_encode(v, true)))
                .collect();
            // By name, then by value.
            query.sort();
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let signed = self.signed_headers();
            let names = self.signed_names();
            let mut headers = String::new();
            for name in &names {
                let values: Vec<String> = signed
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| {
                        v.split(' ')
                            .filter(|w| !w.is_empty())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                writeln!(headers, "{name}:{}", values.join(",")).unwrap();
            }
            // Services other than S3 encode the (already encoded) path once more.
            let canonical = format!(
                "{}\n{}\n{}\n{}\n{}\n{}",
                self.method,
                spec_encode(&self.path(), false),
                query.join("&"),
                headers,
                names.join(";"),
                hex::encode(Sha256::digest(&self.body))
            );
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{}\n{}\n{}",
                amz_date(self.signed_at),
                self.scope(),
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            let mac = |key: &[u8], data: &str| {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
                m.update(data.as_bytes());
                m.finalize().into_bytes().to_vec()
            };
            let key = mac(
                format!("AWS4{}", self.secret).as_bytes(),
                &amz_date(self.signed_at)[..8],
            );
            let key = mac(&key, &self.region);
            let key = mac(&key, &self.service);
            let key = mac(&key, "aws4_request");
            hex::encode(mac(&key, &to_sign))
        }

        /// The request as sent, carrying `signature`.
        fn parts(&self, signature: &str) -> Parts {
            let wire = |s: &str| {
                let mut e = spec_encode(s, true);
                if self.wire.plus_for_space {
                    e = e.replace("%20", "+");
                }
                if self.wire.lower_hex {
                    e = lower_escapes(&e);
                }
                e
            };
            let mut pairs: Vec<String> = self
                .query
                .iter()
                .chain(&self.auth_params())
                .map(|(k, v)| {
                    if v.is_empty() && self.wire.bare_empty {
                        wire(k)
                    } else {
                        format!("{}={}", wire(k), wire(v))
                    }
                })
                .collect();
            if self.expires.is_some() {
                pairs.push(format!("X-Amz-Signature={signature}"));
            }
            let query = if pairs.is_empty() {
                String::new()
            } else {
                format!("?{}", pairs.join("&"))
            };
            let uri = if self.host_in_uri {
                format!("http://{}{}{query}", self.host, self.path())
            } else {
                format!("{}{query}", self.path())
            };
            let mut b = http::Request::builder().method(self.method).uri(uri);
            if !self.host_in_uri {
                b = b.header("host", &self.host);
            }
            if self.expires.is_none() {
                b = b.header("x-amz-date", amz_date(self.signed_at));
                if let Some(token) = &self.token {
                    b = b.header("x-amz-security-token", token);
                }
                b = b.header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={signature}",
                        self.access_key,
                        self.scope(),
                        self.signed_names().join(";")
                    ),
                );
            }
            for (name, value) in self.headers.iter().chain(&self.unsigned) {
                b = b.header(name, value);
            }
            b.body(()).unwrap().into_parts().0
        }
    }

    /// `%2F` as `%2f`.
    fn lower_escapes(s: &str) -> String {
        let mut bytes = s.as_bytes().to_vec();
        for i in 1..bytes.len() {
            if bytes[i - 1] == b'%' || (i >= 2 && bytes[i - 2] == b'%') {
                bytes[i] = bytes[i].to_ascii_lowercase();
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    /// `s` with its `at`-th (round) visible character, or only alphanumeric one, replaced by
    /// another of its kind; with a character added when it has none.
    fn flip_char(s: &str, at: usize, alphanumeric: bool) -> String {
        let eligible: Vec<usize> = s
            .bytes()
            .enumerate()
            .filter(|(_, c)| {
                if alphanumeric {
                    c.is_ascii_alphanumeric()
                } else {
                    c.is_ascii_graphic()
                }
            })
            .map(|(i, _)| i)
            .collect();
        if eligible.is_empty() {
            return format!("{s}x");
        }
        let i = eligible[at % eligible.len()];
        let mut bytes = s.as_bytes().to_vec();
        bytes[i] = match bytes[i] {
            b'z' if alphanumeric => b'a',
            b'Z' if alphanumeric => b'A',
            b'9' if alphanumeric => b'0',
            b'~' => b'!',
            c => c + 1,
        };
        String::from_utf8(bytes).unwrap()
    }

    /// Changes one value of the signed header `name` (the URI's authority when the host is
    /// sent that way).
    fn flip_header(parts: &mut Parts, name: &str, at: usize) {
        if name == "host" && !parts.headers.contains_key("host") {
            let host = parts.uri.authority().unwrap().as_str().to_string();
            let uri = parts
                .uri
                .to_string()
                .replacen(&host, &flip_char(&host, at, true), 1);
            parts.uri = uri.parse().unwrap();
            return;
        }
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let which = at % values.len();
        parts.headers.remove(name);
        for (i, v) in values.iter().enumerate() {
            let v = if i == which {
                flip_char(v, at / values.len(), name == "host")
            } else {
                v.clone()
            };
            parts.headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
    }

    fn signable() -> impl Strategy<Value = Signable> {
        let header_name = select(
            &[
                "content-type",
                "x-amz-target",
                "x-amz-meta-a",
                "x-custom",
                "accept",
                "x-amz-user-agent",
                "x-amzn-stream-name",
            ][..],
        );
        let unsigned_name = select(&["user-agent", "x-forwarded-for", "x-amzn-trace-id"][..]);
        let query_key = prop_oneof![
            3 => select(&["Action", "Version", "a", "b", "ShardId", "x-y"][..]).prop_map(str::to_string),
            1 => "[ -~\u{e9}\u{20ac}]{1,6}",
        ];
        (
            (
                select(&["GET", "POST", "PUT", "DELETE"][..]),
                prop::collection::vec("[a-zA-Z0-9 ._~%+=&/:@\u{e9}-]{1,8}", 0..3),
                prop::collection::vec((query_key, "[ -~\u{e9}\u{20ac}]{0,8}"), 0..5),
                prop::collection::vec((header_name, "[ -~]{0,12}"), 0..4),
                prop::collection::vec((unsigned_name, "[ -~]{0,12}"), 0..2),
                prop::collection::vec(any::<u8>(), 0..64),
            ),
            (
                -62_167_219_200i64..=253_402_300_799,
                "[a-z0-9-]{1,14}",
                prop_oneof![
                    3 => select(&["kinesis", "iam", "kinesisvideo", "firehose", "sts"][..]).prop_map(str::to_string),
                    1 => "[a-z0-9-]{1,12}",
                ],
                "[A-Z0-9]{16,20}",
                "[ -~]{1,40}",
                prop::option::of("[A-Za-z0-9+/=]{1,40}"),
                select(&["kinesis.us-east-1.amazonaws.com", "localhost:4567", "127.0.0.1:4567", "[::1]:4567"][..]),
                any::<bool>(),
                prop::option::of(1i64..=MAX_EXPIRES_SECS),
                any::<(bool, bool, bool)>(),
            ),
        )
            .prop_map(
                |(
                    (method, segments, query, headers, unsigned, body),
                    (signed_at, region, service, access_key, secret, token, host, host_in_uri, expires, wire),
                )| Signable {
                    method,
                    segments,
                    query: query.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    headers: headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
                    unsigned: unsigned.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
                    body,
                    signed_at,
                    region,
                    service,
                    access_key,
                    secret,
                    token,
                    host: host.to_string(),
                    host_in_uri,
                    expires,
                    wire: Wire {
                        plus_for_space: wire.0,
                        lower_hex: wire.1,
                        bare_empty: wire.2,
                    },
                },
            )
    }

    fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
        prop_oneof![
            2 => "[ -~]{0,24}".prop_map(|s| HeaderValue::from_str(&s).ok()),
            // Tabs, obs-text (bytes above 0x7f) and the control bytes HeaderValue refuses.
            1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| HeaderValue::from_bytes(&b).ok()),
        ]
    }

    fn authorization() -> impl Strategy<Value = Option<HeaderValue>> {
        let piece = prop_oneof![
            4 => select(&[
                "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
                "Credential=",
                "Credential=AKIDEXAMPLE",
                "Credential=AKIDEXAMPLE/",
                "Credential=/20150830///aws4_request",
                "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/x",
                "Credential=AKIDEXAMPLE/2015/us-east-1/iam/aws4_request",
                "SignedHeaders=host;x-amz-date",
                "SignedHeaders=",
                "SignedHeaders=;;",
                "SignedHeaders=HOST;X-Amz-Date",
                "SignedHeaders=host;x-amz-date;x-amz-security-token;content-type",
                "SignedHeaders=host;x-amz-date;bad name;",
                "Signature=",
                "Signature=00",
                "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                "Signature=5D672D79C15B13162D9279B0855CFBA6789A8EDB4C82C400E06B5924A6F2B5D7",
            ][..]).prop_map(str::to_string),
            1 => "[ -~]{0,20}",
        ];
        prop_oneof![
            4 => (
                select(&["AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256,", "aws4-hmac-sha256 ", "AWS4-HMAC-SHA1 ", ""][..]),
                prop::collection::vec(piece, 0..5),
                select(&[",", ", ", ",,", " "][..]),
            )
                .prop_map(|(algorithm, pieces, sep)| HeaderValue::from_str(&format!("{algorithm}{}", pieces.join(sep))).ok()),
            1 => header_value(),
            1 => Just(None),
        ]
    }

    fn amz_date_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just("20150830T123600Z".to_string()),
            2 => select(&[
                "20150830T123600Z",
                "",
                "2015083XT123600Z",
                "+0150830T123600Z",
                "-0150830T123600Z",
                "-999-1-1T-1-1-1Z",
                "99999999T999999Z",
                "00000000T000000Z",
                "20150830T123600",
                "20150830t123600z",
                "2015-08-30T12:36:00Z",
            ][..]).prop_map(str::to_string),
            1 => "[0-9TZ+-]{14,18}",
            1 => "[0-9TZ\u{e9}\u{20ac}]{1,16}",
            // Sixteen bytes, as a date has, with a character of two or three bytes anywhere.
            1 => ("[0-9]{8}T[0-9]{6}Z", 0usize..14, select(&["\u{e9}", "\u{20ac}"][..])).prop_map(
                |(date, at, wide)| format!("{}{wide}{}", &date[..at], &date[at + wide.len()..])
            ),
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            6 => select(&[
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=x",
                "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fkinesisvideo%2Faws4_request",
                "X-Amz-Credential=AKIDEXAMPLE/20150830/us-east-1/kinesisvideo/aws4_request",
                "X-Amz-Credential=%2F%2F%2F%2F",
                "X-Amz-Date=20150830T123600Z",
                "X-Amz-Expires=60",
                "X-Amz-Expires=0",
                "X-Amz-Expires=-1",
                "X-Amz-Expires=604800",
                "X-Amz-Expires=9223372036854775807",
                "X-Amz-Expires=99999999999999999999",
                "X-Amz-SignedHeaders=host",
                "X-Amz-SignedHeaders=HOST%3Bx-amz-date",
                "X-Amz-Signature=00",
                "X-Amz-Signature",
                "X-Amz-Security-Token=t",
                "X-Amz-Security-Token",
                "=",
                "&",
                "&&",
                "%",
                "%2",
                "%zz",
                "%+f",
                "%C3%A9",
                "%FF",
                "%E2%82",
                "+",
                "a=b=c",
                "Action=ListUsers",
            ][..]).prop_map(str::to_string),
            2 => "[A-Za-z0-9%=&+._~-]{0,8}",
            2 => amz_date_text().prop_map(|d| format!("X-Amz-Date={}", spec_encode(&d, true))),
            1 => prop::collection::vec(any::<u8>(), 0..12)
                .prop_map(|b| b.iter().fold("X-Amz-Credential=".to_string(), |mut s, b| {
                    write!(s, "%{b:02X}").unwrap();
                    s
                })),
        ];
        (prop::collection::vec(token, 0..12), select(&["&", ""][..]))
            .prop_map(|(tokens, sep)| tokens.join(sep))
    }

    /// How far a generated request strays from a well-formed one: at 0 only its signature is
    /// wrong (so it gets through the whole canonicalisation), above it that many parts in ten
    /// are off.
    type Noise = u32;

    fn pick<T: std::fmt::Debug + Clone + 'static>(
        noise: Noise,
        valid: impl Strategy<Value = T> + 'static,
        off: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<T> {
        if noise == 0 {
            valid.boxed()
        } else {
            prop_oneof![10 => valid, noise => off].boxed()
        }
    }

    fn credential_text(noise: Noise) -> BoxedStrategy<String> {
        pick(
            noise,
            prop_oneof![
                select(
                    &[
                        "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
                        "AKIDEXAMPLE/20150830/us-east-1/kinesisvideo/aws4_request",
                    ][..]
                )
                .prop_map(str::to_string),
                "[A-Z]{1,4}/[0-9]{8}/[a-z-]{0,4}/[a-z]{0,4}/aws4_request",
            ],
            prop_oneof![
                select(
                    &[
                        "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/",
                        "AKIDEXAMPLE/2015/us-east-1/iam/aws4_request",
                        "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_requests",
                        "AKIDEXAMPLE/20150830/us-east-1/iam",
                        "/20150830///aws4_request",
                        "AKIDEXAMPLE/",
                        "AKIDEXAMPLE",
                        "",
                        "\u{e9}/2015083\u{e9}/\u{e9}/\u{e9}/aws4_request",
                    ][..]
                )
                .prop_map(str::to_string),
                "[ -~]{0,24}",
            ],
        )
    }

    /// Signed header lists; those of the header form name x-amz-date too.
    fn signed_headers_text(noise: Noise, presigned: bool) -> BoxedStrategy<String> {
        let valid: &'static [&'static str] = if presigned {
            &["host", "content-type;host", "HOST", "host;x-custom"]
        } else {
            &[
                "host;x-amz-date",
                "HOST;X-Amz-Date",
                "content-type;host;x-amz-date",
                "host;x-amz-date;x-amz-security-token",
                "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-custom",
            ]
        };
        pick(
            noise,
            select(valid).prop_map(str::to_string),
            prop_oneof![
                select(
                    &[
                        "host;;x-amz-date;",
                        ";;",
                        "",
                        "x-amz-date",
                        "host;x-amz-date;bad name;\u{e9}"
                    ][..]
                )
                .prop_map(str::to_string),
                "[a-z;-]{0,24}",
            ],
        )
    }

    fn signature_text() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => select(&[
                "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                "5D672D79C15B13162D9279B0855CFBA6789A8EDB4C82C400E06B5924A6F2B5D7",
                "00",
                "",
            ][..]).prop_map(str::to_string),
            2 => "[0-9a-f]{64}",
            1 => "[ -~]{0,70}",
        ]
    }

    /// An Authorization header with its three parts in any order; with noise, parts missing or
    /// off, odd spacing and junk among them.
    fn auth_header(noise: Noise) -> impl Strategy<Value = Option<HeaderValue>> {
        let present = move || pick(noise, Just(true), prop::bool::weighted(0.3));
        (
            pick(
                noise,
                Just("AWS4-HMAC-SHA256 "),
                select(
                    &[
                        "AWS4-HMAC-SHA256",
                        "AWS4-HMAC-SHA256  ",
                        "AWS4-HMAC-SHA256,",
                    ][..],
                ),
            ),
            (present(), credential_text(noise)),
            (present(), signed_headers_text(noise, false)),
            (present(), signature_text()),
            pick(noise, Just(None), "[ -~]{0,12}".prop_map(Some)),
            pick(noise, Just(", "), select(&[",", " , ", ",,"][..])),
        )
            .prop_flat_map(|(algorithm, credential, signed, signature, junk, sep)| {
                let pieces: Vec<String> = [
                    credential.0.then(|| format!("Credential={}", credential.1)),
                    signed.0.then(|| format!("SignedHeaders={}", signed.1)),
                    signature.0.then(|| format!("Signature={}", signature.1)),
                    junk,
                ]
                .into_iter()
                .flatten()
                .collect();
                Just(pieces).prop_shuffle().prop_map(move |pieces| {
                    HeaderValue::from_str(&format!("{algorithm}{}", pieces.join(sep))).ok()
                })
            })
    }

    /// A presigned query, parameters in any order among others, in several spellings; with
    /// noise, parameters missing, twice or off, and escapes broken.
    fn presigned_query(noise: Noise) -> impl Strategy<Value = String> {
        let param = move |name: &'static str, value: BoxedStrategy<String>| {
            pick(noise, Just(1usize), select(&[0usize, 2][..])).prop_flat_map(move |n| {
                prop::collection::vec(value.clone().prop_map(move |v| (name, v)), n)
            })
        };
        let algorithm = pick(
            noise,
            Just(ALGORITHM.to_string()),
            select(&["AWS4-HMAC-SHA1", "", "aws4-hmac-sha256"][..]).prop_map(str::to_string),
        );
        let expires = pick(
            noise,
            select(&["60", "300", "604800", "+60"][..]).prop_map(str::to_string),
            select(
                &[
                    "0",
                    "-1",
                    "604801",
                    "9223372036854775807",
                    "99999999999999999999",
                    " 60",
                    "6e1",
                    "",
                ][..],
            )
            .prop_map(str::to_string),
        );
        let date = pick(noise, Just("20150830T123600Z".to_string()), amz_date_text());
        (
            param("X-Amz-Algorithm", algorithm),
            param("X-Amz-Credential", credential_text(noise)),
            param("X-Amz-Date", date),
            param("X-Amz-Expires", expires),
            param("X-Amz-SignedHeaders", signed_headers_text(noise, true)),
            param("X-Amz-Signature", signature_text().boxed()),
            prop::option::of("[A-Za-z0-9+/=]{0,16}"),
            prop::collection::vec(("[ -~\u{e9}]{1,6}", "[ -~\u{e9}]{0,6}"), 0..3),
            // Spellings a server reads alike, and (with noise) escapes cut short or not hex.
            pick(noise, select(&[0u8, 0, 1, 2][..]), Just(3u8)),
        )
            .prop_flat_map(|(a, c, d, e, h, s, token, other, encoding)| {
                let mut params: Vec<(String, String)> = [a, c, d, e, h, s]
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                params.extend(token.map(|t| ("X-Amz-Security-Token".to_string(), t)));
                params.extend(other);
                Just(params).prop_shuffle().prop_map(move |params| {
                    params
                        .iter()
                        .map(|(k, v)| {
                            let v = spec_encode(v, true);
                            let v = match encoding {
                                1 => v.replace("%20", "+"),
                                2 => lower_escapes(&v),
                                3 => v.replace("%2F", "%2").replace("%20", "%g0"),
                                _ => v,
                            };
                            if v.is_empty() && encoding == 1 {
                                spec_encode(k, true)
                            } else {
                                format!("{}={v}", spec_encode(k, true))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("&")
                })
            })
    }

    fn now() -> impl Strategy<Value = i64> {
        prop_oneof![
            EXAMPLE_NOW - 1000..EXAMPLE_NOW + 700_000,
            -(1i64 << 40)..(1i64 << 40),
        ]
    }

    /// The parts of a hostile request: Authorization header, query, x-amz-date, host, token,
    /// more headers, body, and the server's clock.
    type Hostile = (
        Option<HeaderValue>,
        String,
        Option<String>,
        Option<HeaderValue>,
        Option<HeaderValue>,
        Vec<(&'static str, Option<HeaderValue>)>,
        Vec<u8>,
        i64,
    );

    fn hostile() -> impl Strategy<Value = Hostile> {
        (select(&[0u32, 0, 1, 3][..]), 0u8..5).prop_flat_map(|(noise, form)| {
            let (auth, query) = match form {
                // The header form, with now and then a query beside it.
                0 | 1 => (
                    auth_header(noise).boxed(),
                    pick(
                        noise,
                        Just(String::new()),
                        prop_oneof![query(), presigned_query(noise)],
                    ),
                ),
                2 | 3 => (Just(None).boxed(), presigned_query(noise).boxed()),
                _ => (authorization().boxed(), query().boxed()),
            };
            (
                auth,
                query,
                pick(
                    noise,
                    Just(Some("20150830T123600Z".to_string())),
                    prop::option::of(amz_date_text()),
                ),
                pick(
                    noise,
                    Just(HeaderValue::from_static("h")).prop_map(Some),
                    header_value(),
                ),
                pick(noise, Just(None), header_value()),
                pick(
                    noise,
                    prop::collection::vec(
                        (
                            select(&["content-type", "x-custom"][..]),
                            "[ -~]{0,12}".prop_map(|v| HeaderValue::from_str(&v).ok()),
                        ),
                        0..3,
                    ),
                    prop::collection::vec(
                        (
                            select(
                                &[
                                    "content-type",
                                    "x-amz-date",
                                    "host",
                                    "x-amz-content-sha256",
                                    "x-amz-security-token",
                                ][..],
                            ),
                            header_value(),
                        ),
                        0..3,
                    ),
                ),
                prop::collection::vec(any::<u8>(), 0..32),
                pick(noise, EXAMPLE_NOW - 900..EXAMPLE_NOW + 60, now()),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn hostile_requests_are_refused_without_panicking(
            (auth, query, date, host, token, extra, body, now) in hostile(),
        ) {
            let uri = format!("/a/b%2Fc?{query}");
            let Ok(uri) = uri.parse::<http::Uri>() else {
                return Err(TestCaseError::reject("not a URI"));
            };
            let mut parts = http::Request::builder().uri(uri).body(()).unwrap().into_parts().0;
            if let Some(auth) = auth {
                parts.headers.insert(http::header::AUTHORIZATION, auth);
            }
            if let Some(date) = date.and_then(|d| HeaderValue::from_str(&d).ok()) {
                parts.headers.insert("x-amz-date", date);
            }
            for (name, value) in [("host", host), ("x-amz-security-token", token)] {
                if let Some(value) = value {
                    parts.headers.insert(name, value);
                }
            }
            for (name, value) in extra {
                if let Some(value) = value {
                    parts.headers.append(name, value);
                }
            }
            // A random signature verifies with odds of 2^-256.
            prop_assert!(verify(&parts, &body, now, any_key).is_err());
            let unknown = |_: &str, _: Option<&str>| -> Result<(String, ()), ApiError> {
                Err(ApiError::client("UnrecognizedClientException", "unknown"))
            };
            prop_assert!(verify(&parts, &body, now, unknown).is_err());
        }

        #[test]
        fn amz_dates_parse_as_chrono_formats_them(t in -62_167_219_200i64..=253_402_300_799) {
            prop_assert_eq!(parse_amz_date(&amz_date(t)), Some(t));
        }

        #[test]
        fn any_date_text_parses_or_not_without_panicking(text in prop_oneof![amz_date_text(), ".{0,20}"]) {
            let _ = parse_amz_date(&text);
        }

        #[test]
        fn signed_requests_verify_until_a_signed_byte_changes(
            req in signable(),
            skew in -MAX_SKEW_SECS..=MAX_SKEW_SECS,
            at in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let now = req.signed_at + match req.expires {
                // Usable from 15 minutes before it was signed (clock skew) until it expires.
                Some(expires) if skew > 0 => skew * expires / MAX_SKEW_SECS,
                _ => skew,
            };
            let signature = req.signature();
            let parts = req.parts(&signature);
            let lookup = key_with(&req.secret);
            let verified = verify(&parts, &req.body, now, &lookup);
            let verified = match verified {
                Ok(v) => v,
                Err(e) => return Err(TestCaseError::fail(format!("{:?}: {:?}\n{parts:?}", e.aws_type, e.message))),
            };
            prop_assert_eq!(&verified.region, &req.region);
            prop_assert_eq!(&verified.signer, &(req.access_key.clone(), req.token.clone()));
            let refused = |parts: &Parts, body: &[u8]| verify(parts, body, now, &lookup).is_err();

            // Unsigned headers may come and go.
            let mut more = parts.clone();
            more.headers.append("x-unsigned", HeaderValue::from_static("anything"));
            prop_assert!(!refused(&more, &req.body));

            // The signature: any hex digit of it.
            let i = at % signature.len();
            let mut flipped = signature.clone().into_bytes();
            flipped[i] = b"0123456789abcdef"[(usize::from(mask) % 15 + 1 + "0123456789abcdef".find(char::from(flipped[i])).unwrap()) % 16];
            let flipped = String::from_utf8(flipped).unwrap();
            prop_assert!(refused(&req.parts(&flipped), &req.body), "signature {} still verifies", flipped);

            // The body: any byte of it, or one more.
            let mut body = req.body.clone();
            match body.len() {
                0 => body.push(mask),
                n => body[at % n] ^= mask,
            }
            prop_assert!(refused(&parts, &body));

            // Any signed header, host and date included.
            let names = req.signed_names();
            let name = &names[at % names.len()];
            let mut changed = parts.clone();
            flip_header(&mut changed, name, at / names.len());
            prop_assert!(refused(&changed, &req.body), "{} changed still verifies: {:?}", name, changed);
            // Or one value more of a signed header (but host: only its first value is read).
            if name != "host" {
                let mut added = parts.clone();
                added.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("x"));
                prop_assert!(refused(&added, &req.body), "{} added to still verifies", name);
            }

            // Any query parameter, or what the presigning ones say (the key id is signed only
            // there: in the header form the secret stands for it).
            let mut other = req.clone();
            let k = at % (req.query.len() + 1);
            if k < req.query.len() {
                other.query[k].1.push('x');
            } else {
                match (at / 7 % 4, other.expires) {
                    (0, _) => other.signed_at += 1,
                    (1, Some(_)) => other.access_key.push('X'),
                    (2, _) => other.token = Some(format!("{}x", req.token.clone().unwrap_or_default())),
                    (_, Some(e)) => other.expires = Some(if e > 1 { e - 1 } else { 2 }),
                    (_, None) => other.signed_at -= 1,
                }
            }
            prop_assert!(refused(&other.parts(&signature), &req.body), "{:?} still verifies", other);
        }
    }

    #[test]
    fn presigned_dates_of_other_scripts_are_refused() {
        // A character of two bytes across byte 8, where the 'T' belongs.
        let date = "2015083\u{e9}123600Z";
        assert_eq!(date.len(), 16);
        let (parts, ()) = http::Request::builder()
            .uri(format!(
                "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fkinesisvideo%2Faws4_request&X-Amz-Date={}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                spec_encode(date, true)
            ))
            .header("host", "h")
            .body(())
            .unwrap()
            .into_parts();
        let err = verify(&parts, b"", EXAMPLE_NOW, any_key).err().unwrap();
        assert_eq!(err.aws_type, "IncompleteSignatureException");
        assert_eq!(
            parse_amz_date("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
            None
        );
    }
}
