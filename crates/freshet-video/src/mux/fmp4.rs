//! Fragmented MP4 for HLS and DASH: the init segment (`ftyp` + `moov` with empty sample tables
//! and `mvex`) and media segments (`moof` + `mdat`), like KVS's `getMP4InitFragment.mp4` and
//! `getMP4MediaFragment.mp4`.
//!
//! Decode times come from [`track_timing`], so composition offsets are never negative (players
//! built on ffmpeg misplace frames with negative ones). `tfdt` cannot be negative, though: on a
//! timeline that starts at zero, the first frames of a track with B-frames would decode before
//! zero, so those decode at zero instead ([`clamp_to_zero`]), which leaves every later time,
//! and the fragment's end, as is.

use super::MuxError;
use super::boxes::{BoxWriter, mdat_header};
use super::moov::{TrakTimes, write_ftyp, write_mvhd, write_trak, write_trex};
use super::stbl::SampleTables;
use super::timing::{Sample, track_timing};
use super::track::{MuxTrack, mux_tracks};
use crate::media::{Frame, Track};

const SYNC_SAMPLE: u32 = 0x0200_0000; // sample_depends_on = 2: depends on no other
const NON_SYNC_SAMPLE: u32 = 0x0101_0000; // depends on others, sample_is_non_sync_sample

/// `ftyp` + `moov` describing every video and audio track.
pub fn init_segment(tracks: &[Track]) -> Result<Vec<u8>, MuxError> {
    let tracks = mux_tracks(tracks)?;
    let mut w = BoxWriter::new();
    write_ftyp(&mut w, b"iso6", &[b"iso6", b"mp41"]);
    w.boxed(b"moov", |w| {
        write_mvhd(w, 0, tracks.len() as u32 + 1);
        for t in &tracks {
            write_trak(w, t, &TrakTimes::default(), &SampleTables::default());
        }
        w.boxed(b"mvex", |w| tracks.iter().for_each(|t| write_trex(w, t.id)));
    });
    w.finish()
}

/// `moof` + `mdat` for the frames of one fragment (any order across tracks, decode order
/// within one). `end_ns` is where the next fragment starts: the last frame of each track lasts
/// until then. Frames of tracks not muxed are left out.
pub fn media_segment(
    tracks: &[Track],
    frames: &[Frame],
    sequence_number: u32,
    end_ns: Option<i64>,
) -> Result<Vec<u8>, MuxError> {
    let tracks = mux_tracks(tracks)?;
    let runs = tracks
        .iter()
        .filter_map(|t| TrackRun::new(t, frames, end_ns).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    if runs.is_empty() {
        return Err(MuxError::NoFrames);
    }
    let mut w = BoxWriter::new();
    let mut offset_fields = Vec::with_capacity(runs.len());
    w.boxed(b"moof", |w| {
        w.full_box(b"mfhd", 0, 0, |w| w.u32(sequence_number));
        runs.iter()
            .for_each(|run| offset_fields.push(run.write_traf(w)));
    });
    let payload: u64 = runs
        .iter()
        .flat_map(|r| &r.frames)
        .map(|f| f.data.len() as u64)
        .sum();
    let header = mdat_header(payload);
    let mut data_offset = (w.len() + header.len()) as u64;
    for (run, at) in runs.iter().zip(offset_fields) {
        let offset = u32::try_from(data_offset)
            .ok()
            .filter(|&o| o <= i32::MAX as u32)
            .ok_or(MuxError::TooLarge)?;
        w.patch_u32(at, offset);
        data_offset += run.frames.iter().map(|f| f.data.len() as u64).sum::<u64>();
    }
    w.bytes(&header);
    runs.iter()
        .flat_map(|r| &r.frames)
        .for_each(|f| w.bytes(&f.data));
    w.finish()
}

struct TrackRun<'a> {
    track: &'a MuxTrack<'a>,
    frames: Vec<&'a Frame>,
    timing: Vec<Sample>,
    /// `tfdt`: the first decode time.
    base: u64,
    sizes: Vec<u32>,
}

