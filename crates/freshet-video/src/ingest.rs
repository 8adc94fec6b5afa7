//! PutMedia: one long-lived request per producer and stream. The body is split into fragments
//! as it arrives; each is acknowledged BUFFERING when its Cluster starts, RECEIVED when whole,
//! and PERSISTED once its log append (fsynced) returned, which is also when it becomes readable.
//! A bad fragment gets an ERROR acknowledgement with AWS's ErrorId and ends the request; every
//! fragment persisted before it stays.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;

use std::sync::Arc;

use freshet_runtime::SharedClock;

use crate::media::TrackKind;
use crate::metrics::StreamMetrics;
use crate::mkv::split::{Event, Fragment, Splitter};
use crate::service::IngestSlot;
use crate::store::{FragmentStore, StoreError, fragment_number};

/// How often IDLE is sent while the producer sends nothing.
const IDLE_ACK_EVERY: Duration = Duration::from_secs(3);
/// A request that sends nothing for this long is ended (PutMedia API reference).
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How fragment timecodes relate to producer time (`x-amzn-fragment-timecode-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimecodeType {
    /// Cluster timecodes are producer time (epoch, in TimecodeScale units).
    Absolute,
    /// Cluster timecodes count from `x-amzn-producer-start-timestamp`.
    Relative,
}

/// An acknowledgement line of the PutMedia response.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ack {
    pub event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment_timecode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
}

impl Ack {
    fn event(event_type: &'static str, timecode: Option<u64>, number: Option<String>) -> Ack {
        Ack {
            event_type,
            fragment_timecode: timecode,
            fragment_number: number,
            error_id: None,
            error_code: None,
        }
    }

    fn error(timecode: Option<u64>, number: Option<String>, id: u32) -> Ack {
        Ack {
            error_id: Some(id),
            error_code: Some(error_code(id)),
            ..Ack::event("ERROR", timecode, number)
        }
    }
}

/// PutMedia's error id for a KMS key that refuses (its API reference's 45xx codes).
fn kms_error(e: &freshet_log::KeyError) -> u32 {
    use freshet_log::KeyError;
    match e {
        KeyError::AccessDenied(_) => 4500,
        KeyError::Disabled(_) => 4501,
        KeyError::Unavailable(_) => 4503,
        KeyError::InvalidState(_) => 4505,
        KeyError::NotFound(_) => 4506,
        KeyError::Undecryptable(_) | KeyError::Internal(_) => 5001,
    }
}

/// The ErrorCode names of the PutMedia API reference.
fn error_code(id: u32) -> &'static str {
    match id {
        4000 => "STREAM_READ_ERROR",
        4001 => "MAX_FRAGMENT_SIZE_REACHED",
        4002 => "MAX_FRAGMENT_DURATION_REACHED",
        4003 => "MAX_CONNECTION_DURATION_REACHED",
        4004 => "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
        4006 => "INVALID_MKV_DATA",
        4008 => "STREAM_NOT_ACTIVE",
        4010 => "TRACK_NUMBER_MISMATCH",
        4011 => "FRAMES_MISSING_FOR_TRACK",
        4012 => "MORE_THAN_ALLOWED_TRACKS_FOUND",
        4500 => "KMS_ACCESS_DENIED",
        4501 => "KMS_KEY_DISABLED",
        4503 => "KMS_UNAVAILABLE",
        4505 => "KMS_INVALID_STATE",
        4506 => "KMS_NOT_FOUND",
        5001 => "ARCHIVAL_ERROR",
        _ => "INTERNAL_ERROR",
    }
}

/// A started PutMedia: the stream is resolved and its single ingest slot is held.
pub struct Ingest {
    pub(crate) store: FragmentStore,
    pub(crate) stream: u64,
    pub(crate) persist_acks: bool,
    pub(crate) timecode_type: TimecodeType,
    pub(crate) producer_start_ms: i64,
    pub(crate) _slot: IngestSlot,
    pub(crate) metrics: Arc<StreamMetrics>,
    pub(crate) clock: SharedClock,
}

impl Ingest {
    /// Reads the body to its end (or to the first error), sending acknowledgements as it goes.
    /// Stops early if the receiver of `acks` is gone (the producer hung up).
    pub async fn run<S, E>(self, mut body: S, acks: mpsc::Sender<Ack>)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut splitter = Splitter::default();
        let mut idle = Duration::ZERO;
        loop {
            let next = match tokio::time::timeout(IDLE_ACK_EVERY, body.next()).await {
                Err(_) => {
                    idle += IDLE_ACK_EVERY;
                    if idle >= MAX_IDLE || acks.send(Ack::event("IDLE", None, None)).await.is_err()
                    {
                        return;
                    }
                    continue;
                }
                Ok(next) => next,
            };
            idle = Duration::ZERO;
            let mut events = Vec::new();
            let (result, ended) = match next {
                Some(Ok(chunk)) => {
                    self.metrics.incoming_bytes.add(chunk.len() as u64);
                    (splitter.push(&chunk, &mut events), false)
                }
                Some(Err(error)) => {
                    self.metrics.connection_errors.inc();
                    tracing::info!(stream = self.stream, %error, "putmedia body broke off");
                    return;
                }
                None => (
                    splitter
                        .finish()
                        .map(|last| events.extend(last.map(Event::Fragment))),
                    true,
                ),
            };
            // Fragments completed before a fault in the same bytes are stored and acknowledged
            // first: an error loses nothing that came before it.
            let mut keep_going = self.handle(events, &acks).await;
            if let (true, Err(e)) = (keep_going, result) {
                let number = self.next_number().await.ok();
                self.metrics.error_acks.inc();
                let _ = acks.send(Ack::error(None, number, e.error_id())).await;
                tracing::info!(stream = self.stream, error = %e, "putmedia refused a fragment");
                keep_going = false;
            }
            if !keep_going || ended {
                return;
            }
        }
    }

    async fn next_number(&self) -> Result<String, StoreError> {
        Ok(fragment_number(
            self.stream,
            self.store.next_offset(self.stream).await?,
        ))
    }

    /// Acknowledges and stores what a piece of body completed; false ends the request.
    async fn handle(&self, events: Vec<Event>, acks: &mpsc::Sender<Ack>) -> bool {
        for event in events {
            let ack = match event {
                Event::FragmentStart { timecode } => {
                    Ack::event("BUFFERING", Some(timecode), self.next_number().await.ok())
                }
                Event::Fragment(fragment) => match self.persist(fragment, acks).await {
                    Ok(Some(ack)) => ack,
                    Ok(None) => continue,
                    Err(ack) => {
                        self.metrics.error_acks.inc();
                        let _ = acks.send(ack).await;
                        return false;
                    }
                },
            };
            if acks.send(ack).await.is_err() {
                return false;
            }
        }
        true
    }

    /// RECEIVED, the append, then the PERSISTED acknowledgement to send (None with no
    /// retention: AWS persists nothing then), or the ERROR one.
    async fn persist(
        &self,
        fragment: Fragment,
        acks: &mpsc::Sender<Ack>,
    ) -> Result<Option<Ack>, Ack> {
        let timecode = fragment.parsed.timecode;
        let number = self.next_number().await.ok();
        let _ = acks
            .send(Ack::event("RECEIVED", Some(timecode), number.clone()))
            .await;
        let scale = fragment.header.timecode_scale_ns as i64;
        let start_ms = (timecode as i64).saturating_mul(scale) / 1_000_000;
        let producer_ms = match self.timecode_type {
            TimecodeType::Absolute => start_ms,
            TimecodeType::Relative => self.producer_start_ms.saturating_add(start_ms),
        };
        let duration_ms = duration_ms(&fragment);
        let frames = fragment.parsed.frames.len() as u64;
        let received = self.clock.elapsed();
        let stored = self
            .store
            .append(
                self.stream,
                producer_ms,
                duration_ms,
                &fragment.header.raw,
                &fragment.cluster,
            )
            .await;
        match stored {
            Ok(meta) => {
                let m = &self.metrics;
                m.persist_latency
                    .observe_duration(self.clock.elapsed().saturating_sub(received));
                m.incoming_fragments.inc();
                m.incoming_frames.add(frames);
                Ok(self.persist_acks.then(|| {
                    Ack::event(
                        "PERSISTED",
                        Some(timecode),
                        Some(fragment_number(self.stream, meta.offset)),
                    )
                }))
            }
            Err(StoreError::Log(freshet_log::LogError::ShardNotFound(_))) => {
                Err(Ack::error(Some(timecode), number, 4008))
            }
            Err(StoreError::Log(freshet_log::LogError::Key(e))) => {
                tracing::warn!(stream = self.stream, error = %e, "a fragment's KMS key refused");
                Err(Ack::error(Some(timecode), number, kms_error(&e)))
            }
            Err(error) => {
                tracing::error!(stream = self.stream, %error, "cannot persist a fragment");
                Err(Ack::error(Some(timecode), number, 5001))
            }
        }
    }
}

/// The fragment's length: from its first to its last frame, plus one frame of the video track
/// (its DefaultDuration, or the mean spacing of its frames).
pub fn duration_ms(fragment: &Fragment) -> u32 {
    let frames = &fragment.parsed.frames;
    let video = fragment
        .header
        .tracks
        .iter()
        .find(|t| matches!(t.kind, TrackKind::Video { .. }))
        .or(fragment.header.tracks.first());
    let Some(track) = video else { return 0 };
    let (mut low, mut high, mut count) = (i64::MAX, i64::MIN, 0i64);
    for f in frames.iter().filter(|f| f.track == track.number) {
        low = low.min(f.pts_ns);
        high = high.max(f.pts_ns);
        count += 1;
    }
    if count == 0 {
        return 0;
    }
    let step = match track.default_duration_ns {
        Some(d) => d as i64,
        None if count > 1 => (high - low) / (count - 1),
        None => 0,
    };
    ((high - low + step) / 1_000_000).clamp(0, u32::MAX as i64) as u32
}
