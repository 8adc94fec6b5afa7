//! Paging tokens (ListStreams, ListShards): opaque base64 of a small JSON document with the
//! time it was issued, so stale tokens can be answered with ExpiredNextTokenException as AWS does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Result, StreamsError};

/// AWS lets a ListShards NextToken live for 300 seconds.
const TOKEN_TTL_MS: i64 = 300_000;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    t: i64,
    p: T,
}

/// A token issued at `now_ms`.
pub fn encode<T: Serialize>(payload: T, now_ms: i64) -> String {
    let json = serde_json::to_vec(&Envelope {
        t: now_ms,
        p: payload,
    })
    .unwrap_or_default();
    BASE64.encode(json)
}

/// A token's payload, if it was issued at most 300 s before `now_ms`.
pub fn decode<T: DeserializeOwned>(token: &str, now_ms: i64) -> Result<T> {
    let invalid = || StreamsError::InvalidArgument(format!("Invalid NextToken: {token}"));
    let raw = BASE64.decode(token.as_bytes()).map_err(|_| invalid())?;
    let envelope: Envelope<T> = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let age = now_ms - envelope.t;
    if age > TOKEN_TTL_MS {
        return Err(StreamsError::ExpiredNextToken(format!(
            "The provided NextToken has expired: it was issued {} seconds ago, more than the allowed 300 seconds.",
            age / 1000
        )));
    }
    Ok(envelope.p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let token = encode(("s", 3u32), 1_000);
        let back: (String, u32) = decode(&token, 301_000).unwrap();
        assert_eq!(back, ("s".to_string(), 3));
        assert!(matches!(
            decode::<(String, u32)>("%%%", 0),
            Err(StreamsError::InvalidArgument(_))
        ));
        let stale = BASE64.encode(br#"{"t":0,"p":1}"#);
        assert!(matches!(
            decode::<u32>(&stale, 300_001),
            Err(StreamsError::ExpiredNextToken(_))
        ));
    }
}
