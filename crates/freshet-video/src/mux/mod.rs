//! Playback muxers: turn a fragment's tracks and frames (see [`crate::media`]) into what the
//! KVS playback APIs serve — fragmented MP4 init and media segments for HLS and DASH, a
//! progressive MP4 for GetClip, and MPEG-TS segments for HLS `getTSFragment.ts`.
//!
//! Every output reads the codec private data the same way (`config.rs`) and derives sample
//! timing with one function (`timing.rs`), so the three containers agree on what a frame is and
//! when it plays. Tracks of kind `Other` are left out; tracks are numbered 1, 2, ... in the
//! order of their MKV track numbers.

mod aac;
pub(crate) mod annexb;
pub(crate) mod avc;
mod bits;
mod boxes;
mod clip;
pub(crate) mod config;
#[cfg(test)]
mod fixture;
mod fmp4;
mod hevc;
mod moov;
mod sample_entry;
mod stbl;
mod timing;
mod track;
mod ts;

pub use clip::clip;
pub use config::codecs_string;
pub use fmp4::{init_segment, media_segment};
pub use ts::ts_segment;

/// Why a fragment could not be muxed. Ingest does not check codec data (as in KVS), so these
/// surface at playback.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MuxError {
    #[error("a track has no codec private data")]
    MissingCodecPrivateData,
    #[error("invalid codec private data: {0}")]
    InvalidCodecPrivateData(String),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("no frames to mux")]
    NoFrames,
    #[error("no track with a supported kind to mux")]
    NoTracks,
    #[error("malformed frame: {0}")]
    MalformedFrame(String),
    #[error("a box or segment exceeds the sizes the container can describe")]
    TooLarge,
}
