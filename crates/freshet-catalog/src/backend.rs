//! The boundary between the services and their metadata store. The services hold a `Catalog`
//! (a handle to `dyn CatalogBackend`) and never name a backend; `SqlCatalog` implements every
//! method the same way on SQLite and PostgreSQL, which `conformance.rs` checks on both. Methods
//! return boxed futures so the trait can be used as a trait object; none of them is on a record's
//! path.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use crate::{
    ApplicationRow, ApplicationSnapshotRow, ConsumerRow, DeliveryStreamRow, Lease, Result,
    ShardRow, SignalingChannelRow, SqlCatalog, StoredStream, StreamRow, VideoStreamRow,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait CatalogBackend: Send + Sync {
    /// Closes the backend; later calls fail.
    fn close<'a>(&'a self) -> BoxFuture<'a, ()>;

    /// Whether the catalog answers (for health checks); fails once it is closed.
    fn ping<'a>(&'a self) -> BoxFuture<'a, Result<()>>;

    /// Inserts a new stream with its shards and tags in one transaction and returns its uid. Uids
    /// are never reused, so a stream recreated under an old name never sees old data. `NameTaken`
    /// if the name exists.
    fn create_stream<'a>(
        &'a self,
        stream: &'a StreamRow,
        shards: &'a [ShardRow],
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Writes every mutable column of a stream row (status, mode, retention, encryption, ...).
    fn update_stream<'a>(&'a self, stream: &'a StreamRow) -> BoxFuture<'a, Result<()>>;

    /// Commits one resharding step in one transaction: the stream row, the parents' final offsets
    /// (`closed`: index, next offset) and the children.
    fn reshard<'a>(
        &'a self,
        stream: &'a StreamRow,
        closed: &'a [(u32, u64)],
        children: &'a [ShardRow],
    ) -> BoxFuture<'a, Result<()>>;

    /// Inserts or replaces a consumer of stream `uid`.
    fn put_consumer<'a>(&'a self, uid: u64, consumer: &'a ConsumerRow)
    -> BoxFuture<'a, Result<()>>;

    /// Deletes a consumer of stream `uid`.
    fn delete_consumer<'a>(&'a self, uid: u64, name: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Forgets shards of stream `uid` (closed shards past retention).
    fn delete_shards<'a>(&'a self, uid: u64, indexes: &'a [u32]) -> BoxFuture<'a, Result<()>>;

    /// Replaces the tags of stream `uid`.
    fn set_tags<'a>(
        &'a self,
        uid: u64,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Deletes stream `uid` with its shards, tags and consumers.
    fn delete_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Every stream with its shards (in index order), tags and consumers.
    fn load_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<StoredStream>>>;

    /// A server-wide setting.
    fn get_setting<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Stores a server-wide setting.
    fn put_setting<'a>(&'a self, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, Result<()>>;

    /// The resource policy attached to `arn`.
    fn get_policy<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<Option<String>>>;

    /// Attaches (`Some`) or removes (`None`) the resource policy of `arn`.
    fn set_policy<'a>(&'a self, arn: &'a str, policy: Option<&'a str>)
    -> BoxFuture<'a, Result<()>>;

    /// Drops every policy whose ARN starts with `prefix` (a stream's ARN and its consumers').
    fn delete_policies_under<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Inserts a delivery stream (its document owned by freshet-firehose) and returns its uid
    /// (never reused). `NameTaken` if the name exists.
    fn create_delivery_stream<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Replaces a delivery stream's document.
    fn update_delivery_stream<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes a delivery stream and its checkpoints.
    fn delete_delivery_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Every delivery stream with its checkpoints, oldest first.
    fn load_delivery_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<DeliveryStreamRow>>>;

    /// Records where delivery of one source resumes; durable when it returns. Under a lease
    /// (`fence`), the write commits only while the lease's epoch is current (`Fenced` otherwise).
    fn put_checkpoint<'a>(
        &'a self,
        uid: u64,
        source: &'a str,
        position: &'a str,
        fence: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Inserts a video stream and returns its uid (never reused). `NameTaken` if the name exists.
    fn create_video_stream<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Replaces a video stream's document.
    fn update_video_stream<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes a video stream.
    fn delete_video_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Every video stream, oldest first.
    fn load_video_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<VideoStreamRow>>>;

    /// Inserts a signaling channel and returns its uid (never reused). `NameTaken` if the name
    /// exists.
    fn create_signaling_channel<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Replaces a signaling channel's document.
    fn update_signaling_channel<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes a signaling channel.
    fn delete_signaling_channel<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Every signaling channel, oldest first.
    fn load_signaling_channels<'a>(&'a self) -> BoxFuture<'a, Result<Vec<SignalingChannelRow>>>;

    /// Inserts an analytics application (its document owned by freshet-analytics) and returns its
    /// uid (never reused). `NameTaken` if the name exists.
    fn create_application<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Replaces an application's document.
    fn update_application<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes an application with its checkpoint and snapshots.
    fn delete_application<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Every application with its checkpoint, oldest first.
    fn load_applications<'a>(&'a self) -> BoxFuture<'a, Result<Vec<ApplicationRow>>>;

    /// Replaces an application's checkpoint (its runner's state and input positions, one
    /// document); durable when it returns. Under a lease (`fence`), the write commits only while
    /// the lease's epoch is current (`Fenced` otherwise).
    fn put_application_checkpoint<'a>(
        &'a self,
        uid: u64,
        doc: &'a str,
        fence: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Forgets an application's checkpoint (its next run starts from its starting positions).
    fn delete_application_checkpoint<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>>;

    /// Stores the snapshot `name` of application `uid` (a Flink application's state and source
    /// positions, one document, taken for application version `version`), replacing one of the
    /// same name; durable when it returns.
    fn put_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
        created_ms: i64,
        version: u64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    /// The document of snapshot `name` of application `uid`, if there is one.
    fn get_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    /// The snapshots of application `uid` (without their documents), oldest first.
    fn list_application_snapshots<'a>(
        &'a self,
        uid: u64,
    ) -> BoxFuture<'a, Result<Vec<ApplicationSnapshotRow>>>;

    /// Deletes snapshot `name` of application `uid` (a no-op if there is none).
    fn delete_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    /// Stores code archive `md5` (its MD5 in hex) of application `uid`, a no-op when it is
    /// stored already; durable when it returns. It goes with its application.
    fn put_application_code<'a>(
        &'a self,
        uid: u64,
        md5: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<()>>;

    /// Code archive `md5` of application `uid`, if it is stored.
    fn get_application_code<'a>(
        &'a self,
        uid: u64,
        md5: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms` if it is free, expired or
    /// already `holder`'s; the epoch grows when the lease changes hands. `None` while another
    /// holder's lease runs.
    fn acquire_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Lease>>>;

    /// Extends a held lease; `Fenced` if it changed hands meanwhile.
    fn renew_lease<'a>(
        &'a self,
        lease: &'a Lease,
        now_ms: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Lease>>;

    /// Gives a held lease up at once (a no-op if it changed hands); `now_ms`, when its holder
    /// stopped, ends its holding in the lease log.
    fn release_lease<'a>(&'a self, lease: &'a Lease, now_ms: i64) -> BoxFuture<'a, Result<()>>;
}

impl CatalogBackend for SqlCatalog {
    fn close<'a>(&'a self) -> BoxFuture<'a, ()> {
        Box::pin(SqlCatalog::close(self))
    }

    fn ping<'a>(&'a self) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::ping(self))
    }

    fn create_stream<'a>(
        &'a self,
        stream: &'a StreamRow,
        shards: &'a [ShardRow],
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(SqlCatalog::create_stream(self, stream, shards, tags))
    }

    fn update_stream<'a>(&'a self, stream: &'a StreamRow) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::update_stream(self, stream))
    }

    fn reshard<'a>(
        &'a self,
        stream: &'a StreamRow,
        closed: &'a [(u32, u64)],
        children: &'a [ShardRow],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::reshard(self, stream, closed, children))
    }

    fn put_consumer<'a>(
        &'a self,
        uid: u64,
        consumer: &'a ConsumerRow,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_consumer(self, uid, consumer))
    }

    fn delete_consumer<'a>(&'a self, uid: u64, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_consumer(self, uid, name))
    }

    fn delete_shards<'a>(&'a self, uid: u64, indexes: &'a [u32]) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_shards(self, uid, indexes))
    }

    fn set_tags<'a>(
        &'a self,
        uid: u64,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::set_tags(self, uid, tags))
    }

    fn delete_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_stream(self, uid))
    }

    fn load_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<StoredStream>>> {
        Box::pin(SqlCatalog::load_streams(self))
    }

    fn get_setting<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(SqlCatalog::get_setting(self, key))
    }

    fn put_setting<'a>(&'a self, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_setting(self, key, value))
    }

    fn get_policy<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(SqlCatalog::get_policy(self, arn))
    }

    fn set_policy<'a>(
        &'a self,
        arn: &'a str,
        policy: Option<&'a str>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::set_policy(self, arn, policy))
    }

    fn delete_policies_under<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_policies_under(self, prefix))
    }

    fn create_delivery_stream<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(SqlCatalog::create_delivery_stream(
            self, name, created_ms, doc,
        ))
    }

    fn update_delivery_stream<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::update_delivery_stream(self, uid, doc))
    }

    fn delete_delivery_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_delivery_stream(self, uid))
    }

    fn load_delivery_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<DeliveryStreamRow>>> {
        Box::pin(SqlCatalog::load_delivery_streams(self))
    }

    fn put_checkpoint<'a>(
        &'a self,
        uid: u64,
        source: &'a str,
        position: &'a str,
        fence: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_checkpoint(
            self, uid, source, position, fence,
        ))
    }

    fn create_video_stream<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(SqlCatalog::create_video_stream(self, name, created_ms, doc))
    }

    fn update_video_stream<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::update_video_stream(self, uid, doc))
    }

    fn delete_video_stream<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_video_stream(self, uid))
    }

    fn load_video_streams<'a>(&'a self) -> BoxFuture<'a, Result<Vec<VideoStreamRow>>> {
        Box::pin(SqlCatalog::load_video_streams(self))
    }

    fn create_signaling_channel<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(SqlCatalog::create_signaling_channel(
            self, name, created_ms, doc,
        ))
    }

    fn update_signaling_channel<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::update_signaling_channel(self, uid, doc))
    }

    fn delete_signaling_channel<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_signaling_channel(self, uid))
    }

    fn load_signaling_channels<'a>(&'a self) -> BoxFuture<'a, Result<Vec<SignalingChannelRow>>> {
        Box::pin(SqlCatalog::load_signaling_channels(self))
    }

    fn create_application<'a>(
        &'a self,
        name: &'a str,
        created_ms: i64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(SqlCatalog::create_application(self, name, created_ms, doc))
    }

    fn update_application<'a>(&'a self, uid: u64, doc: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::update_application(self, uid, doc))
    }

    fn delete_application<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_application(self, uid))
    }

    fn load_applications<'a>(&'a self) -> BoxFuture<'a, Result<Vec<ApplicationRow>>> {
        Box::pin(SqlCatalog::load_applications(self))
    }

    fn put_application_checkpoint<'a>(
        &'a self,
        uid: u64,
        doc: &'a str,
        fence: Option<&'a Lease>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_application_checkpoint(
            self, uid, doc, fence,
        ))
    }

    fn delete_application_checkpoint<'a>(&'a self, uid: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_application_checkpoint(self, uid))
    }

    fn put_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
        created_ms: i64,
        version: u64,
        doc: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_application_snapshot(
            self, uid, name, created_ms, version, doc,
        ))
    }

    fn get_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(SqlCatalog::get_application_snapshot(self, uid, name))
    }

    fn list_application_snapshots<'a>(
        &'a self,
        uid: u64,
    ) -> BoxFuture<'a, Result<Vec<ApplicationSnapshotRow>>> {
        Box::pin(SqlCatalog::list_application_snapshots(self, uid))
    }

    fn delete_application_snapshot<'a>(
        &'a self,
        uid: u64,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::delete_application_snapshot(self, uid, name))
    }

    fn put_application_code<'a>(
        &'a self,
        uid: u64,
        md5: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::put_application_code(self, uid, md5, bytes))
    }

    fn get_application_code<'a>(
        &'a self,
        uid: u64,
        md5: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(SqlCatalog::get_application_code(self, uid, md5))
    }

    fn acquire_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Lease>>> {
        Box::pin(SqlCatalog::acquire_lease(
            self, name, holder, now_ms, ttl_ms,
        ))
    }

    fn renew_lease<'a>(
        &'a self,
        lease: &'a Lease,
        now_ms: i64,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<Lease>> {
        Box::pin(SqlCatalog::renew_lease(self, lease, now_ms, ttl_ms))
    }

    fn release_lease<'a>(&'a self, lease: &'a Lease, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqlCatalog::release_lease(self, lease, now_ms))
    }
}
