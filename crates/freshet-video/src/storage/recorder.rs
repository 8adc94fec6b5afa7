//! WebRTC video as KVS fragments: H.264 access units off RTP (Annex B, on the 90 kHz RTP clock)
//! become what a PutMedia producer sends — an MKV header (EBML header, Info, Tracks with the
//! avcC record of the current SPS and PPS) and one Cluster per group of pictures, each starting
//! at a key frame, with absolute millisecond timecodes.
//!
//! A browser sends key frames only when asked, so the recorder says when to ask
//! (`wants_keyframe`): a fragment closes at the first key frame after `TARGET_MS`. One that
//! reaches PutMedia's 10-second limit without one closes anyway, and frames until the next key
//! frame are dropped, as they cannot be decoded without it.

use bytes::Bytes;

use crate::mkv::chunk::write_ebml_header;
use crate::mkv::ebml::{write_element, write_uint};
use crate::mkv::id;
use crate::mux::avc::AvcConfig;

/// How long a fragment runs before the recorder asks for a key frame to end it.
pub const TARGET_MS: i64 = 2_000;
/// PutMedia's longest fragment.
const MAX_MS: i64 = 10_000;
/// PutMedia's largest fragment.
const MAX_BYTES: usize = 50 * 1024 * 1024;
const RTP_VIDEO_HZ: u64 = 90_000;

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_IDR: u8 = 5;

/// One decoded-order picture off the wire.
#[derive(Debug, Clone, Copy)]
pub struct AccessUnit<'a> {
    /// RTP timestamp, extended past wrap-around (str0m's MediaTime numerator).
    pub rtp_time: u64,
    /// Annex B NAL units, each behind a start code.
    pub data: &'a [u8],
}

/// A fragment ready for the store: what `FragmentStore::append` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub producer_ms: i64,
    pub duration_ms: u32,
    pub header: Bytes,
    pub cluster: Bytes,
}

struct Frame {
    ms: i64,
    key: bool,
    avcc: Vec<u8>,
}

struct Gop {
    header: Bytes,
    frames: Vec<Frame>,
    bytes: usize,
}

pub struct Recorder {
    /// Wall-clock milliseconds of the first access unit, and its RTP time.
    base: Option<(i64, u64)>,
    start_ms: i64,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The header for the current parameter sets.
    header: Option<Bytes>,
    gop: Option<Gop>,
    /// Frames until the next key frame are dropped (the last fragment was cut short).
    waiting_for_key: bool,
    last_ms: i64,
}

impl Recorder {
    /// `start_ms`: the wall-clock time (epoch milliseconds) the first access unit is given.
    pub fn new(start_ms: i64) -> Recorder {
        Recorder {
            base: None,
            start_ms,
            sps: None,
            pps: None,
            header: None,
            gop: None,
            waiting_for_key: true,
            last_ms: i64::MIN,
        }
    }

    /// Takes one access unit; answers the fragment it completed, if any.
    pub fn push(&mut self, unit: AccessUnit<'_>) -> Option<Recorded> {
        let (base_ms, base_rtp) = *self.base.get_or_insert((self.start_ms, unit.rtp_time));
        let offset = unit.rtp_time.saturating_sub(base_rtp) * 1000 / RTP_VIDEO_HZ;
        // Timecodes never go back, even for reordered or repeated RTP times.
        let ms = (base_ms + offset as i64).max(self.last_ms);
        let mut key = false;
        let mut avcc = Vec::with_capacity(unit.data.len());
        for nal in annexb_nals(unit.data) {
            match nal[0] & 0x1f {
                NAL_SPS => self.set_parameter_set(true, nal),
                NAL_PPS => self.set_parameter_set(false, nal),
                NAL_AUD => continue,
                NAL_IDR => key = true,
                _ => {}
            }
            avcc.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            avcc.extend_from_slice(nal);
        }
        if avcc.is_empty() {
            return None;
        }
        let mut done = None;
        if key && let Some(header) = self.header.clone() {
            let long_enough = self.gop.as_ref().is_none_or(|g| {
                g.frames.first().is_some_and(|f| ms - f.ms >= TARGET_MS) || g.header != header
            });
            if long_enough {
                done = self.close();
                self.gop = Some(Gop {
                    header,
                    frames: Vec::new(),
                    bytes: 0,
                });
                self.waiting_for_key = false;
            }
        }
        if self.waiting_for_key {
            return done;
        }
        let Some(gop) = self.gop.as_mut() else {
            return done;
        };
        gop.bytes += avcc.len();
        gop.frames.push(Frame { ms, key, avcc });
        self.last_ms = ms;
        let first_ms = gop.frames[0].ms;
        if ms - first_ms >= MAX_MS || gop.bytes >= MAX_BYTES {
            self.waiting_for_key = true;
            return self.close().or(done);
        }
        done
    }

