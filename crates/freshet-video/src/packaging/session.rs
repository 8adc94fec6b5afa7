//! Streaming session tokens: what a GetHLS/GetDASHStreamingSessionURL call decided, signed with
//! the server's key and carried in the URL's `SessionToken`, so the playlist and fragment
//! requests need no session table and cannot be forged or extended past `Expires`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Hls,
    Dash,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    LiveReplay,
    OnDemand,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discontinuity {
    Always,
    Never,
    OnDiscontinuity,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub stream: u64,
    pub protocol: Protocol,
    pub mode: Mode,
    /// Select by producer timestamps (else server timestamps).
    pub producer_time: bool,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// HLS MPEG-TS fragments (else fragmented MP4).
    pub ts: bool,
    pub discontinuity: Discontinuity,
    pub display_timestamp: bool,
    pub display_number: bool,
    pub max_results: usize,
    /// Epoch seconds after which the token is refused.
    pub expires_s: i64,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

impl Session {
    pub fn token(&self, key: &[u8; 32]) -> String {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut m = mac(key);
        m.update(&body);
        let signature = m.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The session a token carries, if its signature holds; expiry is checked by the caller.
    pub fn from_token(token: &str, key: &[u8; 32]) -> Option<Session> {
        let (body, signature) = token.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut m = mac(key);
        m.update(&body);
        m.verify_slice(&signature).ok()?;
        serde_json::from_slice(&body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let key = [7u8; 32];
        let session = Session {
            stream: 3,
            protocol: Protocol::Hls,
            mode: Mode::OnDemand,
            producer_time: true,
            start_ms: Some(1),
            end_ms: Some(2),
            ts: false,
            discontinuity: Discontinuity::Always,
            display_timestamp: true,
            display_number: false,
            max_results: 1000,
            expires_s: 99,
        };
        let token = session.token(&key);
        assert_eq!(Session::from_token(&token, &key), Some(session.clone()));
        assert_eq!(Session::from_token(&token, &[8u8; 32]), None);
        let mut other = session;
        other.stream = 4;
        let forged = format!(
            "{}.{}",
            other.token(&key).split_once('.').unwrap().0,
            token.split_once('.').unwrap().1
        );
        assert_eq!(Session::from_token(&forged, &key), None);
    }
}
