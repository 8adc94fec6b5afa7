//! Matroska as Kinesis Video Streams uses it: the producer's stream is one EBML header and one
//! Segment whose Clusters are the fragments. `split` cuts a live byte stream into a header and
//! fragments; `header` and `cluster` read them (at ingest and again from storage); `chunk` writes
//! the self-contained MKV documents GetMedia returns.

pub mod chunk;
pub mod cluster;
pub mod ebml;
pub mod header;
pub mod split;

/// Element ids used here (Matroska specification, marker bits included).
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const INFO: u32 = 0x1549_A966;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const TAGS: u32 = 0x1254_C367;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const ATTACHMENTS: u32 = 0x1941_A469;
    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const TIMECODE: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const REFERENCE_BLOCK: u32 = 0xFB;
    pub const TAG: u32 = 0x7373;
    pub const TARGETS: u32 = 0x63C0;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;
}

/// Why a producer's MKV was refused; each maps to the PutMedia ACK ErrorId AWS documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MkvError {
    #[error("invalid MKV data: {0}")]
    Invalid(&'static str),
    #[error("fragment larger than {} bytes", split::MAX_FRAGMENT_BYTES)]
    FragmentTooLarge,
    #[error("fragment longer than 10 seconds")]
    FragmentTooLong,
    #[error("fragment timecode is lower than the previous one")]
    TimecodeBackwards,
    #[error("a block refers to track {0}, which the Tracks element does not declare")]
    TrackNumberMismatch(u64),
    #[error("more than 3 tracks")]
    TooManyTracks,
    #[error("a fragment has no frames")]
    NoFrames,
}

impl MkvError {
    /// The ErrorId of the ERROR acknowledgement (PutMedia API reference).
    pub fn error_id(&self) -> u32 {
        match self {
            MkvError::FragmentTooLarge => 4001,
            MkvError::FragmentTooLong => 4002,
            MkvError::TimecodeBackwards => 4004,
            MkvError::Invalid(_) => 4006,
            MkvError::TrackNumberMismatch(_) => 4010,
            MkvError::NoFrames => 4011,
            MkvError::TooManyTracks => 4012,
        }
    }
}

#[cfg(test)]
pub mod testing;
