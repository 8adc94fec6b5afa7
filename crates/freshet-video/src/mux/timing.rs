//! Sample timing, shared by every muxer: from a track's presentation times (in decode order) to
//! decode times, durations and composition offsets in the track's timescale.
//!
//! Decode times are the sorted presentation times, so they rise even where B-frames make the
//! presentation times jump about, moved back by the largest reorder delay so that none comes
//! after its presentation time (MPEG-TS requires it; players built on ffmpeg misplace frames
//! with negative composition offsets). A fragment starting at a key frame then starts its decode
//! timeline where the previous fragment's ended, the reorder delay being the same for both (it
//! is a property of the encoder's settings). Ticks are computed from absolute nanoseconds, never
//! accumulated, so consecutive fragments line up without drift.

/// One sample's times, in ticks of its track's timescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sample {
    pub dts: i64,
    pub duration: u32,
    /// Presentation time minus decode time.
    pub cts: i32,
}

pub(super) fn ns_to_ticks(ns: i64, timescale: u32) -> i64 {
    let ticks = (i128::from(ns) * i128::from(timescale)).div_euclid(1_000_000_000);
    i64::try_from(ticks).unwrap_or(if ticks < 0 { i64::MIN } else { i64::MAX })
}

/// The timing of a track's samples. The last sample lasts until `end_ns` (where the next
/// fragment starts) if that is after it, else the track's default duration, else as long as the
/// sample before it.
pub(super) fn track_timing(
    pts_ns: &[i64],
    timescale: u32,
    end_ns: Option<i64>,
    default_duration_ns: Option<u64>,
) -> Vec<Sample> {
    let pts: Vec<i64> = pts_ns
        .iter()
        .map(|&ns| ns_to_ticks(ns, timescale))
        .collect();
    let mut sorted = pts.clone();
    sorted.sort_unstable();
    let delay = sorted
        .iter()
        .zip(&pts)
        .map(|(d, p)| d - p)
        .max()
        .unwrap_or(0)
        .max(0);
    let mut durations: Vec<i64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    if let Some(&last) = sorted.last() {
        let until_end = end_ns.map(|ns| ns_to_ticks(ns, timescale) - last);
        let default = default_duration_ns
            .and_then(|ns| i64::try_from(ns).ok())
            .map(|ns| ns_to_ticks(ns, timescale));
        let previous = durations.last().copied();
        durations.push(
            [until_end, default, previous]
                .into_iter()
                .flatten()
                .find(|&d| d > 0)
                .unwrap_or(0),
        );
    }
    sorted
        .iter()
        .zip(&pts)
        .zip(durations)
        .map(|((&sorted_pts, &pts), duration)| {
            let dts = sorted_pts - delay;
            Sample {
                dts,
                duration: u32::try_from(duration).unwrap_or(u32::MAX),
                cts: i32::try_from(pts - dts).unwrap_or(if pts < dts {
                    i32::MIN
                } else {
                    i32::MAX
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn times(samples: &[Sample]) -> Vec<(i64, u32, i32)> {
        samples.iter().map(|s| (s.dts, s.duration, s.cts)).collect()
    }

    #[test]
    fn without_reordering_decode_equals_presentation() {
        let s = track_timing(&[1000 * MS, 1040 * MS, 1080 * MS], 90_000, None, None);
        assert_eq!(
            times(&s),
            [(90_000, 3600, 0), (93_600, 3600, 0), (97_200, 3600, 0)]
        );
    }

    #[test]
    fn b_frames_decode_before_they_show() {
        // I0 P3 B1 B2 in decode order, 40 ms frames: one frame of reorder delay.
        let pts = [0, 120 * MS, 40 * MS, 80 * MS];
        let s = track_timing(&pts, 1000, Some(160 * MS), None);
        assert_eq!(
            times(&s),
            [(-40, 40, 40), (0, 40, 120), (40, 40, 0), (80, 40, 0)]
        );
        // The next GOP, with the same delay, decodes on from where this one stopped.
        let next: Vec<i64> = pts.iter().map(|p| p + 160 * MS).collect();
        let n = track_timing(&next, 1000, None, None);
        assert_eq!(s[3].dts + i64::from(s[3].duration), n[0].dts);
    }

    #[test]
    fn last_duration_falls_back_from_end_to_default_to_previous() {
        let pts = [0, 40 * MS];
        let dur = |end, default| track_timing(&pts, 1000, end, default)[1].duration;
        assert_eq!(dur(Some(100 * MS), Some(33 * MS as u64)), 60);
        assert_eq!(dur(Some(40 * MS), Some(33 * MS as u64)), 33);
        assert_eq!(dur(None, None), 40);
        assert_eq!(track_timing(&[0], 1000, None, None)[0].duration, 0);
    }

    #[test]
    fn consecutive_fragments_share_their_boundary() {
        // 48 kHz audio on a millisecond clock: ticks come from absolute times, so the end of
        // one fragment is the start of the next however the durations round.
        let first: Vec<i64> = (0..10).map(|i| 5_000 * MS + i * 21 * MS).collect();
        let second: Vec<i64> = (10..20).map(|i| 5_000 * MS + i * 21 * MS).collect();
        let a = track_timing(&first, 48_000, Some(second[0]), None);
        let b = track_timing(&second, 48_000, None, None);
        let end_of_a = a.last().map(|s| s.dts + i64::from(s.duration)).unwrap();
        assert_eq!(end_of_a, b[0].dts);
        assert_eq!(ns_to_ticks(-1, 90_000), -1);
    }
}
