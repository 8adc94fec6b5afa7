//! Playback remuxed from stored fragments, never transcoded: HLS (fragmented MP4 or MPEG-TS)
//! and DASH sessions behind signed, expiring tokens, and GetClip's progressive MP4. A session
//! decides which fragments it shows (`Session::fragments`); `hls` and `dash` write the
//! playlists; `mux` writes the media.

pub mod dash;
pub mod hls;
pub mod session;
mod stills;

use bytes::Bytes;

use crate::clock::epoch_ms;
use crate::error::{Result, VideoError};
use crate::media::{Frame, Track, TrackKind};
use crate::metrics::Op;
use crate::model::*;
use crate::mux::{self, MuxError};
use crate::service::VideoService;
use crate::store::{FragmentMeta, FragmentStore, parse_fragment_number};
use session::{Discontinuity, Mode, Protocol, Session};

/// Media timelines count from 2020-01-01 (producer time): small enough for 90 kHz in 64 bits,
/// the same for every session, so fragments line up across playlists and PutMedia sessions.
const TIMELINE_ORIGIN_MS: i64 = 1_577_836_800_000;
const DEFAULT_EXPIRES_S: i64 = 300;
/// GetClip's limits (GetClip API reference): 200 fragments or 100 MB of media.
const MAX_CLIP_FRAGMENTS: usize = 200;
const MAX_CLIP_BYTES: u64 = 100 << 20;

/// An answer to a playback GET: a playlist, manifest or media fragment.
pub struct Packaged {
    pub content_type: &'static str,
    pub body: Bytes,
}

/// A stored fragment made ready to package: its tracks, and its frames on the shared timeline.
pub struct Media {
    pub meta: FragmentMeta,
    pub tracks: Vec<Track>,
    pub frames: Vec<Frame>,
    /// Where the fragment ends on the timeline (its start plus its length).
    pub end_ns: i64,
}

impl From<MuxError> for VideoError {
    fn from(e: MuxError) -> VideoError {
        match e {
            MuxError::MissingCodecPrivateData => VideoError::MissingCodecPrivateData(
                "The codec private data of the stream is missing.".into(),
            ),
            MuxError::InvalidCodecPrivateData(why) => VideoError::InvalidCodecPrivateData(format!(
                "The codec private data of the stream is not valid: {why}"
            )),
            MuxError::UnsupportedCodec(codec) => VideoError::UnsupportedStreamMediaType(format!(
                "The media type {codec} is not supported for playback."
            )),
            other => VideoError::Internal(other.to_string()),
        }
    }
}

/// Waits for a store read from blocking work: packaging and muxing run on blocking threads
/// (CPU work), the store's reads are async.
pub(crate) fn wait<T>(read: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(read)
}

/// Reads a fragment and moves its frames onto the timeline.
pub(crate) async fn load(store: &FragmentStore, stream: u64, offset: u64) -> Result<Media> {
    let fragment = store.get(stream, offset).await?.ok_or_else(|| {
        VideoError::ResourceNotFound("The requested fragment was not found.".into())
    })?;
    let (header, cluster) = fragment.media().map_err(|e| {
        VideoError::Internal(format!("stored fragment {offset} does not parse: {e}"))
    })?;
    let start_ns = (cluster.timecode as i64).saturating_mul(header.timecode_scale_ns as i64);
    let origin_ns = (fragment.meta.producer_ms - TIMELINE_ORIGIN_MS).saturating_mul(1_000_000);
    let shift = origin_ns - start_ns;
    let mut frames = cluster.frames;
    for frame in &mut frames {
        frame.pts_ns += shift;
    }
    Ok(Media {
        meta: fragment.meta,
        tracks: header.tracks,
        frames,
        end_ns: origin_ns + fragment.meta.duration_ms as i64 * 1_000_000,
    })
}

/// Archived media needs stored media: a stream without retention keeps none.
fn require_retention(stream: &crate::stream::VideoStream) -> Result<()> {
    if stream.retention_hours == 0 {
        return Err(VideoError::NoDataRetention(format!(
            "The stream {} has no data retention.",
            stream.name
        )));
    }
    Ok(())
}

