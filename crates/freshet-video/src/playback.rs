//! The media paths that work on fragments as stored: starting a PutMedia, GetMedia (live
//! tailing), ListFragments and GetMediaForFragmentList. Both GetMedia forms write the MKV
//! documents of `mkv::chunk`; the packaged forms (HLS, DASH, clips) live in `packaging`.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::clock::{epoch_ms, epoch_seconds};
use crate::error::{Result, VideoError};
use crate::ingest::{Ingest, TimecodeType};
use crate::metrics::Op;
use crate::mkv::chunk::{write_fragment, write_tags_document};
use crate::model::*;
use crate::paging::{position, token};
use crate::service::{Target, VideoService, find};
use crate::store::{FragmentMeta, StoredFragment, fragment_number, parse_fragment_number};
use crate::stream::{Status, VideoStream};

/// GetMedia ends a response that had nothing to send for this long (GetMedia API reference:
/// "the read of the HTTP response payload times out after 3 seconds").
const GET_MEDIA_IDLE: Duration = Duration::from_secs(3);
const LIST_FRAGMENTS_DEFAULT: usize = 100;
/// ListFragments' paging tokens resume at a fragment's offset.
const FRAGMENT_MARKER: &str = "fragment:";
/// Fragments read from the log per step of a GetMedia response.
const READ_BATCH: usize = 8;

/// PutMedia's request headers.
#[derive(Debug, Default)]
pub struct PutMediaInput {
    pub stream: StreamRef,
    /// `x-amzn-fragment-timecode-type`.
    pub timecode_type: Option<String>,
    /// `x-amzn-producer-start-timestamp`, epoch seconds.
    pub producer_start_timestamp: Option<String>,
}

/// A media response body: MKV documents as they are produced.
pub struct MediaStream {
    pub content_type: &'static str,
    pub chunks: mpsc::Receiver<Bytes>,
}

const MKV_CONTENT_TYPE: &str = "video/webm";

