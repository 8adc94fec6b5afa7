//! The Data Streams service: owns the log, the catalog and the in-memory view, recovers
//! half-finished changes at start, and runs status transitions and retention in the background.
//! The operations themselves live in `ops/`, one module per family.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::{Catalog, StreamRow};
use freshet_log::{LogBackend, ShardLogId, SharedLog};
use parking_lot::RwLock;
use rand::RngCore;

use crate::arn::{stream_arn, stream_name_from_arn};
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::iterator::IteratorCodec;
use crate::model::StreamRef;
use crate::state::{Status, Stream};

const ITERATOR_KEY_SETTING: &str = "iterator-key";

#[derive(Clone)]
pub struct StreamsService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: StreamsConfig,
    pub catalog: Catalog,
    pub log: SharedLog,
    pub iterators: IteratorCodec,
    pub streams: RwLock<Registry>,
    /// Active SubscribeToShard pushes, by consumer ARN and shard.
    pub subscriptions: parking_lot::Mutex<HashMap<(String, u32), crate::ops::subscribe::Slot>>,
    pub subscription_ids: std::sync::atomic::AtomicU64,
    /// Resource policies of existing streams and consumers as read from the catalog, parsed:
    /// every authorized call consults its resource's, so they are not read per call.
    pub policies: parking_lot::Mutex<HashMap<String, Option<Arc<freshet_iam::Policy>>>>,
}

/// Every known stream, by name (ordered, for ListStreams) and by uid (for iterators).
#[derive(Default)]
pub(crate) struct Registry {
    pub by_name: BTreeMap<String, Arc<Stream>>,
    pub by_uid: HashMap<u64, Arc<Stream>>,
}

impl Registry {
    pub fn insert(&mut self, stream: Arc<Stream>) {
        self.by_uid.insert(stream.uid, stream.clone());
        self.by_name.insert(stream.name.clone(), stream);
    }

    pub fn remove(&mut self, stream: &Stream) {
        self.by_uid.remove(&stream.uid);
        if self
            .by_name
            .get(&stream.name)
            .is_some_and(|s| s.uid == stream.uid)
        {
            self.by_name.remove(&stream.name);
        }
    }
}

impl StreamsService {
    /// Opens the service over a log and a catalog, finishing whatever a crash interrupted:
    /// CREATING streams get their shard logs and become ACTIVE, DELETING streams are removed,
    /// UPDATING streams (whose change is already committed) become ACTIVE.
    pub async fn open(
        config: StreamsConfig,
        catalog: Catalog,
        log: impl LogBackend + 'static,
    ) -> Result<StreamsService> {
        let key = match catalog.get_setting(ITERATOR_KEY_SETTING).await? {
            Some(key) if key.len() == 32 => key,
            _ => {
                let mut key = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                catalog.put_setting(ITERATOR_KEY_SETTING, &key).await?;
                key
            }
        };
        let mut key_bytes = [0u8; 32];
        key_bytes.copy_from_slice(&key);
        let log: SharedLog = match &config.keys {
            Some(keys) => Arc::new(freshet_log::Sealing::new(Arc::new(log), keys.clone())),
            None => Arc::new(log),
        };
        let service = StreamsService {
            inner: Arc::new(Inner {
                iterators: IteratorCodec::new(key_bytes),
                config,
                catalog,
                log,
                streams: RwLock::new(Registry::default()),
                subscriptions: parking_lot::Mutex::new(HashMap::new()),
                subscription_ids: std::sync::atomic::AtomicU64::new(0),
                policies: parking_lot::Mutex::new(HashMap::new()),
            }),
        };
        service.recover().await?;
        Ok(service)
    }

    async fn recover(&self) -> Result<()> {
        let inner = &self.inner;
        let stored = inner.catalog.load_streams().await?;
        let mut known_logs = std::collections::HashSet::new();
        for s in stored {
            let arn = stream_arn(
                &inner.config.region,
                &inner.config.account_id,
                &s.stream.name,
            );
            let stream = Stream::new(arn, s.stream, s.shards, s.tags, s.consumers);
            let status = stream.status();
            if status == Status::Deleting {
                self.finish_delete(&stream).await?;
                continue;
            }
            let ids: Vec<_> = stream.snapshot().shards.iter().map(|s| s.log).collect();
            known_logs.extend(ids.iter().copied());
            self.create_logs(ids).await?;
            self.recover_consumers(&stream).await?;
            if status == Status::Creating || status == Status::Updating {
                tracing::info!(stream = %stream.name, %status, "finishing interrupted change");
                self.set_status(&stream, Status::Active).await?;
            }
            inner.streams.write().insert(stream);
        }
        // Logs with no catalog entry belong to streams whose deletion committed in the catalog
        // before the crash (or whose creation never committed): nothing can read them.
        inner
            .log
            .remove_orphans(&|id| known_logs.contains(&id))
            .await?;
        self.recover_encryption().await?;
        let count = inner.streams.read().by_name.len();
        tracing::info!(streams = count, "data streams recovered");
        Ok(())
    }

