//! Cluster mode's node: the catalog on PostgreSQL, one object-storage log per service, and the
//! cluster lease under which this node serves.
//!
//! Today one node serves at a time: the others stand by (not listening) until the serving
//! node's lease lapses, then one takes over within `lease_ttl_ms`, over the same bucket and
//! database, so no acknowledged record is lost with a node. Serving from every node at once
//! needs the services to follow each other's catalog changes (ARCHITECTURE.md, "Cluster mode").

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use freshet_catalog::{Catalog, CatalogError, Lease};
use freshet_cluster::{ObjectLog, ObjectLogConfig};
use freshet_firehose::S3Endpoint;
use freshet_runtime::SharedClock;
use parking_lot::Mutex;
use sqlx::postgres::PgPoolOptions;

use crate::settings::Settings;

/// The lease that makes a node the serving one.
const SERVE_LEASE: &str = "cluster/serve";

pub struct ClusterNode {
    /// The services' catalog (closed with them).
    pub catalog: Catalog,
    /// The lease's own handle: it is released after the services closed theirs.
    leases: Catalog,
    pool: sqlx::PgPool,
    store: Arc<dyn object_store::ObjectStore>,
    prefix: String,
    name: String,
    flush_interval: Duration,
    clock: SharedClock,
    lease: Arc<Mutex<Lease>>,
    renewer: tokio::task::JoinHandle<()>,
}

impl ClusterNode {
    /// Connects to the cluster's database and bucket and waits (standing by) until this node
    /// holds the serving lease.
    pub async fn join(settings: &Settings, clock: &SharedClock) -> anyhow::Result<ClusterNode> {
        let c = &settings.cluster;
        let url = c
            .postgres_url
            .as_deref()
            .context("cluster mode needs [cluster] postgres_url (--postgres)")?;
        let location = c.object_store.as_deref().context(
            "cluster mode needs [cluster] object_store (--object-store s3://bucket/prefix)",
        )?;
        let Some((bucket, prefix)) = location
            .strip_prefix("s3://")
            .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
        else {
            bail!("[cluster] object_store must be s3://bucket/prefix (got {location:?})");
        };
        let s3 = &settings.firehose.s3;
        let endpoint = S3Endpoint {
            url: s3.endpoint.clone().context(
                "cluster mode reaches its bucket through [firehose.s3] endpoint and credentials",
            )?,
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone(),
            virtual_hosted: s3.virtual_hosted_style,
        };
        let store = endpoint
            .object_store(bucket)
            .with_context(|| format!("the bucket {bucket}"))?;
        let catalog = Catalog::open_postgres(url)
            .await
            .context("the cluster's PostgreSQL")?;
        let leases = Catalog::open_postgres(url)
            .await
            .context("the cluster's PostgreSQL")?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await
            .context("the cluster's PostgreSQL")?;
        let name = c.node_name.clone().unwrap_or_else(host_name);
        // One holder per process: a restarted node is a new holder, so its lease has a new
        // epoch and fences whatever its previous process still had in flight.
        let holder = format!("{name}/{}/{}", std::process::id(), clock.now_ms());
        let ttl = Duration::from_millis(c.lease_ttl_ms.max(1000));
        let lease = acquire(&leases, clock, &holder, ttl).await?;
        tracing::info!(node = %name, epoch = lease.epoch, "serving: this node holds the cluster lease");
        let lease = Arc::new(Mutex::new(lease));
        let renewer = tokio::spawn(renew(leases.clone(), clock.clone(), lease.clone(), ttl));
        Ok(ClusterNode {
            catalog,
            leases,
            pool,
            store,
            prefix: prefix.to_string(),
            name,
            flush_interval: Duration::from_millis(c.flush_interval_ms.max(1)),
            clock: clock.clone(),
            lease,
            renewer,
        })
    }

    /// A service's log (`streams`, `firehose`, `video`) on the cluster's bucket.
    pub async fn log(&self, service: &str) -> anyhow::Result<ObjectLog> {
        let mut cfg = ObjectLogConfig::new(service, self.name.as_str());
        cfg.flush_interval = self.flush_interval;
        cfg.clock = self.clock.clone();
        ObjectLog::open(self.pool.clone(), self.store.clone(), &self.prefix, cfg)
            .await
            .with_context(|| format!("the cluster's {service} log"))
    }

    /// Gives the lease up after a clean stop, so a standby takes over at once.
    pub async fn leave(self) {
        self.renewer.abort();
        let lease = self.lease.lock().clone();
        if let Err(e) = self.leases.release_lease(&lease, self.clock.now_ms()).await {
            tracing::warn!(error = %e, "could not release the cluster lease");
        }
        self.leases.close().await;
    }
}

/// Waits until the serving lease is this holder's.
async fn acquire(
    catalog: &Catalog,
    clock: &SharedClock,
    holder: &str,
    ttl: Duration,
) -> anyhow::Result<Lease> {
    let mut announced = false;
    loop {
        let now = clock.now_ms();
        if let Some(lease) = catalog
            .acquire_lease(SERVE_LEASE, holder, now, ttl.as_millis() as i64)
            .await?
        {
            return Ok(lease);
        }
        if !announced {
            tracing::info!("standing by: another node serves the cluster");
            announced = true;
        }
        clock.sleep(ttl / 4).await;
    }
}

/// Renews the lease every third of its life. A node that cannot renew for half of it, or
/// finds it taken over, stops at once: a standby may take over once it lapses, and two
/// serving nodes must never overlap. Acknowledged records are durable already.
async fn renew(catalog: Catalog, clock: SharedClock, lease: Arc<Mutex<Lease>>, ttl: Duration) {
    let mut renewed_ms = clock.now_ms();
    loop {
        clock.sleep(ttl / 3).await;
        let held = lease.lock().clone();
        let now = clock.now_ms();
        match catalog
            .renew_lease(&held, now, ttl.as_millis() as i64)
            .await
        {
            Ok(next) => {
                *lease.lock() = next;
                renewed_ms = now;
            }
            Err(CatalogError::Fenced { .. }) => {
                tracing::error!("the cluster lease was taken over; stopping");
                std::process::exit(3);
            }
            Err(e) if now - renewed_ms > ttl.as_millis() as i64 / 2 => {
                tracing::error!(error = %e, "cannot renew the cluster lease; stopping");
                std::process::exit(3);
            }
            Err(e) => tracing::warn!(error = %e, "renewing the cluster lease failed; retrying"),
        }
    }
}

/// The machine's host name (Linux), else "node".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "node".into())
}
