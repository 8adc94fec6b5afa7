//! What a stored fragment is made of once its MKV is read: the tracks its header declares and
//! the frames of its cluster. The ingest parser produces these; every playback path (GetMedia
//! tags aside) consumes them, so HLS, DASH, clips and images agree on one reading of the media.

use bytes::Bytes;

/// A track of the MKV `Tracks` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// `TrackNumber`: what a block's track field refers to.
    pub number: u64,
    /// `CodecID`, e.g. `V_MPEG4/ISO/AVC`, `V_MPEGH/ISO/HEVC`, `A_AAC`.
    pub codec_id: String,
    /// `CodecPrivate`: the avcC / hvcC record or the AAC AudioSpecificConfig (empty if absent;
    /// like KVS, ingest does not check it, playback does).
    pub codec_private: Bytes,
    pub kind: TrackKind,
    /// `DefaultDuration` in nanoseconds, if the producer sent it.
    pub default_duration_ns: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackKind {
    Video { width: u32, height: u32 },
    Audio { sampling_hz: u32, channels: u32 },
    Other,
}

/// One frame (an MKV SimpleBlock or Block) with its absolute presentation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The `TrackNumber` it belongs to.
    pub track: u64,
    /// Presentation time in nanoseconds on the fragment's timeline (cluster timecode plus the
    /// block's relative timecode, times TimecodeScale). Frames come in decode order, so with
    /// B-frames these are not monotonic within a track.
    pub pts_ns: i64,
    pub keyframe: bool,
    /// The frame as stored in the block: for H.264/H.265, NAL units with the length prefixes of
    /// the codec private record (AVCC form); for AAC, one raw access unit.
    pub data: Bytes,
}