/// The tracks of a stored fragment (its header only; the frames are not read).
async fn tracks_of(store: &FragmentStore, stream: u64, offset: u64) -> Result<Vec<Track>> {
    let fragment = store.get(stream, offset).await?.ok_or_else(|| {
        VideoError::ResourceNotFound("The requested fragment was not found.".into())
    })?;
    let header = crate::mkv::header::Header::parse(fragment.header).map_err(|e| {
        VideoError::Internal(format!("stored fragment {offset} does not parse: {e}"))
    })?;
    Ok(header.tracks)
}

/// The tracks a session's init segment and playlists describe: those of the first fragment it
/// shows now.
async fn reference_tracks(
    store: &FragmentStore,
    session: &Session,
    shown: &[FragmentMeta],
) -> Result<Vec<Track>> {
    let first = shown.first().ok_or_else(|| {
        VideoError::ResourceNotFound("No fragments found in the stream for the session.".into())
    })?;
    tracks_of(store, session.stream, first.offset).await
}

/// Refuses media a player could not be given: KVS plays H.264/H.265 video with optional AAC
/// or G.711 audio, and needs the codec private data of each.
fn check_playable(tracks: &[Track]) -> Result<()> {
    for track in tracks {
        let supported = match track.kind {
            TrackKind::Video { .. } => {
                matches!(
                    track.codec_id.as_str(),
                    "V_MPEG4/ISO/AVC" | "V_MPEGH/ISO/HEVC"
                )
            }
            TrackKind::Audio { .. } => track.codec_id == "A_AAC",
            TrackKind::Other => false,
        };
        if !supported {
            return Err(MuxError::UnsupportedCodec(track.codec_id.clone()).into());
        }
        if track.codec_private.is_empty() {
            return Err(MuxError::MissingCodecPrivateData.into());
        }
    }
    Ok(())
}

fn mode_of(text: Option<&str>) -> Result<Mode> {
    match text.unwrap_or("LIVE") {
        "LIVE" => Ok(Mode::Live),
        "LIVE_REPLAY" => Ok(Mode::LiveReplay),
        "ON_DEMAND" => Ok(Mode::OnDemand),
        other => Err(VideoError::invalid(format!(
            "Unknown PlaybackMode {other}."
        ))),
    }
}

/// Checks a session's selector against its mode (HLS/DASH API reference) and returns
/// (producer_time, start_ms, end_ms).
fn session_range(
    mode: Mode,
    selector: Option<&SessionFragmentSelector>,
) -> Result<(bool, Option<i64>, Option<i64>)> {
    let producer_time = match selector.and_then(|s| s.fragment_selector_type.as_deref()) {
        None | Some("SERVER_TIMESTAMP") => false,
        Some("PRODUCER_TIMESTAMP") => true,
        Some(other) => {
            return Err(VideoError::invalid(format!(
                "Unknown FragmentSelectorType {other}."
            )));
        }
    };
    let range = selector.and_then(|s| s.timestamp_range).unwrap_or_default();
    let (start, end) = (
        range.start_timestamp.map(epoch_ms),
        range.end_timestamp.map(epoch_ms),
    );
    match mode {
        Mode::Live if start.is_some() || end.is_some() => {
            return Err(VideoError::invalid(
                "TimestampRange must not be specified for the LIVE playback mode.",
            ));
        }
        Mode::LiveReplay if start.is_none() => {
            return Err(VideoError::invalid(
                "StartTimestamp is required for the LIVE_REPLAY playback mode.",
            ));
        }
        Mode::OnDemand if start.is_none() || end.is_none() => {
            return Err(VideoError::invalid(
                "StartTimestamp and EndTimestamp are required for the ON_DEMAND playback mode.",
            ));
        }
        _ => {}
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(VideoError::invalid(
                "EndTimestamp must be later than StartTimestamp.",
            ));
        }
        if mode == Mode::OnDemand && e - s > 24 * 3600 * 1000 {
            return Err(VideoError::invalid(
                "The timestamp range must not be longer than 24 hours for ON_DEMAND.",
            ));
        }
    }
    Ok((producer_time, start, end))
}

