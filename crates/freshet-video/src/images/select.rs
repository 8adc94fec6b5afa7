//! Which frames to decode for the picture at a timestamp. Frames come in decode order and,
//! with B-frames, their presentation times are not monotonic, so the picture is chosen by
//! presentation time but the run to decode is cut by decode order.

use super::ImageError;
use crate::media::Frame;

/// The frames to feed the decoder, in decode order, and which of the pictures it will put
/// out (in presentation order) is the one wanted.
#[derive(Debug)]
pub(super) struct DecodeRun<'a> {
    pub frames: Vec<&'a Frame>,
    pub output_index: usize,
}

/// The run for the frame presented last at or before `target_pts_ns` (the earliest frame when
/// the target precedes them all): from the last key frame before it in decode order up to it.
pub(super) fn decode_run<'a>(
    frames: &[&'a Frame],
    target_pts_ns: i64,
) -> Result<DecodeRun<'a>, ImageError> {
    let at_or_before = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.pts_ns <= target_pts_ns)
        .max_by_key(|(_, f)| f.pts_ns);
    let earliest = || frames.iter().enumerate().min_by_key(|(_, f)| f.pts_ns);
    let (mut chosen, _) = at_or_before.or_else(earliest).ok_or(ImageError::NoFrames)?;
    let start = match frames[..=chosen].iter().rposition(|f| f.keyframe) {
        Some(start) => start,
        // Frames before the first key frame cannot be decoded (their references are in an
        // earlier fragment): the first key frame is the nearest picture there is.
        None => {
            chosen = frames
                .iter()
                .position(|f| f.keyframe)
                .ok_or(ImageError::NoKeyFrame)?;
            chosen
        }
    };
    let run = frames[start..=chosen].to_vec();
    let pts = frames[chosen].pts_ns;
    // The decoder puts pictures out in presentation order, so the wanted one comes after every
    // frame of the run presented before it.
    let output_index = run.iter().filter(|f| f.pts_ns < pts).count();
    Ok(DecodeRun {
        frames: run,
        output_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Frames in decode order from `(pts in ms, keyframe)`.
    fn frames(spec: &[(i64, bool)]) -> Vec<Frame> {
        spec.iter()
            .map(|&(ms, keyframe)| Frame {
                track: 1,
                pts_ns: ms * 1_000_000,
                keyframe,
                data: Bytes::new(),
            })
            .collect()
    }

    fn run(frames: &[Frame], target_ms: i64) -> Result<(Vec<i64>, usize), ImageError> {
        let refs: Vec<&Frame> = frames.iter().collect();
        decode_run(&refs, target_ms * 1_000_000).map(|r| {
            let pts = r.frames.iter().map(|f| f.pts_ns / 1_000_000).collect();
            (pts, r.output_index)
        })
    }

    #[test]
    fn decodes_from_the_last_key_frame_to_the_frame_shown() {
        let f = frames(&[
            (0, true),
            (40, false),
            (80, false),
            (120, true),
            (160, false),
        ]);
        assert_eq!(run(&f, 100).unwrap(), (vec![0, 40, 80], 2));
        assert_eq!(run(&f, 80).unwrap(), (vec![0, 40, 80], 2));
        assert_eq!(run(&f, 179).unwrap(), (vec![120, 160], 1));
        assert_eq!(run(&f, 10_000).unwrap(), (vec![120, 160], 1));
    }

    #[test]
    fn a_target_before_the_first_frame_gives_the_first_frame() {
        let f = frames(&[(1000, true), (1040, false)]);
        assert_eq!(run(&f, 0).unwrap(), (vec![1000], 0));
        assert_eq!(run(&f, -5).unwrap(), (vec![1000], 0));
    }

    #[test]
    fn b_frames_are_chosen_by_presentation_and_cut_by_decode_order() {
        // Decode order I0 P120 B40 B80 P240 B160 B200.
        let f = frames(&[
            (0, true),
            (120, false),
            (40, false),
            (80, false),
            (240, false),
            (160, false),
            (200, false),
        ]);
        // B160 is shown at 170: decoded after P240, which the decoder puts out after it.
        assert_eq!(run(&f, 170).unwrap(), (vec![0, 120, 40, 80, 240, 160], 4));
        // P120 is shown at 130; the B-frames after it in decode order are not needed.
        assert_eq!(run(&f, 130).unwrap(), (vec![0, 120], 1));
        assert_eq!(run(&f, 80).unwrap(), (vec![0, 120, 40, 80], 2));
    }

    #[test]
    fn frames_before_the_first_key_frame_give_the_key_frame() {
        let f = frames(&[(0, false), (40, false), (80, true), (120, false)]);
        assert_eq!(run(&f, 50).unwrap(), (vec![80], 0));
        assert_eq!(run(&f, 130).unwrap(), (vec![80, 120], 1));
    }

    #[test]
    fn no_frames_and_no_key_frame() {
        assert_eq!(run(&[], 0), Err(ImageError::NoFrames));
        let f = frames(&[(0, false), (40, false)]);
        assert_eq!(run(&f, 40), Err(ImageError::NoKeyFrame));
    }
}
