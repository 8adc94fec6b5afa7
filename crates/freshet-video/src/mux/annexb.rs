//! H.264/H.265 access units in Annex B form, as MPEG-TS carries them: start codes instead of
//! the AVCC length prefixes, an access unit delimiter first, and the parameter sets of the codec
//! private record before every key frame so each segment (and each GOP) decodes on its own.

use super::MuxError;
use super::config::CodecConfig;
use crate::media::Frame;

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 AUD: type 9, any slice type (primary_pic_type 7).
const AVC_AUD: [u8; 2] = [0x09, 0xf0];
/// H.265 AUD: type 35, temporal id 0, I/P/B slices (pic_type 2).
const HEVC_AUD: [u8; 3] = [0x46, 0x01, 0x50];

/// The frame as one Annex B access unit. `None` for codecs that are not NAL based.
pub(crate) fn access_unit(codec: &CodecConfig, frame: &Frame) -> Result<Option<Vec<u8>>, MuxError> {
    let (aud, is_aud): (&[u8], fn(u8) -> bool) = match codec {
        CodecConfig::Avc(_) => (&AVC_AUD, |h| h & 0x1f == 9),
        CodecConfig::Hevc(_) => (&HEVC_AUD, |h| (h >> 1) & 0x3f == 35),
        CodecConfig::Aac(_) => return Ok(None),
    };
    let length_size = codec.nal_length_size().unwrap_or(4);
    let mut out = Vec::with_capacity(frame.data.len() + 64);
    let mut push = |nal: &[u8]| {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    };
    push(aud);
    if frame.keyframe {
        codec.parameter_sets().into_iter().for_each(&mut push);
    }
    for nal in nal_units(&frame.data, length_size) {
        let nal = nal?;
        // The producer's own delimiters would repeat the one written above.
        if nal.first().is_some_and(|&h| !is_aud(h)) {
            push(nal);
        }
    }
    Ok(Some(out))
}

/// The NAL units of an AVCC frame, each behind a `length_size`-byte big-endian length.
fn nal_units(data: &[u8], length_size: usize) -> impl Iterator<Item = Result<&[u8], MuxError>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let malformed = || {
            MuxError::MalformedFrame(format!(
                "NAL unit length runs past the frame ({} bytes left)",
                rest.len()
            ))
        };
        let Some((prefix, tail)) = rest.split_at_checked(length_size) else {
            rest = &[];
            return Some(Err(malformed()));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let Some((nal, next)) = tail.split_at_checked(len) else {
            let err = malformed();
            rest = &[];
            return Some(Err(err));
        };
        rest = next;
        Some(Ok(nal))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::avc::{AvcConfig, tests::AVCC_320X240};
    use bytes::Bytes;

    fn avc() -> CodecConfig {
        CodecConfig::Avc(AvcConfig::parse(&Bytes::from_static(&AVCC_320X240)).unwrap())
    }

    fn frame(keyframe: bool, data: &'static [u8]) -> Frame {
        Frame {
            track: 1,
            pts_ns: 0,
            keyframe,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn key_frames_get_delimiter_and_parameter_sets() {
        let au = access_unit(
            &avc(),
            &frame(true, &[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 2, 0x09, 0xf0]),
        )
        .unwrap()
        .unwrap();
        let mut expected = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
        expected.extend_from_slice(&AVCC_320X240[8..32]); // the SPS
        expected.extend_from_slice(&[
            0, 0, 0, 1, 0x68, 0xcb, 0x83, 0xcb, 0x20, 0, 0, 0, 1, 0x65, 0xaa,
        ]);
        assert_eq!(au, expected);
        let delta = access_unit(&avc(), &frame(false, &[0, 0, 0, 1, 0x41]))
            .unwrap()
            .unwrap();
        assert_eq!(delta, [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn truncated_nal_units_are_errors() {
        for data in [&[0, 0, 0, 5, 0x65][..], &[0, 0, 1][..]] {
            let data = Bytes::copy_from_slice(data);
            let f = Frame {
                track: 1,
                pts_ns: 0,
                keyframe: false,
                data,
            };
            assert!(matches!(
                access_unit(&avc(), &f),
                Err(MuxError::MalformedFrame(_))
            ));
        }
    }
}
