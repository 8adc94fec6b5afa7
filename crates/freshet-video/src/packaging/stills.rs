//! GetImages: still pictures sampled from the stored fragments every `SamplingInterval`,
//! decoded in-process from the fragment that holds each sample time (`crate::images`). A sample
//! time inside a fragment always gets a picture (the frame shown at that time); only a time no
//! fragment covers is NO_MEDIA.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{load, require_retention};
use crate::clock::{epoch_ms, epoch_seconds};
use crate::error::{Result, VideoError};
use crate::images::{self, ImageError, ImageFormat, ImageSize};
use crate::media::TrackKind;
use crate::metrics::Op;
use crate::model::{GetImagesInput, GetImagesOutput, Image};
use crate::paging::{position, token};
use crate::service::VideoService;
use crate::store::FragmentMeta;

/// GetImages' smallest sampling interval (GetImages API reference).
const MIN_SAMPLING_MS: i64 = 200;
/// Used when a request names none.
const DEFAULT_SAMPLING_MS: i64 = 3000;
const DEFAULT_MAX_RESULTS: usize = 25;
const DEFAULT_JPEG_QUALITY: u8 = 80;
/// GetImages' paging tokens resume at a sample time (ms).
const IMAGE_MARKER: &str = "image:";

impl VideoService {
    pub async fn get_images(&self, input: GetImagesInput) -> Result<GetImagesOutput> {
        let stream = self.readable_stream(&input.stream).await?;
        let metrics = self.metered(stream.uid);
        let clock = &self.inner.config.clock;
        metrics
            .timed(clock, Op::GetImages, async {
            require_retention(&stream)?;
            let producer_time = match input.image_selector_type.as_str() {
                "PRODUCER_TIMESTAMP" => true,
                "SERVER_TIMESTAMP" => false,
                other => {
                    return Err(VideoError::invalid(format!(
                        "Unknown ImageSelectorType {other}."
                    )));
                }
            };
            let format = match input.format.as_str() {
                "JPEG" => ImageFormat::Jpeg,
                "PNG" => ImageFormat::Png,
                other => return Err(VideoError::invalid(format!("Unknown Format {other}."))),
            };
            let quality = match input
                .format_config
                .as_ref()
                .and_then(|c| c.get("JPEGQuality"))
            {
                Some(q) => q
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(|| {
                        VideoError::invalid("JPEGQuality must be an integer from 1 to 100.")
                    })?,
                None => DEFAULT_JPEG_QUALITY,
            };
            let interval = input.sampling_interval.unwrap_or(DEFAULT_SAMPLING_MS);
            if interval < MIN_SAMPLING_MS {
                return Err(VideoError::invalid(format!(
                    "SamplingInterval must be at least {MIN_SAMPLING_MS} ms."
                )));
            }
            let start = epoch_ms(input.start_timestamp);
            let end = epoch_ms(input.end_timestamp);
            if end < start {
                return Err(VideoError::invalid(
                    "EndTimestamp must not be before StartTimestamp.",
                ));
            }
            let first = match &input.next_token {
                Some(t) => position::<i64>(IMAGE_MARKER, t)
                    .ok_or_else(|| VideoError::invalid("NextToken is not valid."))?,
                None => start,
            };
            let limit = input.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
            // Sample times: start, start + interval, ... up to end (just start when the range is
            // shorter than the interval).
            let times: Vec<i64> = (0..)
                .map(|i| first + i * interval)
                .take_while(|&t| t <= end || t == start)
                .take(limit + 1)
                .collect();
            let next_token = (times.len() > limit).then(|| token(IMAGE_MARKER, times[limit]));
            let times = &times[..times.len().min(limit)];
            let ts = move |m: &FragmentMeta| {
                if producer_time {
                    m.producer_ms
                } else {
                    m.server_ms
                }
            };
            // The fragments that overlap the page's sample times.
            let (first_t, last_t) = (times.first().copied(), times.last().copied());
            let candidates = self.inner.store.select(stream.uid, usize::MAX, |m| {
                first_t.is_some_and(|f| ts(m) + m.duration_ms as i64 > f)
                    && last_t.is_some_and(|l| ts(m) <= l)
            });
            let store = self.inner.store.clone();
            let uid = stream.uid;
            let size = ImageSize {
                width: input.width_pixels,
                height: input.height_pixels,
            };
            let times = times.to_vec();
            let images = tokio::task::spawn_blocking(move || -> Result<Vec<Image>> {
                let mut images = Vec::with_capacity(times.len());
                let mut loaded: Option<(u64, super::Media)> = None;
                for t in times {
                    let holder = candidates
                        .iter()
                        .find(|m| (ts(m)..ts(m) + m.duration_ms as i64).contains(&t));
                    let Some(meta) = holder else {
                        images.push(Image {
                            time_stamp: epoch_seconds(t),
                            error: Some("NO_MEDIA"),
                            image_content: None,
                        });
                        continue;
                    };
                    // Consecutive samples mostly fall in the same fragment: read it once.
                    if loaded.as_ref().map(|(o, _)| *o) != Some(meta.offset) {
                        loaded = Some((meta.offset, super::wait(load(&store, uid, meta.offset))?));
                    }
                    let Some((_, media)) = &loaded else { continue };
                    // The sample's place on the fragment's timeline, whichever clock selected it.
                    let into_ms = t - ts(meta);
                    let target = (meta.producer_ms - super::TIMELINE_ORIGIN_MS + into_ms) * 1_000_000;
                    let picture = media
                        .tracks
                        .iter()
                        .find(|tr| matches!(tr.kind, TrackKind::Video { .. }))
                        .ok_or(ImageError::NoFrames)
                        .and_then(|track| {
                            images::render(track, &media.frames, target, format, size, quality)
                        });
                    images.push(match picture {
                        Ok(bytes) => Image {
                            time_stamp: epoch_seconds(t),
                            error: None,
                            image_content: Some(STANDARD.encode(bytes)),
                        },
                        Err(ImageError::InvalidSize(why)) => return Err(VideoError::invalid(why)),
                        Err(error) => {
                            let no_media = error == ImageError::NoFrames;
                            if !no_media {
                                tracing::info!(stream = uid, %error, "getimages cannot render a picture");
                            }
                            Image {
                                time_stamp: epoch_seconds(t),
                                error: Some(if no_media { "NO_MEDIA" } else { "MEDIA_ERROR" }),
                                image_content: None,
                            }
                        }
                    });
                }
                Ok(images)
            })
            .await
            .map_err(|e| VideoError::Internal(e.to_string()))??;
            Ok(GetImagesOutput { images, next_token })
            })
            .await
    }
}
