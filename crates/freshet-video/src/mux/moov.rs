//! The boxes of `ftyp` and `moov` that fragmented init segments and progressive clips share:
//! the movie header and one `trak` per track, down to its sample table.

use super::boxes::BoxWriter;
use super::stbl::{SampleTables, write_stbl};
use super::track::{Media, MuxTrack};

/// The movie timescale: milliseconds, like ffmpeg's and KVS's MP4s.
pub(super) const MOVIE_TIMESCALE: u32 = 1000;

/// How long a track lasts and how its media maps onto the movie timeline.
#[derive(Default)]
pub(super) struct TrakTimes {
    /// In the track's timescale: the sum of its sample durations.
    pub media_duration: u64,
    /// In the movie timescale: the end of its last edit.
    pub movie_duration: u64,
    pub edits: Vec<Edit>,
}

pub(super) struct Edit {
    /// In the movie timescale.
    pub duration: u64,
    /// Where the edit starts in the media, in the track's timescale; `None` for an empty edit
    /// (the track starts later than the movie).
    pub media_time: Option<i64>,
}

pub(super) fn write_ftyp(w: &mut BoxWriter, major: &[u8; 4], compatible: &[&[u8; 4]]) {
    w.boxed(b"ftyp", |w| {
        w.bytes(major);
        w.u32(0x200);
        compatible.iter().for_each(|b| w.bytes(*b));
    });
}

/// Version 1 (64-bit times) only when a duration needs it.
fn version_for(duration: u64) -> u8 {
    u8::from(duration > u64::from(u32::MAX))
}

/// Creation and modification times (zero: unknown), the timescale (or tkhd's track id) and the
/// duration: the common head of `mvhd`, `tkhd` and `mdhd`.
fn write_times(
    w: &mut BoxWriter,
    version: u8,
    timescale_or_id: u32,
    duration: u64,
    reserved_before_duration: bool,
) {
    if version == 1 {
        w.u64(0);
        w.u64(0);
    } else {
        w.u32(0);
        w.u32(0);
    }
    w.u32(timescale_or_id);
    if reserved_before_duration {
        w.u32(0);
    }
    if version == 1 {
        w.u64(duration)
    } else {
        w.u32(duration as u32)
    }
}

pub(super) fn write_mvhd(w: &mut BoxWriter, duration: u64, next_track_id: u32) {
    let version = version_for(duration);
    w.full_box(b"mvhd", version, 0, |w| {
        write_times(w, version, MOVIE_TIMESCALE, duration, false);
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(10);
        w.matrix();
        w.zeros(24);
        w.u32(next_track_id);
    });
}

pub(super) fn write_trak(
    w: &mut BoxWriter,
    t: &MuxTrack,
    times: &TrakTimes,
    tables: &SampleTables,
) {
    w.boxed(b"trak", |w| {
        let version = version_for(times.movie_duration);
        // Flags: enabled, in movie, in preview.
        w.full_box(b"tkhd", version, 7, |w| {
            write_times(w, version, t.id, times.movie_duration, true);
            w.zeros(8);
            w.u32(0); // layer, alternate group
            w.u16(if t.is_video() { 0 } else { 0x0100 });
            w.u16(0);
            w.matrix();
            let (width, height) = match t.media {
                Media::Video { width, height } => (width, height),
                Media::Audio { .. } => (0, 0),
            };
            w.u32(width.saturating_mul(0x1_0000));
            w.u32(height.saturating_mul(0x1_0000));
        });
        if !times.edits.is_empty() {
            write_edts(w, &times.edits);
        }
        w.boxed(b"mdia", |w| {
            let version = version_for(times.media_duration);
            w.full_box(b"mdhd", version, 0, |w| {
                write_times(w, version, t.timescale, times.media_duration, false);
                w.u16(0x55c4); // language "und"
                w.u16(0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = if t.is_video() {
                (b"vide", b"VideoHandler\0")
            } else {
                (b"soun", b"SoundHandler\0")
            };
            w.full_box(b"hdlr", 0, 0, |w| {
                w.u32(0);
                w.bytes(handler);
                w.zeros(12);
                w.bytes(name);
            });
            w.boxed(b"minf", |w| {
                if t.is_video() {
                    w.full_box(b"vmhd", 0, 1, |w| w.zeros(8));
                } else {
                    w.full_box(b"smhd", 0, 0, |w| w.zeros(4));
                }
                w.boxed(b"dinf", |w| {
                    w.full_box(b"dref", 0, 0, |w| {
                        w.u32(1);
                        // Flag 1: the media is in this file.
                        w.full_box(b"url ", 0, 1, |_| {});
                    });
                });
                write_stbl(w, t, tables);
            });
        });
    });
}

fn write_edts(w: &mut BoxWriter, edits: &[Edit]) {
    w.boxed(b"edts", |w| {
        let wide = edits.iter().any(|e| {
            e.duration > u64::from(u32::MAX)
                || e.media_time.is_some_and(|m| i32::try_from(m).is_err())
        });
        let version = u8::from(wide);
        w.full_box(b"elst", version, 0, |w| {
            w.u32(edits.len() as u32);
            for e in edits {
                let media_time = e.media_time.unwrap_or(-1);
                if wide {
                    w.u64(e.duration);
                    w.u64(media_time as u64);
                } else {
                    w.u32(e.duration as u32);
                    w.i32(media_time as i32);
                }
                w.u32(0x0001_0000); // rate 1.0
            }
        });
    });
}

pub(super) fn write_trex(w: &mut BoxWriter, track_id: u32) {
    w.full_box(b"trex", 0, 0, |w| {
        w.u32(track_id);
        w.u32(1); // sample description index
        w.zeros(12); // default duration, size, flags: every trun says its own
    });
}