impl Session {
    /// The fragments this session shows now, in order: the newest `max_results` for LIVE, the
    /// first `max_results` from the start for LIVE_REPLAY and ON_DEMAND.
    pub fn fragments(&self, store: &FragmentStore) -> Vec<FragmentMeta> {
        let ts = |m: &FragmentMeta| {
            if self.producer_time {
                m.producer_ms
            } else {
                m.server_ms
            }
        };
        let (start, end) = (self.start_ms, self.end_ms);
        let keep =
            |m: &FragmentMeta| start.is_none_or(|s| ts(m) >= s) && end.is_none_or(|e| ts(m) <= e);
        match self.mode {
            Mode::Live => store.select_newest(self.stream, self.max_results, keep),
            Mode::LiveReplay | Mode::OnDemand => store.select(self.stream, self.max_results, keep),
        }
    }

    /// Whether a discontinuity tag goes between `previous` and `meta` (never before the first
    /// fragment: the tags sit between fragments, as KVS places them).
    pub fn breaks_before(&self, previous: Option<&FragmentMeta>, meta: &FragmentMeta) -> bool {
        let Some(p) = previous else { return false };
        match self.discontinuity {
            Discontinuity::Always => true,
            Discontinuity::Never => false,
            // KVS: a gap or overlap of more than 50 ms between consecutive fragments.
            Discontinuity::OnDiscontinuity => {
                (p.producer_ms + p.duration_ms as i64 - meta.producer_ms).abs() > 50
            }
        }
    }

    /// Whether the session has ended its list (no more fragments will be added).
    pub fn is_closed(&self) -> bool {
        match self.mode {
            Mode::OnDemand => true,
            Mode::LiveReplay => self.end_ms.is_some(),
            Mode::Live => false,
        }
    }
}

