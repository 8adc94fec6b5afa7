//! H.264 to RGB with OpenH264, compiled into the binary (no system codec, no subprocess).
//! OpenH264 reads Annex B, so each frame goes through the muxers' AVCC-to-Annex-B rewrite,
//! which also puts the avcC's SPS and PPS before every key frame.

use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::ImageError;
use super::picture::{CHANNELS, Picture};
use super::select::DecodeRun;
use crate::mux::annexb::access_unit;
use crate::mux::config::CodecConfig;

/// Decodes the run and returns its picture number `run.output_index` in presentation order.
pub(super) fn decode(codec: &CodecConfig, run: &DecodeRun) -> Result<Picture, ImageError> {
    // No flushing after each frame: a flush forces pictures out before the frames that are
    // presented earlier have been decoded, which would break the presentation order the
    // output index relies on. What is still held comes out in order at the end.
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let mut outputs = 0;
    for frame in &run.frames {
        let unit = access_unit(codec, frame)?.ok_or_else(|| {
            ImageError::Unsupported("images of a codec that is not NAL based".into())
        })?;
        let decoded = decoder
            .decode(&unit)
            .map_err(|e| ImageError::Decode(format!("frame at {} ns: {e}", frame.pts_ns)))?;
        if let Some(yuv) = decoded {
            if outputs == run.output_index {
                return to_rgb(&yuv);
            }
            outputs += 1;
        }
    }
    let remaining = decoder
        .flush_remaining()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    // `outputs` stops at `output_index` (the loop returns there), so this cannot underflow.
    match remaining.get(run.output_index - outputs) {
        Some(yuv) => to_rgb(yuv),
        None => Err(ImageError::Decode(format!(
            "the decoder put out {} pictures for {} frames",
            outputs + remaining.len(),
            run.frames.len()
        ))),
    }
}

fn to_rgb(yuv: &DecodedYUV<'_>) -> Result<Picture, ImageError> {
    let (width, height) = yuv.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Decode(
            "the decoder put out an empty picture".into(),
        ));
    }
    let too_large = || ImageError::Decode(format!("picture of {width}x{height} pixels"));
    let mut data = vec![0; width * height * CHANNELS];
    // BT.601 limited range, what H.264 streams without colour signalling mean.
    yuv.write_rgb8(&mut data);
    Ok(Picture {
        width: u32::try_from(width).map_err(|_| too_large())?,
        height: u32::try_from(height).map_err(|_| too_large())?,
        data,
    })
}