impl<'a> TrackRun<'a> {
    /// The track's samples in this segment, `None` if it has none.
    fn new(
        track: &'a MuxTrack<'a>,
        frames: &'a [Frame],
        end_ns: Option<i64>,
    ) -> Result<Option<Self>, MuxError> {
        let frames = track.frames(frames);
        if frames.is_empty() {
            return Ok(None);
        }
        let pts: Vec<i64> = frames.iter().map(|f| f.pts_ns).collect();
        let mut timing = track_timing(
            &pts,
            track.timescale,
            end_ns,
            track.track.default_duration_ns,
        );
        clamp_to_zero(&mut timing);
        let base = timing.first().map_or(0, |s| s.dts);
        let base = u64::try_from(base).map_err(|_| {
            MuxError::MalformedFrame(format!(
                "negative timestamp on track {}",
                track.track.number
            ))
        })?;
        let sizes = frames
            .iter()
            .map(|f| u32::try_from(f.data.len()).map_err(|_| MuxError::TooLarge))
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            track,
            frames,
            timing,
            base,
            sizes,
        }))
    }

    /// Writes the `traf` and returns where its `trun` data offset goes, to be patched once the
    /// `moof` size is known.
    fn write_traf(&self, w: &mut BoxWriter) -> usize {
        let with_cts = self.timing.iter().any(|s| s.cts != 0);
        let mut offset_at = 0;
        w.boxed(b"traf", |w| {
            // default-base-is-moof: data offsets count from the start of the moof.
            w.full_box(b"tfhd", 0, 0x02_0000, |w| w.u32(self.track.id));
            w.full_box(b"tfdt", 1, 0, |w| w.u64(self.base));
            // Data offset, then per sample: duration, size, flags and (if any) the offsets.
            let flags = 0x0001 | 0x0100 | 0x0200 | 0x0400 | if with_cts { 0x0800 } else { 0 };
            w.full_box(b"trun", 1, flags, |w| {
                w.u32(self.frames.len() as u32);
                offset_at = w.len();
                w.u32(0);
                for ((frame, sample), &size) in
                    self.frames.iter().zip(&self.timing).zip(&self.sizes)
                {
                    w.u32(sample.duration);
                    w.u32(size);
                    let sync = frame.keyframe || !self.track.is_video();
                    w.u32(if sync { SYNC_SAMPLE } else { NON_SYNC_SAMPLE });
                    if with_cts {
                        w.i32(sample.cts);
                    }
                }
            });
        });
        offset_at
    }
}

