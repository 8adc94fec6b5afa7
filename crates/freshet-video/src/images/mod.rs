//! GetImages: one still picture of a video track at a timestamp, as JPEG or PNG. This module
//! owns everything from a fragment's frames to the encoded image: which frames to decode
//! (`select`), H.264 decoding (`decode`, OpenH264 in process), the output size (`size`),
//! resampling (`scale`) and encoding (`encode`). Reading the avcC record and rewriting frames
//! as Annex B belong to the muxers ([`crate::mux`]), shared so both read H.264 one way.
//!
//! The decoder and encoders sit behind the `images` cargo feature (on by default) because
//! OpenH264 is compiled from C; without it [`render`] answers [`ImageError::Unsupported`].
//! Rendering is CPU-bound (up to a GOP is decoded per picture): call it from a blocking thread.

mod error;

#[cfg(feature = "images")]
mod decode;
#[cfg(feature = "images")]
mod encode;
#[cfg(feature = "images")]
mod picture;
#[cfg(feature = "images")]
mod scale;
#[cfg(feature = "images")]
mod select;
#[cfg(feature = "images")]
mod size;
#[cfg(all(test, feature = "images"))]
mod tests;

pub use error::ImageError;

use crate::media::{Frame, Track};

/// GetImages' `Format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

/// GetImages' `WidthPixels` and `HeightPixels`. One alone keeps the picture's aspect ratio
/// (the other is derived); both stretch to exactly that size; neither keeps the original size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageSize {
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The only codec rendered: H.265 and the rest are answered [`ImageError::Unsupported`].
const AVC_CODEC_ID: &str = "V_MPEG4/ISO/AVC";

/// The picture of `track` shown at `target_pts_ns`, encoded as `format`.
///
/// `frames` are one fragment's frames of this track, in decode order (frames of other tracks
/// are ignored). The picture is that of the last frame presented at or before the target, or
/// of the first frame when the target precedes them all; it is decoded from the last key frame
/// before it. `jpeg_quality` (1..=100, clamped) applies to JPEG only.
pub fn render(
    track: &Track,
    frames: &[Frame],
    target_pts_ns: i64,
    format: ImageFormat,
    size: ImageSize,
    jpeg_quality: u8,
) -> Result<Vec<u8>, ImageError> {
    if track.codec_id != AVC_CODEC_ID {
        let name = match track.codec_id.as_str() {
            "V_MPEGH/ISO/HEVC" => "H.265",
            other => other,
        };
        return Err(ImageError::Unsupported(format!("images of {name} video")));
    }
    render_avc(track, frames, target_pts_ns, format, size, jpeg_quality)
}

#[cfg(feature = "images")]
fn render_avc(
    track: &Track,
    frames: &[Frame],
    target_pts_ns: i64,
    format: ImageFormat,
    size: ImageSize,
    jpeg_quality: u8,
) -> Result<Vec<u8>, ImageError> {
    let codec = crate::mux::config::CodecConfig::parse(track)?;
    let frames: Vec<&Frame> = frames.iter().filter(|f| f.track == track.number).collect();
    let run = select::decode_run(&frames, target_pts_ns)?;
    let picture = decode::decode(&codec, &run)?;
    let (width, height) = size::output_size(size, picture.width, picture.height)?;
    let picture = scale::resize(&picture, width, height);
    encode::encode(&picture, format, jpeg_quality)
}

#[cfg(not(feature = "images"))]
fn render_avc(
    _track: &Track,
    _frames: &[Frame],
    _target_pts_ns: i64,
    _format: ImageFormat,
    _size: ImageSize,
    _jpeg_quality: u8,
) -> Result<Vec<u8>, ImageError> {
    Err(ImageError::Unsupported(
        "images (freshet-video was built without its `images` feature)".into(),
    ))
}

#[cfg(all(test, not(feature = "images")))]
mod without_feature {
    use super::*;
    use crate::media::TrackKind;
    use bytes::Bytes;

    #[test]
    fn answers_unsupported() {
        let track = Track {
            number: 1,
            codec_id: AVC_CODEC_ID.into(),
            codec_private: Bytes::new(),
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            default_duration_ns: None,
        };
        let r = render(&track, &[], 0, ImageFormat::Png, ImageSize::default(), 80);
        assert!(
            matches!(&r, Err(ImageError::Unsupported(m)) if m.contains("`images` feature")),
            "{r:?}"
        );
    }
}
