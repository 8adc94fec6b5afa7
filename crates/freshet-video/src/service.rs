//! The registry of video streams: an in-memory map by name over the catalog's `video_streams`
//! rows. Every change is written to the catalog before it is visible in memory, so a crash
//! leaves the old or the new description; a start finishes any stream left CREATING.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::{Catalog, CatalogError};
use freshet_runtime::SharedClock;
use tokio::sync::Mutex;

use crate::arn::{default_kms_key, stream_arn};
use crate::error::{Result, VideoError};
use crate::model::*;
use crate::paging::page_by_name;
use crate::signaling::channel::{Channel, is_channel_arn};
use crate::signaling::hub::Hub;
use crate::signaling::ice::{Credentials, TurnServer};
use crate::store::FragmentStore;
use crate::stream::{Status, VideoStream, check_create_retention, new_version};

/// How often retention is applied.
const RETENTION_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What a stream with no retention keeps, for GetMedia readers a little behind.
const NO_RETENTION_BUFFER_MS: i64 = 60_000;

/// ListStreams' paging tokens resume after the last name returned.
const LIST_MARKER: &str = "freshet-list-after:";

/// ListStreams' default and largest page.
const MAX_LIST_RESULTS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct VideoConfig {
    pub region: String,
    pub account_id: String,
    /// What GetDataEndpoint answers for every APIName: this server's own base URL.
    pub data_endpoint: String,
    /// How long a new stream stays CREATING (zero: ACTIVE at once).
    pub create_delay: Duration,
    /// Where every reading of time comes from (fragment arrival times are the log's).
    pub clock: SharedClock,
    /// Viewers a SINGLE_MASTER signaling channel takes at once (AWS: 10).
    pub max_viewers: usize,
    /// Signaling connections held at once, over every channel.
    pub max_signaling_connections: usize,
    /// Where the embedded TURN server listens (UDP); None: no TURN server, and
    /// GetIceServerConfig answers no servers.
    pub turn_listen: Option<std::net::SocketAddr>,
    /// The data keys that seal every stream's fragments under its KmsKeyId (as AWS, Kinesis
    /// Video always encrypts); None stores fragments in clear.
    pub keys: Option<Arc<freshet_kms::Keyring>>,
}

#[derive(Clone)]
pub struct VideoService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: VideoConfig,
    pub(crate) catalog: Catalog,
    // A tokio mutex held across the catalog write of each change: changes to the registry are
    // serialized, so a version check and the update it guards are one step.
    pub(crate) streams: Mutex<BTreeMap<String, VideoStream>>,
    pub(crate) store: FragmentStore,
    /// Signs streaming session tokens; new at every start, so sessions end with the process
    /// (players ask for a new session URL, as they must when one expires).
    pub(crate) session_key: [u8; 32],
    /// Streams with a PutMedia in progress (one producer per stream).
    pub(crate) ingesting: Arc<parking_lot::Mutex<std::collections::HashSet<u64>>>,
    /// Signaling channels by name (changes serialized like the streams').
    pub(crate) channels: Mutex<BTreeMap<String, Channel>>,
    /// Who is connected to each signaling channel.
    pub(crate) hub: Hub,
    /// GetIceServerConfig's credentials, which the TURN server checks.
    pub(crate) ice_credentials: Credentials,
    pub(crate) turn: Option<TurnServer>,
    /// WebRTC storage sessions recording into streams.
    pub(crate) storage_sessions: crate::storage::Sessions,
    pub(crate) metrics: crate::metrics::VideoMetrics,
}

/// A stream's one PutMedia slot, held for the request's life.
pub struct IngestSlot {
    pub(crate) ingesting: Arc<parking_lot::Mutex<std::collections::HashSet<u64>>>,
    pub(crate) stream: u64,
}

impl VideoService {
    /// The stream's one producer slot, None while a PutMedia or a storage session holds it.
    pub(crate) fn take_ingest_slot(&self, stream: u64) -> Option<IngestSlot> {
        self.inner
            .ingesting
            .lock()
            .insert(stream)
            .then(|| IngestSlot {
                ingesting: self.inner.ingesting.clone(),
                stream,
            })
    }
}

impl Drop for IngestSlot {
    fn drop(&mut self) {
        self.ingesting.lock().remove(&self.stream);
    }
}

