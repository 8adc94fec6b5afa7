//! MPEG-TS segments for HLS `getTSFragment.ts`: PAT and PMT first, then one PES per frame in the
//! order the frames came, on a 90 kHz clock taken from the absolute presentation times so that
//! consecutive segments continue each other. Each segment is self-contained: its continuity
//! counters start at 0, and every key frame carries its parameter sets.

use super::MuxError;
use super::annexb::access_unit;
use super::config::CodecConfig;
use super::timing::{Sample, track_timing};
use super::track::{MuxTrack, mux_tracks};
use crate::media::{Frame, Track};

const PACKET: usize = 188;
const PAT_PID: u16 = 0;
const PMT_PID: u16 = 0x1000;
const FIRST_ES_PID: u16 = 0x100;
const CLOCK_HZ: u32 = 90_000;
/// PTS, DTS and the PCR base are 33-bit counters that wrap.
const TIMESTAMP_MASK: i64 = (1 << 33) - 1;

struct Stream<'a> {
    track: &'a MuxTrack<'a>,
    pid: u16,
    stream_id: u8,
    stream_type: u8,
    timing: Vec<Sample>,
    /// The next of `timing` to use: frames of a track come in its decode order.
    next: usize,
}

/// The frames (decode order within a track) as one transport stream segment. `end_ns`, where
/// the next segment starts, bounds the last frames as in [`super::media_segment`]; MPEG-TS has
/// no durations to write, so it only matters to the timing shared with the MP4 muxers.
pub fn ts_segment(
    tracks: &[Track],
    frames: &[Frame],
    end_ns: Option<i64>,
) -> Result<Vec<u8>, MuxError> {
    let tracks = mux_tracks(tracks)?;
    let (mut videos, mut audios) = (0u8, 0u8);
    let mut streams: Vec<Stream> = tracks
        .iter()
        .map(|t| {
            let pts: Vec<i64> = t.frames(frames).iter().map(|f| f.pts_ns).collect();
            let timing = track_timing(&pts, CLOCK_HZ, end_ns, t.track.default_duration_ns);
            let (stream_type, counter, base) = match t.codec {
                CodecConfig::Avc(_) => (0x1b, &mut videos, 0xe0),
                CodecConfig::Hevc(_) => (0x24, &mut videos, 0xe0),
                CodecConfig::Aac(_) => (0x0f, &mut audios, 0xc0),
            };
            // Sixteen of each kind is more than any producer sends; later ones share an id.
            let stream_id = base + (*counter).min(15);
            *counter = counter.saturating_add(1);
            Stream {
                track: t,
                pid: FIRST_ES_PID + t.id as u16,
                stream_id,
                stream_type,
                timing,
                next: 0,
            }
        })
        .collect();
    if streams.iter().all(|s| s.timing.is_empty()) {
        return Err(MuxError::NoFrames);
    }
    // The PMT must fit its one packet: 12 bytes of header and CRC, 5 per stream.
    if 1 + 16 + 5 * streams.len() > PACKET - 4 {
        return Err(MuxError::TooLarge);
    }
    let pcr_pid = streams
        .iter()
        .find(|s| s.track.is_video())
        .unwrap_or(&streams[0])
        .pid;

    let mut out = Vec::with_capacity(
        frames.iter().map(|f| f.data.len()).sum::<usize>() * 11 / 10 + 2 * PACKET,
    );
    write_psi(&mut out, PAT_PID, &pat());
    write_psi(&mut out, PMT_PID, &pmt(&streams, pcr_pid));
    let mut counters = vec![0u8; streams.len()];
    for frame in frames {
        let Some(i) = streams
            .iter()
            .position(|s| s.track.track.number == frame.track)
        else {
            continue;
        };
        let s = &mut streams[i];
        let Some(sample) = s.timing.get(s.next).copied() else {
            continue;
        };
        s.next += 1;
        let payload = match &s.track.codec {
            CodecConfig::Aac(c) => [&c.adts_header(frame.data.len())?[..], &frame.data].concat(),
            codec => access_unit(codec, frame)?.unwrap_or_default(),
        };
        let pts = sample.dts + i64::from(sample.cts);
        let pes = pes(s.stream_id, pts, sample.dts, &payload);
        let pcr = (s.pid == pcr_pid).then_some(sample.dts);
        let random_access = frame.keyframe && s.track.is_video();
        write_packets(&mut out, s.pid, &mut counters[i], &pes, pcr, random_access);
    }
    Ok(out)
}

fn pat() -> Vec<u8> {
    let mut body = vec![0, 1]; // program 1
    body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
    section(0x00, 1, &body)
}