    /// Whether the running fragment is long enough to end at a key frame (or none runs yet).
    pub fn wants_keyframe(&self) -> bool {
        match &self.gop {
            Some(gop) if !self.waiting_for_key => {
                let (Some(first), Some(last)) = (gop.frames.first(), gop.frames.last()) else {
                    return true;
                };
                last.ms - first.ms >= TARGET_MS
            }
            _ => true,
        }
    }

    /// Packets were lost: the fragment in progress ends before the gap, and what follows is
    /// dropped up to the next key frame.
    pub fn gap(&mut self) -> Option<Recorded> {
        self.waiting_for_key = true;
        self.close()
    }

    /// The fragment in progress, whole as far as it goes (the session ended).
    pub fn finish(&mut self) -> Option<Recorded> {
        self.close()
    }

    fn set_parameter_set(&mut self, sps: bool, nal: &[u8]) {
        let slot = if sps { &mut self.sps } else { &mut self.pps };
        if slot.as_deref() == Some(nal) {
            return;
        }
        *slot = Some(nal.to_vec());
        if let (Some(sps), Some(pps)) = (&self.sps, &self.pps) {
            self.header = header(sps, pps);
        }
    }

    fn close(&mut self) -> Option<Recorded> {
        let gop = self.gop.take()?;
        let first = gop.frames.first()?;
        let last = gop.frames.last()?;
        let step = match gop.frames.len() {
            1 => 0,
            n => (last.ms - first.ms) / (n as i64 - 1),
        };
        let mut cluster = Vec::with_capacity(gop.bytes + gop.frames.len() * 16 + 16);
        write_uint(&mut cluster, id::TIMECODE, first.ms as u64);
        for frame in &gop.frames {
            let mut block = Vec::with_capacity(frame.avcc.len() + 4);
            block.push(0x81); // track 1
            let relative = (frame.ms - first.ms).clamp(0, i16::MAX.into()) as i16;
            block.extend_from_slice(&relative.to_be_bytes());
            block.push(if frame.key { 0x80 } else { 0 });
            block.extend_from_slice(&frame.avcc);
            write_element(&mut cluster, id::SIMPLE_BLOCK, &block);
        }
        Some(Recorded {
            producer_ms: first.ms,
            duration_ms: (last.ms - first.ms + step).clamp(0, u32::MAX.into()) as u32,
            header: gop.header,
            cluster: cluster.into(),
        })
    }
}

/// The MKV header for one SPS and PPS: None if the SPS does not parse (no picture size).
fn header(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    if sps.len() < 4 {
        return None;
    }
    let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(pps);
    let (width, height) = AvcConfig::parse(&Bytes::from(avcc.clone()))
        .and_then(|c| c.dimensions())
        .ok()?;
    let mut out = Vec::new();
    write_ebml_header(&mut out);
    let mut info = Vec::new();
    write_uint(&mut info, id::TIMECODE_SCALE, 1_000_000);
    write_element(&mut info, 0x4D80, b"freshet"); // MuxingApp
    write_element(&mut info, 0x5741, b"freshet WebRTC storage session"); // WritingApp
    write_element(&mut out, id::INFO, &info);
    let mut entry = Vec::new();
    write_uint(&mut entry, id::TRACK_NUMBER, 1);
    write_uint(&mut entry, 0x73C5, 1); // TrackUID
    write_uint(&mut entry, id::TRACK_TYPE, 1);
    write_element(&mut entry, 0x536E, b"kinesis_video"); // Name
    write_element(&mut entry, id::CODEC_ID, b"V_MPEG4/ISO/AVC");
    write_element(&mut entry, id::CODEC_PRIVATE, &avcc);
    let mut video = Vec::new();
    write_uint(&mut video, id::PIXEL_WIDTH, width.into());
    write_uint(&mut video, id::PIXEL_HEIGHT, height.into());
    write_element(&mut entry, id::VIDEO, &video);
    let mut tracks = Vec::new();
    write_element(&mut tracks, id::TRACK_ENTRY, &entry);
    write_element(&mut out, id::TRACKS, &tracks);
    // Stored as the EBML header and the Segment's children, without the Segment element.
    Some(out.into())
}

