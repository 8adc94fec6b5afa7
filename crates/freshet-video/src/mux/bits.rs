//! Reading bit fields out of codec headers (AudioSpecificConfig, H.264/H.265 SPS): an MSB-first
//! bit reader with Exp-Golomb codes, and removal of the emulation prevention bytes NAL units
//! carry. Every read returns `None` past the end, so truncated headers fail cleanly.

pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn bit(&mut self) -> Option<bool> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Up to 64 bits as an unsigned number.
    pub fn bits(&mut self, n: u32) -> Option<u64> {
        (0..n).try_fold(0u64, |acc, _| Some((acc << 1) | u64::from(self.bit()?)))
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.data.len() * 8).then(|| self.pos = end)
    }

    /// Unsigned Exp-Golomb (`ue(v)`).
    pub fn ue(&mut self) -> Option<u64> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            // Values in parameter sets fit in 32 bits; longer prefixes are corrupt data.
            if zeros > 32 {
                return None;
            }
        }
        Some((1u64 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Signed Exp-Golomb (`se(v)`).
    pub fn se(&mut self) -> Option<i64> {
        let v = i64::try_from(self.ue()?).ok()?;
        Some(if v % 2 == 1 { (v + 1) / 2 } else { -v / 2 })
    }
}

/// The RBSP of a NAL unit: every `00 00 03` becomes `00 00`.
pub(super) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_exp_golomb() {
        // 101 | ue: 1 (=0) | ue: 010 (=1) | ue: 00111 (=6) | se: 011 (=-1)
        let mut r = BitReader::new(&[0b1011_0100, 0b0111_0110]);
        assert_eq!(r.bits(3), Some(0b101));
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(6));
        assert_eq!(r.se(), Some(-1));
        assert_eq!(r.bits(1), Some(0));
        assert_eq!(r.bit(), None);
        assert_eq!(r.skip(1), None);
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
    }
}
