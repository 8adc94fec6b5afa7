//! The playback muxers against real media: ffmpeg encodes H.264 (baseline, with B-frames, with
//! AAC audio) and H.265 into MKV, matroska-demuxer reads that into tracks and frames split into
//! fragments at video key frames (as KVS fragments are), and ffprobe checks what the muxers
//! write: every frame there and decodable, the right duration, timestamps rising across
//! consecutive segments. Skipped, with a note, where ffmpeg is not installed.

use bytes::Bytes;
use freshet_video::media::{Frame, Track, TrackKind};
use freshet_video::mux::{clip, init_segment, media_segment, ts_segment};
use matroska_demuxer::{MatroskaFile, TrackType};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Media {
    tracks: Vec<Track>,
    fragments: Vec<Vec<Frame>>,
}

impl Media {
    /// Where fragment `i` ends: where the next one starts (its key frame), if there is one.
    fn end_ns(&self, i: usize) -> Option<i64> {
        let next = self.fragments.get(i + 1)?;
        next.iter()
            .find(|f| f.keyframe && self.is_video(f.track))
            .map(|f| f.pts_ns)
    }

    fn is_video(&self, track: u64) -> bool {
        self.tracks
            .iter()
            .any(|t| t.number == track && matches!(t.kind, TrackKind::Video { .. }))
    }

    fn count(&self, track: u64) -> usize {
        self.fragments
            .iter()
            .flatten()
            .filter(|f| f.track == track)
            .count()
    }
}

fn tools_available() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        return true;
    }
    eprintln!("note: ffmpeg/ffprobe not installed; skipping the muxer checks against real media");
    false
}

fn encode(dir: &Path, name: &str, args: &[&str]) -> Media {
    let path = dir.join(format!("{name}.mkv"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .args(["-f", "matroska"])
        .arg(&path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_mkv(&path)
}

/// Tracks and frames, a new fragment at each video key frame.
fn read_mkv(path: &Path) -> Media {
    let mut mkv = MatroskaFile::open(File::open(path).unwrap()).unwrap();
    let scale = mkv.info().timestamp_scale().get() as i64;
    let tracks: Vec<Track> = mkv
        .tracks()
        .iter()
        .map(|t| Track {
            number: t.track_number().get(),
            codec_id: t.codec_id().to_owned(),
            codec_private: t
                .codec_private()
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
            kind: match (t.track_type(), t.video(), t.audio()) {
                (TrackType::Video, Some(v), _) => TrackKind::Video {
                    width: v.pixel_width().get() as u32,
                    height: v.pixel_height().get() as u32,
                },
                (TrackType::Audio, _, Some(a)) => TrackKind::Audio {
                    sampling_hz: a.sampling_frequency() as u32,
                    channels: a.channels().get() as u32,
                },
                _ => TrackKind::Other,
            },
            default_duration_ns: t.default_duration().map(|d| d.get()),
        })
        .collect();
    let video: Vec<u64> = tracks
        .iter()
        .filter(|t| matches!(t.kind, TrackKind::Video { .. }))
        .map(|t| t.number)
        .collect();
    let mut fragments: Vec<Vec<Frame>> = vec![Vec::new()];
    let mut frame = matroska_demuxer::Frame::default();
    while mkv.next_frame(&mut frame).unwrap() {
        let is_video = video.contains(&frame.track);
        let keyframe = frame.is_keyframe.unwrap_or(!is_video);
        let current = fragments.last().unwrap();
        if is_video && keyframe && current.iter().any(|f| video.contains(&f.track)) {
            fragments.push(Vec::new());
        }
        fragments.last_mut().unwrap().push(Frame {
            track: frame.track,
            pts_ns: frame.timestamp as i64 * scale,
            keyframe,
            data: Bytes::copy_from_slice(&frame.data),
        });
    }
    Media { tracks, fragments }
}

fn write(dir: &Path, name: &str, parts: &[&[u8]]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, parts.concat()).unwrap();
    path
}

/// ffprobe's JSON for `entries`; fails the test on anything ffprobe warns about.
fn probe(path: &Path, extra: &[&str], entries: &str) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "warning", "-of", "json"])
        .args(extra)
        .args(["-show_entries", entries])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe {}: {stderr}",
        path.display()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Stream {
    codec: String,
    width: u64,
    height: u64,
    frames: usize,
}