/// The encryption context of a stream's data keys.
fn key_context(stream: &VideoStream) -> freshet_kms::Context {
    [("aws:kinesisvideo:arn".to_string(), stream.arn.clone())].into()
}

fn kms(e: freshet_kms::KmsError) -> VideoError {
    VideoError::Store(crate::store::StoreError::Log(freshet_log::LogError::Key(
        e.into(),
    )))
}

fn not_found(what: &str) -> VideoError {
    VideoError::ResourceNotFound(format!("The stream {what} was not found."))
}

impl VideoService {
    /// Loads every video stream from the catalog (streams a crash left CREATING become ACTIVE)
    /// and indexes their fragments in `log`, the video streams' own log directory.
    pub async fn open(
        config: VideoConfig,
        catalog: Catalog,
        log: impl freshet_log::LogBackend + 'static,
    ) -> Result<VideoService> {
        let mut streams = BTreeMap::new();
        for row in catalog.load_video_streams().await? {
            let mut stream: VideoStream = serde_json::from_str(&row.doc)?;
            stream.uid = row.uid;
            stream.name = row.name;
            stream.created_ms = row.created_ms;
            if stream.status == Status::Creating {
                stream.status = Status::Active;
                catalog
                    .update_video_stream(stream.uid, &serde_json::to_string(&stream)?)
                    .await?;
            }
            streams.insert(stream.name.clone(), stream);
        }
        let uids: Vec<u64> = streams.values().map(|s| s.uid).collect();
        if let Some(keys) = &config.keys {
            // Streams made before encryption (or whose key refused at their last start) seal
            // from now on; deleted streams' data keys go.
            keys.retain(|uid| uids.contains(&uid)).await.map_err(kms)?;
            for s in streams.values() {
                if keys.current_key(s.uid).is_none() {
                    keys.resume(s.uid, &s.kms_key_id, key_context(s)).await;
                }
            }
        }
        let sealing = config
            .keys
            .clone()
            .map(|k| k as Arc<dyn freshet_log::DataKeys>);
        let store = FragmentStore::open(Arc::new(log), uids, sealing).await?;
        let metrics = crate::metrics::VideoMetrics::default();
        for s in streams.values() {
            metrics.register(s.uid, &s.name);
        }
        let channels = VideoService::load_channels(&catalog).await?;
        let hub = Hub::new(
            config.max_viewers,
            config.max_signaling_connections,
            config.clock.clone(),
        );
        let ice_credentials = Credentials::new(config.clock.clone());
        let turn = match config.turn_listen {
            Some(listen) => Some(TurnServer::start(listen, ice_credentials.clone()).await?),
            None => None,
        };
        Ok(VideoService {
            inner: Arc::new(Inner {
                channels: Mutex::new(channels),
                hub,
                ice_credentials,
                turn,
                config,
                catalog,
                streams: Mutex::new(streams),
                store,
                session_key: rand::random(),
                ingesting: Default::default(),
                storage_sessions: Default::default(),
                metrics,
            }),
        })
    }

    pub async fn create_stream(&self, input: CreateStreamInput) -> Result<CreateStreamOutput> {
        let config = &self.inner.config;
        let retention_hours = input.data_retention_in_hours.unwrap_or(0);
        check_create_retention(retention_hours)?;
        if input.stream_storage_configuration.is_some() {
            return Err(VideoError::InvalidArgument(
                "StreamStorageConfiguration is not supported by Freshet yet.".into(),
            ));
        }
        let mut streams = self.inner.streams.lock().await;
        if streams.contains_key(&input.stream_name) {
            return Err(in_use(&input.stream_name));
        }
        let created_ms = self.now_ms();
        let mut stream = VideoStream {
            uid: 0,
            name: input.stream_name.clone(),
            created_ms,
            arn: stream_arn(
                &config.region,
                &config.account_id,
                &input.stream_name,
                created_ms,
            ),
            status: if config.create_delay.is_zero() {
                Status::Active
            } else {
                Status::Creating
            },
            version: new_version(),
            device_name: input.device_name,
            media_type: input.media_type,
            kms_key_id: input
                .kms_key_id
                .unwrap_or_else(|| default_kms_key(&config.region, &config.account_id)),
            retention_hours,
            tags: BTreeMap::new(),
            image_generation: None,
            notification: None,
        };
        stream.tags = stream.tags_with(input.tags)?;
        let doc = serde_json::to_string(&stream)?;
        stream.uid = match self
            .inner
            .catalog
            .create_video_stream(&stream.name, created_ms, &doc)
            .await
        {
            Ok(uid) => uid,
            Err(CatalogError::NameTaken(name)) => return Err(in_use(&name)),
            Err(e) => return Err(e.into()),
        };
        let arn = stream.arn.clone();
        self.inner.store.create(stream.uid).await?;
        if let Some(keys) = &config.keys {
            // A key that cannot be used creates nothing.
            if let Err(e) = keys
                .start(stream.uid, &stream.kms_key_id, key_context(&stream))
                .await
            {
                self.inner.store.remove(stream.uid).await?;
                self.inner.catalog.delete_video_stream(stream.uid).await?;
                return Err(VideoError::invalid(format!("KmsKeyId: {e}")));
            }
        }
        if stream.status == Status::Creating {
            self.activate_later(stream.uid, stream.name.clone());
        }
        self.inner.metrics.register(stream.uid, &stream.name);
        streams.insert(stream.name.clone(), stream);
        tracing::info!(stream = %input.stream_name, "video stream created");
        Ok(CreateStreamOutput { stream_arn: arn })
    }

