//! Rendering against real media: ffmpeg encodes H.264 into MKV, the production splitter reads
//! it into fragments, and each rendered picture is compared by PSNR with the frame ffmpeg itself
//! decodes at the same time. Skipped, with a note, where ffmpeg is not installed.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;

use super::*;
use crate::media::TrackKind;
use crate::mkv::split::{Event, Splitter};
use crate::mux::MuxError;

const MS: i64 = 1_000_000;

struct Media {
    track: Track,
    /// The video frames of each fragment (Cluster), in decode order.
    fragments: Vec<Vec<Frame>>,
}

impl Media {
    /// The fragment GetImages would read for `pts_ns`: the last one starting at or before it,
    /// or the first.
    fn fragment_at(&self, pts_ns: i64) -> &[Frame] {
        let starts_before = |f: &&Vec<Frame>| f.iter().any(|fr| fr.pts_ns <= pts_ns);
        self.fragments
            .iter()
            .rev()
            .find(starts_before)
            .or(self.fragments.first())
            .expect("the media has fragments")
    }

    fn render(&self, pts_ns: i64, format: ImageFormat, size: ImageSize) -> Vec<u8> {
        render(
            &self.track,
            self.fragment_at(pts_ns),
            pts_ns,
            format,
            size,
            90,
        )
        .unwrap_or_else(|e| panic!("render at {pts_ns} ns: {e}"))
    }
}

fn ffmpeg_available() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: ffmpeg not installed; skipping the image checks against real media");
    }
    ok
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 4 s of `testsrc` at 320x240, 25 fps, a key frame every 2 s, encoded with `x264` options.
fn encode(dir: &Path, name: &str, x264: &[&str]) -> (std::path::PathBuf, Media) {
    let path = dir.join(format!("{name}.mkv"));
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "50",
    ];
    args.extend_from_slice(x264);
    let path_str = path.to_str().expect("utf-8 temp path");
    args.extend(["-f", "matroska", path_str]);
    ffmpeg(&args);
    let bytes = std::fs::read(&path).expect("read the MKV");
    let mut splitter = Splitter::default();
    let mut events = Vec::new();
    splitter.push(&bytes, &mut events).expect("split the MKV");
    let mut fragments: Vec<_> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Fragment(f) => Some(f),
            Event::FragmentStart { .. } => None,
        })
        .collect();
    fragments.extend(splitter.finish().expect("finish the MKV"));
    let track = fragments[0].header.tracks[0].clone();
    assert_eq!(track.codec_id, AVC_CODEC_ID);
    let fragments: Vec<Vec<Frame>> = fragments.into_iter().map(|f| f.parsed.frames).collect();
    assert!(fragments.len() >= 2, "one fragment per GOP");
    (path, Media { track, fragments })
}

/// The RGB frame ffmpeg decodes at `seconds`, optionally scaled: (width, height, pixels).
fn reference(dir: &Path, mkv: &Path, seconds: &str, scale: Option<&str>) -> (u32, u32, Vec<u8>) {
    let out = dir.join(format!("ref-{seconds}-{}.png", scale.unwrap_or("orig")));
    let (mkv, out_str) = (mkv.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let mut args = vec!["-ss", seconds, "-i", mkv, "-frames:v", "1"];
    let filter;
    if let Some(s) = scale {
        filter = format!("scale={s}");
        args.extend(["-vf", &filter]);
    }
    args.extend(["-pix_fmt", "rgb24", out_str]);
    ffmpeg(&args);
    decode_png(&std::fs::read(&out).expect("read the reference"))
}

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn decode_jpeg(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().expect("a JPEG");
    let info = decoder.info().expect("JPEG info");
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    (u32::from(info.width), u32::from(info.height), pixels)
}

fn psnr(a: &(u32, u32, Vec<u8>), b: &(u32, u32, Vec<u8>)) -> f64 {
    assert_eq!((a.0, a.1), (b.0, b.1), "sizes differ");
    assert_eq!(a.2.len(), b.2.len());
    let mse =
        a.2.iter()
            .zip(&b.2)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.2.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-10)).log10()
}

