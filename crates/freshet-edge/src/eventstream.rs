//! The AWS event-stream encoding (`application/vnd.amazon.eventstream`), in which SubscribeToShard
//! answers: a sequence of binary messages, each
//! `[total_len u32][headers_len u32][crc32(prelude) u32][headers][payload][crc32(message) u32]`
//! (big-endian, CRC-32/IEEE), with string headers `[name_len u8][name][7u8][len u16][value]`.

use bytes::{BufMut, Bytes, BytesMut};

/// Header value type 7: a UTF-8 string.
const STRING_TYPE: u8 = 7;

/// Encodes one message with string headers.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let headers_len: usize = headers
        .iter()
        .map(|(n, v)| 1 + n.len() + 1 + 2 + v.len())
        .sum();
    let total = 12 + headers_len + payload.len() + 4;
    let mut buf = BytesMut::with_capacity(total);
    buf.put_u32(total as u32);
    buf.put_u32(headers_len as u32);
    buf.put_u32(crc32fast::hash(&buf[..8]));
    for (name, value) in headers {
        buf.put_u8(name.len() as u8);
        buf.put_slice(name.as_bytes());
        buf.put_u8(STRING_TYPE);
        buf.put_u16(value.len() as u16);
        buf.put_slice(value.as_bytes());
    }
    buf.put_slice(payload);
    buf.put_u32(crc32fast::hash(&buf));
    buf.freeze()
}

/// An event message: `:message-type` event with its `:event-type`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

/// An exception message, which ends a stream: `:message-type` exception.
pub fn exception(exception_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":message-type", "exception"),
            (":exception-type", exception_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The empty message of the event-stream specification's test suite ("empty_message"):
    /// 16 bytes, prelude CRC 0x05c248eb, message CRC 0x7d98c8ff.
    #[test]
    fn empty_message_matches_the_specification_vector() {
        let m = message(&[], b"");
        assert_eq!(
            m.as_ref(),
            &[
                0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff
            ]
        );
    }

    #[test]
    fn lengths_and_checksums_are_consistent() {
        let m = event("SubscribeToShardEvent", "application/x-amz-json-1.1", b"{}");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        assert_eq!(&m[12 + headers..total - 4], b"{}");
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().unwrap()),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(
            u32::from_be_bytes(m[total - 4..].try_into().unwrap()),
            crc32fast::hash(&m[..total - 4])
        );
    }
}
