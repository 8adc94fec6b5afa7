//! H.264: the `AVCDecoderConfigurationRecord` (avcC) and the picture size in its SPS.

use super::MuxError;
use super::bits::{BitReader, unescape_rbsp};
use bytes::Bytes;

#[derive(Clone, Debug)]
pub(crate) struct AvcConfig {
    /// Bytes 1..4 of the record: profile, constraint flags, level (the `avc1.PPCCLL` string).
    pub profile_compat_level: [u8; 3],
    /// Width of the NAL length prefixes in the frames (1, 2 or 4).
    pub length_size: usize,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

fn invalid(what: &str) -> MuxError {
    MuxError::InvalidCodecPrivateData(format!("avcC: {what}"))
}

impl AvcConfig {
    pub fn parse(record: &Bytes) -> Result<Self, MuxError> {
        if record.len() < 7 || record[0] != 1 {
            return Err(invalid("not a version 1 record"));
        }
        let mut pos = 6;
        let sps = read_sets(record, &mut pos, usize::from(record[5] & 0x1f))
            .ok_or_else(|| invalid("truncated SPS"))?;
        let count = usize::from(*record.get(pos).ok_or_else(|| invalid("truncated"))?);
        pos += 1;
        let pps = read_sets(record, &mut pos, count).ok_or_else(|| invalid("truncated PPS"))?;
        Ok(Self {
            profile_compat_level: [record[1], record[2], record[3]],
            length_size: usize::from(record[4] & 3) + 1,
            sps,
            pps,
        })
    }

    /// The coded picture size from the first SPS, after cropping.
    pub fn dimensions(&self) -> Result<(u32, u32), MuxError> {
        let sps = self.sps.first().ok_or_else(|| invalid("no SPS"))?;
        sps_dimensions(&unescape_rbsp(sps.get(1..).unwrap_or_default()))
            .ok_or_else(|| invalid("unreadable SPS"))
    }
}

/// `count` parameter sets, each behind a 16-bit length, from `pos` on (advanced past them).
/// The layout of both avcC and hvcC.
pub(super) fn read_sets(record: &Bytes, pos: &mut usize, count: usize) -> Option<Vec<Bytes>> {
    (0..count)
        .map(|_| {
            let len = record
                .get(*pos..*pos + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))?;
            let start = *pos + 2;
            *pos = start + len;
            (*pos <= record.len()).then(|| record.slice(start..*pos))
        })
        .collect()
}

/// Profiles whose SPS carries chroma format and bit depth fields.
const HIGH_PROFILES: [u64; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

fn sps_dimensions(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(rbsp);
    let profile = r.bits(8)?;
    r.skip(16)?;
    r.ue()?;
    let mut chroma_format = 1;
    if HIGH_PROFILES.contains(&profile) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.skip(1)?;
        }
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
        if r.bit()? {
            for i in 0..if chroma_format == 3 { 12 } else { 8 } {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?;
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.skip(1)?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?;
    r.skip(1)?;
    let width_mbs = r.ue()? + 1;
    let height_units = r.ue()? + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.skip(1)?;
    }
    r.skip(1)?;
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bit()? {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    // Crop units per ITU-T H.264 7.4.2.1.1: chroma subsampling times field/frame coding.
    let (sub_w, sub_h) = match chroma_format {
        0 | 3 => (1, 1),
        2 => (2, 1),
        _ => (2, 2),
    };
    let width = (width_mbs * 16).checked_sub(sub_w * (left + right))?;
    let height = ((2 - frame_mbs_only) * height_units * 16)
        .checked_sub(sub_h * (2 - frame_mbs_only) * (top + bottom))?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The avcC libx264 writes for 320x240 baseline: SPS and PPS of a real encode.
    pub const AVCC_320X240: [u8; 40] = [
        0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41,
        0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42,
        0xa4, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
    ];

    #[test]
    fn parses_record_and_sps_size() {
        let cfg = AvcConfig::parse(&Bytes::from_static(&AVCC_320X240)).unwrap();
        assert_eq!(cfg.length_size, 4);
        assert_eq!((cfg.sps.len(), cfg.pps.len()), (1, 1));
        assert_eq!(cfg.pps[0].as_ref(), &[0x68, 0xcb, 0x83, 0xcb, 0x20]);
        assert_eq!(cfg.dimensions().unwrap(), (320, 240));
    }

    #[test]
    fn rejects_truncated_records() {
        for len in [0, 3, 10, 37] {
            let r = AvcConfig::parse(&Bytes::copy_from_slice(&AVCC_320X240[..len]));
            assert!(
                matches!(r, Err(MuxError::InvalidCodecPrivateData(_))),
                "len {len}"
            );
        }
    }
}