    /// Starts the background retention sweeper and the on-demand scaler; they end when the last
    /// service handle is dropped.
    pub fn spawn_background(&self) {
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.config.on_demand.interval;
        tokio::spawn(async move {
            let mut scaler = crate::autoscale::Scaler::default();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                StreamsService { inner }.autoscale(&mut scaler).await;
            }
        });
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.config.retention_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                StreamsService { inner }.enforce_retention().await;
            }
        });
    }

    /// Deletes whole log segments that are entirely older than each stream's retention period.
    /// Closed shards whose every record has expired are then forgotten, as AWS drops them from
    /// the stream's shard list.
    pub async fn enforce_retention(&self) {
        let expired = self.trim_expired().await;
        for (stream, shards) in expired {
            if let Err(error) = self.forget_shards(&stream, &shards).await {
                tracing::warn!(stream = %stream.name, %error, "removing expired closed shards failed");
            }
        }
    }

    async fn forget_shards(&self, stream: &Arc<Stream>, indexes: &[u32]) -> Result<()> {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        self.inner
            .catalog
            .delete_shards(stream.uid, indexes)
            .await?;
        stream
            .edit()
            .shards
            .retain(|s| !indexes.contains(&s.row.index));
        let ids: Vec<ShardLogId> = indexes
            .iter()
            .map(|&shard| ShardLogId {
                stream: stream.uid,
                shard,
            })
            .collect();
        self.remove_logs(ids).await?;
        tracing::info!(stream = %stream.name, shards = indexes.len(), "expired closed shards removed");
        Ok(())
    }

    /// Trims every shard's log to its retention period; returns the closed shards that have
    /// nothing left to read.
    async fn trim_expired(&self) -> Vec<(Arc<Stream>, Vec<u32>)> {
        let streams: Vec<Arc<Stream>> =
            self.inner.streams.read().by_uid.values().cloned().collect();
        let now = self.now_ms();
        let mut expired = Vec::new();
        for stream in streams {
            let state = stream.snapshot();
            let cutoff = now - state.row.retention_hours * 3_600_000;
            let gone: Vec<u32> = state
                .shards
                .iter()
                .filter(|s| state.closed_at(s).is_some_and(|t| t < cutoff))
                .map(|s| s.row.index)
                .collect();
            if !gone.is_empty() {
                expired.push((stream.clone(), gone));
            }
            for shard in &state.shards {
                match self.inner.log.trim_before(shard.log, cutoff).await {
                    Ok(0) => {}
                    Ok(freed) => {
                        tracing::info!(stream = %stream.name, shard = %shard.id(), freed, "retention deleted expired segments")
                    }
                    Err(error) => {
                        tracing::warn!(stream = %stream.name, shard = %shard.id(), %error, "retention failed")
                    }
                }
            }
        }
        expired
    }

    /// Adds every stream's metrics, and the log's, to a scrape.
    pub fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        let streams: Vec<Arc<Stream>> = self
            .inner
            .streams
            .read()
            .by_name
            .values()
            .cloned()
            .collect();
        for stream in streams {
            let now = self.inner.config.clock.elapsed();
            crate::metrics::render(&stream, &stream.snapshot(), now, e);
        }
        self.inner.log.render_metrics("streams", e);
    }

    /// Whether the service is open: its log takes durable writes and its catalog answers.
    pub async fn health(&self) -> Result<()> {
        self.inner.log.probe().await?;
        self.inner.catalog.ping().await?;
        Ok(())
    }

    /// Flushes and closes the log and the catalog for a clean shutdown.
    pub async fn close(&self) -> Result<()> {
        self.inner.log.close().await?;
        self.inner.catalog.close().await;
        Ok(())
    }

    pub(crate) fn config(&self) -> &StreamsConfig {
        &self.inner.config
    }

    /// Wall-clock milliseconds on the service's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.config.clock.now_ms()
    }

    pub(crate) fn arn(&self, name: &str) -> String {
        stream_arn(
            &self.inner.config.region,
            &self.inner.config.account_id,
            name,
        )
    }

    pub(crate) fn not_found(&self, name: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            self.inner.config.account_id
        ))
    }

    pub(crate) fn not_active(&self, stream: &Stream, status: Status) -> StreamsError {
        StreamsError::ResourceInUse(format!(
            "Stream {} under account {} not ACTIVE, instead in state {status}",
            stream.name, self.inner.config.account_id
        ))
    }

    /// The stream name a request addresses, by `StreamName` or `StreamARN`.
    pub(crate) fn resolve_name(&self, r: &StreamRef) -> Result<String> {
        let from_arn = match &r.stream_arn {
            Some(arn) => Some(
                stream_name_from_arn(
                    arn,
                    &self.inner.config.region,
                    &self.inner.config.account_id,
                )
                .ok_or_else(|| {
                    StreamsError::ResourceNotFound(format!(
                        "Stream {arn} under account {} not found.",
                        self.inner.config.account_id
                    ))
                })?
                .to_string(),
            ),
            None => None,
        };
        match (&r.stream_name, from_arn) {
            (Some(name), Some(arn_name)) if *name != arn_name => {
                Err(StreamsError::InvalidArgument(format!(
                    "StreamARN {} does not match StreamName {name}.",
                    r.stream_arn.as_deref().unwrap_or_default()
                )))
            }
            (Some(name), _) => Ok(name.clone()),
            (None, Some(arn_name)) => Ok(arn_name),
            (None, None) => Err(StreamsError::InvalidArgument(
                "Either StreamName or StreamARN should be provided.".into(),
            )),
        }
    }

    /// The stream a request addresses, whatever its status.
    pub(crate) fn find(&self, r: &StreamRef) -> Result<Arc<Stream>> {
        let name = self.resolve_name(r)?;
        self.find_by_name(&name)
    }

    pub(crate) fn find_by_name(&self, name: &str) -> Result<Arc<Stream>> {
        self.inner
            .streams
            .read()
            .by_name
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(name))
    }

    /// The stream, which must accept data-plane calls (ACTIVE or UPDATING).
    pub(crate) fn find_readable(&self, r: &StreamRef) -> Result<Arc<Stream>> {
        let stream = self.find(r)?;
        match stream.status() {
            Status::Active | Status::Updating => Ok(stream),
            _ => Err(self.not_found(&stream.name)),
        }
    }

    /// Commits a changed stream row to the catalog, then publishes it.
    pub(crate) async fn commit_row(&self, stream: &Stream, row: StreamRow) -> Result<()> {
        self.inner.catalog.update_stream(&row).await?;
        stream.edit().row = row;
        Ok(())
    }

    pub(crate) async fn set_status(&self, stream: &Stream, status: Status) -> Result<()> {
        let mut row = stream.snapshot().row.clone();
        row.status = status;
        self.commit_row(stream, row).await
    }

    /// Applies an administrative change to an ACTIVE stream: the change is committed with the
    /// stream UPDATING, and the stream returns to ACTIVE after the configured delay (at once when
    /// the delay is zero), as AWS streams do.
    pub(crate) async fn update_active<F>(&self, stream: &Arc<Stream>, change: F) -> Result<()>
    where
        F: FnOnce(&mut StreamRow) -> Result<()>,
    {
        self.update_active_after(stream, async { Ok(()) }, change)
            .await
    }

    /// `update_active` with `first` run before the change, under the stream's admin lock and
    /// once the stream is known to be ACTIVE: an effect outside the catalog that the change
    /// records (a failing `first` changes nothing).
    pub(crate) async fn update_active_after<F, P>(
        &self,
        stream: &Arc<Stream>,
        first: P,
        change: F,
    ) -> Result<()>
    where
        F: FnOnce(&mut StreamRow) -> Result<()>,
        P: std::future::Future<Output = Result<()>>,
    {
        // Held across the catalog commit on purpose: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        let before = &stream.snapshot().row;
        if before.status != Status::Active {
            return Err(self.not_active(stream, before.status));
        }
        first.await?;
        let mut row = before.clone();
        change(&mut row)?;
        if row == *before {
            // A change to the current value is accepted, with no UPDATING window that would
            // refuse the caller's next change (AWS answers IncreaseStreamRetentionPeriod to the
            // current period with 200, as Terraform relies on for every new stream).
            return Ok(());
        }
        let delay = self.inner.config.update_delay;
        if delay.is_zero() {
            return self.commit_row(stream, row).await;
        }
        row.status = Status::Updating;
        self.commit_row(stream, row).await?;
        self.after(delay, stream.clone(), |service, stream| async move {
            service
                .move_status(&stream, Status::Updating, Status::Active)
                .await
        });
        Ok(())
    }

    /// Moves a stream from one status to the next, unless a change in between (a deletion)
    /// moved it elsewhere first.
    pub(crate) async fn move_status(
        &self,
        stream: &Stream,
        from: Status,
        to: Status,
    ) -> Result<()> {
        // Held across the catalog commit: see `Stream::admin`.
        let _admin = stream.admin.lock().await;
        if stream.status() != from {
            return Ok(());
        }
        self.set_status(stream, to).await
    }

    /// Runs a status transition later (the one lifecycle helper every service uses).
    pub(crate) fn after<F, Fut>(&self, delay: Duration, stream: Arc<Stream>, step: F)
    where
        F: FnOnce(StreamsService, Arc<Stream>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let service = self.clone();
        let name = format!("stream {}", stream.name);
        freshet_runtime::lifecycle::after(&self.inner.config.clock, delay, name, move || {
            step(service, stream)
        });
    }

    /// Creates shard logs (idempotent), each durable before the next.
    pub(crate) async fn create_logs(&self, ids: Vec<ShardLogId>) -> Result<()> {
        for id in ids {
            self.inner.log.create_shard(id).await?;
        }
        Ok(())
    }

    /// Removes shard logs and their files (idempotent).
    pub(crate) async fn remove_logs(&self, ids: Vec<ShardLogId>) -> Result<()> {
        for id in ids {
            self.inner.log.remove_shard(id).await?;
        }
        Ok(())
    }

    /// Removes a DELETING stream's data, then its catalog entry, then its in-memory entry. A
    /// crash in between leaves a DELETING row (finished at the next start) or orphaned logs
    /// (removed at the next start).
    pub(crate) async fn finish_delete(&self, stream: &Stream) -> Result<()> {
        let shards: Vec<_> = stream.snapshot().shards.iter().map(|s| s.log).collect();
        self.remove_logs(shards).await?;
        self.inner
            .catalog
            .delete_policies_under(&stream.arn)
            .await?;
        self.inner
            .policies
            .lock()
            .retain(|arn, _| !arn.starts_with(stream.arn.as_str()));
        if let Some(keys) = &self.inner.config.keys {
            keys.forget(stream.uid).await.map_err(kms)?;
        }
        self.inner.catalog.delete_stream(stream.uid).await?;
        self.inner.streams.write().remove(stream);
        stream.reshaped.notify_waiters();
        tracing::info!(stream = %stream.name, "stream deleted");
        Ok(())
    }

    /// Brings the keyring in line with the catalog after a crash between the two: a stream the
    /// catalog calls encrypted seals its new records, one it calls clear does not, and deleted
    /// streams' data keys go.
    async fn recover_encryption(&self) -> Result<()> {
        let Some(keys) = &self.inner.config.keys else {
            return Ok(());
        };
        let streams: Vec<Arc<Stream>> =
            self.inner.streams.read().by_uid.values().cloned().collect();
        keys.retain(|uid| streams.iter().any(|s| s.uid == uid))
            .await
            .map_err(kms)?;
        for stream in streams {
            let row = stream.snapshot().row.clone();
            match (&row.key_id, keys.current_key(stream.uid)) {
                (Some(key_id), None) if row.encryption_type == "KMS" => {
                    keys.resume(stream.uid, key_id, self.key_context(&stream))
                        .await;
                }
                (_, Some(_)) if row.encryption_type != "KMS" => {
                    keys.stop(stream.uid).await.map_err(kms)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The encryption context of a stream's data keys, as AWS names it in KMS's records.
    pub(crate) fn key_context(&self, stream: &Stream) -> freshet_kms::Context {
        [("aws:kinesis:arn".to_string(), stream.arn.clone())].into()
    }
}

/// A KMS refusal, answered with the Kinesis error code of its condition.
pub(crate) fn kms(e: freshet_kms::KmsError) -> StreamsError {
    StreamsError::Log(freshet_log::LogError::Key(e.into()))
}