fn streams(path: &Path) -> Vec<Stream> {
    let v = probe(
        path,
        &["-count_frames"],
        "stream=codec_name,width,height,nb_read_frames",
    );
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Stream {
            codec: s["codec_name"].as_str().unwrap().to_owned(),
            width: s["width"].as_u64().unwrap_or(0),
            height: s["height"].as_u64().unwrap_or(0),
            frames: s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

fn duration(path: &Path) -> f64 {
    probe(path, &[], "format=duration")["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// (pts, dts) in seconds of each packet of stream `index`, in file order.
fn packets(path: &Path, index: u64) -> Vec<(f64, f64)> {
    let v = probe(path, &[], "packet=stream_index,pts_time,dts_time");
    let time = |p: &Value, k: &str| p[k].as_str().unwrap().parse::<f64>().unwrap();
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(index))
        .map(|p| (time(p, "pts_time"), time(p, "dts_time")))
        .collect()
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not {expected} ± {tolerance}"
    );
}

/// Decode times rise (strictly, but for `repeated_dts` leading frames that decode at the same
/// time), no frame shows before it is decoded, and the presentation times are a gap-free run of
/// `step`-second frames from `first`.
fn assert_timeline(packets: &[(f64, f64)], first: f64, step: f64, repeated_dts: usize) {
    let repeats = packets.windows(2).filter(|w| w[1].1 == w[0].1).count();
    assert!(
        packets.windows(2).all(|w| w[1].1 >= w[0].1),
        "dts falling: {packets:?}"
    );
    assert_eq!(repeats, repeated_dts, "repeated dts: {packets:?}");
    assert!(
        packets.iter().all(|(pts, dts)| pts >= dts),
        "dts after pts: {packets:?}"
    );
    let mut pts: Vec<f64> = packets.iter().map(|p| p.0).collect();
    pts.sort_by(f64::total_cmp);
    for (i, p) in pts.iter().enumerate() {
        assert_close(*p, first + i as f64 * step, 0.002, "presentation time");
    }
}

/// Init and media segments per fragment, concatenated (as an HLS/DASH player appends them),
/// plus each segment on its own after the init segment.
fn fmp4_playlist(dir: &Path, media: &Media) -> (PathBuf, Vec<PathBuf>) {
    let init = init_segment(&media.tracks).unwrap();
    let segments: Vec<Vec<u8>> = (0..media.fragments.len())
        .map(|i| {
            media_segment(
                &media.tracks,
                &media.fragments[i],
                i as u32 + 1,
                media.end_ns(i),
            )
            .unwrap()
        })
        .collect();
    let mut all: Vec<&[u8]> = vec![&init];
    all.extend(segments.iter().map(Vec::as_slice));
    let singles = segments
        .iter()
        .enumerate()
        .map(|(i, s)| write(dir, &format!("single{i}.mp4"), &[&init, s]))
        .collect();
    (write(dir, "all.mp4", &all), singles)
}

fn ts_playlist(dir: &Path, media: &Media) -> (PathBuf, Vec<PathBuf>) {
    let segments: Vec<Vec<u8>> = (0..media.fragments.len())
        .map(|i| ts_segment(&media.tracks, &media.fragments[i], media.end_ns(i)).unwrap())
        .collect();
    let singles = segments
        .iter()
        .enumerate()
        .map(|(i, s)| write(dir, &format!("single{i}.ts"), &[s]))
        .collect();
    let all: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
    (write(dir, "all.ts", &all), singles)
}

const VIDEO_4S: [&str; 4] = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
/// H.264 baseline, a key frame every 2 s, no B-frames.
const H264_BASELINE: [&str; 10] = [
    "-c:v",
    "libx264",
    "-profile:v",
    "baseline",
    "-pix_fmt",
    "yuv420p",
    "-g",
    "50",
    "-bf",
    "0",
];

#[test]
fn h264_baseline_in_every_container() {
    if !tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = [&VIDEO_4S[..], &["-t", "4"], &H264_BASELINE].concat();
    let media = encode(dir.path(), "baseline", &args);
    assert_eq!(media.fragments.len(), 2);
    assert_eq!(media.count(1), 100);

    let (all, singles) = fmp4_playlist(dir.path(), &media);
    let s = streams(&all);
    assert_eq!(
        (
            s.len(),
            s[0].codec.as_str(),
            s[0].width,
            s[0].height,
            s[0].frames
        ),
        (1, "h264", 320, 240, 100)
    );
    assert_close(duration(&all), 4.0, 0.001, "fMP4 duration");
    assert_timeline(&packets(&all, 0), 0.0, 0.04, 0);
    // The second segment alone keeps its place on the timeline.
    assert_eq!(streams(&singles[1])[0].frames, 50);
    assert_close(
        packets(&singles[1], 0)[0].0,
        2.0,
        0.0001,
        "second segment start",
    );

    let clip_path = write(
        dir.path(),
        "clip.mp4",
        &[&clip(&media.tracks, &media.fragments).unwrap()],
    );
    assert_eq!(streams(&clip_path)[0].frames, 100);
    assert_close(duration(&clip_path), 4.0, 0.0, "clip duration");
    assert_timeline(&packets(&clip_path, 0), 0.0, 0.04, 0);

    let (all, singles) = ts_playlist(dir.path(), &media);
    let s = streams(&all);
    assert_eq!(
        (
            s.len(),
            s[0].codec.as_str(),
            s[0].width,
            s[0].height,
            s[0].frames
        ),
        (1, "h264", 320, 240, 100)
    );
    let p = packets(&all, 0);
    assert_eq!(p.len(), 100);
    assert_timeline(&p, p[0].0, 0.04, 0);
    assert_eq!(streams(&singles[1])[0].frames, 50);
    assert_close(
        packets(&singles[1], 0)[0].0 - p[0].0,
        2.0,
        0.0001,
        "second TS segment start",
    );
}

/// B-frames on a timeline from zero (as ffmpeg writes) and from 1000 s (as KVS producers'
/// absolute times are). ffprobe's fMP4 duration is where decoding ends, on the absolute
/// timeline: the presentation end less the reorder delay (one frame here). From zero, the first
/// frame would decode before zero, which fMP4 cannot say: it decodes at zero with the next.
#[test]
fn h264_with_b_frames_keeps_order_and_timeline() {
    if !tools_available() {
        return;
    }
    for (offset, start, fmp4_duration, repeated_dts) in
        [("0", 0.0, 3.96, 1), ("1000", 1000.0, 1003.96, 0)]
    {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            &VIDEO_4S[..],
            &[
                "-t",
                "4",
                "-c:v",
                "libx264",
                "-profile:v",
                "high",
                "-bf",
                "2",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "50",
            ],
            &["-output_ts_offset", offset],
        ]
        .concat();
        let media = encode(dir.path(), "bframes", &args);
        let pts: Vec<i64> = media.fragments[0].iter().map(|f| f.pts_ns).collect();
        assert!(
            pts.windows(2).any(|w| w[1] < w[0]),
            "the encode has no B-frames"
        );

        let (all, singles) = fmp4_playlist(dir.path(), &media);
        assert_eq!(streams(&all)[0].frames, 100);
        assert_close(duration(&all), fmp4_duration, 0.001, "fMP4 duration");
        assert_timeline(&packets(&all, 0), start, 0.04, repeated_dts);
        assert_timeline(&packets(&singles[1], 0), start + 2.0, 0.04, 0);

        let clip_path = write(
            dir.path(),
            "clip.mp4",
            &[&clip(&media.tracks, &media.fragments).unwrap()],
        );
        assert_eq!(streams(&clip_path)[0].frames, 100);
        assert_close(duration(&clip_path), 4.0, 0.0, "clip duration");
        assert_timeline(&packets(&clip_path, 0), 0.0, 0.04, 0);

        let (all, _) = ts_playlist(dir.path(), &media);
        assert_eq!(streams(&all)[0].frames, 100);
        assert_timeline(&packets(&all, 0), start, 0.04, 0);
    }
}

#[test]
fn h264_with_aac_audio() {
    if !tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = [
        &VIDEO_4S[..],
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "4",
        ],
        &H264_BASELINE,
        &["-c:a", "aac"],
    ]
    .concat();
    let media = encode(dir.path(), "av", &args);
    let audio = media
        .tracks
        .iter()
        .find(|t| t.codec_id == "A_AAC")
        .unwrap()
        .number;
    let audio_frames = media.count(audio);
    assert!(audio_frames > 180, "{audio_frames} AAC frames");

    let check = |path: &Path, what: &str| {
        let s = streams(path);
        let summary: Vec<(&str, usize)> = s.iter().map(|s| (s.codec.as_str(), s.frames)).collect();
        assert_eq!(summary, [("h264", 100), ("aac", audio_frames)], "{what}");
        let audio = packets(path, 1);
        assert!(
            audio.windows(2).all(|w| w[1].1 > w[0].1),
            "{what}: audio dts not rising"
        );
        assert_close(duration(path), 4.0, 0.05, what);
    };
    let (all, _) = fmp4_playlist(dir.path(), &media);
    check(&all, "fMP4");
    let clip_path = write(
        dir.path(),
        "clip.mp4",
        &[&clip(&media.tracks, &media.fragments).unwrap()],
    );
    check(&clip_path, "clip");
    let (all, _) = ts_playlist(dir.path(), &media);
    check(&all, "TS");
}