    /// Applies every stream's DataRetentionInHours once a minute; the sweeper ends when the
    /// last service handle is dropped (it holds none itself, so it never keeps the service, and
    /// its log, from closing).
    pub fn spawn_retention(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let svc = VideoService { inner };
                if let Err(error) = svc.expire(svc.now_ms()).await {
                    tracing::error!(%error, "video retention sweep failed");
                }
            }
        });
    }

    /// Adds every stream's metrics, and the fragment log's, to a scrape.
    pub fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        self.inner.metrics.render(e);
        self.inner.store.render_metrics(e);
    }

    /// A stream's counters, for the requests that meter it.
    pub(crate) fn metered(&self, uid: u64) -> std::sync::Arc<crate::metrics::StreamMetrics> {
        self.inner.metrics.get(uid)
    }

    /// Whether the service is open: its log takes durable writes and its catalog answers.
    pub async fn health(&self) -> Result<()> {
        self.inner.store.probe().await?;
        self.inner.catalog.ping().await?;
        Ok(())
    }

    /// Flushes and closes the fragment log for a clean shutdown (the catalog is shared and
    /// closed by its owner).
    pub async fn close(&self) -> Result<()> {
        if let Some(turn) = &self.inner.turn {
            turn.close().await;
        }
        // Sessions store their last fragments before the log closes.
        self.inner.storage_sessions.stop_all().await;
        self.inner.store.close().await?;
        Ok(())
    }

    /// Drops the fragments that are past their stream's retention at `now_ms`: whole log
    /// segments whose newest fragment is older than the retention period. A stream without
    /// retention keeps only a short buffer for live GetMedia readers.
    pub(crate) async fn expire(&self, now_ms: i64) -> Result<u64> {
        let streams: Vec<(u64, u32)> = {
            let streams = self.inner.streams.lock().await;
            streams
                .values()
                .map(|s| (s.uid, s.retention_hours))
                .collect()
        };
        let mut freed = 0;
        for (uid, hours) in streams {
            let keep_ms = match hours {
                0 => NO_RETENTION_BUFFER_MS,
                h => h as i64 * 3_600_000,
            };
            freed += self.inner.store.expire(uid, now_ms - keep_ms).await?;
        }
        if freed > 0 {
            tracing::info!(bytes = freed, "video retention freed fragments");
        }
        Ok(freed)
    }

    /// CREATING → ACTIVE after the configured delay, unless the stream is gone by then.
    fn activate_later(&self, uid: u64, name: String) {
        let svc = self.clone();
        let config = &self.inner.config;
        let resource = format!("video stream {name}");
        freshet_runtime::lifecycle::after(&config.clock, config.create_delay, resource, {
            move || async move {
                let mut streams = svc.inner.streams.lock().await;
                let Some(stream) = streams
                    .get_mut(&name)
                    .filter(|s| s.uid == uid && s.status == Status::Creating)
                else {
                    return Ok(());
                };
                let mut next = stream.clone();
                next.status = Status::Active;
                svc.persist(&next).await?;
                *stream = next;
                Ok::<_, VideoError>(())
            }
        });
    }

    /// The ARN of a stream (`stream/<name>/<created>`) or, with `channel`, of a signaling
    /// channel, by name: what a request naming it acts on, for authorization.
    pub async fn arn_of(&self, name: &str, channel: bool) -> Option<String> {
        if channel {
            let channels = self.inner.channels.lock().await;
            channels.get(name).map(|c| c.arn.clone())
        } else {
            let streams = self.inner.streams.lock().await;
            streams.get(name).map(|s| s.arn.clone())
        }
    }

    /// Wall-clock milliseconds on the service's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.config.clock.now_ms()
    }

    async fn persist(&self, stream: &VideoStream) -> Result<()> {
        let doc = serde_json::to_string(stream)?;
        self.inner
            .catalog
            .update_video_stream(stream.uid, &doc)
            .await?;
        Ok(())
    }

    /// Applies `change` to a copy of the stream, writes it, then makes it visible.
    async fn modify<T>(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut VideoStream) -> Result<T>,
    ) -> Result<T> {
        let mut streams = self.inner.streams.lock().await;
        let name = find(&streams, target)?.name.clone();
        let current = &streams[&name];
        let mut next = current.clone();
        let out = change(&mut next)?;
        self.persist(&next).await?;
        streams.insert(name, next);
        Ok(out)
    }

    async fn read<T>(&self, target: Target<'_>, f: impl FnOnce(&VideoStream) -> T) -> Result<T> {
        let streams = self.inner.streams.lock().await;
        Ok(f(find(&streams, target)?))
    }

    pub async fn describe_stream(
        &self,
        input: DescribeStreamInput,
    ) -> Result<DescribeStreamOutput> {
        self.read(Target::Stream(&input.stream), |s| DescribeStreamOutput {
            stream_info: s.info(),
        })
        .await
    }

    pub async fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput> {
        let prefix = input
            .stream_name_condition
            .and_then(|c| c.comparison_value)
            .unwrap_or_default();
        let streams = self.inner.streams.lock().await;
        let (page, next_token) = page_by_name(
            LIST_MARKER,
            streams.iter(),
            input.next_token.as_deref(),
            &prefix,
            input.max_results.unwrap_or(MAX_LIST_RESULTS),
            VideoStream::info,
        )?;
        Ok(ListStreamsOutput {
            stream_info_list: page,
            next_token,
        })
    }

    /// Deletes at once, media included (the fragments go with the stream's log).
    pub async fn delete_stream(&self, input: DeleteStreamInput) -> Result<Empty> {
        let mut streams = self.inner.streams.lock().await;
        let stream = find(&streams, Target::Arn(&input.stream_arn))?;
        if let Some(version) = &input.current_version {
            stream.check_version(version)?;
        }
        let (uid, name) = (stream.uid, stream.name.clone());
        self.inner.catalog.delete_video_stream(uid).await?;
        streams.remove(&name);
        // Before the removal, which may fail: a stream made again under the name must not
        // show beside this one's counters.
        self.inner.metrics.forget(uid);
        self.inner.store.remove(uid).await?;
        if let Some(keys) = &self.inner.config.keys {
            keys.forget(uid).await.map_err(kms)?;
        }
        tracing::info!(stream = %name, "video stream deleted");
        Ok(Empty {})
    }

    pub async fn update_stream(&self, input: UpdateStreamInput) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            s.require_active()?;
            s.check_version(&input.current_version)?;
            if input.device_name.is_some() {
                s.device_name = input.device_name;
            }
            if input.media_type.is_some() {
                s.media_type = input.media_type;
            }
            s.version = new_version();
            Ok(Empty {})
        })
        .await
    }

    pub async fn update_data_retention(&self, input: UpdateDataRetentionInput) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            s.require_active()?;
            s.check_version(&input.current_version)?;
            s.retention_hours =
                s.retention_after(input.operation, input.data_retention_change_in_hours)?;
            s.version = new_version();
            Ok(Empty {})
        })
        .await
    }

    pub async fn tag_stream(&self, input: TagStreamInput) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            s.tags = s.tags_with(input.tags)?;
            Ok(Empty {})
        })
        .await
    }

    pub async fn untag_stream(&self, input: UntagStreamInput) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            for key in &input.tag_key_list {
                s.tags.remove(key);
            }
            Ok(Empty {})
        })
        .await
    }

    pub async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsOutput> {
        self.read(Target::Stream(&input.stream), |s| ListTagsOutput {
            tags: s.tags.clone(),
        })
        .await
    }

    pub async fn tag_resource(&self, input: TagResourceInput) -> Result<Empty> {
        if is_channel_arn(&input.resource_arn) {
            let tags = input.tags.into_iter().map(|t| (t.key, t.value));
            return self.tag_channel(&input.resource_arn, tags).await;
        }
        self.modify(Target::Arn(&input.resource_arn), |s| {
            s.tags = s.tags_with(input.tags.into_iter().map(|t| (t.key, t.value)))?;
            Ok(Empty {})
        })
        .await
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty> {
        if is_channel_arn(&input.resource_arn) {
            return self
                .untag_channel(&input.resource_arn, &input.tag_key_list)
                .await;
        }
        self.modify(Target::Arn(&input.resource_arn), |s| {
            for key in &input.tag_key_list {
                s.tags.remove(key);
            }
            Ok(Empty {})
        })
        .await
    }

    pub async fn list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsOutput> {
        if is_channel_arn(&input.resource_arn) {
            return self.channel_tags(&input.resource_arn).await;
        }
        self.read(Target::Arn(&input.resource_arn), |s| ListTagsOutput {
            tags: s.tags.clone(),
        })
        .await
    }

    /// Every data-plane API is served by this same server.
    pub async fn get_data_endpoint(
        &self,
        input: GetDataEndpointInput,
    ) -> Result<GetDataEndpointOutput> {
        self.read(Target::Stream(&input.stream), |_| GetDataEndpointOutput {
            data_endpoint: self.inner.config.data_endpoint.clone(),
        })
        .await
    }

    pub async fn update_image_generation_configuration(
        &self,
        input: UpdateImageGenerationConfigurationInput,
    ) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            s.require_active()?;
            let enabled = input
                .image_generation_configuration
                .as_ref()
                .is_some_and(|c| c["Status"] == "ENABLED");
            // Images are generated from stored media, so AWS refuses them without retention.
            if enabled && s.retention_hours == 0 {
                return Err(VideoError::NoDataRetention(format!(
                    "The stream {} has no data retention; images need stored media.",
                    s.name
                )));
            }
            s.image_generation = input.image_generation_configuration;
            Ok(Empty {})
        })
        .await
    }

    pub async fn describe_image_generation_configuration(
        &self,
        input: DescribeStreamInput,
    ) -> Result<DescribeImageGenerationConfigurationOutput> {
        self.read(Target::Stream(&input.stream), |s| {
            DescribeImageGenerationConfigurationOutput {
                image_generation_configuration: s.image_generation.clone(),
            }
        })
        .await
    }

    pub async fn update_notification_configuration(
        &self,
        input: UpdateNotificationConfigurationInput,
    ) -> Result<Empty> {
        self.modify(Target::Stream(&input.stream), |s| {
            s.require_active()?;
            s.notification = input.notification_configuration;
            Ok(Empty {})
        })
        .await
    }

    pub async fn describe_notification_configuration(
        &self,
        input: DescribeStreamInput,
    ) -> Result<DescribeNotificationConfigurationOutput> {
        self.read(Target::Stream(&input.stream), |s| {
            DescribeNotificationConfigurationOutput {
                notification_configuration: s.notification.clone(),
            }
        })
        .await
    }
}

fn in_use(name: &str) -> VideoError {
    VideoError::ResourceInUse(format!("The stream {name} already exists."))
}

/// How a request names its stream.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Stream(&'a StreamRef),
    Arn(&'a str),
}

pub(crate) fn find<'a>(
    streams: &'a BTreeMap<String, VideoStream>,
    target: Target<'_>,
) -> Result<&'a VideoStream> {
    let (name, arn) = match target {
        Target::Stream(r) => (r.name.as_deref(), r.arn.as_deref()),
        Target::Arn(arn) => (None, Some(arn)),
    };
    match (name, arn) {
        (Some(name), None) => streams.get(name).ok_or_else(|| not_found(name)),
        (None, Some(arn)) => streams
            .values()
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found(arn)),
        (Some(name), Some(arn)) => streams
            .get(name)
            .filter(|s| s.arn == arn)
            .ok_or_else(|| not_found(arn)),
        (None, None) => Err(VideoError::InvalidArgument(
            "Either StreamName or StreamARN must be specified.".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
