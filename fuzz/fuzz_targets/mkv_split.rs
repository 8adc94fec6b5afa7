//! Arbitrary bytes as a PutMedia body: the incremental MKV splitter must never panic, must give
//! the same fragments (or the same first error) however the body is cut into pieces, and every
//! fragment it yields must read back through the stored-fragment path (header and cluster parsed
//! again from bytes, as playback does) and mux to fragmented MP4 or MPEG-TS without panicking.
#![no_main]

use bytes::Bytes;
use freshet_video::mkv::MkvError;
use freshet_video::mkv::cluster::Cluster;
use freshet_video::mkv::header::Header;
use freshet_video::mkv::split::{Event, Splitter};
use freshet_video::mux;
use libfuzzer_sys::fuzz_target;

/// (timecode, frame count) per fragment and the first error, feeding `data` in `piece`-byte
/// pieces; the fragments themselves for the read-back checks.
fn split(data: &[u8], piece: usize) -> (Vec<(u64, usize)>, Option<MkvError>, Vec<(Bytes, Bytes)>) {
    let mut splitter = Splitter::default();
    let mut events = Vec::new();
    let mut error = None;
    for chunk in data.chunks(piece.max(1)) {
        if let Err(e) = splitter.push(chunk, &mut events) {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        match splitter.finish() {
            Ok(last) => events.extend(last.map(Event::Fragment)),
            Err(e) => error = Some(e),
        }
    }
    let mut summary = Vec::new();
    let mut stored = Vec::new();
    for event in events {
        if let Event::Fragment(f) = event {
            summary.push((f.parsed.timecode, f.parsed.frames.len()));
            stored.push((f.header.raw.clone(), f.cluster.clone()));
        }
    }
    (summary, error, stored)
}

fuzz_target!(|input: &[u8]| {
    let Some((&piece, data)) = input.split_first() else {
        return;
    };
    let (whole, whole_error, stored) = split(data, data.len());
    let (pieces, pieces_error, _) = split(data, piece as usize);
    assert_eq!(whole, pieces, "fragments depend on how the body is cut");
    assert_eq!(whole_error, pieces_error, "errors depend on how the body is cut");
    for (header, cluster) in stored {
        let header = Header::parse(header).expect("a stored header reads back");
        let parsed = Cluster::parse(&header, &cluster).expect("a stored cluster reads back");
        let _ = mux::init_segment(&header.tracks);
        let _ = mux::media_segment(&header.tracks, &parsed.frames, 1, None);
        let _ = mux::ts_segment(&header.tracks, &parsed.frames, None);
    }
});
