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

struct Signed<'a> {
    access_key: &'a str,
    scope: String,
    date: &'a str,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: bool,
}

/// What a good signature tells: whose key signed it (as `lookup` named them) and the region of
/// its credential scope.
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
    let (secret, signer) = lookup(signed.access_key, token)?;

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
    let payload_hash = match parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_string(),
        None if signed.presigned && body.is_empty() => hex::encode(Sha256::digest(b"")),
        None => hex::encode(Sha256::digest(body)),
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

fn from_header<'a>(auth: &'a str, parts: &Parts) -> Result<Signed<'a>, ApiError> {
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

fn from_query(params: &[(String, String)], now_secs: i64) -> Result<Signed<'_>, ApiError> {
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

fn split_credential<'a>(
    credential: &'a str,
    amz_date: String,
    signed_headers: &str,
    signature: String,
    presigned: bool,
) -> Result<Signed<'a>, ApiError> {
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
        access_key,
        scope: scope.to_string(),
        date,
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
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
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
                "Signature expired: 20150830T123600Z is now earlier than 20150830T131100Z (20150830T132600Z - 15 min.)"
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
}
