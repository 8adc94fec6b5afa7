//! AAC: the MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) and the ADTS header MPEG-TS
//! carries instead of it.

use super::MuxError;
use super::bits::BitReader;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
const SBR: u64 = 5;
const PS: u64 = 29;

#[derive(Clone, Debug)]
pub(crate) struct AacConfig {
    /// The audio object type (2 = AAC-LC, 5 = HE-AAC, ...): the `mp4a.40.<n>` of codecs strings.
    pub object_type: u8,
    /// The object type of the AAC core: HE-AAC streams carry an AAC-LC core that ADTS describes.
    core_object_type: u8,
    /// The index into the ADTS rate table, if the rate has one.
    freq_index: Option<u8>,
    pub sampling_hz: u32,
    pub channel_config: u8,
}

fn invalid() -> MuxError {
    MuxError::InvalidCodecPrivateData("truncated AudioSpecificConfig".into())
}

impl AacConfig {
    pub fn parse(asc: &[u8]) -> Result<Self, MuxError> {
        let mut r = BitReader::new(asc);
        let object_type = read_object_type(&mut r).ok_or_else(invalid)?;
        let (freq_index, sampling_hz) = read_rate(&mut r).ok_or_else(invalid)?;
        let channel_config = r.bits(4).ok_or_else(invalid)?;
        let mut core = object_type;
        if object_type == SBR || object_type == PS {
            read_rate(&mut r).ok_or_else(invalid)?;
            core = read_object_type(&mut r).ok_or_else(invalid)?;
        }
        let narrow = |v: u64| u8::try_from(v).map_err(|_| invalid());
        Ok(Self {
            object_type: narrow(object_type)?,
            core_object_type: narrow(core)?,
            freq_index,
            sampling_hz,
            channel_config: narrow(channel_config)?,
        })
    }

    /// The 7-byte ADTS header (no CRC) for one access unit of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], MuxError> {
        let unsupported = |what: String| MuxError::UnsupportedCodec(format!("AAC in ADTS: {what}"));
        // ADTS has two bits for the profile: AAC Main, LC, SSR and LTP only.
        if !(1..=4).contains(&self.core_object_type) {
            return Err(unsupported(format!(
                "object type {}",
                self.core_object_type
            )));
        }
        let freq = self
            .freq_index
            .ok_or_else(|| unsupported(format!("sampling rate {}", self.sampling_hz)))?;
        let frame_len = u64::try_from(payload_len + 7)
            .ok()
            .filter(|&n| n < 1 << 13)
            .ok_or_else(|| {
                MuxError::MalformedFrame(format!(
                    "AAC frame of {payload_len} bytes is too long for ADTS"
                ))
            })?;
        let fields = (u64::from(self.core_object_type - 1) << 38)
            | (u64::from(freq) << 34)
            | (u64::from(self.channel_config & 7) << 30)
            | (frame_len << 13)
            | (0x7ff << 2);
        let mut header = [0u8; 7];
        header[..2].copy_from_slice(&[0xff, 0xf1]);
        header[2..].copy_from_slice(&fields.to_be_bytes()[3..]);
        Ok(header)
    }
}

fn read_object_type(r: &mut BitReader) -> Option<u64> {
    match r.bits(5)? {
        31 => Some(32 + r.bits(6)?),
        t => Some(t),
    }
}

fn read_rate(r: &mut BitReader) -> Option<(Option<u8>, u32)> {
    let index = r.bits(4)?;
    if index == 15 {
        let hz = u32::try_from(r.bits(24)?).ok()?;
        let index = SAMPLE_RATES
            .iter()
            .position(|&s| s == hz)
            .and_then(|i| u8::try_from(i).ok());
        return Some((index, hz));
    }
    let hz = *SAMPLE_RATES.get(usize::try_from(index).ok()?)?;
    Some((u8::try_from(index).ok(), hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_and_builds_adts() {
        // AAC-LC, 48 kHz, stereo: what ffmpeg's encoder writes.
        let cfg = AacConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            (cfg.object_type, cfg.sampling_hz, cfg.channel_config),
            (2, 48000, 2)
        );
        let h = cfg.adts_header(100).unwrap();
        assert_eq!(h, [0xff, 0xf1, 0x4c, 0x80, 0x0d, 0x7f, 0xfc]);
    }

    #[test]
    fn he_aac_keeps_its_object_type_but_frames_as_lc() {
        // Explicit SBR signalling: object type 5, 24 kHz core, 48 kHz extension, LC core.
        let cfg = AacConfig::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!((cfg.object_type, cfg.sampling_hz), (5, 24000));
        assert_eq!(cfg.adts_header(10).unwrap()[2] >> 6, 1);
    }

    #[test]
    fn rejects_truncated_and_unframeable_configs() {
        assert!(matches!(
            AacConfig::parse(&[0x11]),
            Err(MuxError::InvalidCodecPrivateData(_))
        ));
        // Object type 42 (USAC) has no ADTS profile.
        let usac = AacConfig::parse(&[0xf9, 0x46, 0x40]).unwrap();
        assert_eq!(usac.object_type, 42);
        assert!(matches!(
            usac.adts_header(10),
            Err(MuxError::UnsupportedCodec(_))
        ));
    }
}
