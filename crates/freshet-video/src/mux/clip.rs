//! A progressive MP4 for GetClip: `ftyp` + `moov` with full sample tables + one `mdat`.
//!
//! The media is laid out one chunk per track per fragment, fragments in order, so a player
//! reading front to back finds audio and video close together. Decode times never pass
//! presentation times (see [`track_timing`]; `ctts` version 0); each track's edit list skips
//! its reorder delay and any late start, so the clip plays from 0 for exactly the span its
//! frames cover.

use super::MuxError;
use super::boxes::{BoxWriter, mdat_header};
use super::moov::{Edit, MOVIE_TIMESCALE, TrakTimes, write_ftyp, write_mvhd, write_trak};
use super::stbl::SampleTables;
use super::timing::{ns_to_ticks, track_timing};
use super::track::{MuxTrack, mux_tracks};
use crate::media::{Frame, Track};

/// The frames of `fragments` (in order, each in decode order) as one MP4 whose timeline starts
/// at the earliest presentation time.
pub fn clip(tracks: &[Track], fragments: &[Vec<Frame>]) -> Result<Vec<u8>, MuxError> {
    let tracks = mux_tracks(tracks)?;
    let chunks: Vec<Vec<Vec<&Frame>>> = fragments
        .iter()
        .map(|f| tracks.iter().map(|t| t.frames(f)).collect())
        .collect();
    let clip_tracks: Vec<ClipTrack> = tracks
        .iter()
        .enumerate()
        .map(|(index, track)| ClipTrack::new(track, index, &chunks))
        .filter(|t| !t.frames.is_empty())
        .collect();
    let start_ns = clip_tracks
        .iter()
        .map(|t| t.start_ns)
        .min()
        .ok_or(MuxError::NoFrames)?;

    // The chunk offsets depend on the size of the moov before the mdat: lay out with a guess,
    // then again with the real size (which the offsets' values do not change).
    let payload: u64 = clip_tracks
        .iter()
        .flat_map(|t| &t.frames)
        .map(|f| f.data.len() as u64)
        .sum();
    let mut ftyp = BoxWriter::new();
    write_ftyp(&mut ftyp, b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]);
    let ftyp = ftyp.finish()?;
    let header = mdat_header(payload);
    let moov_len =
        |co64| write_moov(&clip_tracks, &chunks, start_ns, 0, co64).map(|m| m.len() as u64);
    let mut co64 = false;
    let mut base = ftyp.len() as u64 + moov_len(co64)? + header.len() as u64;
    if base + payload > u64::from(u32::MAX) {
        co64 = true;
        base = ftyp.len() as u64 + moov_len(co64)? + header.len() as u64;
    }
    let moov = write_moov(&clip_tracks, &chunks, start_ns, base, co64)?;

    let mut out =
        Vec::with_capacity(usize::try_from(base + payload).map_err(|_| MuxError::TooLarge)?);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&header);
    for per_track in &chunks {
        per_track
            .iter()
            .flatten()
            .for_each(|f| out.extend_from_slice(&f.data));
    }
    Ok(out)
}

struct ClipTrack<'a> {
    track: &'a MuxTrack<'a>,
    /// Its position among the muxed tracks: which of each fragment's frame lists is its own.
    index: usize,
    frames: Vec<&'a Frame>,
    /// The earliest presentation time.
    start_ns: i64,
}

