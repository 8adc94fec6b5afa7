//! The tracks a muxer writes: which of the fragment's tracks are carried, their ids in the
//! output (1, 2, ... in MKV track number order), timescales, picture sizes and codec configs.

use super::MuxError;
use super::config::CodecConfig;
use crate::media::{Frame, Track, TrackKind};

/// Video runs on the 90 kHz clock of MPEG systems (and of KVS's own MP4 output).
pub(super) const VIDEO_TIMESCALE: u32 = 90_000;

pub(super) struct MuxTrack<'a> {
    pub track: &'a Track,
    /// The MP4 `track_ID` (the MPEG-TS elementary stream index is `id - 1`).
    pub id: u32,
    pub codec: CodecConfig,
    pub timescale: u32,
    pub media: Media,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Media {
    Video { width: u32, height: u32 },
    Audio { channels: u32 },
}

impl MuxTrack<'_> {
    pub fn is_video(&self) -> bool {
        matches!(self.media, Media::Video { .. })
    }

    /// This track's frames, in the decode order they came in.
    pub fn frames<'f>(&self, frames: &'f [Frame]) -> Vec<&'f Frame> {
        frames
            .iter()
            .filter(|f| f.track == self.track.number)
            .collect()
    }
}

/// Every track of a video or audio kind, sorted by track number; errors if a codec is not
/// supported or its private data does not parse, or if there is no such track at all.
pub(super) fn mux_tracks(tracks: &[Track]) -> Result<Vec<MuxTrack<'_>>, MuxError> {
    let mut carried: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.kind != TrackKind::Other)
        .collect();
    carried.sort_by_key(|t| t.number);
    let muxed = carried
        .into_iter()
        .zip(1u32..)
        .map(|(track, id)| {
            let codec = CodecConfig::parse(track)?;
            let (timescale, media) = match (track.kind, &codec) {
                (
                    TrackKind::Video { width, height },
                    CodecConfig::Avc(_) | CodecConfig::Hevc(_),
                ) => {
                    let (width, height) = match (width, height, &codec) {
                        (0, _, CodecConfig::Avc(c)) | (_, 0, CodecConfig::Avc(c)) => {
                            c.dimensions()?
                        }
                        (0, _, CodecConfig::Hevc(c)) | (_, 0, CodecConfig::Hevc(c)) => {
                            c.dimensions()?
                        }
                        _ => (width, height),
                    };
                    (VIDEO_TIMESCALE, Media::Video { width, height })
                }
                (
                    TrackKind::Audio {
                        sampling_hz,
                        channels,
                    },
                    CodecConfig::Aac(c),
                ) => {
                    // The ASC's rate is the AAC core's; a declared rate wins, as players use it.
                    let rate = if sampling_hz > 0 {
                        sampling_hz
                    } else {
                        c.sampling_hz
                    };
                    let channels = if channels > 0 {
                        channels
                    } else {
                        u32::from(c.channel_config)
                    };
                    (rate, Media::Audio { channels })
                }
                _ => {
                    return Err(MuxError::UnsupportedCodec(format!(
                        "{} in a track of kind {:?}",
                        track.codec_id, track.kind
                    )));
                }
            };
            if timescale == 0 {
                return Err(MuxError::InvalidCodecPrivateData(
                    "audio sampling rate of zero".into(),
                ));
            }
            Ok(MuxTrack {
                track,
                id,
                codec,
                timescale,
                media,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if muxed.is_empty() {
        return Err(MuxError::NoTracks);
    }
    Ok(muxed)
}
