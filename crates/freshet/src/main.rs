//! The `freshet` binary: `freshet serve` runs every API on one port over embedded storage.

mod cluster;
mod failpoints;
mod settings;

/// The request path allocates and frees many small buffers per record (JSON nodes, keys, decoded
/// blobs); mimalloc's thread-local free lists make that markedly cheaper than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The index of `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys names no
/// constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed heap memory for reuse instead of handing it back to the OS after a second, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. Request and answer buffers run to megabytes; given back
/// and taken again, every page of them costs a page fault and zeroing, which was 10–15 % of the
/// server's CPU under put and get loads. The cost is an RSS that stays at its peak.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores a value in mimalloc's option table, which it reads
        // when deciding whether to purge; every option index and value is allowed.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use freshet_analytics::{
    AnalyticsConfig, AnalyticsService, ClusterConfig, FlinkCluster, Runner, RunnerSettings,
};
use freshet_catalog::Catalog;
use freshet_cloudwatch::CloudWatchService;
use freshet_console::{ConsoleApi, ConsoleConfig};
use freshet_edge::cors::AllowedOrigins;
use freshet_edge::{
    AnalyticsApi, AnalyticsV2Api, CloudWatchApi, EdgeBuilder, FirehoseApi, GlueApi, IcebergApi,
    KinesisApi, KmsApi, Scope, StsApi, VideoApi,
};
use freshet_firehose::sink::ObjectWriter;
use freshet_firehose::{FirehoseConfig, FirehoseService, S3Endpoint, S3Target};
use freshet_glue::{GlueConfig, GlueService};
use freshet_iam::Iam;
use freshet_iceberg::{IcebergCatalog, IcebergConfig};
use freshet_kms::master::{MasterKey, MasterKeys};
use freshet_kms::{KeyService, Keyring, Kms, RemoteKms};
use freshet_log::{Log, LogBackend, LogConfig};
use freshet_runtime::SharedClock;
use freshet_streams::{StreamsConfig, StreamsService};
use freshet_video::{VideoConfig, VideoService};
use serde::Serialize;
use settings::Settings;

#[derive(Parser)]
#[command(name = "freshet", version, about = "A self-hosted, Kinesis-compatible streaming platform", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Kinesis APIs (default 127.0.0.1:4566) over embedded durable storage (./data).
    Serve(Box<ServeArgs>),
    /// Drive a Kinesis endpoint (Freshet or any other) with load and report throughput and latency.
    Bench(Box<freshet_bench::BenchArgs>),
}

/// Flags override the config file and FRESHET_* variables; only flags that are given count.
#[derive(clap::Args, Serialize)]
struct ServeArgs {
    /// TOML config file (see freshet.example.toml).
    #[arg(long, short)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:4566 (port 0 picks a free port).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    /// Directory for all durable data.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// When acknowledged writes are fsynced: always | interval:MS | never.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    fsync: Option<String>,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_file: Option<PathBuf>,
    /// Region shown in ARNs.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    /// Log filter (tracing env-filter syntax).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    #[command(flatten)]
    streams: StreamsFlags,
    #[command(flatten)]
    auth: AuthFlags,
    #[command(flatten)]
    tls: TlsFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
}

#[derive(clap::Args, Serialize)]
struct ClusterFlags {
    /// Cluster mode: record data in an S3-compatible bucket, everything else in PostgreSQL.
    #[arg(long = "cluster", requires_all = ["postgres_url", "object_store"])]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enabled: bool,
    /// PostgreSQL for cluster mode: postgres://user:password@host:port/database.
    #[arg(long = "postgres")]
    #[serde(skip_serializing_if = "Option::is_none")]
    postgres_url: Option<String>,
    /// Bucket and prefix for cluster mode's log objects: s3://bucket/prefix (endpoint and
    /// credentials from [firehose.s3]).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    object_store: Option<String>,
    /// This node's name in the cluster (default: the host name).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    node_name: Option<String>,
}