fn pmt(streams: &[Stream], pcr_pid: u16) -> Vec<u8> {
    let mut body = (0xe000 | pcr_pid).to_be_bytes().to_vec();
    body.extend_from_slice(&[0xf0, 0]); // no program descriptors
    for s in streams {
        body.push(s.stream_type);
        body.extend_from_slice(&(0xe000 | s.pid).to_be_bytes());
        body.extend_from_slice(&[0xf0, 0]);
    }
    section(0x02, 1, &body)
}

/// A PSI section (version 0, current, one section) with its CRC.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let length = (5 + body.len() + 4) as u16;
    let mut s = vec![table_id, 0xb0 | (length >> 8) as u8, length as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xc1, 0, 0]);
    s.extend_from_slice(body);
    s.extend_from_slice(&crc32_mpeg2(&s).to_be_bytes());
    s
}

/// CRC-32/MPEG-2: polynomial 0x04C11DB7, MSB first, no final XOR.
fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xffff_ffff, |crc, &b| {
        (0..8).fold(crc ^ (u32::from(b) << 24), |c, _| {
            if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            }
        })
    })
}

fn write_psi(out: &mut Vec<u8>, pid: u16, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10, 0]);
    out.extend_from_slice(section);
    out.resize(start + PACKET, 0xff);
}

fn pes(stream_id: u8, pts: i64, dts: i64, payload: &[u8]) -> Vec<u8> {
    let with_dts = dts != pts;
    let header_len: usize = if with_dts { 10 } else { 5 };
    // Zero (unbounded) is allowed for video only, and audio frames are far smaller.
    let length = u16::try_from(3 + header_len + payload.len()).unwrap_or(0);
    let mut p = Vec::with_capacity(9 + header_len + payload.len());
    p.extend_from_slice(&[0, 0, 1, stream_id]);
    p.extend_from_slice(&length.to_be_bytes());
    // '10' marker, data aligned; PTS (and DTS) present.
    p.extend_from_slice(&[0x84, if with_dts { 0xc0 } else { 0x80 }, header_len as u8]);
    p.extend_from_slice(&timestamp(if with_dts { 0b0011 } else { 0b0010 }, pts));
    if with_dts {
        p.extend_from_slice(&timestamp(0b0001, dts));
    }
    p.extend_from_slice(payload);
    p
}

/// A 33-bit PES timestamp in five bytes, with its 4-bit prefix and marker bits.
fn timestamp(prefix: u8, ts: i64) -> [u8; 5] {
    let ts = (ts & TIMESTAMP_MASK) as u64;
    let high = ((ts >> 15) & 0x7fff) << 1 | 1;
    let low = (ts & 0x7fff) << 1 | 1;
    [
        (prefix << 4) | (((ts >> 30) as u8 & 7) << 1) | 1,
        (high >> 8) as u8,
        high as u8,
        (low >> 8) as u8,
        low as u8,
    ]
}

