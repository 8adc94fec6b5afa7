//! The send stamp in record payloads and how a read record's `Data` is inspected. A record the
//! bench puts starts with `[unix nanos u64 BE][b"FSH1"]`, taken just before its request is sent;
//! a reader in the same process compares it with its own clock at receipt, so put→receipt
//! latency needs no clock agreement between machines. Data arrives as base64 text (JSON) or as a
//! CBOR byte string; only its length and the first 16 base64 characters are ever decoded, to keep
//! the reader's CPU cost small next to the server's.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// Bytes of a stamp: 8 of time and a 4-byte marker, so records from elsewhere are not misread.
/// 12 is a multiple of 3: the stamp is exactly 16 base64 characters and the rest of the payload
/// can be encoded separately and appended.
pub const STAMP_LEN: usize = 12;
pub const STAMP_B64_LEN: usize = 16;
const MARKER: &[u8; 4] = b"FSH1";

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

pub fn encode(nanos: u64) -> [u8; STAMP_LEN] {
    let mut out = [0u8; STAMP_LEN];
    out[..8].copy_from_slice(&nanos.to_be_bytes());
    out[8..].copy_from_slice(MARKER);
    out
}

/// The send time a payload carries, if it starts with a stamp.
pub fn decode(payload: &[u8]) -> Option<u64> {
    let stamp = payload.get(..STAMP_LEN)?;
    if &stamp[8..] != MARKER {
        return None;
    }
    let mut nanos = [0u8; 8];
    nanos.copy_from_slice(&stamp[..8]);
    Some(u64::from_be_bytes(nanos))
}

/// The stamp as base64, to splice in front of a pre-encoded payload tail.
pub fn encode_b64(nanos: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; STAMP_B64_LEN];
    // 12 bytes always encode to exactly 16 characters.
    let n = STANDARD
        .encode_slice(encode(nanos), &mut buf)
        .unwrap_or_default();
    out.extend_from_slice(&buf[..n]);
}

/// A record's `Data` as a reader sees it: its decoded length and its send stamp, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data {
    pub len: u64,
    pub stamp: Option<u64>,
}

impl Data {
    pub fn from_base64(b64: &str) -> Data {
        let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
        let len = (b64.len() / 4 * 3).saturating_sub(padding) as u64;
        let stamp = b64
            .get(..STAMP_B64_LEN)
            .and_then(|head| STANDARD.decode(head).ok())
            .and_then(|raw| decode(&raw));
        Data { len, stamp }
    }

    pub fn from_bytes(raw: &[u8]) -> Data {
        Data {
            len: raw.len() as u64,
            stamp: decode(raw),
        }
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl Visitor<'_> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base64 string or a byte string")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Data, E> {
                Ok(Data::from_base64(v))
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Data, E> {
                Ok(Data::from_bytes(v))
            }
        }
        d.deserialize_any(DataVisitor)
    }
}

/// Put→receipt latency in microseconds for a record stamped at `sent` and read at `now`
/// (0 if the clock stepped backwards in between).
pub fn latency_us(sent: u64, now: u64) -> u64 {
    now.saturating_sub(sent) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_raw_and_base64() {
        let t = 1_700_000_000_123_456_789;
        let mut payload = encode(t).to_vec();
        payload.extend_from_slice(&[0xAB; 20]);
        assert_eq!(decode(&payload), Some(t));
        assert_eq!(
            Data::from_bytes(&payload),
            Data {
                len: 32,
                stamp: Some(t)
            }
        );

        // The base64 stamp spliced before a separately encoded tail is the base64 of the whole.
        let mut b64 = Vec::new();
        encode_b64(t, &mut b64);
        assert_eq!(b64.len(), STAMP_B64_LEN);
        b64.extend_from_slice(STANDARD.encode([0xAB; 20]).as_bytes());
        let b64 = String::from_utf8(b64).unwrap();
        assert_eq!(b64, STANDARD.encode(&payload));
        assert_eq!(
            Data::from_base64(&b64),
            Data {
                len: 32,
                stamp: Some(t)
            }
        );
    }

    #[test]
    fn unstamped_and_short_payloads_have_no_stamp() {
        assert_eq!(decode(&[0; 11]), None);
        assert_eq!(decode(&[0; 40]), None);
        for n in 0..20 {
            let d = Data::from_base64(&STANDARD.encode(vec![7u8; n]));
            assert_eq!(
                d,
                Data {
                    len: n as u64,
                    stamp: None
                }
            );
        }
    }

    #[test]
    fn data_deserialises_from_json_and_cbor() {
        let mut payload = encode(42).to_vec();
        payload.push(1);
        let json = format!("\"{}\"", STANDARD.encode(&payload));
        let from_json: Data = serde_json::from_str(&json).unwrap();
        assert_eq!(
            from_json,
            Data {
                len: 13,
                stamp: Some(42)
            }
        );

        let mut cbor = Vec::new();
        ciborium::ser::into_writer(&ciborium::Value::Bytes(payload), &mut cbor).unwrap();
        let from_cbor: Data = ciborium::de::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(
            from_cbor,
            Data {
                len: 13,
                stamp: Some(42)
            }
        );
    }

    #[test]
    fn latency_is_clamped_at_zero() {
        assert_eq!(latency_us(1_000_000, 3_500_000), 2_500);
        assert_eq!(latency_us(5_000_000, 1_000_000), 0);
    }
}