fn seconds_text(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

impl VideoService {
    /// The stream a media request names, which must be ACTIVE.
    pub(crate) async fn media_stream(&self, stream: &StreamRef) -> Result<VideoStream> {
        let streams = self.inner.streams.lock().await;
        let found = find(&streams, Target::Stream(stream))?;
        if found.status != Status::Active {
            return Err(VideoError::ResourceNotFound(format!(
                "The stream {} is not active.",
                found.name
            )));
        }
        Ok(found.clone())
    }

    /// `media_stream` for a read of media: the stream's KMS key must open its fragments now,
    /// checked before a streamed answer starts (a refusal mid-stream could only cut it short).
    pub(crate) async fn readable_stream(&self, stream: &StreamRef) -> Result<VideoStream> {
        let found = self.media_stream(stream).await?;
        self.inner.store.check_key(found.uid)?;
        Ok(found)
    }

    /// Checks PutMedia's headers, resolves the stream and takes its ingest slot.
    pub async fn put_media(&self, input: PutMediaInput) -> Result<Ingest> {
        let timecode_type = match input.timecode_type.as_deref() {
            Some("ABSOLUTE") => TimecodeType::Absolute,
            Some("RELATIVE") => TimecodeType::Relative,
            Some(other) => {
                return Err(VideoError::invalid(format!(
                    "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE, not {other}."
                )));
            }
            None => {
                return Err(VideoError::invalid(
                    "x-amzn-fragment-timecode-type is required.",
                ));
            }
        };
        let producer_start_ms = match input.producer_start_timestamp.as_deref() {
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(epoch_ms)
                .ok_or_else(|| {
                    VideoError::invalid("x-amzn-producer-start-timestamp is not a timestamp.")
                })?,
            None => {
                return Err(VideoError::invalid(
                    "x-amzn-producer-start-timestamp is required.",
                ));
            }
        };
        let stream = self.media_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        let slot = metrics
            .timed(clock, Op::PutMedia, async {
                self.take_ingest_slot(stream.uid).ok_or_else(|| {
                    VideoError::ConnectionLimitExceeded(format!(
                        "The stream {} already has a PutMedia connection.",
                        stream.name
                    ))
                })
            })
            .await?;
        tracing::info!(stream = %stream.name, "putmedia started");
        Ok(Ingest {
            store: self.inner.store.clone(),
            stream: stream.uid,
            persist_acks: stream.retention_hours > 0,
            timecode_type,
            producer_start_ms,
            _slot: slot,
            metrics,
            clock: clock.clone(),
        })
    }

    pub async fn list_fragments(&self, input: ListFragmentsInput) -> Result<ListFragmentsOutput> {
        let stream = self.media_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(clock, Op::ListFragments, async {
                let limit = input.max_results.unwrap_or(LIST_FRAGMENTS_DEFAULT);
                let after = match &input.next_token {
                    Some(t) => Some(
                        position::<u64>(FRAGMENT_MARKER, t)
                            .ok_or_else(|| VideoError::invalid("NextToken is not valid."))?,
                    ),
                    None => None,
                };
                let keep = selector(input.fragment_selector.as_ref())?;
                // One more than the page: whether it exists decides the NextToken.
                let mut matching = self
                    .inner
                    .store
                    .select(stream.uid, limit.saturating_add(1), |m| {
                        after.is_none_or(|a| m.offset >= a) && keep(m)
                    })
                    .into_iter();
                let fragments: Vec<FragmentInfo> = matching
                    .by_ref()
                    .take(limit)
                    .map(|m| fragment_info(stream.uid, &m))
                    .collect();
                let next_token = matching.next().map(|m| token(FRAGMENT_MARKER, m.offset));
                Ok(ListFragmentsOutput {
                    fragments,
                    next_token,
                })
            })
            .await
    }

    pub async fn get_media(&self, input: GetMediaInput) -> Result<MediaStream> {
        let stream = self.readable_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(clock, Op::GetMedia, async {
                let store = &self.inner.store;
                let uid = stream.uid;
                let tip = store.next_offset(uid).await?;
                let first_after = |keep: &dyn Fn(&FragmentMeta) -> bool| {
                    store
                        .select(uid, 1, keep)
                        .first()
                        .map(|m| m.offset)
                        .unwrap_or(tip)
                };
                let sel = &input.start_selector;
                let ms = |what: &str| -> Result<i64> {
                    sel.start_timestamp.map(epoch_ms).ok_or_else(|| {
                        VideoError::invalid(format!("StartTimestamp is required for {what}."))
                    })
                };
                let start = match sel.start_selector_type.as_str() {
                    "NOW" => tip,
                    "EARLIEST" => first_after(&|_| true),
                    "FRAGMENT_NUMBER" => {
                        let number = sel.after_fragment_number.as_deref().ok_or_else(|| {
                            VideoError::invalid(
                                "AfterFragmentNumber is required for FRAGMENT_NUMBER.",
                            )
                        })?;
                        parse_fragment_number(uid, number).ok_or_else(|| {
                            VideoError::invalid(format!("Fragment number {number} is not valid."))
                        })?
                    }
                    "SERVER_TIMESTAMP" => {
                        let t = ms("SERVER_TIMESTAMP")?;
                        first_after(&|m| m.server_ms >= t)
                    }
                    "PRODUCER_TIMESTAMP" => {
                        let t = ms("PRODUCER_TIMESTAMP")?;
                        first_after(&|m| m.producer_ms >= t)
                    }
                    "CONTINUATION_TOKEN" => {
                        let token = sel.continuation_token.as_deref().ok_or_else(|| {
                            VideoError::invalid(
                                "ContinuationToken is required for CONTINUATION_TOKEN.",
                            )
                        })?;
                        parse_fragment_number(uid, token).ok_or_else(|| {
                            VideoError::invalid(format!("Continuation token {token} is not valid."))
                        })?
                    }
                    other => {
                        return Err(VideoError::invalid(format!(
                            "Unknown StartSelectorType {other}."
                        )));
                    }
                };
                let mut tail = store.subscribe(uid)?;
                let (tx, chunks) = mpsc::channel(4);
                if sel.start_selector_type == "FRAGMENT_NUMBER"
                    && start < store.next_offset(uid).await?
                    && !store.contains(uid, start)
                {
                    // GetMedia reports a fragment it cannot find inside the media stream.
                    let _ = tx.try_send(error_report([
                        (
                            "AWS_KINESISVIDEO_ERROR_CODE",
                            "Requested fragment is not found",
                        ),
                        ("AWS_KINESISVIDEO_ERROR_ID", "4000"),
                    ]));
                    return Ok(MediaStream {
                        content_type: MKV_CONTENT_TYPE,
                        chunks,
                    });
                }
                let (store, meter) = (store.clone(), metrics.clone());
                tokio::spawn(async move {
                    let mut next = start;
                    loop {
                        let batch = match store.read(uid, next, READ_BATCH).await {
                            Ok(batch) => batch,
                            Err(error) => {
                                tracing::error!(stream = uid, %error, "getmedia cannot read");
                                let _ = tx
                                    .send(error_report([
                                        ("AWS_KINESISVIDEO_ERROR_CODE", "Internal error"),
                                        ("AWS_KINESISVIDEO_ERROR_ID", "5000"),
                                    ]))
                                    .await;
                                return;
                            }
                        };
                        if batch.is_empty() {
                            // Caught up: wait for the next persisted fragment, or end after the idle
                            // timeout (or at once if the stream was deleted).
                            match tokio::time::timeout(GET_MEDIA_IDLE, tail.changed()).await {
                                Ok(Ok(())) => continue,
                                _ => return,
                            }
                        }
                        let newest = store.last(uid).map(|m| m.server_ms).unwrap_or(0);
                        for fragment in batch {
                            next = fragment.meta.offset + 1;
                            let behind = (newest - fragment.meta.server_ms).max(0);
                            let doc = media_document(uid, &fragment, Some(behind));
                            let sent = doc.len() as u64;
                            if tx.send(doc).await.is_err() {
                                return;
                            }
                            meter.outgoing_fragments.inc();
                            meter.outgoing_bytes.add(sent);
                        }
                    }
                });
                Ok(MediaStream {
                    content_type: MKV_CONTENT_TYPE,
                    chunks,
                })
            })
            .await
    }

    pub async fn get_media_for_fragment_list(
        &self,
        input: GetMediaForFragmentListInput,
    ) -> Result<MediaStream> {
        let stream = self.readable_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(clock, Op::GetMediaForFragmentList, async {
            let uid = stream.uid;
            let mut offsets = Vec::with_capacity(input.fragments.len());
            for number in &input.fragments {
                offsets.push(parse_fragment_number(uid, number).ok_or_else(|| {
                    VideoError::invalid(format!("Fragment number {number} is not valid."))
                })?);
            }
            let (tx, chunks) = mpsc::channel(4);
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                for offset in offsets {
                    let doc = match store.get(uid, offset).await {
                        Ok(Some(fragment)) => media_document(uid, &fragment, None),
                        Ok(None) => error_report([
                            (
                                "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE",
                                "ResourceNotFoundException",
                            ),
                            (
                                "AWS_KINESISVIDEO_EXCEPTION_MESSAGE",
                                &format!("Fragment {} was not found.", fragment_number(uid, offset)),
                            ),
                        ]),
                        Err(error) => {
                            tracing::error!(stream = uid, %error, "getmediaforfragmentlist cannot read");
                            error_report([
                                ("AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE", "InternalFailure"),
                                (
                                    "AWS_KINESISVIDEO_EXCEPTION_MESSAGE",
                                    "The fragment could not be read.",
                                ),
                            ])
                        }
                    };
                    if tx.send(doc).await.is_err() {
                        return;
                    }
                }
            });
            Ok(MediaStream {
                content_type: MKV_CONTENT_TYPE,
                chunks,
            })
            })
            .await
    }
}

