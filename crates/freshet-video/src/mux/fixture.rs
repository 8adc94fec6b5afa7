//! Synthetic media for the unit tests: an H.264 track (a real avcC, no picture size declared),
//! an AAC track and a track of another kind, with small frames of recognisable bytes; and a
//! walker that checks every box's size against its children.

use crate::media::{Frame, Track, TrackKind};
use crate::mux::avc::tests::AVCC_320X240;
use bytes::Bytes;

pub const START_NS: i64 = 1_000_000_000_000;
pub const VIDEO_FRAMES: i64 = 10;
pub const AUDIO_FRAMES: i64 = 19;

pub fn tracks() -> Vec<Track> {
    vec![
        Track {
            number: 2,
            codec_id: "A_AAC".into(),
            codec_private: Bytes::from_static(&[0x11, 0x90]),
            kind: TrackKind::Audio {
                sampling_hz: 48_000,
                channels: 2,
            },
            default_duration_ns: None,
        },
        Track {
            number: 1,
            codec_id: "V_MPEG4/ISO/AVC".into(),
            codec_private: Bytes::from_static(&AVCC_320X240),
            kind: TrackKind::Video {
                width: 0,
                height: 0,
            },
            default_duration_ns: Some(40_000_000),
        },
        Track {
            number: 3,
            codec_id: "S_TEXT/UTF8".into(),
            codec_private: Bytes::new(),
            kind: TrackKind::Other,
            default_duration_ns: None,
        },
    ]
}

/// 10 video frames at 25 fps (a key frame first) and 19 AAC frames, interleaved by time,
/// starting at `START_NS`. Frame `i` of track `t` holds the bytes `[t, i, ...]`.
pub fn frames() -> Vec<Frame> {
    let video = (0..VIDEO_FRAMES).map(|i| Frame {
        track: 1,
        pts_ns: START_NS + i * 40_000_000,
        keyframe: i == 0,
        // One NAL unit behind a 4-byte length: [1, i] then filler.
        data: Bytes::from(
            [
                &[0, 0, 0, 6][..],
                &[if i == 0 { 0x65 } else { 0x41 }, 1, i as u8, 7, 7, 7],
            ]
            .concat(),
        ),
    });
    let audio = (0..AUDIO_FRAMES).map(|i| Frame {
        track: 2,
        pts_ns: START_NS + i * 21_333_333,
        keyframe: true,
        data: Bytes::from(vec![2, i as u8, 9, 9, 9]),
    });
    let mut all: Vec<Frame> = video.chain(audio).collect();
    all.sort_by_key(|f| f.pts_ns);
    all
}

/// Boxes whose body is (after some fixed fields) more boxes: how many bytes of fields.
fn container_fields(kind: &[u8]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf"
        | b"edts" => Some(0),
        b"stsd" | b"dref" => Some(8),
        b"avc1" | b"hvc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

/// Every box as (path, offset, size), checking that the children of each container fill it
/// exactly. Panics on any inconsistency.
pub fn box_tree(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    walk(data, 0, data.len(), "", &mut out);
    out
}

fn walk(
    data: &[u8],
    mut at: usize,
    end: usize,
    parent: &str,
    out: &mut Vec<(String, usize, usize)>,
) {
    while at < end {
        assert!(at + 8 <= end, "truncated box header at {at} in {parent}");
        let mut size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind = &data[at + 4..at + 8];
        let mut header = 8;
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize;
            header = 16;
        }
        assert!(
            size >= header && at + size <= end,
            "box {} at {at} overflows {parent}",
            String::from_utf8_lossy(kind)
        );
        let path = format!("{parent}/{}", String::from_utf8_lossy(kind));
        out.push((path.clone(), at, size));
        if let Some(fields) = container_fields(kind) {
            walk(data, at + header + fields, at + size, &path, out);
        }
        at += size;
    }
    assert_eq!(at, end, "children of {parent} do not fill it");
}

/// The boxes at `path`, in order.
pub fn find<'a>(tree: &'a [(String, usize, usize)], path: &str) -> Vec<&'a (String, usize, usize)> {
    tree.iter().filter(|(p, _, _)| p == path).collect()
}

pub fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

pub fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(data[at..at + 8].try_into().unwrap())
}