/// Splits a PES into transport packets, the first with the PCR and random access flag if
/// given, the last padded with adaptation field stuffing.
fn write_packets(
    out: &mut Vec<u8>,
    pid: u16,
    counter: &mut u8,
    pes: &[u8],
    pcr: Option<i64>,
    random_access: bool,
) {
    let mut rest = pes;
    let mut first = true;
    while first || !rest.is_empty() {
        // The adaptation field after its length byte: flags, then the PCR if any.
        let mut field: Option<Vec<u8>> = None;
        if first && (pcr.is_some() || random_access) {
            let mut f =
                vec![if random_access { 0x40 } else { 0 } | if pcr.is_some() { 0x10 } else { 0 }];
            if let Some(pcr) = pcr {
                // 33-bit base at 90 kHz, 6 reserved bits, 9-bit extension (zero).
                let base = (pcr & TIMESTAMP_MASK) as u64;
                f.extend_from_slice(&((base << 15) | 0x7e00).to_be_bytes()[2..]);
            }
            field = Some(f);
        }
        let room = PACKET - 4 - field.as_ref().map_or(0, |f| f.len() + 1);
        let take = rest.len().min(room);
        if take < room {
            let mut pad = room - take;
            let f = field.get_or_insert_with(|| {
                // A field of just its length byte pads by one; anything more needs the flags.
                pad -= 1;
                if pad > 0 {
                    pad -= 1;
                    vec![0]
                } else {
                    Vec::new()
                }
            });
            f.resize(f.len() + pad, 0xff);
        }
        let control = if field.is_some() { 0x30 } else { 0x10 };
        out.extend_from_slice(&[
            0x47,
            u8::from(first) << 6 | (pid >> 8) as u8 & 0x1f,
            pid as u8,
            control | *counter,
        ]);
        if let Some(f) = field {
            out.push(f.len() as u8);
            out.extend_from_slice(&f);
        }
        out.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        *counter = (*counter + 1) & 0x0f;
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::fixture::{AUDIO_FRAMES, START_NS, VIDEO_FRAMES, frames, tracks};

    #[test]
    fn crc_matches_the_mpeg2_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn timestamps_carry_markers_and_wrap_at_33_bits() {
        assert_eq!(timestamp(0b0010, 0), [0x21, 0, 1, 0, 1]);
        assert_eq!(timestamp(0b0010, 1 << 33), [0x21, 0, 1, 0, 1]);
        assert_eq!(
            timestamp(0b0011, TIMESTAMP_MASK),
            [0x3f, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn packets_are_188_bytes_and_padded() {
        for len in [0, 1, 170, 175, 176, 177, 182, 183, 184, 185, 400] {
            for (pcr, rap) in [(None, false), (Some(90_000), true)] {
                let pes = vec![0xabu8; len];
                let mut out = Vec::new();
                let mut cc = 0;
                write_packets(&mut out, 0x101, &mut cc, &pes, pcr, rap);
                assert_eq!(out.len() % PACKET, 0, "len {len}");
                let packets: Vec<&[u8]> = out.chunks(PACKET).collect();
                assert_eq!(usize::from(cc), packets.len() % 16);
                let carried: usize = packets
                    .iter()
                    .map(|p| {
                        if p[3] & 0x20 != 0 {
                            PACKET - 5 - usize::from(p[4])
                        } else {
                            PACKET - 4
                        }
                    })
                    .sum();
                assert_eq!(carried, len, "len {len} pcr {pcr:?}");
            }
        }
    }

    fn pid(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[1], p[2]]) & 0x1fff
    }

    /// What follows the header and any adaptation field.
    fn payload(p: &[u8]) -> &[u8] {
        if p[3] & 0x20 != 0 {
            &p[5 + usize::from(p[4])..]
        } else {
            &p[4..]
        }
    }

    #[test]
    fn segment_starts_with_tables_and_carries_every_frame() {
        let ts = ts_segment(&tracks(), &frames(), Some(START_NS + 400_000_000)).unwrap();
        assert_eq!(ts.len() % PACKET, 0);
        let packets: Vec<&[u8]> = ts.chunks(PACKET).collect();
        assert!(packets.iter().all(|p| p[0] == 0x47));
        assert_eq!((pid(packets[0]), pid(packets[1])), (PAT_PID, PMT_PID));
        // The CRC of a section, run over the section and its CRC, is zero.
        let pat = &packets[0][5..5 + 3 + 13];
        assert_eq!(crc32_mpeg2(pat), 0);
        let pmt = &packets[1][5..];
        let section_len = usize::from(u16::from_be_bytes([pmt[1], pmt[2]]) & 0x0fff);
        assert_eq!(crc32_mpeg2(&pmt[..3 + section_len]), 0);
        // Streams in track order: H.264 on 0x101 (the PCR PID), then AAC on 0x102.
        assert_eq!(&pmt[8..10], &[0xe1, 0x01]);
        assert_eq!(&pmt[12..17], &[0x1b, 0xe1, 0x01, 0xf0, 0]);
        assert_eq!(&pmt[17..22], &[0x0f, 0xe1, 0x02, 0xf0, 0]);

        let starts = |p: u16| {
            packets
                .iter()
                .filter(|k| pid(k) == p && k[1] & 0x40 != 0)
                .count() as i64
        };
        assert_eq!((starts(0x101), starts(0x102)), (VIDEO_FRAMES, AUDIO_FRAMES));
        let first_video = packets.iter().find(|k| pid(k) == 0x101).unwrap();
        // Adaptation field with random access and PCR, then the PES with AUD, SPS, PPS.
        assert_eq!(first_video[5] & 0x50, 0x50);
        let pes = payload(first_video);
        assert_eq!(&pes[..4], &[0, 0, 1, 0xe0]);
        let es = &pes[9 + usize::from(pes[8])..];
        assert_eq!(&es[..10], &[0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1]);
        assert_eq!(es[10], 0x67);
        // 1000 s on the 90 kHz clock, wrapped to 33 bits.
        assert_eq!(&pes[9..14], &timestamp(0b0010, 90_000_000));
        let first_audio = packets.iter().find(|k| pid(k) == 0x102).unwrap();
        let pes = payload(first_audio);
        let es = &pes[9 + usize::from(pes[8])..];
        assert_eq!(&es[..2], &[0xff, 0xf1]);
        assert_eq!(&es[7..9], &[2, 0]);
    }
}