#[derive(clap::Args, Serialize)]
struct StreamsFlags {
    /// How long a new stream stays CREATING.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    create_delay_ms: Option<u64>,
    /// How long a deleted stream stays DELETING.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_delay_ms: Option<u64>,
    /// How long a changed stream stays UPDATING.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    update_delay_ms: Option<u64>,
    /// Open shards allowed in the account.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_limit: Option<u32>,
    /// Enforce AWS's per-shard throughput limits: 1 MiB/s and 1,000 records/s of writes,
    /// 5 GetRecords calls/s and 2 MiB/s of reads, answered as AWS answers them.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enforce_limits: bool,
}

#[derive(clap::Args, Serialize)]
struct AuthFlags {
    /// Require SigV4 signatures by this access key (with --secret-access-key).
    #[arg(long, requires = "secret_access_key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[arg(long, requires = "access_key_id")]
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
}

#[derive(clap::Args, Serialize)]
struct TlsFlags {
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long = "tls-cert", requires = "key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long = "tls-key", requires = "cert")]
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<PathBuf>,
    /// Serve TLS with a generated self-signed certificate.
    #[arg(long = "tls-self-signed")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    self_signed: bool,
}

fn main() -> anyhow::Result<()> {
    // Named, not `_`: the guard keeps the points armed for the life of the process.
    let _failpoints = failpoints::setup();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            keep_freed_memory();
            let settings = Settings::load(args.config.as_ref(), &*args)?;
            // PostgreSQL's notices (a migration's "already exists, skipping") are no events of
            // ours: shown only when the filter names them.
            let filter = if settings.log.contains("sqlx") {
                settings.log.clone()
            } else {
                format!("{},sqlx::postgres::notice=warn", settings.log)
            };
            let filter =
                tracing_subscriber::EnvFilter::try_new(&filter).context("invalid log filter")?;
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                // Colours for a terminal only: a log file or journal gets plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(settings))
        }
        Command::Bench(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(freshet_bench::run(*args))
            .map(drop),
    }
}

/// Every shard keeps its active segment file open, so a server with thousands of shards needs
/// more file descriptors than the usual soft limit of 1,024: raise the soft limit to the hard one.
/// Answers the soft limit in force afterwards.
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the `rlimit` passed to them, which
    // lives on this stack frame for the whole call.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            limit.rlim_cur >= limit.rlim_max || libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0
        }
    };
    if raised {
        tracing::debug!(limit = limit.rlim_max, "open file limit raised");
        limit.rlim_max
    } else {
        tracing::warn!(soft = limit.rlim_cur, "could not raise the open file limit");
        limit.rlim_cur
    }
}

/// Descriptors kept from signaling WebSockets for everything else: API connections, log
/// segments, the catalog, sockets of storage sessions.
const RESERVED_DESCRIPTORS: u64 = 1_024;

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // The one clock every part of the server reads time from.
    let clock = SharedClock::system();
    let data_dir = &settings.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    if settings.cluster.enabled {
        let node = cluster::ClusterNode::join(&settings, &clock).await?;
        let logs = Logs {
            streams: node.log("streams").await?,
            firehose: node.log("firehose").await?,
            video: node.log("video").await?,
        };
        let result = run(settings, clock, node.catalog.clone(), logs).await;
        node.leave().await;
        return result;
    }
    let mut log_config = LogConfig::new(data_dir.join("log"));
    log_config.fsync = settings.fsync_policy()?;
    log_config.segment_bytes = settings.streams.segment_mib.max(1) << 20;
    log_config.clock = clock.clone();
    let logs = Logs {
        streams: tokio::task::spawn_blocking(move || Log::open(log_config)).await??,
        firehose: open_log(&settings, "firehose-log", &clock).await?,
        video: open_log(&settings, "video-log", &clock).await?,
    };
    let catalog = Catalog::open(&data_dir.join("catalog.db")).await?;
    run(settings, clock, catalog, logs).await
}

/// Each service's own log (its own group commit and orphan clean-up), of one backend.
struct Logs<L> {
    streams: L,
    firehose: L,
    video: L,
}

