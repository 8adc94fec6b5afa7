//! The DASH manifest of a session: one Period, one AdaptationSet per track over the same
//! fragmented MP4 as HLS (both tracks in each fragment), a SegmentList with one SegmentURL per
//! fragment and a SegmentTimeline, so players see each fragment's exact start and length.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat};

use super::TIMELINE_ORIGIN_MS;
use super::session::{Mode, Session};
use crate::error::Result;
use crate::media::{Track, TrackKind};
use crate::mux;
use crate::store::{FragmentMeta, fragment_number};

pub const MANIFEST_TYPE: &str = "application/dash+xml";

fn duration(ms: i64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

pub fn manifest(
    session: &Session,
    token: &str,
    tracks: &[Track],
    fragments: &[FragmentMeta],
) -> Result<Vec<u8>> {
    let total_ms: i64 = fragments.iter().map(|m| m.duration_ms as i64).sum();
    let max_ms = fragments
        .iter()
        .map(|m| m.duration_ms as i64)
        .max()
        .unwrap_or(1000);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let profiles = "urn:mpeg:dash:profile:isoff-live:2011";
    if session.mode == Mode::OnDemand {
        let _ = writeln!(
            out,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{profiles}\" type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">",
            duration(total_ms),
            duration(max_ms)
        );
    } else {
        let available = fragments
            .first()
            .and_then(|m| DateTime::from_timestamp_millis(m.server_ms))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{profiles}\" type=\"dynamic\" availabilityStartTime=\"{available}\" minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" minBufferTime=\"{}\">",
            duration(max_ms),
            duration(total_ms.max(max_ms)),
            duration(max_ms)
        );
    }
    let first_ms = fragments.first().map_or(0, |m| m.producer_ms);
    let _ = writeln!(out, "<Period id=\"0\" start=\"PT0S\">");
    for track in tracks {
        let codecs = mux::codecs_string(track)?;
        let (content, attrs) = match track.kind {
            TrackKind::Video { width, height } => (
                "video",
                format!(" mimeType=\"video/mp4\" width=\"{width}\" height=\"{height}\""),
            ),
            TrackKind::Audio { sampling_hz, .. } => (
                "audio",
                format!(" mimeType=\"audio/mp4\" audioSamplingRate=\"{sampling_hz}\""),
            ),
            TrackKind::Other => continue,
        };
        let bandwidth = fragments
            .iter()
            .map(|m| m.size as u64 * 8 * 1000 / (m.duration_ms as u64).max(1))
            .max()
            .unwrap_or(1);
        let _ = writeln!(
            out,
            "<AdaptationSet contentType=\"{content}\" segmentAlignment=\"true\"><Representation id=\"{}\" codecs=\"{codecs}\" bandwidth=\"{bandwidth}\"{attrs}>",
            track.number
        );
        // Times in milliseconds from the timeline origin (the fragments' producer time), so
        // presentationTimeOffset lines the Period up with the first fragment shown.
        let _ = writeln!(
            out,
            "<SegmentList timescale=\"1000\" presentationTimeOffset=\"{}\"><Initialization sourceURL=\"getMP4InitFragment.mp4?SessionToken={token}\"/>",
            first_ms - TIMELINE_ORIGIN_MS
        );
        out.push_str("<SegmentTimeline>");
        for m in fragments {
            let _ = write!(
                out,
                "<S t=\"{}\" d=\"{}\"/>",
                m.producer_ms - TIMELINE_ORIGIN_MS,
                m.duration_ms
            );
        }
        out.push_str("</SegmentTimeline>\n");
        for m in fragments {
            let _ = writeln!(
                out,
                "<SegmentURL media=\"getMP4MediaFragment.mp4?FragmentNumber={}&amp;SessionToken={token}\"/>",
                fragment_number(session.stream, m.offset)
            );
        }
        out.push_str("</SegmentList></Representation></AdaptationSet>\n");
    }
    out.push_str("</Period>\n</MPD>\n");
    Ok(out.into_bytes())
}
