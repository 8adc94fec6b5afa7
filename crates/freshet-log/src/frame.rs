//! The on-disk frame of one record: the stored format of segment files, its encoder and its checked
//! decoder. This format is a deliberate, versioned thing: changing it means a new version byte.
//!
//! Layout, little-endian, format versions 1 and 2:
//!
//! ```text
//! [u32 body_len][u32 crc32c(body)]
//! body = [u8 version][u64 offset][i64 arrival_ms][u16 pk_len][pk bytes, UTF-8]
//!        [u8 flags][16 bytes explicit hash key, only if flags & 1][data]
//! ```
//!
//! A frame occupies `8 + body_len` bytes. `flags` bit 0 says an explicit hash key follows; bit 1 marks
//! the last record of its append batch. The batch-end bit exists because a batch must be all or
//! nothing across a crash: recovery truncates the active segment back to the end of the last batch
//! whose final frame is intact, so a half-written batch (never acknowledged) disappears entirely.
//! Bit 2 (version 2 only) marks a sealed record: its data is an envelope encrypted under a data key
//! (`sealed.rs`) and its partition key is inside it (the frame's is empty). Sealed frames are
//! version 2 so that a build that predates sealing stops at them (an unknown version is never
//! truncated away) instead of reading ciphertext as data; clear frames stay version 1.
//! Other flag bits must be zero; a future format that needs them bumps the version byte instead.

use std::ops::Range;

use bytes::Bytes;
use bytestring::ByteString;

/// The version byte written into every frame by this build.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// The version byte of sealed frames.
pub(crate) const SEALED_VERSION: u8 = 2;
/// Length and checksum that precede the body.
pub(crate) const PREFIX_LEN: usize = 8;
/// version + offset + arrival_ms + pk_len + flags.
const FIXED_BODY_LEN: usize = 1 + 8 + 8 + 2 + 1;
const FLAG_EHK: u8 = 1;
const FLAG_BATCH_END: u8 = 2;
const FLAG_SEALED: u8 = 4;
const KNOWN_FLAGS: u8 = FLAG_EHK | FLAG_BATCH_END;

/// Longest partition key a frame can hold (its length is a u16). Kinesis allows 256 characters.
pub const MAX_PARTITION_KEY_BYTES: usize = u16::MAX as usize;
/// Largest record payload the log accepts. Kinesis allows 10 MiB; the cap keeps a corrupt length
/// field from making a reader allocate gigabytes.
pub const MAX_DATA_BYTES: usize = 64 << 20;
const MAX_BODY_LEN: usize = FIXED_BODY_LEN + MAX_PARTITION_KEY_BYTES + 16 + MAX_DATA_BYTES;

/// Bytes a record of these sizes takes on disk.
pub(crate) fn frame_len(pk_len: usize, has_ehk: bool, data_len: usize) -> usize {
    PREFIX_LEN + FIXED_BODY_LEN + pk_len + if has_ehk { 16 } else { 0 } + data_len
}

/// What is written for one record.
pub(crate) struct FrameFields<'a> {
    pub offset: u64,
    pub arrival_ms: i64,
    pub partition_key: &'a str,
    pub explicit_hash_key: Option<u128>,
    pub data: &'a [u8],
    pub batch_end: bool,
    pub sealed: bool,
}

/// Where an encoded frame's partition key and data lie, relative to the frame's start.
pub(crate) struct Spans {
    pub key: Range<usize>,
    pub data: Range<usize>,
}