/// Moves decode times before zero to zero, shortening those samples so that the ones after keep
/// their times: they play as before, and the fragment ends where it did. Presentation times are
/// kept, so offsets stay non-negative while presentation times are.
fn clamp_to_zero(samples: &mut [Sample]) {
    for s in samples.iter_mut().take_while(|s| s.dts < 0) {
        let end = (s.dts + i64::from(s.duration)).max(0);
        s.cts = i32::try_from(i64::from(s.cts) + s.dts).unwrap_or(s.cts);
        s.dts = 0;
        s.duration = u32::try_from(end).unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::fixture::{START_NS, box_tree, find, frames, tracks, u32_at, u64_at};
    use bytes::Bytes;

    #[test]
    fn decode_times_before_zero_collapse_onto_zero() {
        let sample = |dts, duration, cts| Sample { dts, duration, cts };
        // I0 P3 B1 B2 (40 ms frames in ms ticks) with a reorder delay of one frame.
        let mut s = vec![
            sample(-40, 40, 40),
            sample(0, 40, 120),
            sample(40, 40, 0),
            sample(80, 40, 0),
        ];
        clamp_to_zero(&mut s);
        assert_eq!(
            s,
            [
                sample(0, 0, 0),
                sample(0, 40, 120),
                sample(40, 40, 0),
                sample(80, 40, 0)
            ]
        );
        let mut later = vec![sample(1000, 40, 40)];
        clamp_to_zero(&mut later);
        assert_eq!(later, [sample(1000, 40, 40)]);
    }

    #[test]
    fn init_segment_describes_video_then_audio() {
        let init = init_segment(&tracks()).unwrap();
        let tree = box_tree(&init);
        let paths: Vec<&str> = tree.iter().map(|(p, _, _)| p.as_str()).collect();
        let trak = |media: &[&'static str]| {
            let mut v = vec![
                "/moov/trak",
                "/moov/trak/tkhd",
                "/moov/trak/mdia",
                "/moov/trak/mdia/mdhd",
            ];
            v.extend([
                "/moov/trak/mdia/hdlr",
                "/moov/trak/mdia/minf",
                media[0],
                "/moov/trak/mdia/minf/dinf",
            ]);
            v.extend([
                "/moov/trak/mdia/minf/dinf/dref",
                "/moov/trak/mdia/minf/dinf/dref/url ",
            ]);
            v.extend([
                "/moov/trak/mdia/minf/stbl",
                "/moov/trak/mdia/minf/stbl/stsd",
                media[1],
                media[2],
            ]);
            v.extend([
                "/moov/trak/mdia/minf/stbl/stts",
                "/moov/trak/mdia/minf/stbl/stsc",
            ]);
            v.extend([
                "/moov/trak/mdia/minf/stbl/stsz",
                "/moov/trak/mdia/minf/stbl/stco",
            ]);
            v
        };
        let mut expected = vec!["/ftyp", "/moov", "/moov/mvhd"];
        expected.extend(trak(&[
            "/moov/trak/mdia/minf/vmhd",
            "/moov/trak/mdia/minf/stbl/stsd/avc1",
            "/moov/trak/mdia/minf/stbl/stsd/avc1/avcC",
        ]));
        expected.extend(trak(&[
            "/moov/trak/mdia/minf/smhd",
            "/moov/trak/mdia/minf/stbl/stsd/mp4a",
            "/moov/trak/mdia/minf/stbl/stsd/mp4a/esds",
        ]));
        expected.extend(["/moov/mvex", "/moov/mvex/trex", "/moov/mvex/trex"]);
        assert_eq!(paths, expected);

        let tkhd = find(&tree, "/moov/trak/tkhd");
        assert_eq!(
            [u32_at(&init, tkhd[0].1 + 20), u32_at(&init, tkhd[1].1 + 20)],
            [1, 2]
        );
        // The picture size comes from the SPS when the track does not declare it.
        assert_eq!(
            [u32_at(&init, tkhd[0].1 + 84), u32_at(&init, tkhd[0].1 + 88)],
            [320 << 16, 240 << 16]
        );
        let mdhd = find(&tree, "/moov/trak/mdia/mdhd");
        assert_eq!(
            [u32_at(&init, mdhd[0].1 + 20), u32_at(&init, mdhd[1].1 + 20)],
            [90_000, 48_000]
        );
        let avcc = find(&tree, "/moov/trak/mdia/minf/stbl/stsd/avc1/avcC")[0];
        assert_eq!(
            &init[avcc.1 + 8..avcc.1 + avcc.2],
            &tracks()[1].codec_private[..]
        );
    }

    #[test]
    fn media_segment_points_each_run_at_its_frames() {
        let end = START_NS + 400_000_000;
        let seg = media_segment(&tracks(), &frames(), 7, Some(end)).unwrap();
        let tree = box_tree(&seg);
        let paths: Vec<&str> = tree.iter().map(|(p, _, _)| p.as_str()).collect();
        let traf = [
            "/moof/traf",
            "/moof/traf/tfhd",
            "/moof/traf/tfdt",
            "/moof/traf/trun",
        ];
        assert_eq!(
            paths,
            [&["/moof", "/moof/mfhd"][..], &traf, &traf, &["/mdat"]].concat()
        );
        assert_eq!(u32_at(&seg, find(&tree, "/moof/mfhd")[0].1 + 12), 7);

        let all = frames();
        for (i, (track, timescale, count)) in [(1u64, 90_000u64, 10usize), (2, 48_000, 19)]
            .into_iter()
            .enumerate()
        {
            let tfhd = find(&tree, "/moof/traf/tfhd")[i].1;
            assert_eq!(u64::from(u32_at(&seg, tfhd + 12)), track);
            let tfdt = find(&tree, "/moof/traf/tfdt")[i].1;
            assert_eq!(u64_at(&seg, tfdt + 12), 1000 * timescale);
            let trun = find(&tree, "/moof/traf/trun")[i].1;
            assert_eq!(u32_at(&seg, trun + 12) as usize, count);
            // Without B-frames no composition offsets: duration, size, flags per sample.
            let samples: Vec<[u32; 3]> = (0..count)
                .map(|n| [0, 4, 8].map(|f| u32_at(&seg, trun + 20 + 12 * n + f)))
                .collect();
            let durations: u64 = samples.iter().map(|s| u64::from(s[0])).sum();
            assert_eq!(
                durations,
                timescale * 400 / 1000,
                "track {track} lasts until the end"
            );
            let mut at = u32_at(&seg, trun + 16) as usize;
            for (frame, [_, size, flags]) in all.iter().filter(|f| f.track == track).zip(samples) {
                assert_eq!(&seg[at..at + size as usize], &frame.data[..]);
                assert_eq!(flags == SYNC_SAMPLE, frame.keyframe, "track {track}");
                at += size as usize;
            }
        }
    }

    #[test]
    fn missing_codec_data_and_no_frames_are_errors() {
        let mut broken = tracks();
        broken[1].codec_private = Bytes::new();
        assert_eq!(
            init_segment(&broken),
            Err(MuxError::MissingCodecPrivateData)
        );
        assert_eq!(
            media_segment(&broken, &frames(), 1, None),
            Err(MuxError::MissingCodecPrivateData)
        );
        let only_other: Vec<Frame> = frames()
            .into_iter()
            .map(|f| Frame { track: 3, ..f })
            .collect();
        assert_eq!(
            media_segment(&tracks(), &only_other, 1, None),
            Err(MuxError::NoFrames)
        );
        assert_eq!(init_segment(&tracks()[2..]), Err(MuxError::NoTracks));
    }
}