impl VideoService {
    /// Settings common to both session kinds; checks the stream can be played.
    #[allow(clippy::too_many_arguments)]
    async fn new_session(
        &self,
        protocol: Protocol,
        stream: &StreamRef,
        mode: Option<&str>,
        selector: Option<&SessionFragmentSelector>,
        expires: Option<i64>,
        max_results: Option<usize>,
        customize: impl FnOnce(&mut Session) -> Result<()>,
    ) -> Result<String> {
        let stream = self.readable_stream(stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(
                clock,
                match protocol {
                    Protocol::Hls => Op::GetHLSStreamingSessionURL,
                    Protocol::Dash => Op::GetDASHStreamingSessionURL,
                },
                async {
                    require_retention(&stream)?;
                    let mode = mode_of(mode)?;
                    let (producer_time, start_ms, end_ms) = session_range(mode, selector)?;
                    let mut session = Session {
                        stream: stream.uid,
                        protocol,
                        mode,
                        producer_time,
                        start_ms,
                        end_ms,
                        ts: false,
                        discontinuity: Discontinuity::Always,
                        display_timestamp: false,
                        display_number: false,
                        max_results: max_results.unwrap_or(match mode {
                            Mode::Live | Mode::LiveReplay => 5,
                            Mode::OnDemand => 1000,
                        }),
                        expires_s: self.now_ms() / 1000 + expires.unwrap_or(DEFAULT_EXPIRES_S),
                    };
                    customize(&mut session)?;
                    let store = &self.inner.store;
                    let Some(first) = session.fragments(store).first().copied() else {
                        return Err(VideoError::ResourceNotFound(
                            "No fragments found in the stream for the streaming request.".into(),
                        ));
                    };
                    check_playable(&tracks_of(store, stream.uid, first.offset).await?)?;
                    Ok(session.token(&self.inner.session_key))
                },
            )
            .await
    }

    pub async fn get_hls_streaming_session_url(
        &self,
        input: GetHlsStreamingSessionUrlInput,
    ) -> Result<GetHlsStreamingSessionUrlOutput> {
        let token = self
            .new_session(
                Protocol::Hls,
                &input.stream,
                input.playback_mode.as_deref(),
                input.fragment_selector.as_ref(),
                input.expires,
                input.max_media_playlist_fragment_results,
                |s| {
                    s.ts = match input.container_format.as_deref() {
                        None | Some("FRAGMENTED_MP4") => false,
                        Some("MPEG_TS") => true,
                        Some(other) => {
                            return Err(VideoError::invalid(format!(
                                "Unknown ContainerFormat {other}."
                            )));
                        }
                    };
                    s.discontinuity = match input.discontinuity_mode.as_deref() {
                        None | Some("ALWAYS") => Discontinuity::Always,
                        Some("NEVER") => Discontinuity::Never,
                        Some("ON_DISCONTINUITY") => Discontinuity::OnDiscontinuity,
                        Some(other) => {
                            return Err(VideoError::invalid(format!(
                                "Unknown DiscontinuityMode {other}."
                            )));
                        }
                    };
                    s.display_timestamp =
                        input.display_fragment_timestamp.as_deref() == Some("ALWAYS");
                    Ok(())
                },
            )
            .await?;
        Ok(GetHlsStreamingSessionUrlOutput {
            url: format!(
                "{}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken={token}",
                self.inner.config.data_endpoint
            ),
        })
    }

    pub async fn get_dash_streaming_session_url(
        &self,
        input: GetDashStreamingSessionUrlInput,
    ) -> Result<GetDashStreamingSessionUrlOutput> {
        let token = self
            .new_session(
                Protocol::Dash,
                &input.stream,
                input.playback_mode.as_deref(),
                input.fragment_selector.as_ref(),
                input.expires,
                input.max_manifest_fragment_results,
                |s| {
                    s.discontinuity = Discontinuity::Never;
                    s.display_timestamp =
                        input.display_fragment_timestamp.as_deref() == Some("ALWAYS");
                    s.display_number = input.display_fragment_number.as_deref() == Some("ALWAYS");
                    Ok(())
                },
            )
            .await?;
        Ok(GetDashStreamingSessionUrlOutput {
            url: format!(
                "{}/dash/v1/getDASHManifest.mpd?SessionToken={token}",
                self.inner.config.data_endpoint
            ),
        })
    }

    /// A GET under `/hls/v1/` or `/dash/v1/`: `action` is the last path segment, `query` the
    /// decoded query parameters.
    pub fn packaged(&self, action: &str, query: &[(String, String)]) -> Result<Packaged> {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let token = param("SessionToken")
            .ok_or_else(|| VideoError::invalid("SessionToken is required."))?;
        let session = Session::from_token(token, &self.inner.session_key)
            .ok_or_else(|| VideoError::NotAuthorized("The session token is not valid.".into()))?;
        if session.expires_s < self.now_ms() / 1000 {
            return Err(VideoError::NotAuthorized(
                "The session token has expired.".into(),
            ));
        }
        let clock = &self.inner.config.clock;
        let started = clock.elapsed();
        let result = self.package(&session, token, action, param);
        if let Some(op) = Op::of_action(action) {
            let took = clock.elapsed().saturating_sub(started);
            let metrics = self.metered(session.stream);
            metrics.call(op).finished(took, result.is_ok());
        }
        result
    }

    fn package<'q>(
        &self,
        session: &Session,
        token: &str,
        action: &str,
        param: impl Fn(&str) -> Option<&'q str>,
    ) -> Result<Packaged> {
        let store = &self.inner.store;
        let fragment = |store: &FragmentStore| -> Result<Media> {
            let number = param("FragmentNumber")
                .ok_or_else(|| VideoError::invalid("FragmentNumber is required."))?;
            let offset = parse_fragment_number(session.stream, number).ok_or_else(|| {
                VideoError::invalid(format!("Fragment number {number} is not valid."))
            })?;
            wait(load(store, session.stream, offset))
        };
        let (content_type, body) = match (session.protocol, action) {
            (Protocol::Hls, "getHLSMasterPlaylist.m3u8") => {
                let shown = session.fragments(store);
                let tracks = wait(reference_tracks(store, session, &shown))?;
                (
                    hls::PLAYLIST_TYPE,
                    hls::master_playlist(session, token, &tracks, &shown)?,
                )
            }
            (Protocol::Hls, "getHLSMediaPlaylist.m3u8") => {
                let shown = session.fragments(store);
                // The first fragment's discontinuity sequence number: the tags at or before it
                // in the stream's whole history (the playlist shows none before its first).
                let before = shown.first().map_or(0, |first| {
                    let earlier =
                        store.select(session.stream, usize::MAX, |m| m.offset < first.offset);
                    let mut previous = None;
                    let mut count = 0;
                    for m in earlier.iter().chain(std::iter::once(first)) {
                        count += u64::from(session.breaks_before(previous, m));
                        previous = Some(m);
                    }
                    count
                });
                (
                    hls::PLAYLIST_TYPE,
                    hls::media_playlist(session, token, &shown, before),
                )
            }
            (Protocol::Dash, "getDASHManifest.mpd") => {
                let shown = session.fragments(store);
                let tracks = wait(reference_tracks(store, session, &shown))?;
                (
                    dash::MANIFEST_TYPE,
                    dash::manifest(session, token, &tracks, &shown)?,
                )
            }
            (_, "getMP4InitFragment.mp4") if !session.ts => {
                let shown = session.fragments(store);
                (
                    "video/mp4",
                    mux::init_segment(&wait(reference_tracks(store, session, &shown))?)?,
                )
            }
            (_, "getMP4MediaFragment.mp4") if !session.ts => {
                let media = fragment(store)?;
                let sequence = (media.meta.offset as u32).wrapping_add(1);
                (
                    "video/mp4",
                    mux::media_segment(&media.tracks, &media.frames, sequence, Some(media.end_ns))?,
                )
            }
            (Protocol::Hls, "getTSFragment.ts") if session.ts => {
                let media = fragment(store)?;
                (
                    "video/mp2t",
                    mux::ts_segment(&media.tracks, &media.frames, Some(media.end_ns))?,
                )
            }
            _ => {
                return Err(VideoError::ResourceNotFound(format!(
                    "{action} is not part of this session."
                )));
            }
        };
        Ok(Packaged {
            content_type,
            body: body.into(),
        })
    }

