//! Shard iterators: opaque, tamper-proof tokens naming a stream, a shard and a log position.
//!
//! A token is base64 of `version:1 | stream_uid:8 | shard_index:4 | offset:8 | issued_ms:8 |
//! name_len:1 | stream_name` followed by a 16-byte HMAC-SHA256 tag under a per-data-directory secret, so clients cannot
//! forge positions and a token from another server (or another incarnation of a stream, since
//! stream uids are never reused) is rejected. Tokens expire 5 minutes after issue, as in AWS.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const FIXED_LEN: usize = 1 + 8 + 4 + 8 + 8 + 1;
const TAG_LEN: usize = 16;

/// How long an iterator stays valid, as AWS documents for GetShardIterator.
pub const ITERATOR_TTL_MS: i64 = 300_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardIterator {
    /// The stream's name, for error messages once the stream is gone.
    pub stream_name: String,
    pub stream_uid: u64,
    pub shard_index: u32,
    /// The log offset of the next record to return.
    pub offset: u64,
    pub issued_ms: i64,
}

#[derive(Clone)]
pub struct IteratorCodec {
    key: [u8; 32],
}

impl IteratorCodec {
    pub fn new(key: [u8; 32]) -> IteratorCodec {
        IteratorCodec { key }
    }

    pub fn encode(&self, it: &ShardIterator) -> String {
        // Stream names are at most 128 bytes (the model's limit), so the length fits a byte.
        let name = &it.stream_name.as_bytes()[..it.stream_name.len().min(255)];
        let mut buf = Vec::with_capacity(FIXED_LEN + name.len() + TAG_LEN);
        buf.push(VERSION);
        buf.extend_from_slice(&it.stream_uid.to_be_bytes());
        buf.extend_from_slice(&it.shard_index.to_be_bytes());
        buf.extend_from_slice(&it.offset.to_be_bytes());
        buf.extend_from_slice(&it.issued_ms.to_be_bytes());
        buf.push(name.len() as u8);
        buf.extend_from_slice(name);
        let tag = self.tag(&buf);
        buf.extend_from_slice(&tag[..TAG_LEN]);
        BASE64.encode(buf)
    }

    /// `None` when the token is not one of ours (malformed, forged or from another secret).
    pub fn decode(&self, token: &str) -> Option<ShardIterator> {
        // AWS accepts a token still wrapped in the double quotes of a JSON string, as shells
        // pass `--shard-iterator "$IT"` taken from `--output json`. Base64 has no quotes, so
        // stripping one pair is unambiguous.
        let token = token
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(token);
        let raw = BASE64.decode(token.as_bytes()).ok()?;
        if raw.len() < FIXED_LEN + TAG_LEN || raw[0] != VERSION {
            return None;
        }
        let name_len = raw[FIXED_LEN - 1] as usize;
        if raw.len() != FIXED_LEN + name_len + TAG_LEN {
            return None;
        }
        let (body, tag) = raw.split_at(FIXED_LEN + name_len);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_truncated_left(tag).ok()?;
        let u64_at = |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().unwrap_or([0; 8]));
        Some(ShardIterator {
            stream_name: String::from_utf8(body[FIXED_LEN..].to_vec()).ok()?,
            stream_uid: u64_at(1),
            shard_index: u32::from_be_bytes(body[9..13].try_into().unwrap_or([0; 4])),
            offset: u64_at(13),
            issued_ms: u64_at(21) as i64,
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // A 32-byte key is always a valid HMAC key.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("hmac accepts any key length")
    }

    fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(name in "[a-zA-Z0-9_.-]{1,128}", uid: u64, shard: u32, offset: u64, issued in 0i64..i64::MAX) {
            let codec = IteratorCodec::new([7; 32]);
            let it = ShardIterator { stream_name: name, stream_uid: uid, shard_index: shard, offset, issued_ms: issued };
            let token = codec.encode(&it);
            prop_assert!(token.len() <= 512);
            prop_assert_eq!(codec.decode(&token), Some(it));
        }

        #[test]
        fn any_flipped_bit_is_rejected(bit in 0usize..((FIXED_LEN + 3 + TAG_LEN) * 8)) {
            let codec = IteratorCodec::new([7; 32]);
            let token = codec.encode(&ShardIterator { stream_name: "abc".into(), stream_uid: 1, shard_index: 2, offset: 3, issued_ms: 4 });
            let mut raw = BASE64.decode(token).unwrap();
            raw[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(codec.decode(&BASE64.encode(raw)), None);
        }
    }

    #[test]
    fn other_secrets_and_garbage_are_rejected() {
        let token = IteratorCodec::new([1; 32]).encode(&ShardIterator {
            stream_name: "s".into(),
            stream_uid: 1,
            shard_index: 0,
            offset: 0,
            issued_ms: 0,
        });
        assert_eq!(IteratorCodec::new([2; 32]).decode(&token), None);
        assert_eq!(IteratorCodec::new([1; 32]).decode("not base64!"), None);
        assert_eq!(IteratorCodec::new([1; 32]).decode("AAAA"), None);
        assert_eq!(
            IteratorCodec::new([1; 32]).decode(&format!("\"{token}")),
            None
        );
    }

    #[test]
    fn a_token_in_json_quotes_is_the_token() {
        let codec = IteratorCodec::new([1; 32]);
        let it = ShardIterator {
            stream_name: "s".into(),
            stream_uid: 1,
            shard_index: 0,
            offset: 9,
            issued_ms: 0,
        };
        let token = codec.encode(&it);
        assert_eq!(codec.decode(&format!("\"{token}\"")), Some(it));
    }
}