/// The NAL units of Annex B data (3- or 4-byte start codes), without their start codes.
fn annexb_nals(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next start code, and the zero byte before it of a 4-byte one.
            let code = s - 3;
            if code > 0 && data[code - 1] == 0 {
                code - 1
            } else {
                code
            }
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(s, e)| &data[s..e.max(s)])
        .filter(|nal| !nal.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TrackKind;
    use crate::mkv::cluster::Cluster;
    use crate::mkv::header::Header;
    use crate::mux::avc::tests::AVCC_320X240;

    const START_MS: i64 = 1_700_000_000_000;
    /// 25 frames a second on the 90 kHz clock.
    const TICKS_PER_FRAME: u64 = 3_600;

    fn sps() -> &'static [u8] {
        &AVCC_320X240[8..32]
    }

    fn pps() -> &'static [u8] {
        &AVCC_320X240[35..40]
    }

    /// Frame `n` as a browser packetizes it: an AUD, then for key frames SPS and PPS (behind
    /// 4-byte start codes), then one slice (behind a 3-byte start code).
    /// Frame `n`'s bytes (see `unit`).
    fn frame(n: u64, key: bool) -> Vec<u8> {
        let mut data = vec![0, 0, 0, 1, 0x09, 0xf0];
        if key {
            for set in [sps(), pps()] {
                data.extend_from_slice(&[0, 0, 0, 1]);
                data.extend_from_slice(set);
            }
        }
        data.extend_from_slice(&[0, 0, 1, if key { 0x65 } else { 0x41 }]);
        data.extend(std::iter::repeat_n(n as u8, 50));
        data
    }

    fn rtp_time(n: u64) -> u64 {
        5_000_000 + n * TICKS_PER_FRAME
    }

    /// Pushes frame `n` as a browser packetizes it (see `frame`).
    fn push(recorder: &mut Recorder, n: u64, key: bool) -> Option<Recorded> {
        push_data(recorder, n, &frame(n, key))
    }

    fn push_data(recorder: &mut Recorder, n: u64, data: &[u8]) -> Option<Recorded> {
        recorder.push(AccessUnit {
            rtp_time: rtp_time(n),
            data,
        })
    }

    /// Frames `0..n`, `key(i)` telling the key frames.
    fn record(n: u64, key: impl Fn(u64) -> bool) -> (Recorder, Vec<Recorded>) {
        let mut recorder = Recorder::new(START_MS);
        let out = (0..n)
            .filter_map(|i| push(&mut recorder, i, key(i)))
            .collect();
        (recorder, out)
    }

    fn parsed(fragment: &Recorded) -> (Header, Cluster) {
        let header = Header::parse(fragment.header.clone()).unwrap();
        let cluster = Cluster::parse(&header, &fragment.cluster).unwrap();
        (header, cluster)
    }

    #[test]
    fn a_fragment_per_group_of_pictures_from_the_first_key_frame() {
        // Three delta frames before any key frame (dropped), then key frames every 60 frames
        // (2.4 s): three fragments of 60 frames, timed from the first frame received.
        let (mut recorder, mut fragments) = record(183, |n| n >= 3 && (n - 3) % 60 == 0);
        fragments.extend(recorder.finish());
        assert_eq!(fragments.len(), 3);
        let (header, _) = parsed(&fragments[0]);
        let track = &header.tracks[0];
        assert_eq!(track.codec_id, "V_MPEG4/ISO/AVC");
        assert_eq!(track.codec_private.as_ref(), &AVCC_320X240[..]);
        assert_eq!(
            track.kind,
            TrackKind::Video {
                width: 320,
                height: 240
            }
        );
        for (i, fragment) in fragments.iter().enumerate() {
            let (_, cluster) = parsed(fragment);
            assert_eq!(
                fragment.producer_ms,
                START_MS + (3 + 60 * i as i64) * 40,
                "{i}"
            );
            assert_eq!(cluster.timecode as i64, fragment.producer_ms);
            assert_eq!(cluster.frames.len(), 60, "{i}");
            assert_eq!(fragment.duration_ms, 60 * 40);
            assert!(cluster.frames[0].keyframe);
            assert!(cluster.frames[1..].iter().all(|f| !f.keyframe));
            // Stored as AVCC: the AUD gone, SPS, PPS and the slice behind 4-byte lengths.
            let data = &cluster.frames[0].data;
            assert_eq!(&data[..4], &(sps().len() as u32).to_be_bytes());
            assert_eq!(&data[4..4 + sps().len()], sps());
            let last = cluster.frames.last().unwrap();
            assert_eq!(last.pts_ns, (fragment.producer_ms + 59 * 40) * 1_000_000);
            assert_eq!(&last.data[..5], &[0, 0, 0, 51, 0x41]);
        }
    }

    #[test]
    fn the_last_fragment_is_stored_at_the_end_and_key_frames_are_asked_for() {
        let (mut recorder, fragments) = record(10, |n| n == 0);
        assert!(fragments.is_empty());
        assert!(!recorder.wants_keyframe());
        let (mut recorder2, _) = record(60, |n| n == 0);
        assert!(recorder2.wants_keyframe(), "2 s into a fragment");
        let last = recorder.finish().unwrap();
        assert_eq!(parsed(&last).1.frames.len(), 10);
        assert_eq!(last.duration_ms, 400);
        assert!(recorder.finish().is_none());
        assert!(recorder2.finish().is_some());
    }

    #[test]
    fn a_fragment_without_a_key_frame_for_ten_seconds_ends_and_the_rest_waits_for_one() {
        // A key frame, then 12 s of delta frames, then a key frame.
        let (mut recorder, fragments) = record(301, |n| n == 0 || n == 300);
        assert_eq!(fragments.len(), 1);
        let (_, cluster) = parsed(&fragments[0]);
        assert_eq!(cluster.frames.len(), 251, "0 s to 10 s");
        let next = recorder.finish().unwrap();
        assert_eq!(next.producer_ms, START_MS + 300 * 40);
        assert_eq!(parsed(&next).1.frames.len(), 1);
    }

    #[test]
    fn lost_packets_end_the_fragment_and_drop_frames_until_a_key_frame() {
        let mut recorder = Recorder::new(START_MS);
        for n in 0..5 {
            assert!(push(&mut recorder, n, n == 0).is_none());
        }
        let before = recorder.gap().unwrap();
        assert_eq!(parsed(&before).1.frames.len(), 5);
        assert!(recorder.wants_keyframe());
        for n in 5..8 {
            assert!(push(&mut recorder, n, false).is_none());
        }
        assert!(push(&mut recorder, 8, true).is_none());
        let after = recorder.finish().unwrap();
        assert_eq!(after.producer_ms, START_MS + 8 * 40);
        assert_eq!(parsed(&after).1.frames.len(), 1);
    }

    #[test]
    fn new_parameter_sets_start_a_fragment_with_their_header() {
        let mut recorder = Recorder::new(START_MS);
        assert!(push(&mut recorder, 0, true).is_none());
        assert!(push(&mut recorder, 1, false).is_none());
        // A key frame 80 ms later with another PPS: the header changes, so the fragment ends.
        let mut changed = frame(2, true);
        let at = changed.len() - 54 - 5;
        changed[at + 4] ^= 0x01;
        let done = push_data(&mut recorder, 2, &changed).unwrap();
        assert_eq!(parsed(&done).1.frames.len(), 2);
        let next = recorder.finish().unwrap();
        assert_ne!(next.header, done.header);
    }

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let nals: Vec<&[u8]> = annexb_nals(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 0][..]]
        );
        assert_eq!(annexb_nals(&[1, 2, 3]).count(), 0);
    }
}