const ORIGINAL: ImageSize = ImageSize {
    width: None,
    height: None,
};

/// Renders mid-GOP (1.52 s is frame 38 of the GOP starting at 0) and checks it is that frame:
/// close to ffmpeg's picture there, and closer to it than to the frames around it.
fn check_mid_gop(name: &str, x264: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mkv, media) = encode(dir.path(), name, x264);
    let target = 1520 * MS;
    assert!(
        media
            .fragment_at(target)
            .iter()
            .any(|f| f.pts_ns == target && !f.keyframe),
        "1.52 s is a frame inside a GOP"
    );
    let png = decode_png(&media.render(target, ImageFormat::Png, ORIGINAL));
    let want = reference(dir.path(), &mkv, "1.52", None);
    let db = psnr(&png, &want);
    let before = psnr(&png, &reference(dir.path(), &mkv, "1.48", None));
    let after = psnr(&png, &reference(dir.path(), &mkv, "1.56", None));
    eprintln!("{name}: PSNR at 1.52 s {db:.2} dB (vs 1.48 s {before:.2}, vs 1.56 s {after:.2})");
    assert!(db > 30.0, "{name}: PSNR {db:.2} dB");
    assert!(
        db > before + 3.0 && db > after + 3.0,
        "{name}: not the frame at 1.52 s"
    );
    // Between frames: the one shown at 1.55 s is still the frame of 1.52 s.
    let between = decode_png(&media.render(1550 * MS, ImageFormat::Png, ORIGINAL));
    assert_eq!(between, png);
}

#[test]
fn png_of_a_mid_gop_frame_matches_ffmpeg() {
    if !ffmpeg_available() {
        return;
    }
    check_mid_gop("baseline", &["-profile:v", "baseline", "-bf", "0"]);
}

#[test]
fn b_frames_are_put_out_in_presentation_order() {
    if !ffmpeg_available() {
        return;
    }
    check_mid_gop("high", &["-profile:v", "high", "-bf", "2"]);
}

#[test]
fn jpeg_decodes_with_the_right_size_and_quality() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (mkv, media) = encode(dir.path(), "jpeg", &["-profile:v", "baseline", "-bf", "0"]);
    let target = 1520 * MS;
    let fragment = media.fragment_at(target);
    let jpeg = |quality| {
        render(
            &media.track,
            fragment,
            target,
            ImageFormat::Jpeg,
            ORIGINAL,
            quality,
        )
        .expect("render a JPEG")
    };
    let (fine, coarse) = (jpeg(90), jpeg(10));
    assert!(fine.starts_with(&[0xff, 0xd8]), "a JPEG SOI marker");
    let decoded = decode_jpeg(&fine);
    assert_eq!((decoded.0, decoded.1), (320, 240));
    let db = psnr(&decoded, &reference(dir.path(), &mkv, "1.52", None));
    eprintln!(
        "JPEG q90 at 1.52 s: PSNR {db:.2} dB, {} bytes (q10: {} bytes)",
        fine.len(),
        coarse.len()
    );
    assert!(db > 25.0, "JPEG PSNR {db:.2} dB");
    assert!(
        coarse.len() * 2 < fine.len(),
        "quality 10 compresses harder than 90"
    );
}

#[test]
fn scaling_keeps_the_aspect_ratio_of_one_side() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (mkv, media) = encode(dir.path(), "scale", &["-profile:v", "baseline", "-bf", "0"]);
    let target = 1520 * MS;
    let by_width = ImageSize {
        width: Some(160),
        height: None,
    };
    let small = decode_png(&media.render(target, ImageFormat::Png, by_width));
    assert_eq!((small.0, small.1), (160, 120));
    let db = psnr(
        &small,
        &reference(dir.path(), &mkv, "1.52", Some("160:120")),
    );
    eprintln!("PNG 160x120 at 1.52 s: PSNR {db:.2} dB against ffmpeg's scale");
    assert!(db > 25.0, "scaled PSNR {db:.2} dB");
    let by_height = ImageSize {
        width: None,
        height: Some(60),
    };
    let jpeg = decode_jpeg(&media.render(target, ImageFormat::Jpeg, by_height));
    assert_eq!((jpeg.0, jpeg.1), (80, 60));
    let both = ImageSize {
        width: Some(100),
        height: Some(300),
    };
    let stretched = decode_png(&media.render(target, ImageFormat::Png, both));
    assert_eq!((stretched.0, stretched.1), (100, 300));
}

