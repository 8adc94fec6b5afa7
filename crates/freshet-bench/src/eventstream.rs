//! A decoder for the AWS event-stream encoding (`application/vnd.amazon.eventstream`) in which
//! SubscribeToShard answers. Each message is
//! `[total_len u32][headers_len u32][crc32(prelude) u32][headers][payload][crc32(message) u32]`,
//! big-endian with CRC-32/IEEE; a header is `[name_len u8][name][type u8][value]`. HTTP frames
//! cut messages anywhere, so bytes are buffered until a whole message has arrived.

use bytes::{Buf, Bytes, BytesMut};

const PRELUDE_LEN: usize = 12;
const CRC_LEN: usize = 4;
/// The specification's limits: 16 MiB per message, 128 KiB of headers.
const MAX_MESSAGE_LEN: usize = 16 << 20;
const MAX_HEADERS_LEN: usize = 128 << 10;

/// Why a byte stream is not a valid event stream. Any of these ends the subscription: after a bad
/// prelude the decoder cannot find the next message boundary.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    PreludeChecksum,
    MessageChecksum,
    BadLength {
        total: usize,
        headers: usize,
    },
    BadHeader(&'static str),
    /// The body ended in the middle of a message.
    Truncated(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::PreludeChecksum => write!(f, "event-stream prelude checksum mismatch"),
            FrameError::MessageChecksum => write!(f, "event-stream message checksum mismatch"),
            FrameError::BadLength { total, headers } => write!(
                f,
                "event-stream message of {total} bytes with {headers} header bytes is impossible"
            ),
            FrameError::BadHeader(why) => write!(f, "bad event-stream header: {why}"),
            FrameError::Truncated(n) => {
                write!(f, "event stream ended inside a message ({n} bytes left)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// One decoded message. Only string headers are kept (`:message-type`, `:event-type`,
/// `:exception-type`, `:content-type`: everything a Kinesis subscriber needs); headers of other
/// types are checked and skipped.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.buf.len() < PRELUDE_LEN {
            return Ok(None);
        }
        let total = be_u32(&self.buf[0..4]) as usize;
        let headers_len = be_u32(&self.buf[4..8]) as usize;
        if be_u32(&self.buf[8..12]) != crc32fast::hash(&self.buf[..8]) {
            return Err(FrameError::PreludeChecksum);
        }
        if total > MAX_MESSAGE_LEN
            || headers_len > MAX_HEADERS_LEN
            || total < PRELUDE_LEN + headers_len + CRC_LEN
        {
            return Err(FrameError::BadLength {
                total,
                headers: headers_len,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        if be_u32(&frame[total - CRC_LEN..]) != crc32fast::hash(&frame[..total - CRC_LEN]) {
            return Err(FrameError::MessageChecksum);
        }
        let headers = parse_headers(&frame[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
        let payload = frame.slice(PRELUDE_LEN + headers_len..total - CRC_LEN);
        Ok(Some(Message { headers, payload }))
    }

    /// Call when the body has ended: an error if a partial message is left over.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated(self.buf.len()))
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let mut headers = Vec::new();
    while b.has_remaining() {
        let name_len = usize::from(b.get_u8());
        if b.len() < name_len + 1 {
            return Err(FrameError::BadHeader("name runs past the headers"));
        }
        let name = std::str::from_utf8(&b[..name_len])
            .map_err(|_| FrameError::BadHeader("name is not UTF-8"))?
            .to_owned();
        b.advance(name_len);
        let kind = b.get_u8();
        // Value sizes by type (event-stream specification): 0/1 bool true/false (no value),
        // 2 byte, 3 short, 4 int, 5 long, 6 bytes and 7 string (u16 length first),
        // 8 timestamp (i64 ms), 9 UUID.
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(FrameError::BadHeader("unknown value type")),
        };
        let len = match fixed {
            Some(n) => n,
            None => {
                if b.len() < 2 {
                    return Err(FrameError::BadHeader("value length runs past the headers"));
                }
                usize::from(b.get_u16())
            }
        };
        if b.len() < len {
            return Err(FrameError::BadHeader("value runs past the headers"));
        }
        if kind == 7 {
            let value = std::str::from_utf8(&b[..len])
                .map_err(|_| FrameError::BadHeader("string value is not UTF-8"))?;
            headers.push((name, value.to_owned()));
        }
        b.advance(len);
    }
    Ok(headers)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::BufMut;

    /// Encodes a message the way the server does (freshet-edge's `eventstream::message`).
    pub(crate) fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.put_u8(name.len() as u8);
            h.put_slice(name.as_bytes());
            h.put_u8(7);
            h.put_u16(value.len() as u16);
            h.put_slice(value.as_bytes());
        }
        let total = PRELUDE_LEN + h.len() + payload.len() + CRC_LEN;
        let mut m = Vec::new();
        m.put_u32(total as u32);
        m.put_u32(h.len() as u32);
        let crc = crc32fast::hash(&m);
        m.put_u32(crc);
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.put_u32(crc);
        m
    }

    #[test]
    fn decodes_the_specification_empty_message() {
        let mut d = Decoder::new();
        d.push(&[
            0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff,
        ]);
        let m = d.next_message().unwrap().unwrap();
        assert!(m.headers.is_empty());
        assert!(m.payload.is_empty());
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn reassembles_messages_split_at_every_byte() {
        let mut stream = encode(
            &[
                (":message-type", "event"),
                (":event-type", "initial-response"),
            ],
            b"{}",
        );
        stream.extend(encode(
            &[
                (":message-type", "event"),
                (":event-type", "SubscribeToShardEvent"),
            ],
            br#"{"Records":[]}"#,
        ));
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for byte in &stream {
            d.push(std::slice::from_ref(byte));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header(":event-type"), Some("initial-response"));
        assert_eq!(got[0].payload.as_ref(), b"{}");
        assert_eq!(got[1].header(":event-type"), Some("SubscribeToShardEvent"));
        assert_eq!(got[1].header(":message-type"), Some("event"));
        assert_eq!(got[1].payload.as_ref(), br#"{"Records":[]}"#);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn skips_headers_of_other_types() {
        // A bool-true header, an int header and a bytes header around one string header.
        let mut h = Vec::new();
        h.put_u8(1);
        h.put_slice(b"t");
        h.put_u8(0);
        h.put_u8(1);
        h.put_slice(b"i");
        h.put_u8(4);
        h.put_i32(-7);
        h.put_u8(1);
        h.put_slice(b"b");
        h.put_u8(6);
        h.put_u16(3);
        h.put_slice(b"xyz");
        h.put_u8(1);
        h.put_slice(b"s");
        h.put_u8(7);
        h.put_u16(2);
        h.put_slice(b"ok");
        assert_eq!(parse_headers(&h).unwrap(), vec![("s".into(), "ok".into())]);
        assert!(parse_headers(&h[..h.len() - 1]).is_err());
    }

    #[test]
    fn rejects_corruption() {
        let good = encode(&[(":message-type", "event")], b"payload");
        let mut bad_payload = good.clone();
        bad_payload[good.len() - 6] ^= 1;
        let mut d = Decoder::new();
        d.push(&bad_payload);
        assert_eq!(d.next_message(), Err(FrameError::MessageChecksum));

        let mut bad_prelude = good.clone();
        bad_prelude[3] ^= 1;
        let mut d = Decoder::new();
        d.push(&bad_prelude);
        assert_eq!(d.next_message(), Err(FrameError::PreludeChecksum));

        let mut d = Decoder::new();
        d.push(&good[..good.len() - 1]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated(good.len() - 1)));
    }

    #[test]
    fn rejects_impossible_lengths() {
        // headers_len larger than the message, with a valid prelude checksum.
        let mut m = Vec::new();
        m.put_u32(16);
        m.put_u32(100);
        let crc = crc32fast::hash(&m);
        m.put_u32(crc);
        m.put_u32(0);
        let mut d = Decoder::new();
        d.push(&m);
        assert_eq!(
            d.next_message(),
            Err(FrameError::BadLength {
                total: 16,
                headers: 100
            })
        );
    }
}
