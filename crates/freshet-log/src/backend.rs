//! The boundary between the services and record storage, shaped for a second implementation on
//! object storage (cluster mode): every call that may touch storage is async, reads included, and
//! each writer has an epoch. `Log` (the embedded segmented log) implements it; `conformance.rs`
//! holds the suite every implementation passes.

use std::future::Future;
use std::pin::Pin;

use freshet_runtime::metrics::Exposition;
use tokio::sync::watch;

use crate::{Appended, Log, LogError, NewRecord, Record, ShardLogId};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait LogBackend: Send + Sync {
    /// This writer's epoch. Every open of the same storage gets a larger one; a backend that
    /// several writers share fences the appends of a writer whose epoch was overtaken, so a node
    /// that lost its place cannot commit after its successor.
    fn epoch(&self) -> u64;

    /// Whether the previous writer closed the storage cleanly (nothing was left to repair).
    fn opened_clean(&self) -> bool;

    /// The shard logs that exist, in order.
    fn shards(&self) -> Vec<ShardLogId>;

    /// Creates an empty shard log (idempotent), durably.
    fn create_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>>;

    /// Deletes a shard log and its records (idempotent).
    fn remove_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>>;

    /// Appends records to one shard as one batch: consecutive offsets, one arrival time, all or
    /// nothing (also across a crash); resolves once durable.
    fn append(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> BoxFuture<'_, Result<Appended, LogError>>;

    /// Durable records from offset `from` (or the trim horizon), at most `max_records`, and
    /// beyond the first at most `max_bytes` of data; empty only at the tip.
    fn read(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, LogError>>;

    /// (trim horizon, next offset); (0, 0) for an empty log.
    fn bounds(&self, id: ShardLogId) -> BoxFuture<'_, Result<(u64, u64), LogError>>;

    /// The first retained offset that arrived at or after `ts_ms`, else the next offset.
    fn offset_at_time(&self, id: ShardLogId, ts_ms: i64) -> BoxFuture<'_, Result<u64, LogError>>;

    /// Drops whole stretches of records that all arrived before `cutoff_ms`; returns the bytes
    /// freed.
    fn trim_before(&self, id: ShardLogId, cutoff_ms: i64) -> BoxFuture<'_, Result<u64, LogError>>;

    /// The shard's durable next offset, changing whenever records become readable.
    fn subscribe(&self, id: ShardLogId) -> Result<watch::Receiver<u64>, LogError>;

    /// Whether the storage takes durable writes.
    fn probe(&self) -> BoxFuture<'_, Result<(), LogError>>;

    /// Makes everything durable and stops writing; later writes fail with `Closed`.
    fn close(&self) -> BoxFuture<'_, Result<(), LogError>>;

    /// Adds the storage's own metrics to a scrape, labelled with the owning service.
    fn render_metrics(&self, service: &str, e: &mut Exposition);

    /// Removes every shard log that `keep` does not claim: the orphans of changes that
    /// committed in the catalog before a crash (a deletion) or never committed (a creation).
    /// Every service runs this once at start, after reading its catalog.
    fn remove_orphans<'a>(
        &'a self,
        keep: &'a (dyn Fn(ShardLogId) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            for id in self.shards() {
                if !keep(id) {
                    tracing::info!(log = %id, "removing orphaned shard log");
                    self.remove_shard(id).await?;
                }
            }
            Ok(())
        })
    }
}

/// A log shared by every task of a service, whatever its backend.
pub type SharedLog = std::sync::Arc<dyn LogBackend>;

impl LogBackend for Log {
    fn epoch(&self) -> u64 {
        Log::epoch(self)
    }

    fn opened_clean(&self) -> bool {
        Log::opened_clean(self)
    }

    fn shards(&self) -> Vec<ShardLogId> {
        Log::shards(self)
    }

    fn create_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(Log::create_shard(self, id))
    }

    fn remove_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(Log::remove_shard(self, id))
    }

    fn append(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> BoxFuture<'_, Result<Appended, LogError>> {
        Box::pin(Log::append(self, id, records))
    }

    fn read(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, LogError>> {
        // Recent records come from memory and older ones from whole aligned blocks: a read is
        // short enough to answer in place.
        Box::pin(std::future::ready(Log::read(
            self,
            id,
            from,
            max_records,
            max_bytes,
        )))
    }

    fn bounds(&self, id: ShardLogId) -> BoxFuture<'_, Result<(u64, u64), LogError>> {
        Box::pin(std::future::ready(Log::bounds(self, id)))
    }

    fn offset_at_time(&self, id: ShardLogId, ts_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        Box::pin(std::future::ready(Log::offset_at_time(self, id, ts_ms)))
    }

    fn trim_before(&self, id: ShardLogId, cutoff_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        Box::pin(Log::trim_before(self, id, cutoff_ms))
    }

    fn subscribe(&self, id: ShardLogId) -> Result<watch::Receiver<u64>, LogError> {
        Log::subscribe(self, id)
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(Log::probe(self))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), LogError>> {
        Box::pin(Log::close(self))
    }

    fn render_metrics(&self, service: &str, e: &mut Exposition) {
        Log::render_metrics(self, service, e)
    }
}