impl<'a> ClipTrack<'a> {
    fn new(track: &'a MuxTrack<'a>, index: usize, chunks: &[Vec<Vec<&'a Frame>>]) -> Self {
        let frames: Vec<&Frame> = chunks
            .iter()
            .flat_map(|per_track| per_track[index].iter().copied())
            .collect();
        let start_ns = frames.iter().map(|f| f.pts_ns).min().unwrap_or(i64::MAX);
        Self {
            track,
            index,
            frames,
            start_ns,
        }
    }

    fn tables_and_times(
        &self,
        chunk_offsets: Vec<(u64, u32)>,
        clip_start_ns: i64,
        co64: bool,
    ) -> Result<(SampleTables, TrakTimes), MuxError> {
        let t = self.track;
        let pts: Vec<i64> = self.frames.iter().map(|f| f.pts_ns).collect();
        let timing = track_timing(&pts, t.timescale, None, t.track.default_duration_ns);
        let first_dts = timing.first().map_or(0, |s| s.dts);
        let first_pts = timing
            .iter()
            .map(|s| s.dts + i64::from(s.cts))
            .min()
            .unwrap_or(0);
        let end = timing
            .iter()
            .map(|s| s.dts + i64::from(s.cts) + i64::from(s.duration))
            .max()
            .unwrap_or(0);
        let to_movie = |ticks: i64| {
            u64::try_from(ticks * i64::from(MOVIE_TIMESCALE) / i64::from(t.timescale)).unwrap_or(0)
        };
        let mut edits = Vec::new();
        let late_by = ns_to_ticks(self.start_ns - clip_start_ns, MOVIE_TIMESCALE);
        if late_by > 0 {
            edits.push(Edit {
                duration: late_by as u64,
                media_time: None,
            });
        }
        edits.push(Edit {
            duration: to_movie(end - first_pts),
            media_time: Some(first_pts - first_dts),
        });
        let times = TrakTimes {
            media_duration: timing.iter().map(|s| u64::from(s.duration)).sum(),
            movie_duration: edits.iter().map(|e| e.duration).sum(),
            edits,
        };
        let sizes = self
            .frames
            .iter()
            .map(|f| u32::try_from(f.data.len()).map_err(|_| MuxError::TooLarge))
            .collect::<Result<_, _>>()?;
        let sync = t.is_video().then(|| {
            self.frames
                .iter()
                .zip(1u32..)
                .filter(|(f, _)| f.keyframe)
                .map(|(_, n)| n)
                .collect()
        });
        Ok((
            SampleTables {
                timing,
                sizes,
                sync,
                chunks: chunk_offsets,
                co64,
            },
            times,
        ))
    }
}

/// The `moov` for media starting at file offset `base`, chunks laid out fragment by fragment,
/// track by track.
fn write_moov(
    tracks: &[ClipTrack],
    chunks: &[Vec<Vec<&Frame>>],
    start_ns: i64,
    base: u64,
    co64: bool,
) -> Result<Vec<u8>, MuxError> {
    let mut offsets: Vec<Vec<(u64, u32)>> = vec![Vec::new(); tracks.len()];
    let mut at = base;
    for per_track in chunks {
        for (t, slot) in tracks.iter().zip(&mut offsets) {
            let frames = &per_track[t.index];
            if !frames.is_empty() {
                slot.push((at, frames.len() as u32));
                at += frames.iter().map(|f| f.data.len() as u64).sum::<u64>();
            }
        }
    }
    let built = tracks
        .iter()
        .zip(offsets)
        .map(|(t, o)| t.tables_and_times(o, start_ns, co64))
        .collect::<Result<Vec<_>, _>>()?;
    let duration = built
        .iter()
        .map(|(_, times)| times.movie_duration)
        .max()
        .unwrap_or(0);
    let next_id = tracks.iter().map(|t| t.track.id).max().unwrap_or(0) + 1;
    let mut w = BoxWriter::new();
    w.boxed(b"moov", |w| {
        write_mvhd(w, duration, next_id);
        for (t, (tables, times)) in tracks.iter().zip(&built) {
            write_trak(w, t.track, times, tables);
        }
    });
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::fixture::{START_NS, box_tree, find, frames, tracks, u32_at};

    #[test]
    fn clip_tables_locate_every_frame_and_start_at_zero() {
        let all = frames();
        let split = all
            .iter()
            .position(|f| f.pts_ns >= START_NS + 200_000_000)
            .unwrap();
        let fragments = vec![all[..split].to_vec(), all[split..].to_vec()];
        let mp4 = clip(&tracks(), &fragments).unwrap();
        let tree = box_tree(&mp4);
        assert_eq!(find(&tree, "/moov/trak").len(), 2);
        assert_eq!(find(&tree, "/mdat").len(), 1);
        // Only video has non-sync samples; no B-frames, so no ctts.
        assert_eq!(find(&tree, "/moov/trak/mdia/minf/stbl/stss").len(), 1);
        assert!(find(&tree, "/moov/trak/mdia/minf/stbl/ctts").is_empty());

        // 10 frames of 40 ms, the last one as long as the default duration.
        let mvhd = find(&tree, "/moov/mvhd")[0].1;
        let video_ms = 400;
        assert!(u32_at(&mp4, mvhd + 24) >= video_ms);
        let mdhd = find(&tree, "/moov/trak/mdia/mdhd")[0].1;
        assert_eq!(u32_at(&mp4, mdhd + 24), 36_000);

        for (i, track) in [1u64, 2].into_iter().enumerate() {
            let stbl = |kind: &str| find(&tree, &format!("/moov/trak/mdia/minf/stbl/{kind}"))[i].1;
            let (stsz, stco, stsc) = (stbl("stsz"), stbl("stco"), stbl("stsc"));
            let sizes: Vec<usize> = (0..u32_at(&mp4, stsz + 16))
                .map(|n| u32_at(&mp4, stsz + 20 + 4 * n as usize) as usize)
                .collect();
            let offsets: Vec<usize> = (0..u32_at(&mp4, stco + 12))
                .map(|n| u32_at(&mp4, stco + 16 + 4 * n as usize) as usize)
                .collect();
            // One chunk per fragment, each holding that fragment's frames of the track.
            let per_chunk: Vec<usize> = fragments
                .iter()
                .map(|f| f.iter().filter(|f| f.track == track).count())
                .collect();
            assert_eq!(offsets.len(), 2);
            let stsc_entries = u32_at(&mp4, stsc + 12) as usize;
            let first_run = u32_at(&mp4, stsc + 20) as usize;
            assert_eq!(first_run, per_chunk[0]);
            assert_eq!(
                stsc_entries,
                if per_chunk[0] == per_chunk[1] { 1 } else { 2 }
            );
            let mut expected = all.iter().filter(|f| f.track == track);
            let mut sample = 0;
            for (offset, count) in offsets.into_iter().zip(per_chunk) {
                let mut at = offset;
                for _ in 0..count {
                    let frame = expected.next().unwrap();
                    assert_eq!(&mp4[at..at + sizes[sample]], &frame.data[..]);
                    at += sizes[sample];
                    sample += 1;
                }
            }
            assert_eq!(sample, sizes.len());
        }
        assert_eq!(clip(&tracks(), &[Vec::new()]), Err(MuxError::NoFrames));
    }
}