#[test]
fn h265_in_fmp4_and_ts() {
    if !tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = [
        &VIDEO_4S[..],
        &[
            "-t",
            "4",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:keyint=50:min-keyint=50:scenecut=0",
            "-pix_fmt",
            "yuv420p",
        ],
        &["-output_ts_offset", "1000"],
    ]
    .concat();
    let media = encode(dir.path(), "hevc", &args);
    assert_eq!(media.fragments.len(), 2);
    let (all, _) = fmp4_playlist(dir.path(), &media);
    let s = streams(&all);
    assert_eq!(
        (s[0].codec.as_str(), s[0].width, s[0].height, s[0].frames),
        ("hevc", 320, 240, 100)
    );
    // Decoding ends two frames (x265's reorder delay) before the last frame ends.
    assert_close(duration(&all), 1003.92, 0.001, "fMP4 duration");
    assert_timeline(&packets(&all, 0), 1000.0, 0.04, 0);
    let (all, _) = ts_playlist(dir.path(), &media);
    let s = streams(&all);
    assert_eq!((s[0].codec.as_str(), s[0].frames), ("hevc", 100));
    assert_timeline(&packets(&all, 0), 1000.0, 0.04, 0);
    assert_timeline(&packets(&all, 0), 1000.0, 0.04, 0);
    let clip_path = write(
        dir.path(),
        "clip.mp4",
        &[&clip(&media.tracks, &media.fragments).unwrap()],
    );
    assert_eq!(streams(&clip_path)[0].frames, 100);
    assert_close(duration(&clip_path), 4.0, 0.0, "clip duration");
}