/// One fragment as an MKV document with the service's tags: GetMedia's names when
/// `millis_behind` is given (it also adds the continuation token), GetMediaForFragmentList's
/// otherwise.
fn media_document(stream: u64, fragment: &StoredFragment, millis_behind: Option<i64>) -> Bytes {
    let meta = &fragment.meta;
    let number = fragment_number(stream, meta.offset);
    let (server, producer) = match millis_behind {
        Some(_) => (
            "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
            "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
        ),
        None => (
            "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP",
            "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP",
        ),
    };
    let before = [
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", number),
        (server, seconds_text(meta.server_ms)),
        (producer, seconds_text(meta.producer_ms)),
    ];
    let after: Vec<(&str, String)> = match millis_behind {
        Some(behind) => vec![
            (
                "AWS_KINESISVIDEO_CONTINUATION_TOKEN",
                fragment_number(stream, meta.offset + 1),
            ),
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind.to_string()),
        ],
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(fragment.header.len() + fragment.cluster.len() + 512);
    write_fragment(
        &mut out,
        &fragment.header,
        &fragment.cluster,
        &before,
        &after,
    );
    Bytes::from(out)
}

/// An error reported inside the media stream, as tags (GetMedia's
/// `AWS_KINESISVIDEO_ERROR_CODE`/`_ID`, GetMediaForFragmentList's `_EXCEPTION_ERROR_CODE`/
/// `_MESSAGE`): AWS answers 200 and puts the failure in the MKV.
fn error_report(tags: [(&str, &str); 2]) -> Bytes {
    let tags = tags.map(|(name, value)| (name, value.to_string()));
    let mut out = Vec::new();
    write_tags_document(&mut out, &tags);
    Bytes::from(out)
}

fn fragment_info(stream: u64, m: &FragmentMeta) -> FragmentInfo {
    FragmentInfo {
        fragment_number: fragment_number(stream, m.offset),
        fragment_size_in_bytes: m.size as u64,
        producer_timestamp: epoch_seconds(m.producer_ms),
        server_timestamp: epoch_seconds(m.server_ms),
        fragment_length_in_milliseconds: m.duration_ms as u64,
    }
}

/// Which index entries a request selects.
type Filter = Box<dyn Fn(&FragmentMeta) -> bool + Send + Sync>;

/// The filter a FragmentSelector stands for (none: every fragment). Both ends are included.
fn selector(selector: Option<&FragmentSelector>) -> Result<Filter> {
    let Some(sel) = selector else {
        return Ok(Box::new(|_| true));
    };
    let range = sel.timestamp_range;
    if range.start_timestamp > range.end_timestamp {
        return Err(VideoError::invalid(
            "StartTimestamp must not be after EndTimestamp.",
        ));
    }
    let start = epoch_ms(range.start_timestamp);
    let end = epoch_ms(range.end_timestamp);
    match sel.fragment_selector_type.as_str() {
        "PRODUCER_TIMESTAMP" => Ok(Box::new(move |m| (start..=end).contains(&m.producer_ms))),
        "SERVER_TIMESTAMP" => Ok(Box::new(move |m| (start..=end).contains(&m.server_ms))),
        other => Err(VideoError::invalid(format!(
            "Unknown FragmentSelectorType {other}."
        ))),
    }
}
