//! A Cluster read into frames: its Timecode and the SimpleBlocks and BlockGroups under it, with
//! lacing undone, each frame's data a view of the stored cluster (no copies).

use bytes::Bytes;

use super::ebml::{children, read_size, uint};
use super::header::Header;
use super::{MkvError, id};
use crate::media::Frame;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// The Cluster's Timecode, in TimecodeScale units.
    pub timecode: u64,
    pub frames: Vec<Frame>,
}

impl Cluster {
    /// Reads a Cluster's payload (its children, without the Cluster's own id and size).
    pub fn parse(header: &Header, payload: &Bytes) -> Result<Cluster, MkvError> {
        let mut timecode = None;
        let mut blocks = Vec::new();
        for child in children(payload) {
            let (element, body) = child?;
            match element {
                id::TIMECODE => timecode = Some(uint(body)?),
                id::SIMPLE_BLOCK => blocks.push((body, None)),
                id::BLOCK_GROUP => {
                    let mut block = None;
                    let mut referenced = false;
                    for member in children(body) {
                        match member? {
                            (id::BLOCK, b) => block = Some(b),
                            (id::REFERENCE_BLOCK, _) => referenced = true,
                            _ => {}
                        }
                    }
                    let block = block.ok_or(MkvError::Invalid("a BlockGroup has no Block"))?;
                    blocks.push((block, Some(!referenced)));
                }
                _ => {}
            }
        }
        // Blocks may precede the Timecode in the file order only in theory; the Matroska spec
        // puts Timecode first, and a cluster without one has no timeline.
        let timecode = timecode.ok_or(MkvError::Invalid("a Cluster has no Timecode"))?;
        let mut frames = Vec::with_capacity(blocks.len());
        for (block, keyframe) in blocks {
            read_block(header, payload, block, timecode, keyframe, &mut frames)?;
        }
        if frames.is_empty() {
            return Err(MkvError::NoFrames);
        }
        Ok(Cluster { timecode, frames })
    }
}

/// Appends the frames of one (Simple)Block; `keyframe` is None for a SimpleBlock, whose flags say.
fn read_block(
    header: &Header,
    stored: &Bytes,
    block: &[u8],
    cluster_timecode: u64,
    keyframe: Option<bool>,
    frames: &mut Vec<Frame>,
) -> Result<(), MkvError> {
    const CUT: MkvError = MkvError::Invalid("a block is cut short");
    let (track, len) = read_size(block)?.ok_or(CUT)?;
    let rest = &block[len..];
    if rest.len() < 3 {
        return Err(CUT);
    }
    let relative = i16::from_be_bytes([rest[0], rest[1]]) as i64;
    let flags = rest[2];
    let body = &rest[3..];
    let track_info = header
        .track(track)
        .ok_or(MkvError::TrackNumberMismatch(track))?;
    let keyframe = keyframe.unwrap_or(flags & 0x80 != 0);
    let scale = header.timecode_scale_ns as i64;
    let pts_ns = (cluster_timecode as i64)
        .saturating_add(relative)
        .saturating_mul(scale);
    let step = track_info.default_duration_ns.unwrap_or(0) as i64;
    for (i, data) in unlace(flags, body)?.into_iter().enumerate() {
        frames.push(Frame {
            track,
            pts_ns: pts_ns + i as i64 * step,
            keyframe,
            data: stored.slice_ref(data),
        });
    }
    Ok(())
}

/// The frames of a block body by its lacing (flags bits 1-2): none, Xiph, fixed-size or EBML.
fn unlace(flags: u8, body: &[u8]) -> Result<Vec<&[u8]>, MkvError> {
    const BAD: MkvError = MkvError::Invalid("a laced block's sizes do not add up");
    let lacing = (flags >> 1) & 0x03;
    if lacing == 0 {
        return Ok(vec![body]);
    }
    let (&count, mut rest) = body.split_first().ok_or(BAD)?;
    let count = count as usize + 1;
    let mut sizes = Vec::with_capacity(count);
    match lacing {
        1 => {
            for _ in 1..count {
                let mut size = 0usize;
                loop {
                    let (&b, tail) = rest.split_first().ok_or(BAD)?;
                    rest = tail;
                    size += b as usize;
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
        2 => {
            if rest.len() % count != 0 {
                return Err(BAD);
            }
            sizes.resize(count - 1, rest.len() / count);
        }
        _ => {
            let (first, len) = read_size(rest)?.ok_or(BAD)?;
            rest = &rest[len..];
            let mut size = usize::try_from(first).map_err(|_| BAD)?;
            sizes.push(size);
            for _ in 2..count {
                let (raw, len) = read_size(rest)?.ok_or(BAD)?;
                rest = &rest[len..];
                // Signed differences: the raw value minus half the vint's range.
                let bias = (1i64 << (7 * len - 1)) - 1;
                let delta = raw as i64 - bias;
                size = usize::try_from(size as i64 + delta).map_err(|_| BAD)?;
                sizes.push(size);
            }
        }
    }
    let mut frames = Vec::with_capacity(count);
    for size in sizes {
        if size > rest.len() {
            return Err(BAD);
        }
        let (frame, tail) = rest.split_at(size);
        frames.push(frame);
        rest = tail;
    }
    frames.push(rest);
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacing_kinds_split_frames() {
        assert_eq!(unlace(0, b"abc").unwrap(), vec![&b"abc"[..]]);
        // Xiph: 3 frames of 2, 1 and the rest.
        assert_eq!(
            unlace(0x02, &[2, 2, 1, b'a', b'a', b'b', b'c', b'c']).unwrap(),
            vec![&b"aa"[..], b"b", b"cc"]
        );
        // Fixed: 2 frames of 2.
        assert_eq!(
            unlace(0x04, &[1, b'a', b'a', b'b', b'b']).unwrap(),
            vec![&b"aa"[..], b"bb"]
        );
        // EBML: first size 2 (0x82), then a difference of -1 (0xBE = 62 - 63), the rest last.
        assert_eq!(
            unlace(0x06, &[2, 0x82, 0xBE, b'a', b'a', b'b', b'c']).unwrap(),
            vec![&b"aa"[..], b"b", b"c"]
        );
        assert!(unlace(0x02, &[2, 9, b'a']).is_err());
        assert!(unlace(0x04, &[1, b'a', b'a', b'b']).is_err());
    }
}
