//! The catalog's one query layer, over either backend through sqlx's `Any` driver: embedded
//! SQLite (one database file, committed with `synchronous=FULL`) or PostgreSQL (shared by the
//! nodes of a cluster). Both hold the same schema (`migrate.rs`), and every query is written once
//! in the SQL they share: `$N` placeholders (PostgreSQL's; SQLite binds them by number), upserts
//! with `ON CONFLICT`, `RETURNING`, integers bound as `i64`. Every mutation is one transaction or
//! one statement.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Row};

use crate::migrate;
use crate::{
    ApplicationRow, ApplicationSnapshotRow, CatalogError, ConsumerRow, DeliveryStreamRow, Lease,
    NamedDocRow, Result, ShardRow, SignalingChannelRow, StoredStream, StreamRow, VideoStreamRow,
};

/// The catalog on a SQL database: an embedded SQLite file or a PostgreSQL server.
#[derive(Clone)]
pub struct SqlCatalog {
    pool: AnyPool,
}

/// Connections per pool: the catalog is off the record path, a few writers suffice.
const MAX_CONNECTIONS: u32 = 4;

impl SqlCatalog {
    /// Opens (creating if needed) the SQLite catalog database at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<SqlCatalog> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&sqlite_url(path)?)?;
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // `Any` connects by URL, which carries no pragmas: each connection sets its own.
            // synchronous=FULL: a committed catalog change must survive power loss just like an
            // acknowledged record does. foreign_keys: deletes cascade as the schema says.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                         PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrate::sqlite(&pool).await?;
        Ok(SqlCatalog { pool })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user@host/db`) and applies
    /// migrations; several nodes may open the same database at once.
    pub async fn open_postgres(url: &str) -> Result<SqlCatalog> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        migrate::postgres(&pool).await?;
        Ok(SqlCatalog { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the catalog answers a query (for health checks): fails once it is closed.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Inserts a new stream with its shards and tags in one transaction and returns its uid.
    /// Uids are never reused, so a stream recreated under an old name never sees old data.
    pub async fn create_stream(
        &self,
        stream: &StreamRow,
        shards: &[ShardRow],
        tags: &BTreeMap<String, String>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // One statement that inserts or finds the name taken: two nodes creating the same name at
        // once cannot both pass a check made before the insert.
        let inserted = sqlx::query(
            "INSERT INTO streams (name, status, mode, created_ms, retention_hours, encryption_type,
               key_id, shard_level_metrics, max_record_size_kib, next_shard_index, warm_throughput_mibps)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT(name) DO NOTHING RETURNING uid",
        )
        .bind(&stream.name)
        .bind(stream.status.as_str())
        .bind(stream.mode.as_str())
        .bind(stream.created_ms)
        .bind(stream.retention_hours)
        .bind(&stream.encryption_type)
        .bind(&stream.key_id)
        .bind(serde_json::to_string(&stream.shard_level_metrics).unwrap_or_default())
        .bind(stream.max_record_size_kib)
        .bind(stream.next_shard_index)
        .bind(stream.warm_throughput_mibps)
        .fetch_optional(&mut *tx)
        .await?;
        let uid = match inserted {
            Some(row) => row.try_get::<i64, _>(0)? as u64,
            None => return Err(CatalogError::NameTaken(stream.name.clone())),
        };
        for shard in shards {
            insert_shard(&mut tx, uid, shard).await?;
        }
        insert_tags(&mut tx, uid, tags).await?;
        commit(tx).await?;
        Ok(uid)
    }

    /// Writes every mutable column of a stream row (status, mode, retention, encryption, ...).
    pub async fn update_stream(&self, stream: &StreamRow) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(
            "UPDATE streams SET status = $1, mode = $2, retention_hours = $3, encryption_type = $4,
               key_id = $5, shard_level_metrics = $6, max_record_size_kib = $7, next_shard_index = $8,
               warm_throughput_mibps = $9
             WHERE uid = $10",
        )
        .bind(stream.status.as_str())
        .bind(stream.mode.as_str())
        .bind(stream.retention_hours)
        .bind(&stream.encryption_type)
        .bind(&stream.key_id)
        .bind(serde_json::to_string(&stream.shard_level_metrics).unwrap_or_default())
        .bind(stream.max_record_size_kib)
        .bind(stream.next_shard_index)
        .bind(stream.warm_throughput_mibps)
        .bind(stream.uid as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits one resharding step in one transaction: the stream row (status, next shard index),
    /// the parents closed at their final log offsets, and the new child shards.
    pub async fn reshard(
        &self,
        stream: &StreamRow,
        closed: &[(u32, u64)],
        children: &[ShardRow],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE streams SET status = $1, next_shard_index = $2 WHERE uid = $3")
            .bind(stream.status.as_str())
            .bind(stream.next_shard_index)
            .bind(stream.uid as i64)
            .execute(&mut *tx)
            .await?;
        for (index, next_offset) in closed {
            sqlx::query(
                "UPDATE shards SET closed_next_offset = $1 WHERE stream_uid = $2 AND shard_index = $3",
            )
            .bind(*next_offset as i64)
            .bind(stream.uid as i64)
            .bind(*index as i64)
            .execute(&mut *tx)
            .await?;
        }
        for shard in children {
            insert_shard(&mut tx, stream.uid, shard).await?;
        }
        commit(tx).await?;
        Ok(())
    }

    /// Inserts or replaces a consumer of a stream.
    pub async fn put_consumer(&self, uid: u64, consumer: &ConsumerRow) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(
            "INSERT INTO consumers (stream_uid, name, created_ms, status, tags) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(stream_uid, name) DO UPDATE SET created_ms = excluded.created_ms,
               status = excluded.status, tags = excluded.tags",
        )
        .bind(uid as i64)
        .bind(&consumer.name)
        .bind(consumer.created_ms)
        .bind(consumer.status.as_str())
        .bind(serde_json::to_string(&consumer.tags).unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_consumer(&self, uid: u64, name: &str) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("DELETE FROM consumers WHERE stream_uid = $1 AND name = $2")
            .bind(uid as i64)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets closed shards whose records have all expired.
    pub async fn delete_shards(&self, uid: u64, indexes: &[u32]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for index in indexes {
            sqlx::query("DELETE FROM shards WHERE stream_uid = $1 AND shard_index = $2")
                .bind(uid as i64)
                .bind(*index as i64)
                .execute(&mut *tx)
                .await?;
        }
        commit(tx).await?;
        Ok(())
    }

    /// Replaces a stream's whole tag set.
    pub async fn set_tags(&self, uid: u64, tags: &BTreeMap<String, String>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM tags WHERE stream_uid = $1")
            .bind(uid as i64)
            .execute(&mut *tx)
            .await?;
        insert_tags(&mut tx, uid, tags).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Removes a stream and everything that hangs off it.
    pub async fn delete_stream(&self, uid: u64) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("DELETE FROM streams WHERE uid = $1")
            .bind(uid as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every stream with its shards and tags, in name order.
    pub async fn load_streams(&self) -> Result<Vec<StoredStream>> {
        let streams = sqlx::query("SELECT * FROM streams ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(streams.len());
        for row in streams {
            let stream = StreamRow::from_row(&row)?;
            let shards =
                sqlx::query("SELECT * FROM shards WHERE stream_uid = $1 ORDER BY shard_index")
                    .bind(stream.uid as i64)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(ShardRow::from_row)
                    .collect::<Result<Vec<_>>>()?;
            let tags = sqlx::query("SELECT key, value FROM tags WHERE stream_uid = $1")
                .bind(stream.uid as i64)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
                .collect::<Result<BTreeMap<String, String>>>()?;
            let consumers = sqlx::query(
                "SELECT * FROM consumers WHERE stream_uid = $1 ORDER BY created_ms, name",
            )
            .bind(stream.uid as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(ConsumerRow::from_row)
            .collect::<Result<Vec<_>>>()?;
            out.push(StoredStream {
                stream,
                shards,
                tags,
                consumers,
            });
        }
        Ok(out)
    }

    pub async fn get_setting(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }

    pub async fn put_setting(&self, key: &str, value: &[u8]) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get_policy(&self, arn: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT policy FROM resource_policies WHERE resource_arn = $1")
            .bind(arn)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }

    /// Stores (`Some`) or removes (`None`) the resource policy attached to an ARN.
    pub async fn set_policy(&self, arn: &str, policy: Option<&str>) -> Result<()> {
        commit_failpoint()?;
        match policy {
            Some(policy) => {
                sqlx::query("INSERT INTO resource_policies (resource_arn, policy) VALUES ($1, $2) ON CONFLICT(resource_arn) DO UPDATE SET policy = excluded.policy")
                    .bind(arn)
                    .bind(policy)
                    .execute(&self.pool)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM resource_policies WHERE resource_arn = $1")
                    .bind(arn)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Inserts a delivery stream and returns its uid (never reused).
    pub async fn create_delivery_stream(
        &self,
        name: &str,
        created_ms: i64,
        doc: &str,
    ) -> Result<u64> {
        self.insert_doc(DocTable::DeliveryStreams, name, created_ms, doc)
            .await
    }

    pub async fn update_delivery_stream(&self, uid: u64, doc: &str) -> Result<()> {
        self.update_doc(DocTable::DeliveryStreams, uid, doc).await
    }

    /// Deletes a delivery stream with its checkpoints.
    pub async fn delete_delivery_stream(&self, uid: u64) -> Result<()> {
        self.delete_doc(DocTable::DeliveryStreams, uid).await
    }

    /// Every delivery stream, oldest first.
    pub async fn load_delivery_streams(&self) -> Result<Vec<DeliveryStreamRow>> {
        let mut out = Vec::new();
        for (uid, name, created_ms, doc) in self.load_docs(DocTable::DeliveryStreams).await? {
            let checkpoints = sqlx::query(
                "SELECT source, position FROM delivery_checkpoints WHERE stream_uid = $1",
            )
            .bind(uid as i64)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|c| Ok((c.try_get(0)?, c.try_get(1)?)))
            .collect::<Result<BTreeMap<String, String>>>()?;
            out.push(DeliveryStreamRow {
                uid,
                name,
                created_ms,
                doc,
                checkpoints,
            });
        }
        Ok(out)
    }

    pub async fn put_checkpoint(
        &self,
        uid: u64,
        source: &str,
        position: &str,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(lease) = fence {
            check_fence(&mut tx, lease).await?;
        }
        sqlx::query(
            "INSERT INTO delivery_checkpoints (stream_uid, source, position) VALUES ($1, $2, $3)
             ON CONFLICT(stream_uid, source) DO UPDATE SET position = excluded.position",
        )
        .bind(uid as i64)
        .bind(source)
        .bind(position)
        .execute(&mut *tx)
        .await?;
        commit(tx).await
    }

    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        commit_failpoint()?;
        // One statement, so two nodes racing for a free or expired lease cannot both take it: the
        // second one's conflict check sees the first one's row (PostgreSQL waits for its commit)
        // and the WHERE turns it away. No row back: another holder's lease is running.
        let mut tx = self.pool.begin().await?;
        let epoch = sqlx::query(
            "INSERT INTO leases (name, holder, epoch, expires_ms) VALUES ($1, $2, 1, $4)
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,
               epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch
                            ELSE leases.epoch + 1 END,
               expires_ms = excluded.expires_ms
             WHERE leases.holder = excluded.holder OR leases.expires_ms <= $3
             RETURNING epoch",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .bind(now_ms + ttl_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = epoch else {
            return Ok(None);
        };
        let lease = Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            epoch: row.try_get::<i64, _>(0)? as u64,
            expires_ms: now_ms + ttl_ms,
        };
        sqlx::query(
            "INSERT INTO lease_log (name, epoch, holder, acquired_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(name, epoch) DO UPDATE SET expires_ms = excluded.expires_ms",
        )
        .bind(name)
        .bind(lease.epoch as i64)
        .bind(holder)
        .bind(now_ms)
        .bind(lease.expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(lease))
    }

    pub async fn renew_lease(&self, lease: &Lease, now_ms: i64, ttl_ms: i64) -> Result<Lease> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, lease).await?;
        let renewed = Lease {
            expires_ms: now_ms + ttl_ms,
            ..lease.clone()
        };
        sqlx::query("UPDATE leases SET expires_ms = $1 WHERE name = $2")
            .bind(renewed.expires_ms)
            .bind(&lease.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE lease_log SET expires_ms = $1 WHERE name = $2 AND epoch = $3")
            .bind(renewed.expires_ms)
            .bind(&lease.name)
            .bind(lease.epoch as i64)
            .execute(&mut *tx)
            .await?;
        commit(tx).await?;
        Ok(renewed)
    }

    pub async fn release_lease(&self, lease: &Lease, now_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Expired, not deleted: the epoch must keep growing for the next holder.
        let released = sqlx::query(
            "UPDATE leases SET expires_ms = 0 WHERE name = $1 AND epoch = $2 AND holder = $3",
        )
        .bind(&lease.name)
        .bind(lease.epoch as i64)
        .bind(&lease.holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if released == 1 {
            sqlx::query("UPDATE lease_log SET ended_ms = $1 WHERE name = $2 AND epoch = $3")
                .bind(now_ms)
                .bind(&lease.name)
                .bind(lease.epoch as i64)
                .execute(&mut *tx)
                .await?;
        }
        commit(tx).await
    }

    /// Inserts a video stream and returns its uid (never reused).
    pub async fn create_video_stream(&self, name: &str, created_ms: i64, doc: &str) -> Result<u64> {
        self.insert_doc(DocTable::VideoStreams, name, created_ms, doc)
            .await
    }

    pub async fn update_video_stream(&self, uid: u64, doc: &str) -> Result<()> {
        self.update_doc(DocTable::VideoStreams, uid, doc).await
    }

    pub async fn delete_video_stream(&self, uid: u64) -> Result<()> {
        self.delete_doc(DocTable::VideoStreams, uid).await
    }

    /// Every video stream, oldest first.
    pub async fn load_video_streams(&self) -> Result<Vec<VideoStreamRow>> {
        self.load_named_docs(DocTable::VideoStreams).await
    }

    /// The rows of a table of named documents, oldest first.
    async fn load_named_docs(&self, table: DocTable) -> Result<Vec<NamedDocRow>> {
        Ok(self
            .load_docs(table)
            .await?
            .into_iter()
            .map(|(uid, name, created_ms, doc)| NamedDocRow {
                uid,
                name,
                created_ms,
                doc,
            })
            .collect())
    }

    /// Inserts a signaling channel and returns its uid (never reused).
    pub async fn create_signaling_channel(
        &self,
        name: &str,
        created_ms: i64,
        doc: &str,
    ) -> Result<u64> {
        self.insert_doc(DocTable::SignalingChannels, name, created_ms, doc)
            .await
    }

    pub async fn update_signaling_channel(&self, uid: u64, doc: &str) -> Result<()> {
        self.update_doc(DocTable::SignalingChannels, uid, doc).await
    }

    pub async fn delete_signaling_channel(&self, uid: u64) -> Result<()> {
        self.delete_doc(DocTable::SignalingChannels, uid).await
    }

    /// Every signaling channel, oldest first.
    pub async fn load_signaling_channels(&self) -> Result<Vec<SignalingChannelRow>> {
        self.load_named_docs(DocTable::SignalingChannels).await
    }

    /// Inserts an analytics application and returns its uid (never reused).
    pub async fn create_application(&self, name: &str, created_ms: i64, doc: &str) -> Result<u64> {
        self.insert_doc(DocTable::Applications, name, created_ms, doc)
            .await
    }

    pub async fn update_application(&self, uid: u64, doc: &str) -> Result<()> {
        self.update_doc(DocTable::Applications, uid, doc).await
    }

    /// Deletes an application with its checkpoint and snapshots.
    pub async fn delete_application(&self, uid: u64) -> Result<()> {
        self.delete_doc(DocTable::Applications, uid).await
    }

    /// Every application with its checkpoint, oldest first.
    pub async fn load_applications(&self) -> Result<Vec<ApplicationRow>> {
        let mut out = Vec::new();
        for (uid, name, created_ms, doc) in self.load_docs(DocTable::Applications).await? {
            let checkpoint =
                sqlx::query("SELECT doc FROM application_checkpoints WHERE app_uid = $1")
                    .bind(uid as i64)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.try_get(0))
                    .transpose()?;
            out.push(ApplicationRow {
                uid,
                name,
                created_ms,
                doc,
                checkpoint,
            });
        }
        Ok(out)
    }

    pub async fn put_application_checkpoint(
        &self,
        uid: u64,
        doc: &str,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(lease) = fence {
            check_fence(&mut tx, lease).await?;
        }
        sqlx::query(
            "INSERT INTO application_checkpoints (app_uid, doc) VALUES ($1, $2)
             ON CONFLICT(app_uid) DO UPDATE SET doc = excluded.doc",
        )
        .bind(uid as i64)
        .bind(doc)
        .execute(&mut *tx)
        .await?;
        commit(tx).await
    }

    pub async fn delete_application_checkpoint(&self, uid: u64) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("DELETE FROM application_checkpoints WHERE app_uid = $1")
            .bind(uid as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores (or replaces) the snapshot `name` of application `uid`; durable when it returns.
    pub async fn put_application_snapshot(
        &self,
        uid: u64,
        name: &str,
        created_ms: i64,
        version: u64,
        doc: &str,
    ) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(
            "INSERT INTO application_snapshots (app_uid, name, created_ms, version, doc)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(app_uid, name) DO UPDATE SET created_ms = excluded.created_ms,
               version = excluded.version, doc = excluded.doc",
        )
        .bind(uid as i64)
        .bind(name)
        .bind(created_ms)
        .bind(version as i64)
        .bind(doc)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The document of snapshot `name` of application `uid`.
    pub async fn get_application_snapshot(&self, uid: u64, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT doc FROM application_snapshots WHERE app_uid = $1 AND name = $2")
                .bind(uid as i64)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        )
    }

    /// The snapshots of application `uid` without their documents, oldest first.
    pub async fn list_application_snapshots(
        &self,
        uid: u64,
    ) -> Result<Vec<ApplicationSnapshotRow>> {
        let rows = sqlx::query(
            "SELECT name, created_ms, version FROM application_snapshots WHERE app_uid = $1
             ORDER BY created_ms, rowid",
        )
        .bind(uid as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ApplicationSnapshotRow {
                    name: row.try_get(0)?,
                    created_ms: row.try_get(1)?,
                    version: row.try_get::<i64, _>(2)? as u64,
                })
            })
            .collect()
    }

    /// Deletes snapshot `name` of application `uid` (a no-op if there is none).
    pub async fn delete_application_snapshot(&self, uid: u64, name: &str) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("DELETE FROM application_snapshots WHERE app_uid = $1 AND name = $2")
            .bind(uid as i64)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores code archive `md5` of application `uid` (a no-op when it is stored already);
    /// durable when it returns.
    pub async fn put_application_code(&self, uid: u64, md5: &str, bytes: &[u8]) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(
            "INSERT INTO application_code (app_uid, md5, bytes) VALUES ($1, $2, $3)
             ON CONFLICT(app_uid, md5) DO NOTHING",
        )
        .bind(uid as i64)
        .bind(md5)
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Code archive `md5` of application `uid`.
    pub async fn get_application_code(&self, uid: u64, md5: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query("SELECT bytes FROM application_code WHERE app_uid = $1 AND md5 = $2")
                .bind(uid as i64)
                .bind(md5)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        )
    }

    async fn insert_doc(
        &self,
        table: DocTable,
        name: &str,
        created_ms: i64,
        doc: &str,
    ) -> Result<u64> {
        commit_failpoint()?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO {} (name, created_ms, doc) VALUES ($1, $2, $3)
             ON CONFLICT(name) DO NOTHING RETURNING uid",
            table.name()
        ))
        .bind(name)
        .bind(created_ms)
        .bind(doc)
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(row) => Ok(row.try_get::<i64, _>(0)? as u64),
            None => Err(CatalogError::NameTaken(name.to_string())),
        }
    }

    async fn update_doc(&self, table: DocTable, uid: u64, doc: &str) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(&format!(
            "UPDATE {} SET doc = $1 WHERE uid = $2",
            table.name()
        ))
        .bind(doc)
        .bind(uid as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_doc(&self, table: DocTable, uid: u64) -> Result<()> {
        commit_failpoint()?;
        sqlx::query(&format!("DELETE FROM {} WHERE uid = $1", table.name()))
            .bind(uid as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// (uid, name, created_ms, doc) of every row, oldest first.
    async fn load_docs(&self, table: DocTable) -> Result<Vec<(u64, String, i64, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT uid, name, created_ms, doc FROM {} ORDER BY uid",
            table.name()
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>(0)? as u64,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            })
            .collect()
    }

    /// Drops every policy whose ARN starts with `prefix` (a stream's ARN and its consumers').
    pub async fn delete_policies_under(&self, prefix: &str) -> Result<()> {
        commit_failpoint()?;
        sqlx::query("DELETE FROM resource_policies WHERE substr(resource_arn, 1, length($1)) = $1")
            .bind(prefix)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The tables of resources stored as a name plus a JSON document owned by their service.
#[derive(Clone, Copy)]
enum DocTable {
    DeliveryStreams,
    VideoStreams,
    SignalingChannels,
    Applications,
}

impl DocTable {
    fn name(self) -> &'static str {
        match self {
            DocTable::DeliveryStreams => "delivery_streams",
            DocTable::VideoStreams => "video_streams",
            DocTable::SignalingChannels => "signaling_channels",
            DocTable::Applications => "applications",
        }
    }
}

/// Fails the transaction with `Fenced` unless `lease` is still the current holding of its name.
/// The check is a write so that it locks the lease row until the transaction ends: a takeover
/// (which must update that row) then waits for this commit and cannot slip in between the check
/// and the write it guards, even on PostgreSQL at READ COMMITTED.
async fn check_fence(tx: &mut sqlx::Transaction<'_, Any>, lease: &Lease) -> Result<()> {
    let held = sqlx::query(
        "UPDATE leases SET epoch = epoch WHERE name = $1 AND epoch = $2 AND holder = $3",
    )
    .bind(&lease.name)
    .bind(lease.epoch as i64)
    .bind(&lease.holder)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if held > 0 {
        return Ok(());
    }
    let current: Option<i64> = sqlx::query("SELECT epoch FROM leases WHERE name = $1")
        .bind(&lease.name)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    Err(CatalogError::Fenced {
        name: lease.name.clone(),
        held: lease.epoch,
        current: current.map_or(0, |epoch| epoch as u64),
    })
}

/// Commits a write transaction. At the `catalog::commit` failpoint the transaction is dropped
/// instead, which rolls it back, so the caller sees what a failed commit leaves: an error and no
/// change.
async fn commit(tx: sqlx::Transaction<'_, Any>) -> Result<()> {
    commit_failpoint()?;
    tx.commit().await?;
    Ok(())
}

/// The `catalog::commit` failpoint. A single-statement write commits as it runs, so it passes
/// here before its statement: failing there leaves what its failed commit would, no change.
fn commit_failpoint() -> Result<()> {
    fail::fail_point!("catalog::commit", |_| Err(CatalogError::Db(
        sqlx::Error::Io(std::io::Error::other("failpoint catalog::commit"))
    )));
    Ok(())
}

async fn insert_tags(
    tx: &mut sqlx::Transaction<'_, Any>,
    uid: u64,
    tags: &BTreeMap<String, String>,
) -> Result<()> {
    for (key, value) in tags {
        sqlx::query("INSERT INTO tags (stream_uid, key, value) VALUES ($1, $2, $3)")
            .bind(uid as i64)
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_shard(
    tx: &mut sqlx::Transaction<'_, Any>,
    uid: u64,
    shard: &ShardRow,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO shards (stream_uid, shard_index, hash_start, hash_end, parent_index,
           adjacent_parent_index, created_ms, closed_next_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uid as i64)
    .bind(shard.index as i64)
    .bind(shard.hash_start.to_string())
    .bind(shard.hash_end.to_string())
    .bind(shard.parent_index.map(i64::from))
    .bind(shard.adjacent_parent_index.map(i64::from))
    .bind(shard.created_ms)
    .bind(shard.closed_next_offset.map(|o| o as i64))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) fn parse_u128(field: &'static str, value: String) -> Result<u128> {
    u128::from_str(&value).map_err(|_| CatalogError::Corrupt { field, value })
}

/// The URL of the SQLite database at `path`, to be created if missing. The path is made absolute
/// (a relative one would parse as a URL's host) and percent-encoded byte by byte, which sqlx
/// decodes back, so any UTF-8 file name survives (sqlx refuses others with an error).
fn sqlite_url(path: &Path) -> Result<String> {
    let path = std::path::absolute(path).map_err(sqlx::Error::Io)?;
    let mut url = String::from("sqlite://");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Any` connects by URL, which carries no pragmas: every pooled connection must still be
    /// durable and enforce foreign keys, and any file name must reach SQLite intact.
    #[tokio::test]
    async fn every_sqlite_connection_gets_the_catalog_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat alog%20?#é.db");
        let catalog = SqlCatalog::open_sqlite(&path).await.unwrap();
        assert!(path.is_file());
        let mut connections = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            connections.push(catalog.pool.acquire().await.unwrap());
        }
        for connection in &mut connections {
            let mut pragma = async |name: &str| -> String {
                let row = sqlx::query(&format!("PRAGMA {name}"))
                    .fetch_one(&mut **connection)
                    .await
                    .unwrap();
                row.try_get::<String, _>(0)
                    .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                    .unwrap()
            };
            assert_eq!(pragma("journal_mode").await, "wal");
            // 2 is FULL.
            assert_eq!(pragma("synchronous").await, "2");
            assert_eq!(pragma("foreign_keys").await, "1");
        }
    }
}
