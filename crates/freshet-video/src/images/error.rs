//! Why a picture could not be rendered. GetImages reports [`ImageError::NoFrames`] as
//! `NO_MEDIA` and every other error as `MEDIA_ERROR` for that timestamp.

use crate::mux::MuxError;

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// A codec (H.265, ...) or, in a build without the `images` feature, rendering itself.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The fragment has no frame of the track.
    #[error("no frames of the video track")]
    NoFrames,
    /// There are frames, but no key frame to start decoding from.
    #[error("no key frame to decode from")]
    NoKeyFrame,
    /// The codec private data or a frame could not be read (missing or invalid avcC, a NAL
    /// length running past its frame).
    #[error(transparent)]
    Media(#[from] MuxError),
    #[error("H.264 decoding failed: {0}")]
    Decode(String),
    #[error("invalid image size: {0}")]
    InvalidSize(String),
    #[error("image encoding failed: {0}")]
    Encode(String),
}