    pub async fn get_clip(&self, input: GetClipInput) -> Result<crate::playback::MediaStream> {
        let stream = self.readable_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(clock, Op::GetClip, async {
                require_retention(&stream)?;
                let sel = &input.clip_fragment_selector;
                let range = SessionFragmentSelector {
                    fragment_selector_type: Some(sel.fragment_selector_type.clone()),
                    timestamp_range: Some(SessionTimestampRange {
                        start_timestamp: Some(sel.timestamp_range.start_timestamp),
                        end_timestamp: Some(sel.timestamp_range.end_timestamp),
                    }),
                };
                let (producer_time, start_ms, end_ms) =
                    session_range(Mode::OnDemand, Some(&range))?;
                let session = Session {
                    stream: stream.uid,
                    protocol: Protocol::Hls,
                    mode: Mode::OnDemand,
                    producer_time,
                    start_ms,
                    end_ms,
                    ts: false,
                    discontinuity: Discontinuity::Never,
                    display_timestamp: false,
                    display_number: false,
                    max_results: MAX_CLIP_FRAGMENTS,
                    expires_s: 0,
                };
                let metas = session.fragments(&self.inner.store);
                if metas.is_empty() {
                    return Err(VideoError::ResourceNotFound(
                        "No fragments found in the stream for the clip request.".into(),
                    ));
                }
                let store = self.inner.store.clone();
                let uid = stream.uid;
                // Reading up to 100 MB of fragments and muxing them is blocking work.
                let body = tokio::task::spawn_blocking(move || clip_of(&store, uid, &metas))
                    .await
                    .map_err(|e| VideoError::Internal(e.to_string()))??;
                let (tx, chunks) = tokio::sync::mpsc::channel(1);
                let _ = tx.try_send(Bytes::from(body));
                Ok(crate::playback::MediaStream {
                    content_type: "video/mp4",
                    chunks,
                })
            })
            .await
    }
}

/// The progressive MP4 of `metas`' fragments: one set of tracks (a change ends the clip), at
/// most MAX_CLIP_BYTES of stored media.
fn clip_of(store: &FragmentStore, uid: u64, metas: &[FragmentMeta]) -> Result<Vec<u8>> {
    let mut tracks = None;
    let mut fragments = Vec::with_capacity(metas.len());
    let mut bytes = 0u64;
    for meta in metas {
        bytes += meta.size as u64;
        if bytes > MAX_CLIP_BYTES && !fragments.is_empty() {
            break;
        }
        let media = wait(load(store, uid, meta.offset))?;
        if tracks.is_none() {
            check_playable(&media.tracks)?;
            tracks = Some(media.tracks);
        } else if tracks.as_ref() != Some(&media.tracks) {
            // The clip holds one set of tracks (GetClip: a change of codec private data
            // ends the clip).
            break;
        }
        fragments.push(media.frames);
    }
    let tracks = tracks.unwrap_or_default();
    Ok(mux::clip(&tracks, &fragments)?)
}
