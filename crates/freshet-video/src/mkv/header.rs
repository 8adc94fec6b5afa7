//! The part of a producer's MKV that describes the media: the EBML header, the Segment's Info
//! (TimecodeScale) and Tracks. Kept as received, so GetMedia hands consumers the producer's own
//! track descriptions, and read into `Track`s for playback.

use bytes::Bytes;

use super::ebml::{children, float, string, uint};
use super::{MkvError, id};
use crate::media::{Track, TrackKind};

/// Matroska's default TimecodeScale: timecodes in milliseconds.
const DEFAULT_TIMECODE_SCALE_NS: u64 = 1_000_000;
const MAX_TRACKS: usize = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The EBML header, Info and Tracks elements, whole, in that order.
    pub raw: Bytes,
    pub timecode_scale_ns: u64,
    pub tracks: Vec<Track>,
}

impl Header {
    /// Reads `raw`: complete top-level elements, of which Info and Tracks matter (others, such
    /// as the EBML header, are kept but not read).
    pub fn parse(raw: Bytes) -> Result<Header, MkvError> {
        let mut timecode_scale_ns = DEFAULT_TIMECODE_SCALE_NS;
        let mut tracks = None;
        for child in children(&raw) {
            let (element, payload) = child?;
            match element {
                id::INFO => {
                    for field in children(payload) {
                        let (field, value) = field?;
                        if field == id::TIMECODE_SCALE {
                            timecode_scale_ns = uint(value)?;
                        }
                    }
                }
                id::TRACKS => tracks = Some(parse_tracks(&raw, payload)?),
                _ => {}
            }
        }
        if timecode_scale_ns == 0 {
            return Err(MkvError::Invalid("TimecodeScale is 0"));
        }
        let tracks = tracks.ok_or(MkvError::Invalid("the Segment has no Tracks element"))?;
        Ok(Header {
            raw,
            timecode_scale_ns,
            tracks,
        })
    }

    pub fn track(&self, number: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.number == number)
    }
}

fn parse_tracks(raw: &Bytes, payload: &[u8]) -> Result<Vec<Track>, MkvError> {
    let mut tracks = Vec::new();
    for entry in children(payload) {
        let (element, entry) = entry?;
        if element == id::TRACK_ENTRY {
            tracks.push(parse_track(raw, entry)?);
        }
    }
    if tracks.is_empty() {
        return Err(MkvError::Invalid("the Tracks element declares no track"));
    }
    if tracks.len() > MAX_TRACKS {
        return Err(MkvError::TooManyTracks);
    }
    Ok(tracks)
}

fn parse_track(raw: &Bytes, entry: &[u8]) -> Result<Track, MkvError> {
    let mut number = None;
    let mut track_type = 0;
    let mut codec_id = String::new();
    let mut codec_private = Bytes::new();
    let mut default_duration_ns = None;
    let (mut width, mut height, mut sampling_hz, mut channels) = (0, 0, 0, 1);
    for field in children(entry) {
        let (field, value) = field?;
        match field {
            id::TRACK_NUMBER => number = Some(uint(value)?),
            id::TRACK_TYPE => track_type = uint(value)?,
            id::CODEC_ID => codec_id = string(value),
            // A view of the stored header: no copy of what may be a sizeable record.
            id::CODEC_PRIVATE => codec_private = raw.slice_ref(value),
            id::DEFAULT_DURATION => default_duration_ns = Some(uint(value)?),
            id::VIDEO => {
                for v in children(value) {
                    match v? {
                        (id::PIXEL_WIDTH, w) => width = uint(w)? as u32,
                        (id::PIXEL_HEIGHT, h) => height = uint(h)? as u32,
                        _ => {}
                    }
                }
            }
            id::AUDIO => {
                for a in children(value) {
                    match a? {
                        (id::SAMPLING_FREQUENCY, f) => sampling_hz = float(f)? as u32,
                        (id::CHANNELS, c) => channels = uint(c)? as u32,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let number = number
        .filter(|&n| n > 0)
        .ok_or(MkvError::Invalid("a TrackEntry has no TrackNumber"))?;
    let kind = match track_type {
        1 => TrackKind::Video { width, height },
        2 => TrackKind::Audio {
            sampling_hz,
            channels,
        },
        _ => TrackKind::Other,
    };
    Ok(Track {
        number,
        codec_id,
        codec_private,
        kind,
        default_duration_ns,
    })
}
