//! Arbitrary bytes as stored log data: the frame decoder, the read path's chunked cursor and
//! recovery's segment scan must never panic; a frame that decodes must encode back to the same
//! bytes; the cursor must see the same frames as decoding the buffer directly, whatever its
//! chunk size; the scan must keep only whole batches of consecutive offsets.
#![no_main]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use bytes::Bytes;
use freshet_log::fuzzing::{
    DecodedFrame, FrameDecode, decode_frame, encode_frame, read_frames, scan_segment,
};
use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process, rewritten for every input (the scan and the cursor read
/// files with positional reads; a fresh file per input would measure the filesystem).
fn scratch() -> &'static File {
    static FILE: OnceLock<File> = OnceLock::new();
    FILE.get_or_init(|| tempfile::tempfile().expect("a scratch file"))
}

/// Frames decoded one after another from the start of `buf`, as far as they go.
fn decode_all(buf: &Bytes) -> Vec<DecodedFrame> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let FrameDecode::Frame(f) = decode_frame(&buf.slice(pos..)) {
        pos += f.len;
        frames.push(f);
    }
    frames
}

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    match decode_frame(&buf) {
        FrameDecode::Frame(f) => {
            assert!(f.len <= data.len());
            assert_eq!(encode_frame(&f.record, f.batch_end), &data[..f.len]);
        }
        FrameDecode::Incomplete { need } => assert!(need > data.len()),
        FrameDecode::Invalid(_) | FrameDecode::UnknownVersion(_) => {}
    }

    let frames = decode_all(&buf);
    let file = scratch();
    let len = data.len() as u64;
    file.set_len(0).expect("truncate the scratch file");
    file.write_all_at(data, 0).expect("write the scratch file");

    // A chunk size from the data, small ones included, to exercise the cursor's refills.
    let chunk = 1 + data.first().map_or(0, |&b| usize::from(b) % 64);
    let (read, _) = read_frames(file, len, chunk).expect("reading the scratch file");
    assert_eq!(read, frames, "cursor with {chunk}-byte chunks disagrees");

    let base = frames.first().map_or(0, |f| f.record.offset);
    if let Ok(scan) = scan_segment(file, base, len, 64) {
        assert!(scan.len <= len);
        // The kept frames are a prefix of the decodable ones, ending on a batch end, with
        // consecutive offsets from `base`.
        let kept = usize::try_from(scan.next - base).expect("kept frames fit in memory");
        assert!(kept <= frames.len());
        assert_eq!(
            scan.len,
            frames[..kept].iter().map(|f| f.len as u64).sum::<u64>()
        );
        if kept > 0 {
            assert!(frames[kept - 1].batch_end);
        }
        for (i, f) in frames[..kept].iter().enumerate() {
            assert_eq!(f.record.offset, base + i as u64);
        }
        assert_eq!(scan.stopped.is_none(), scan.len == len);
        assert!(scan.index_entries <= kept);
    }
});