/// Opens every service over the storage, composes the edge and serves until a shutdown signal.
async fn run<L: LogBackend + 'static>(
    settings: Settings,
    clock: SharedClock,
    catalog: Catalog,
    logs: Logs<L>,
) -> anyhow::Result<()> {
    let open_files = raise_open_file_limit();
    let data_dir = &settings.data_dir;
    let (key_service, local_kms) = key_service(&settings, catalog.clone(), &clock).await?;
    let keyring =
        |log: &'static str| Keyring::open(log, catalog.clone(), key_service.clone(), clock.clone());
    let s = &settings.streams;
    let config = StreamsConfig {
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        create_delay: Duration::from_millis(s.create_delay_ms),
        delete_delay: Duration::from_millis(s.delete_delay_ms),
        update_delay: Duration::from_millis(s.update_delay_ms),
        shard_limit: s.shard_limit,
        enforce_limits: s.enforce_limits,
        on_demand_stream_limit: s.on_demand_stream_limit,
        shard_count_updates_per_day: s.shard_count_updates_per_day,
        consumers_per_stream: s.consumers_per_stream,
        on_demand: s.on_demand.policy(),
        retention_interval: Duration::from_secs(s.retention_check_secs.max(1)),
        clock: clock.clone(),
        keys: Some(keyring("streams").await?),
    };
    let streams = StreamsService::open(config, catalog.clone(), logs.streams).await?;
    streams.spawn_background();
    // Opened before Firehose, whose record format conversion reads its tables' schemas.
    let glue = GlueService::open(
        GlueConfig {
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
            clock: clock.clone(),
        },
        catalog.clone(),
    )
    .await?;
    // Firehose and the Iceberg catalog write to the same object store.
    let s3 = s3_target(&settings);
    let iceberg = IcebergCatalog::new(
        glue.clone(),
        std::sync::Arc::new(ObjectWriter::new(s3.clone())),
        IcebergConfig {
            account_id: settings.account_id.clone(),
            warehouse: None,
        },
    );
    let firehose_config = firehose_config(
        &settings,
        glue.clone(),
        s3,
        iceberg_catalog(&settings, &iceberg)?,
        keyring("firehose").await?,
        &clock,
    )
    .await?;
    let firehose = FirehoseService::open(
        firehose_config,
        catalog.clone(),
        logs.firehose,
        streams.clone(),
    )
    .await?;

    let root = match (
        &settings.auth.access_key_id,
        &settings.auth.secret_access_key,
    ) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let iam = Arc::new(Iam::open(
        &data_dir.join("iam"),
        &settings.account_id,
        root,
        settings.auth.principals_file.as_deref(),
    )?);
    tokio::spawn(watch_principals(iam.clone()));
    let tls = match (
        &settings.tls.cert,
        &settings.tls.key,
        settings.tls.self_signed,
    ) {
        (Some(cert), Some(key), _) => Some(freshet_edge::tls::from_pem_files(cert, key)?),
        (_, _, true) => Some(freshet_edge::tls::self_signed()?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let bound = listener.local_addr()?;
    tracing::info!(
        addr = %bound,
        data_dir = %data_dir.display(),
        fsync = %settings.fsync,
        tls = tls.is_some(),
        sigv4 = iam.enabled(),
        "freshet listening"
    );
    let video = VideoService::open(
        VideoConfig {
            max_viewers: settings.video.max_viewers,
            // Past the open-files limit the server could accept no connection at all.
            max_signaling_connections: settings
                .video
                .max_signaling_connections
                .unwrap_or(open_files.saturating_sub(RESERVED_DESCRIPTORS).max(64) as usize),
            turn_listen: settings.video.turn_listen,
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
            // GetDataEndpoint sends media clients back to this same listener.
            data_endpoint: format!("{}://{bound}", if tls.is_some() { "https" } else { "http" }),
            create_delay: Duration::from_millis(settings.streams.create_delay_ms),
            clock: clock.clone(),
            keys: Some(keyring("video").await?),
        },
        catalog.clone(),
        logs.video,
    )
    .await?;
    video.spawn_retention();
    let runner = Runner::new(
        streams.clone(),
        firehose.clone(),
        catalog.clone(),
        clock.clone(),
        RunnerSettings::default(),
    );
    let flink_cluster = match &settings.analytics.flink.rest_url {
        Some(rest_url) => {
            let flink = &settings.analytics.flink;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let cluster = FlinkCluster::new(
                ClusterConfig {
                    rest_url: rest_url.clone(),
                    sql_runner_jar: flink.sql_runner_jar.clone(),
                    savepoint_dir: flink.savepoint_dir.clone(),
                    endpoint: Some(
                        flink
                            .endpoint
                            .clone()
                            .unwrap_or_else(|| format!("{scheme}://{bound}")),
                    ),
                    timeout: Duration::from_secs(flink.timeout_secs.max(1)),
                },
                catalog.clone(),
                clock.clone(),
            )?;
            tracing::info!(rest_url, "FLINK-* applications run on the Flink cluster");
            Some(std::sync::Arc::new(cluster) as std::sync::Arc<dyn freshet_analytics::Launcher>)
        }
        None => None,
    };
    let analytics = AnalyticsService::open(
        AnalyticsConfig {
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
            application_limit: 50,
            clock: clock.clone(),
            flink_cluster,
        },
        catalog.clone(),
        streams.clone(),
        firehose.clone(),
        std::sync::Arc::new(runner.clone()),
    )
    .await?;
    // The edge is the composition of the services' adapters: adding a service adds a line here.
    // The CloudWatch API's history reads every service's metrics once a second.
    let cloudwatch = CloudWatchService::default();
    let sources: Vec<freshet_cloudwatch::Source> = vec![
        {
            let s = streams.clone();
            Box::new(move |e| s.render_metrics(e))
        },
        {
            let s = firehose.clone();
            Box::new(move |e| s.render_metrics(e))
        },
        {
            let s = video.clone();
            Box::new(move |e| s.render_metrics(e))
        },
        {
            let s = analytics.clone();
            Box::new(move |e| s.render_metrics(e))
        },
    ];
    tokio::spawn(cloudwatch.clone().sample(clock.clone(), sources));
    let console = ConsoleApi::new(
        streams.clone(),
        firehose.clone(),
        analytics.clone(),
        ConsoleConfig {
            region: settings.region.clone(),
            auth: iam.enabled(),
        },
    );
    let scope = Scope {
        region: settings.region.clone(),
        account: settings.account_id.clone(),
    };
    let router = EdgeBuilder::new(iam.clone(), clock.clone(), scope)
        .body_limits(settings.limits.bodies())
        .cors(AllowedOrigins::from_list(&settings.cors.allowed_origins))
        .home(freshet_console::HOME)
        .api(console)
        .api(KinesisApi::new(streams.clone()))
        .api(FirehoseApi::new(firehose.clone()))
        .api(GlueApi::new(glue.clone()))
        .api(IcebergApi::new(iceberg.clone()))
        .api(VideoApi::new(video.clone()))
        .api(AnalyticsApi::new(analytics.clone()))
        .api(AnalyticsV2Api::new(analytics))
        .api(CloudWatchApi::new(cloudwatch, clock.clone()))
        .api(StsApi::new(iam));
    let router = match local_kms {
        Some(kms) => router.api(KmsApi::new(kms)),
        None => router,
    }
    .router();
    // Written once every service is open (the video index is built by then), so a watcher
    // that sees the address can use every API at once.
    if let Some(path) = &settings.ready_file {
        // Written whole then renamed, so a watcher never reads a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bound.to_string())?;
        std::fs::rename(&tmp, path)?;
    }
    let signaling = video.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Signaling clients are told to reconnect (to this server once it is back, or another).
        signaling.signaling_hub().notify_all("GO_AWAY");
    };
    freshet_edge::serve(listener, tls, router, settings.limits.serve(), shutdown).await?;
    tracing::info!("draining finished; closing storage");
    // Every service closes its own log (a clean restart then has nothing to recover); the
    // shared catalog closes last, with the streams service that owns it. Applications stop
    // first, committing their last checkpoints while the streams they read are still open.
    runner.stop_all().await;
    firehose.close().await?;
    video.close().await?;
    streams.close().await?;
    tracing::info!("freshet stopped cleanly");
    Ok(())
}

/// Where data keys come from: a KMS-compatible endpoint when one is configured, else the local
/// KMS (also served on the API port).
async fn key_service(
    settings: &Settings,
    catalog: Catalog,
    clock: &SharedClock,
) -> anyhow::Result<(Arc<dyn KeyService>, Option<Kms>)> {
    let e = &settings.encryption;
    let Some(endpoint) = &e.kms_endpoint else {
        let kms = open_kms(settings, catalog, clock).await?;
        return Ok((Arc::new(kms.clone()), Some(kms)));
    };
    let remote = Arc::new(RemoteKms::new(
        endpoint,
        e.kms_region.as_deref().unwrap_or(&settings.region),
        e.kms_access_key_id.as_deref().unwrap_or("freshet"),
        e.kms_secret_access_key.as_deref().unwrap_or("freshet"),
        clock.clone(),
    )?);
    let every = Duration::from_secs(e.kms_check_secs.unwrap_or(60).max(1));
    tokio::spawn(remote.clone().check_keys(every));
    tracing::info!(endpoint, "data keys come from a KMS endpoint");
    Ok((remote, None))
}

/// The local KMS, its key material wrapped under the master key file (created on first start
/// if absent), and the minute timer that rotates keys whose rotation period has passed.
async fn open_kms(
    settings: &Settings,
    catalog: Catalog,
    clock: &SharedClock,
) -> anyhow::Result<Kms> {
    let e = &settings.encryption;
    let current = match &e.master_key_file {
        Some(path) => MasterKey::load(path, true)?,
        None => MasterKey::load(&settings.data_dir.join("kms/master.key"), true)?,
    };
    let previous = e
        .previous_master_key_files
        .iter()
        .map(|p| MasterKey::load(p, false))
        .collect::<Result<Vec<_>, _>>()?;
    let kms = Kms::open(
        catalog,
        MasterKeys::new(current, previous),
        &settings.region,
        &settings.account_id,
        clock.clone(),
    )
    .await?;
    let rotating = kms.clone();
    let clock = clock.clone();
    tokio::spawn(async move {
        loop {
            clock.sleep(Duration::from_secs(60)).await;
            if let Err(e) = rotating.rotate_due().await {
                tracing::warn!(error = %e, "scheduled KMS key rotation failed");
            }
        }
    });
    Ok(kms)
}

/// A service's own log directory under the data dir, with the server's fsync policy (its own
/// writer thread and group commit, so services do not queue behind each other).
async fn open_log(settings: &Settings, dir: &str, clock: &SharedClock) -> anyhow::Result<Log> {
    let mut log_config = LogConfig::new(settings.data_dir.join(dir));
    log_config.fsync = settings.fsync_policy()?;
    log_config.clock = clock.clone();
    Ok(tokio::task::spawn_blocking(move || Log::open(log_config)).await??)
}

/// Firehose keeps its own log (its own group commit and orphan cleanup) beside the streams'.
/// Firehose's record format conversion reads its schemas from the Glue Data Catalog.
struct GlueSchemas(GlueService);

impl freshet_firehose::SchemaSource for GlueSchemas {
    fn columns<'a>(
        &'a self,
        database: &'a str,
        table: &'a str,
        version_id: Option<&'a str>,
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<(String, String)>, String>> {
        Box::pin(async move {
            self.0
                .table_columns(database, table, version_id)
                .await
                .map(|columns| columns.into_iter().map(|c| (c.name, c.type_name)).collect())
                .map_err(|e| e.to_string())
        })
    }
}

/// Where S3 objects go: the configured S3 endpoint, or the embedded target under the data dir.
fn s3_target(settings: &Settings) -> S3Target {
    let s3 = &settings.firehose.s3;
    match &s3.endpoint {
        Some(url) => S3Target::Remote(S3Endpoint {
            url: url.clone(),
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone(),
            virtual_hosted: s3.virtual_hosted_style,
        }),
        None => S3Target::Local(settings.data_dir.join("s3")),
    }
}

/// The extra CA certificates HTTP deliveries trust (`[firehose] http_ca_file`).
fn http_ca_pem(settings: &Settings) -> anyhow::Result<Option<Vec<u8>>> {
    match &settings.firehose.http_ca_file {
        Some(path) => Ok(Some(
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => Ok(None),
    }
}

/// The catalog Iceberg destinations commit through: Freshet's own, or the configured REST one.
fn iceberg_catalog(
    settings: &Settings,
    own: &IcebergCatalog,
) -> anyhow::Result<std::sync::Arc<dyn freshet_iceberg::TableCatalog>> {
    let i = &settings.firehose.iceberg;
    Ok(match &i.catalog_url {
        Some(url) => {
            // Reached with the trust HTTP endpoint delivery has.
            let http = freshet_firehose::sink::HttpSender::new(http_ca_pem(settings)?.as_deref())?;
            std::sync::Arc::new(
                freshet_iceberg::RestClient::new(http.client().clone(), url, i.warehouse.clone())
                    .context("[firehose.iceberg] catalog_url")?,
            )
        }
        None => std::sync::Arc::new(own.clone()),
    })
}

/// Firehose's settings; the service opens over them, its log, the catalog and the streams it
/// reads.
async fn firehose_config(
    settings: &Settings,
    glue: GlueService,
    s3: S3Target,
    iceberg_catalog: std::sync::Arc<dyn freshet_iceberg::TableCatalog>,
    keys: Arc<Keyring>,
    clock: &SharedClock,
) -> anyhow::Result<FirehoseConfig> {
    let f = &settings.firehose;
    let http_ca_pem = http_ca_pem(settings)?;
    let config = FirehoseConfig {
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        s3,
        http_ca_pem,
        create_delay: Duration::from_millis(f.create_delay_ms),
        max_backlog_bytes: f.max_backlog_mib.max(1) << 20,
        stream_limit: f.stream_limit,
        clock: clock.clone(),
        lambda_endpoint: f.lambda.endpoint.clone(),
        max_active_partitions: f.max_active_partitions.max(1),
        schemas: Some(std::sync::Arc::new(GlueSchemas(glue))),
        search_domains: f.search_domains.clone(),
        iceberg_catalog: Some(iceberg_catalog),
        keys: Some(keys),
    };
    Ok(config)
}

/// How often the principals file is checked for changes.
const PRINCIPALS_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the principals file again on SIGHUP, and when it changes on disk. A file that does
/// not load is reported and the last good one stays in force.
async fn watch_principals(iam: Arc<Iam>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Some(path) = iam.principals.path().map(|p| p.display().to_string()) else {
        return;
    };
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the principals file is only polled");
            None
        }
    };
    let mut poll = tokio::time::interval(PRINCIPALS_POLL);
    loop {
        let forced = tokio::select! {
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => true,
            _ = poll.tick() => false,
        };
        let result = if forced {
            iam.principals.reload().map(|()| true)
        } else {
            iam.principals.reload_if_changed()
        };
        match result {
            Ok(true) => tracing::info!(file = %path, "principals reloaded"),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, "principals file not reloaded; the last good one stays")
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index really is the purge delay: that option, alone among its neighbours, defaults to
    /// 1000 (ms), and setting it is read back.
    #[test]
    fn purge_delay_option_index() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: mi_option_get only reads mimalloc's option table; every index is allowed.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 1000);
        keep_freed_memory();
        assert_eq!(get(MI_OPTION_PURGE_DELAY), -1);
    }
}