#[test]
fn a_target_before_the_first_frame_gives_the_first_frame() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (mkv, media) = encode(dir.path(), "early", &["-profile:v", "baseline", "-bf", "0"]);
    let first = &media.fragments[0];
    let early = media.render(first[0].pts_ns - 5_000 * MS, ImageFormat::Png, ORIGINAL);
    assert_eq!(
        early,
        media.render(first[0].pts_ns, ImageFormat::Png, ORIGINAL)
    );
    let db = psnr(&decode_png(&early), &reference(dir.path(), &mkv, "0", None));
    assert!(db > 30.0, "first frame PSNR {db:.2} dB");
    // A later fragment asked for a time before it: its own first frame, not "no media".
    let second = &media.fragments[1];
    let png = render(&media.track, second, 0, ImageFormat::Png, ORIGINAL, 90)
        .expect("the fragment's first frame");
    let db = psnr(&decode_png(&png), &reference(dir.path(), &mkv, "2", None));
    assert!(db > 30.0, "second fragment's first frame PSNR {db:.2} dB");
}

fn video_track(codec_id: &str, private: &'static [u8]) -> Track {
    Track {
        number: 1,
        codec_id: codec_id.into(),
        codec_private: Bytes::from_static(private),
        kind: TrackKind::Video {
            width: 320,
            height: 240,
        },
        default_duration_ns: None,
    }
}

fn key_frame() -> Frame {
    Frame {
        track: 1,
        pts_ns: 0,
        keyframe: true,
        data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
    }
}

#[test]
fn unsupported_codecs_and_missing_codec_data() {
    let frames = [key_frame()];
    let try_render =
        |track: &Track, frames: &[Frame]| render(track, frames, 0, ImageFormat::Jpeg, ORIGINAL, 80);
    let hevc = video_track("V_MPEGH/ISO/HEVC", &[1, 2, 3]);
    assert!(
        matches!(try_render(&hevc, &frames), Err(ImageError::Unsupported(m)) if m.contains("H.265")),
    );
    let vp8 = video_track("V_VP8", &[]);
    assert!(
        matches!(try_render(&vp8, &frames), Err(ImageError::Unsupported(m)) if m.contains("V_VP8")),
    );
    let empty = video_track(AVC_CODEC_ID, &[]);
    assert_eq!(
        try_render(&empty, &frames),
        Err(ImageError::Media(MuxError::MissingCodecPrivateData))
    );
    let truncated = video_track(AVC_CODEC_ID, &[1, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18]);
    assert!(matches!(
        try_render(&truncated, &frames),
        Err(ImageError::Media(MuxError::InvalidCodecPrivateData(_)))
    ));
}

#[test]
fn no_frames_of_the_track_is_no_media() {
    // A valid avcC record (version 1, 4-byte lengths) without parameter sets.
    const AVCC: [u8; 7] = [0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe0, 0x00];
    let track = video_track(AVC_CODEC_ID, &AVCC);
    let audio = Frame {
        track: 2,
        ..key_frame()
    };
    for frames in [&[][..], &[audio][..]] {
        assert_eq!(
            render(&track, frames, 0, ImageFormat::Png, ORIGINAL, 80),
            Err(ImageError::NoFrames)
        );
    }
    // A key frame that cannot be decoded (no parameter sets, a garbage slice): an error, not
    // a panic or a blank picture.
    let r = render(&track, &[key_frame()], 0, ImageFormat::Png, ORIGINAL, 80);
    assert!(matches!(r, Err(ImageError::Decode(_))), "{r:?}");
}
