//! Synthetic MKV for this crate's tests: a producer-shaped stream (EBML header, a live
//! Segment, Info, Tracks, then Clusters) whose frames carry recognisable bytes. Ingest and
//! storage never decode the codec, so fake H.264 payloads exercise them fully.

use super::ebml::{UNKNOWN_SIZE, write_element, write_id, write_size, write_uint};
use super::id;

/// `clusters` clusters of `frames` frames each, 40 ms apart, a cluster every `frames` * 40 ms;
/// clusters of unknown size when `live` (as GStreamer and the AWS SDKs send them).
pub fn stream(clusters: usize, frames: usize, live: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ebml = Vec::new();
    write_element(&mut ebml, 0x4282, b"matroska");
    write_element(&mut out, id::EBML, &ebml);
    write_id(&mut out, id::SEGMENT);
    write_size(&mut out, UNKNOWN_SIZE);
    let mut info = Vec::new();
    write_uint(&mut info, id::TIMECODE_SCALE, 1_000_000);
    write_element(&mut out, id::INFO, &info);
    let mut entry = Vec::new();
    write_uint(&mut entry, id::TRACK_NUMBER, 1);
    write_uint(&mut entry, id::TRACK_TYPE, 1);
    write_element(&mut entry, id::CODEC_ID, b"V_MPEG4/ISO/AVC");
    write_element(&mut entry, id::CODEC_PRIVATE, &[1, 0x42, 0xC0, 0x1E, 0xFF]);
    let mut video = Vec::new();
    write_uint(&mut video, id::PIXEL_WIDTH, 320);
    write_uint(&mut video, id::PIXEL_HEIGHT, 240);
    write_element(&mut entry, id::VIDEO, &video);
    let mut tracks = Vec::new();
    write_element(&mut tracks, id::TRACK_ENTRY, &entry);
    write_element(&mut out, id::TRACKS, &tracks);
    for c in 0..clusters {
        let mut body = Vec::new();
        write_uint(&mut body, id::TIMECODE, (c * frames * 40) as u64);
        for f in 0..frames {
            let mut block = vec![0x81];
            block.extend_from_slice(&((f * 40) as i16).to_be_bytes());
            block.push(if f == 0 { 0x80 } else { 0 });
            block.extend(std::iter::repeat_n((c * 31 + f) as u8, 100 + f));
            write_element(&mut body, id::SIMPLE_BLOCK, &block);
        }
        write_id(&mut out, id::CLUSTER);
        write_size(
            &mut out,
            if live {
                UNKNOWN_SIZE
            } else {
                body.len() as u64
            },
        );
        out.extend_from_slice(&body);
    }
    out
}
