//! HLS playlists in the shape KVS serves them: a master playlist naming one media playlist
//! (both tracks travel in each fragment), and a media playlist of one segment per fragment,
//! media sequence = the fragment's log offset, so it only grows as a live window slides.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat};

use super::session::Session;
use crate::error::Result;
use crate::media::{Track, TrackKind};
use crate::mux;
use crate::store::{FragmentMeta, fragment_number};

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// The HLS version: 7 for EXT-X-MAP with fragmented MP4, 3 suffices for MPEG-TS.
fn version(session: &Session) -> u8 {
    if session.ts { 3 } else { 7 }
}

pub fn master_playlist(
    session: &Session,
    token: &str,
    tracks: &[Track],
    fragments: &[FragmentMeta],
) -> Result<Vec<u8>> {
    let codecs = tracks
        .iter()
        .map(mux::codecs_string)
        .collect::<std::result::Result<Vec<_>, _>>()?
        .join(",");
    // Peak bandwidth of the fragments in view, as EXT-X-STREAM-INF requires one.
    let bandwidth = fragments
        .iter()
        .map(|m| m.size as u64 * 8 * 1000 / (m.duration_ms as u64).max(1))
        .max()
        .unwrap_or(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{codecs}\"",
        version(session)
    );
    if let Some((w, h)) = tracks.iter().find_map(|t| match t.kind {
        TrackKind::Video { width, height } if width > 0 && height > 0 => Some((width, height)),
        _ => None,
    }) {
        let _ = write!(out, ",RESOLUTION={w}x{h}");
    }
    let _ = write!(
        out,
        "\ngetHLSMediaPlaylist.m3u8?SessionToken={token}&TrackNumber=1\n"
    );
    Ok(out.into_bytes())
}

/// `discontinuity_sequence`: discontinuities of the fragments before the first one shown.
pub fn media_playlist(
    session: &Session,
    token: &str,
    fragments: &[FragmentMeta],
    discontinuity_sequence: u64,
) -> Vec<u8> {
    let target = fragments
        .iter()
        .map(|m| (m.duration_ms as u64).div_ceil(1000))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        version(session),
        fragments.first().map_or(0, |m| m.offset)
    );
    if discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
        );
    }
    if session.is_closed() {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    if !session.ts {
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken={token}\""
        );
    }
    let mut previous = None;
    for meta in fragments {
        if session.breaks_before(previous, meta) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if session.display_timestamp {
            let ms = if session.producer_time {
                meta.producer_ms
            } else {
                meta.server_ms
            };
            if let Some(t) = DateTime::from_timestamp_millis(ms) {
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    t.to_rfc3339_opts(SecondsFormat::Millis, true)
                );
            }
        }
        let action = if session.ts {
            "getTSFragment.ts"
        } else {
            "getMP4MediaFragment.mp4"
        };
        let _ = write!(
            out,
            "#EXTINF:{:.3},\n{action}?FragmentNumber={}&SessionToken={token}\n",
            meta.duration_ms as f64 / 1000.0,
            fragment_number(session.stream, meta.offset)
        );
        previous = Some(meta);
    }
    if session.is_closed() {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out.into_bytes()
}
