//! Which codecs the muxers carry, read from a track's `CodecID` and `CodecPrivate`, and the RFC
//! 6381 codecs string players need before they fetch media.

use super::MuxError;
use super::aac::AacConfig;
use super::avc::AvcConfig;
use super::hevc::HevcConfig;
use crate::media::Track;

#[derive(Clone, Debug)]
pub(crate) enum CodecConfig {
    Avc(AvcConfig),
    Hevc(HevcConfig),
    Aac(AacConfig),
}

impl CodecConfig {
    pub fn parse(track: &Track) -> Result<Self, MuxError> {
        let id = track.codec_id.as_str();
        let parse: fn(&Track) -> Result<Self, MuxError> = match id {
            "V_MPEG4/ISO/AVC" => |t| AvcConfig::parse(&t.codec_private).map(Self::Avc),
            "V_MPEGH/ISO/HEVC" => |t| HevcConfig::parse(&t.codec_private).map(Self::Hevc),
            // `A_AAC` and the legacy `A_AAC/MPEG4/LC`-style ids alike.
            _ if id.starts_with("A_AAC") => |t| AacConfig::parse(&t.codec_private).map(Self::Aac),
            _ => return Err(MuxError::UnsupportedCodec(id.to_owned())),
        };
        if track.codec_private.is_empty() {
            return Err(MuxError::MissingCodecPrivateData);
        }
        parse(track)
    }

    /// The parameter set NAL units of the record, in the order a decoder needs them.
    pub fn parameter_sets(&self) -> Vec<&[u8]> {
        match self {
            Self::Avc(c) => c.sps.iter().chain(&c.pps).map(|n| n.as_ref()).collect(),
            Self::Hevc(c) => c.param_sets.iter().map(|n| n.as_ref()).collect(),
            Self::Aac(_) => Vec::new(),
        }
    }

    /// The size of the NAL length prefixes in the frames, for the video codecs.
    pub fn nal_length_size(&self) -> Option<usize> {
        match self {
            Self::Avc(c) => Some(c.length_size),
            Self::Hevc(c) => Some(c.length_size),
            Self::Aac(_) => None,
        }
    }
}

/// The HLS `CODECS` / DASH `codecs` value of a track: `avc1.PPCCLL`, `hvc1.…` or
/// `mp4a.40.<object type>`.
pub fn codecs_string(track: &Track) -> Result<String, MuxError> {
    Ok(match CodecConfig::parse(track)? {
        CodecConfig::Avc(c) => {
            let [p, c, l] = c.profile_compat_level;
            format!("avc1.{p:02x}{c:02x}{l:02x}")
        }
        CodecConfig::Hevc(c) => c.codecs_string(),
        CodecConfig::Aac(c) => format!("mp4a.40.{}", c.object_type),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TrackKind;
    use crate::mux::avc::tests::AVCC_320X240;
    use crate::mux::hevc::tests::HVCC_320X240;
    use bytes::Bytes;

    fn track(codec_id: &str, private: &'static [u8]) -> Track {
        Track {
            number: 1,
            codec_id: codec_id.into(),
            codec_private: Bytes::from_static(private),
            kind: TrackKind::Video {
                width: 0,
                height: 0,
            },
            default_duration_ns: None,
        }
    }

    #[test]
    fn codecs_strings_of_known_records() {
        assert_eq!(
            codecs_string(&track("V_MPEG4/ISO/AVC", &AVCC_320X240)).unwrap(),
            "avc1.42c00d"
        );
        const HIGH: [u8; 7] = [0x01, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00];
        assert_eq!(
            codecs_string(&track("V_MPEG4/ISO/AVC", &HIGH)).unwrap(),
            "avc1.64001f"
        );
        assert_eq!(
            codecs_string(&track("V_MPEGH/ISO/HEVC", &HVCC_320X240)).unwrap(),
            "hvc1.1.6.L60.90"
        );
        assert_eq!(
            codecs_string(&track("A_AAC", &[0x11, 0x90])).unwrap(),
            "mp4a.40.2"
        );
        assert_eq!(
            codecs_string(&track("A_AAC/MPEG4/LC/SBR", &[0x2b, 0x11, 0x88, 0x00])).unwrap(),
            "mp4a.40.5"
        );
    }

    #[test]
    fn missing_invalid_and_unsupported_codec_data() {
        assert_eq!(
            codecs_string(&track("V_MPEG4/ISO/AVC", &[])),
            Err(MuxError::MissingCodecPrivateData)
        );
        assert_eq!(
            codecs_string(&track("A_AAC", &[])),
            Err(MuxError::MissingCodecPrivateData)
        );
        assert!(matches!(
            codecs_string(&track("V_MPEG4/ISO/AVC", &[2, 0x64, 0, 0x1f])),
            Err(MuxError::InvalidCodecPrivateData(_))
        ));
        assert_eq!(
            codecs_string(&track("V_VP8", &[1])),
            Err(MuxError::UnsupportedCodec("V_VP8".into()))
        );
    }
}
