//! H.265: the `HEVCDecoderConfigurationRecord` (hvcC), its `hvc1` codecs string and the picture
//! size in its SPS.

use super::MuxError;
use super::avc::read_sets;
use super::bits::{BitReader, unescape_rbsp};
use bytes::Bytes;

const SPS_NAL_TYPE: u8 = 33;

#[derive(Clone, Debug)]
pub(crate) struct HevcConfig {
    /// The fixed 23-byte head of the record (profile, level, length size, ...).
    head: [u8; 23],
    pub length_size: usize,
    /// The NAL units of every array in record order (VPS, SPS, PPS, maybe SEI): what a decoder
    /// needs before a key frame.
    pub param_sets: Vec<Bytes>,
}

fn invalid(what: &str) -> MuxError {
    MuxError::InvalidCodecPrivateData(format!("hvcC: {what}"))
}

impl HevcConfig {
    pub fn parse(record: &Bytes) -> Result<Self, MuxError> {
        let head: [u8; 23] = record
            .get(..23)
            .and_then(|h| h.try_into().ok())
            .filter(|h: &[u8; 23]| h[0] == 1)
            .ok_or_else(|| invalid("not a version 1 record"))?;
        let mut pos = 23;
        let mut param_sets = Vec::new();
        for _ in 0..head[22] {
            let count = record
                .get(pos + 1..pos + 3)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(|| invalid("truncated array"))?;
            pos += 3;
            param_sets.extend(
                read_sets(record, &mut pos, count).ok_or_else(|| invalid("truncated NAL unit"))?,
            );
        }
        Ok(Self {
            head,
            length_size: usize::from(head[21] & 3) + 1,
            param_sets,
        })
    }

    /// `hvc1.<space><profile>.<compatibility>.<tier><level>.<constraints>` (ISO/IEC 14496-15
    /// annex E): compatibility flags bit-reversed in hex, trailing zero constraint bytes dropped.
    pub fn codecs_string(&self) -> String {
        let h = &self.head;
        let space = ["", "A", "B", "C"][usize::from(h[1] >> 6)];
        let compat = u32::from_be_bytes([h[2], h[3], h[4], h[5]]).reverse_bits();
        let tier = if h[1] & 0x20 != 0 { 'H' } else { 'L' };
        let constraints = &h[6..12];
        let kept = constraints
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        let mut s = format!("hvc1.{space}{}.{compat:X}.{tier}{}", h[1] & 0x1f, h[12]);
        constraints[..kept]
            .iter()
            .for_each(|b| s.push_str(&format!(".{b:02X}")));
        s
    }

    pub fn dimensions(&self) -> Result<(u32, u32), MuxError> {
        let sps = self
            .param_sets
            .iter()
            .find(|n| n.first().is_some_and(|b| (b >> 1) & 0x3f == SPS_NAL_TYPE))
            .ok_or_else(|| invalid("no SPS"))?;
        sps_dimensions(&unescape_rbsp(sps.get(2..).unwrap_or_default()))
            .ok_or_else(|| invalid("unreadable SPS"))
    }
}

/// ITU-T H.265 7.3.2.2 up to the conformance window.
fn sps_dimensions(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(rbsp);
    r.skip(4)?;
    let sub_layers = usize::try_from(r.bits(3)?).ok()?;
    r.skip(1)?;
    // profile_tier_level: the general profile (88 bits) and level (8 bits), then per sub-layer
    // presence flags, padding to 8 pairs, and the sub-layer profiles and levels present.
    r.skip(96)?;
    let present: Vec<(bool, bool)> = (0..sub_layers)
        .map(|_| Some((r.bit()?, r.bit()?)))
        .collect::<Option<_>>()?;
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        r.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 })?;
    }
    r.ue()?;
    let chroma_format = r.ue()?;
    if chroma_format == 3 {
        r.skip(1)?;
    }
    let (width, height) = (r.ue()?, r.ue()?);
    let (sub_w, sub_h) = match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (mut w, mut h) = (width, height);
    if r.bit()? {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        w = w.checked_sub(sub_w * (left + right))?;
        h = h.checked_sub(sub_h * (top + bottom))?;
    }
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The hvcC libx265 writes for 320x240 Main (its SEI array left out): VPS, SPS, PPS.
    pub const HVCC_320X240: [u8; 111] = [
        0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00,
        0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01,
        0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09, 0xa1, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01,
        0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00,
        0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10, 0xa2, 0x00, 0x01, 0x00, 0x07, 0x44,
        0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
    ];

    #[test]
    fn parses_record_codecs_string_and_sps_size() {
        let cfg = HevcConfig::parse(&Bytes::from_static(&HVCC_320X240)).unwrap();
        assert_eq!(cfg.length_size, 4);
        let types: Vec<u8> = cfg.param_sets.iter().map(|n| (n[0] >> 1) & 0x3f).collect();
        assert_eq!(types, [32, 33, 34]);
        assert_eq!(cfg.codecs_string(), "hvc1.1.6.L60.90");
        assert_eq!(cfg.dimensions().unwrap(), (320, 240));
    }

    #[test]
    fn rejects_truncated_records() {
        for len in [0, 22, 30, 110] {
            let r = HevcConfig::parse(&Bytes::copy_from_slice(&HVCC_320X240[..len]));
            assert!(
                matches!(r, Err(MuxError::InvalidCodecPrivateData(_))),
                "len {len}"
            );
        }
    }
}
