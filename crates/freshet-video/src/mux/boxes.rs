//! A minimal ISO BMFF writer: big-endian fields appended to one buffer, each box's size patched
//! in when the box closes. Sizes past `u32` are recorded and reported by [`BoxWriter::finish`]
//! (only `mdat` ever needs a 64-bit size, and [`mdat_header`] writes that one).

use super::MuxError;

/// The identity transform of `mvhd` and `tkhd`.
pub(super) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

#[derive(Default)]
pub(super) struct BoxWriter {
    buf: Vec<u8>,
    oversized: bool,
}

impl BoxWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn boxed(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        body(self);
        let size = u32::try_from(self.buf.len() - start).unwrap_or_else(|_| {
            self.oversized = true;
            0
        });
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }

    /// A box with the version and flags header of a `FullBox`.
    pub fn full_box(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            body(w);
        });
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub fn matrix(&mut self) {
        UNITY_MATRIX.iter().for_each(|&v| self.u32(v));
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites a `u32` written earlier: offsets into `mdat` are known only once the boxes
    /// before it are complete.
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn finish(self) -> Result<Vec<u8>, MuxError> {
        if self.oversized {
            return Err(MuxError::TooLarge);
        }
        Ok(self.buf)
    }
}

/// The header of an `mdat` holding `payload` bytes: 8 bytes, or 16 with a 64-bit size.
pub(super) fn mdat_header(payload: u64) -> Vec<u8> {
    match u32::try_from(payload + 8) {
        Ok(size) => [&size.to_be_bytes()[..], b"mdat"].concat(),
        Err(_) => [
            &1u32.to_be_bytes()[..],
            b"mdat",
            &(payload + 16).to_be_bytes(),
        ]
        .concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_carry_their_sizes() {
        let mut w = BoxWriter::new();
        w.boxed(b"moov", |w| {
            w.full_box(b"mvhd", 1, 0x0000_0003, |w| w.u16(7));
            w.boxed(b"free", |_| {});
        });
        let out = w.finish().unwrap();
        assert_eq!(out.len(), 8 + 14 + 8);
        assert_eq!(&out[..8], &[0, 0, 0, 30, b'm', b'o', b'o', b'v']);
        assert_eq!(
            &out[8..22],
            &[0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 0, 0, 3, 0, 7]
        );
        assert_eq!(&out[22..], &[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    }

    #[test]
    fn mdat_header_grows_to_64_bits_past_u32() {
        assert_eq!(mdat_header(10), [0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let big = mdat_header(u64::from(u32::MAX));
        assert_eq!(big.len(), 16);
        assert_eq!(&big[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(big[8..].try_into().unwrap()),
            u64::from(u32::MAX) + 16
        );
    }
}