/// Appends the encoded frame to `out`. The caller has checked the size limits.
pub(crate) fn encode(out: &mut Vec<u8>, f: &FrameFields<'_>) -> Spans {
    let total = frame_len(
        f.partition_key.len(),
        f.explicit_hash_key.is_some(),
        f.data.len(),
    );
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&((total - PREFIX_LEN) as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // checksum, filled in below once the body exists
    out.push(if f.sealed {
        SEALED_VERSION
    } else {
        FORMAT_VERSION
    });
    out.extend_from_slice(&f.offset.to_le_bytes());
    out.extend_from_slice(&f.arrival_ms.to_le_bytes());
    out.extend_from_slice(&(f.partition_key.len() as u16).to_le_bytes());
    let key = out.len() - start..out.len() - start + f.partition_key.len();
    out.extend_from_slice(f.partition_key.as_bytes());
    let mut flags = 0;
    if f.explicit_hash_key.is_some() {
        flags |= FLAG_EHK;
    }
    if f.batch_end {
        flags |= FLAG_BATCH_END;
    }
    if f.sealed {
        flags |= FLAG_SEALED;
    }
    out.push(flags);
    if let Some(ehk) = f.explicit_hash_key {
        out.extend_from_slice(&ehk.to_le_bytes());
    }
    let data = out.len() - start..total;
    out.extend_from_slice(f.data);
    let crc = crc32c::crc32c(&out[start + PREFIX_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Spans { key, data }
}

/// A decoded, checksum-verified frame.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub offset: u64,
    pub arrival_ms: i64,
    /// Like `data`, a slice of the buffer the frame was decoded from.
    pub partition_key: ByteString,
    pub explicit_hash_key: Option<u128>,
    /// A slice of the buffer the frame was decoded from (no copy).
    pub data: Bytes,
    pub batch_end: bool,
    pub sealed: bool,
}

#[derive(Debug)]
pub(crate) enum Decoded {
    /// A whole frame of `len` bytes.
    Frame { frame: Frame, len: usize },
    /// The buffer holds only part of a frame; `need` bytes from its start are required.
    Incomplete { need: usize },
    /// Not a valid frame (bad length or checksum, malformed body): the end of good data.
    Invalid(&'static str),
    /// A checksum-valid frame of a format this build does not know: never to be truncated away.
    UnknownVersion(u8),
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode(buf: &Bytes) -> Decoded {
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        return Decoded::Incomplete { need: PREFIX_LEN };
    };
    let body_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if !(FIXED_BODY_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return Decoded::Invalid("frame length out of range");
    }
    let len = PREFIX_LEN + body_len;
    let Some(body) = buf.get(PREFIX_LEN..len) else {
        return Decoded::Incomplete { need: len };
    };
    if crc32c::crc32c(body) != crc {
        return Decoded::Invalid("checksum mismatch");
    }
    let known = match body[0] {
        FORMAT_VERSION => KNOWN_FLAGS,
        SEALED_VERSION => KNOWN_FLAGS | FLAG_SEALED,
        version => return Decoded::UnknownVersion(version),
    };
    match parse_body(buf, PREFIX_LEN, len, known) {
        Some(frame) => Decoded::Frame { frame, len },
        None => Decoded::Invalid("malformed frame body"),
    }
}

/// Parses a checksum-verified body spanning `buf[start..end]` whose version allows the flags in
/// `known`.
fn parse_body(buf: &Bytes, start: usize, end: usize, known: u8) -> Option<Frame> {
    let mut r = Reader {
        buf: &buf[..end],
        pos: start + 1,
    };
    let offset = u64::from_le_bytes(r.array()?);
    let arrival_ms = i64::from_le_bytes(r.array()?);
    let pk_len = u16::from_le_bytes(r.array()?) as usize;
    let pk_start = r.pos;
    r.take(pk_len)?;
    let partition_key = ByteString::try_from(buf.slice(pk_start..r.pos)).ok()?;
    let [flags] = r.array()?;
    if flags & !known != 0 {
        return None;
    }
    let explicit_hash_key = if flags & FLAG_EHK != 0 {
        Some(u128::from_le_bytes(r.array()?))
    } else {
        None
    };
    Some(Frame {
        offset,
        arrival_ms,
        partition_key,
        explicit_hash_key,
        data: buf.slice(r.pos..end),
        batch_end: flags & FLAG_BATCH_END != 0,
        sealed: flags & FLAG_SEALED != 0,
    })
}

/// Bounds-checked reads over a byte slice, so a malformed body is an error, never a panic.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The encoded frame, after checking that the spans `encode` reports hold the key and data.
    fn encode_one(pk: &str, ehk: Option<u128>, data: &[u8], batch_end: bool) -> Vec<u8> {
        encode_with(pk, ehk, data, batch_end, false)
    }

    fn encode_with(
        pk: &str,
        ehk: Option<u128>,
        data: &[u8],
        batch_end: bool,
        sealed: bool,
    ) -> Vec<u8> {
        let mut out = vec![0xAA; 3];
        let spans = encode(
            &mut out,
            &FrameFields {
                offset: 42,
                arrival_ms: -7,
                partition_key: pk,
                explicit_hash_key: ehk,
                data,
                batch_end,
                sealed,
            },
        );
        let frame = out.split_off(3);
        assert_eq!(&frame[spans.key], pk.as_bytes());
        assert_eq!(&frame[spans.data], data);
        frame
    }

    proptest! {
        #[test]
        fn round_trip(pk in ".{0,40}", ehk in proptest::option::of(any::<u128>()),
                      data in proptest::collection::vec(any::<u8>(), 0..300), batch_end in any::<bool>(),
                      sealed in any::<bool>()) {
            let buf = encode_with(&pk, ehk, &data, batch_end, sealed);
            prop_assert_eq!(buf[PREFIX_LEN], if sealed { SEALED_VERSION } else { FORMAT_VERSION });
            prop_assert_eq!(buf.len(), frame_len(pk.len(), ehk.is_some(), data.len()));
            match decode(&Bytes::from(buf.clone())) {
                Decoded::Frame { frame, len } => {
                    prop_assert_eq!(len, buf.len());
                    prop_assert_eq!(frame.offset, 42);
                    prop_assert_eq!(frame.arrival_ms, -7);
                    prop_assert_eq!(frame.partition_key, pk);
                    prop_assert_eq!(frame.explicit_hash_key, ehk);
                    prop_assert_eq!(&frame.data[..], &data[..]);
                    prop_assert_eq!(frame.batch_end, batch_end);
                    prop_assert_eq!(frame.sealed, sealed);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        #[test]
        fn every_prefix_is_incomplete(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let buf = encode_one("pk", Some(9), &data, true);
            for cut in 0..buf.len() {
                let d = decode(&Bytes::copy_from_slice(&buf[..cut]));
                prop_assert!(matches!(d, Decoded::Incomplete { need } if need > cut), "cut {}: {:?}", cut, d);
            }
        }

        #[test]
        fn any_flipped_byte_is_detected(data in proptest::collection::vec(any::<u8>(), 0..64),
                                         idx in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut buf = encode_one("key", None, &data, true);
            let i = idx.index(buf.len());
            buf[i] ^= 1 << bit;
            let d = decode(&Bytes::from(buf));
            prop_assert!(!matches!(d, Decoded::Frame { .. }), "flip at {} went unnoticed", i);
        }
    }

    #[test]
    fn unknown_version_is_reported_not_invalid() {
        let mut buf = encode_one("k", None, b"x", true);
        buf[PREFIX_LEN] = 9;
        let crc = crc32c::crc32c(&buf[PREFIX_LEN..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode(&Bytes::from(buf)),
            Decoded::UnknownVersion(9)
        ));
    }

    #[test]
    fn the_sealed_flag_is_refused_in_a_version_one_frame() {
        let mut buf = encode_with("", None, b"x", true, true);
        buf[PREFIX_LEN] = FORMAT_VERSION;
        let crc = crc32c::crc32c(&buf[PREFIX_LEN..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&Bytes::from(buf)), Decoded::Invalid(_)));
    }

    #[test]
    fn zeroes_are_invalid() {
        // Some filesystems expose zero-filled blocks after a crash; they must end the log, not parse.
        assert!(matches!(
            decode(&Bytes::from(vec![0u8; 64])),
            Decoded::Invalid(_)
        ));
    }
}
