//! AWS Signature Version 4 verification, for the `Authorization` header form and the
//! query-string (presigned) form. Used only when access keys are configured; otherwise the edge
//! is anonymous, like the other local emulators.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// AWS rejects requests signed more than 5 minutes away from its clock.
const MAX_SKEW_SECS: i64 = 5 * 60;

/// The configured access keys: access key id → secret access key.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, String>,
}

impl Credentials {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Credentials {
        Credentials {
            keys: pairs.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

struct Signed<'a> {
    access_key: &'a str,
    scope: String,
    date: &'a str,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: bool,
}

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::client("IncompleteSignatureException", msg)
}

/// Checks a request's signature against the configured keys.
pub fn verify(
    creds: &Credentials,
    parts: &Parts,
    body: &[u8],
    now_secs: i64,
) -> Result<(), ApiError> {
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
    let Some(secret) = creds.keys.get(signed.access_key) else {
        return Err(ApiError::client(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    if let Some(t) = parse_amz_date(&signed.amz_date) {
        if (now_secs - t).abs() > MAX_SKEW_SECS && !signed.presigned {
            return Err(ApiError::client(
                "InvalidSignatureException",
                format!(
                    "Signature expired: {} is more than 5 minutes away from the server time.",
                    signed.amz_date
                ),
            ));
        }
    } else {
        return Err(incomplete(
            "Date must be in ISO-8601 'basic format'. Got '".to_string() + &signed.amz_date + "'.",
        ));
    }

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
    if let (Some(expires), Some(t)) = (get("X-Amz-Expires"), parse_amz_date(&amz_date)) {
        let expires: i64 = expires.parse().unwrap_or(0);
        if now_secs > t + expires {
            return Err(ApiError::client(
                "InvalidSignatureException",
                "Signature expired: the presigned request has expired.",
            ));
        }
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

    /// The worked example of the AWS SigV4 documentation ("GET /?Action=ListUsers" on IAM).
    #[test]
    fn aws_documentation_example_verifies() {
        let creds = Credentials::new([(
            "AKIDEXAMPLE".to_string(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
        )]);
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
        verify(&creds, &parts, b"", now).unwrap();

        let err = verify(
            &Credentials::new([("AKIDEXAMPLE".to_string(), "wrong".to_string())]),
            &parts,
            b"",
            now,
        )
        .unwrap_err();
        assert_eq!(err.aws_type, "InvalidSignatureException");
        let err = verify(
            &Credentials::new([("OTHER".to_string(), "x".to_string())]),
            &parts,
            b"",
            now,
        )
        .unwrap_err();
        assert_eq!(err.aws_type, "UnrecognizedClientException");
        let err = verify(&creds, &parts, b"", now + 3600).unwrap_err();
        assert_eq!(err.aws_type, "InvalidSignatureException");
    }

    #[test]
    fn unsigned_requests_are_refused() {
        let (parts, ()) = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        let err = verify(
            &Credentials::new([("a".into(), "b".into())]),
            &parts,
            b"",
            0,
        )
        .unwrap_err();
        assert_eq!(err.aws_type, "MissingAuthenticationTokenException");
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }
}
