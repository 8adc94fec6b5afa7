//! One settings tree for the binary, layered: built-in defaults → TOML file → `FRESHET_*`
//! environment variables (nested keys joined with `__`, e.g. `FRESHET_STREAMS__SHARD_LIMIT`) →
//! command-line flags. `freshet.example.toml` documents every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use freshet_log::FsyncPolicy;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address of the edge listener.
    pub listen: SocketAddr,
    /// Everything durable lives under this directory.
    pub data_dir: PathBuf,
    /// `always` (ack after fsync), `interval:MS`, or `never`.
    pub fsync: String,
    /// Region and account shown in ARNs.
    pub region: String,
    pub account_id: String,
    /// When set, the bound address is written here once the server listens (for tests and
    /// supervisors that start it on port 0).
    pub ready_file: Option<PathBuf>,
    /// `tracing` filter, e.g. `info` or `freshet_log=debug,info`.
    pub log: String,
    pub streams: StreamsSettings,
    pub firehose: FirehoseSettings,
    pub analytics: AnalyticsSettings,
    pub video: VideoSettings,
    pub auth: AuthSettings,
    pub encryption: EncryptionSettings,
    pub limits: LimitSettings,
    pub tls: TlsSettings,
    pub cors: CorsSettings,
    pub cluster: ClusterSettings,
}

/// Cluster mode: record data in an S3-compatible bucket (reached with `[firehose.s3]`'s
/// endpoint and credentials), everything else in PostgreSQL.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// `postgres://user:password@host:port/database`.
    pub postgres_url: Option<String>,
    /// `s3://bucket/prefix`: where every node keeps its log objects.
    pub object_store: Option<String>,
    /// This node's name, unique in the cluster and stable across its restarts (default: the
    /// host name).
    pub node_name: Option<String>,
    /// The longest an acknowledgement waits for its object (a flush per node per interval).
    pub flush_interval_ms: u64,
    /// How long the serving node's lease lasts unrenewed: a standby takes over this long
    /// after the serving node stopped renewing it.
    pub lease_ttl_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            enabled: false,
            postgres_url: None,
            object_store: None,
            node_name: None,
            flush_interval_ms: 50,
            lease_ttl_ms: 10_000,
        }
    }
}

/// Encryption at rest: the master key that wraps the local KMS's key material.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EncryptionSettings {
    /// A file of 64 hex digits; created with a random key if absent. Default
    /// `<data_dir>/kms/master.key`: keep it off the data directory's disk (a secret mount, a
    /// separate volume) for the encryption to protect against a stolen disk or backup.
    pub master_key_file: Option<PathBuf>,
    /// Master keys replaced by a rotation: material wrapped under them is read and wrapped
    /// anew under the current key at start; list them until one start has completed.
    pub previous_master_key_files: Vec<PathBuf>,
    /// A KMS-compatible endpoint (`http(s)://host:port`) whose keys wrap the data keys instead
    /// of the local KMS, which is then not served. Calls are SigV4-signed with the key below.
    pub kms_endpoint: Option<String>,
    /// The endpoint's region (default: the server's).
    pub kms_region: Option<String>,
    pub kms_access_key_id: Option<String>,
    pub kms_secret_access_key: Option<String>,
    /// How often the endpoint is asked whether the keys in use are still enabled (default 60 s).
    pub kms_check_secs: Option<u64>,
}

/// Cross-origin access for browser code calling the APIs directly (the AWS SDK for JavaScript).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsSettings {
    /// Origins allowed to call the APIs from a browser: `["*"]` (any, as AWS), a list of exact
    /// origins such as `"https://app.example:8443"`, or `[]` (none).
    pub allowed_origins: Vec<String>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: vec!["*".into()],
        }
    }
}

/// Firehose delivery: where S3 destinations write and what HTTP endpoints trust.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct FirehoseSettings {
    /// How long a new delivery stream stays CREATING.
    pub create_delay_ms: u64,
    /// Delivery streams allowed in the account.
    pub stream_limit: usize,
    /// Undelivered MiB per delivery stream before puts are refused with
    /// ServiceUnavailableException.
    pub max_backlog_mib: u64,
    /// PEM file of extra CA certificates trusted for HTTP endpoint delivery.
    pub http_ca_file: Option<PathBuf>,
    /// Data partitions a dynamically partitioned delivery stream buffers at once; records of
    /// further partitions go to the `activePartitionExceeded` error output (AWS: 500).
    pub max_active_partitions: usize,
    /// OpenSearch / Elasticsearch domains' endpoints by domain name: how a destination that
    /// names its domain by `DomainARN` (`...:domain/<name>`) is reached.
    pub search_domains: BTreeMap<String, String>,
    pub s3: S3Settings,
    pub lambda: LambdaSettings,
    pub iceberg: IcebergSettings,
}

/// The Iceberg REST catalog Iceberg destinations commit through: by default Freshet's own (the
/// `/iceberg` endpoint over its Glue Data Catalog, called in process); with `catalog_url`, any
/// Iceberg REST catalog (requests unsigned), its `warehouse` given to its `/v1/config`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IcebergSettings {
    pub catalog_url: Option<String>,
    pub warehouse: Option<String>,
}

/// Where Lambda processors' functions are invoked: a Lambda-compatible endpoint speaking the
/// Invoke REST API (`POST /2015-03-31/functions/{name}/invocations`). Requests are unsigned.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LambdaSettings {
    pub endpoint: Option<String>,
}

/// An S3-compatible endpoint for S3 destinations; without `endpoint`, objects are written under
/// `<data_dir>/s3/<bucket>/`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub virtual_hosted_style: bool,
}

impl Default for FirehoseSettings {
    fn default() -> Self {
        FirehoseSettings {
            create_delay_ms: 100,
            stream_limit: 5000,
            max_backlog_mib: 1024,
            http_ca_file: None,
            max_active_partitions: 500,
            search_domains: BTreeMap::new(),
            s3: S3Settings::default(),
            lambda: LambdaSettings::default(),
            iceberg: IcebergSettings::default(),
        }
    }
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            virtual_hosted_style: false,
        }
    }
}

/// Kinesis Video: its WebRTC signaling channels.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoSettings {
    /// Viewers connected to one SINGLE_MASTER signaling channel at once (AWS: 10).
    pub max_viewers: usize,
    /// Signaling WebSockets the server holds at once, over all channels; more are refused at
    /// the handshake (`ClientLimitExceededException`). Unset: the open-files limit less 1,024,
    /// so the server always has descriptors left to accept API calls.
    pub max_signaling_connections: Option<usize>,
    /// Where the embedded TURN server listens (UDP), relaying WebRTC calls that cannot
    /// connect directly; unset: no TURN server (GetIceServerConfig answers an empty list).
    pub turn_listen: Option<SocketAddr>,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            max_viewers: 10,
            max_signaling_connections: None,
            turn_listen: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsSettings {
    pub flink: FlinkSettings,
}

/// An Apache Flink cluster that runs FLINK-* applications instead of the embedded engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct FlinkSettings {
    /// The JobManager's REST API (`http://host:8081`); unset: the embedded engine runs them.
    pub rest_url: Option<String>,
    /// Freshet's Flink SQL runner JAR (scripts/build-flink-sql-runner.sh builds it against the
    /// cluster's Flink); needed for Flink SQL applications on the cluster.
    pub sql_runner_jar: Option<PathBuf>,
    /// Where savepoints (snapshots) go, reachable by every JobManager and TaskManager
    /// (`file:///shared/dir`, `s3://bucket/prefix`); unset: the cluster's own savepoint dir.
    pub savepoint_dir: Option<String>,
    /// This server's endpoint as the cluster's Kinesis/Firehose connectors reach it; unset:
    /// the address the server listens on.
    pub endpoint: Option<String>,
    /// How long a job may take to start and a savepoint to complete.
    pub timeout_secs: u64,
}

impl Default for FlinkSettings {
    fn default() -> Self {
        FlinkSettings {
            rest_url: None,
            sql_runner_jar: None,
            savepoint_dir: None,
            endpoint: None,
            timeout_secs: 120,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamsSettings {
    pub create_delay_ms: u64,
    pub delete_delay_ms: u64,
    pub update_delay_ms: u64,
    pub shard_limit: u32,
    pub on_demand_stream_limit: u32,
    pub shard_count_updates_per_day: u32,
    pub consumers_per_stream: u32,
    pub retention_check_secs: u64,
    pub segment_mib: u64,
    /// Enforce AWS's per-shard throughput limits (throttling as AWS does).
    pub enforce_limits: bool,
    pub on_demand: OnDemandSettings,
}

/// How ON_DEMAND streams scale themselves (see `freshet_streams::OnDemandPolicy`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct OnDemandSettings {
    pub interval_ms: u64,
    pub split_bytes_per_sec: f64,
    pub split_records_per_sec: f64,
    pub merge_fraction: f64,
    pub cold_intervals: u32,
    pub min_shards: usize,
}

impl Default for OnDemandSettings {
    fn default() -> Self {
        let p = freshet_streams::OnDemandPolicy::default();
        OnDemandSettings {
            interval_ms: p.interval.as_millis() as u64,
            split_bytes_per_sec: p.split_bytes_per_sec,
            split_records_per_sec: p.split_records_per_sec,
            merge_fraction: p.merge_fraction,
            cold_intervals: p.cold_intervals,
            min_shards: p.min_shards,
        }
    }
}

impl OnDemandSettings {
    pub fn policy(&self) -> freshet_streams::OnDemandPolicy {
        freshet_streams::OnDemandPolicy {
            interval: Duration::from_millis(self.interval_ms.max(10)),
            split_bytes_per_sec: self.split_bytes_per_sec,
            split_records_per_sec: self.split_records_per_sec,
            merge_fraction: self.merge_fraction,
            cold_intervals: self.cold_intervals,
            min_shards: self.min_shards,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// With both set, every request must carry a valid SigV4 signature; this key is the
    /// account's root, allowed everything in the account.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Users (access keys) and roles with their IAM policies, TOML or JSON (by extension);
    /// read again on SIGHUP and when it changes. With any key, requests must be signed.
    pub principals_file: Option<PathBuf>,
}

/// What one client can hold of the server, so a hostile or broken one cannot take it down.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Open connections in all, and from one IP address; past them a connection is closed.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Time to send a request's head (and to start one on an idle keep-alive connection).
    pub header_read_timeout_ms: u64,
    /// Bytes of a request head, and header fields in one request.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Concurrent HTTP/2 streams on one connection.
    pub max_concurrent_streams: u32,
    /// MiB of request bodies buffered at once (past it requests wait, then get 503).
    pub body_budget_mib: usize,
    /// Time for a buffered request body to arrive.
    pub body_read_timeout_ms: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let (serve, body) = (
            freshet_edge::Limits::default(),
            freshet_edge::BodyLimits::default(),
        );
        LimitSettings {
            max_connections: serve.max_connections,
            max_connections_per_ip: serve.max_connections_per_ip,
            header_read_timeout_ms: serve.header_read_timeout.as_millis() as u64,
            max_header_bytes: serve.max_header_bytes,
            max_headers: serve.max_headers,
            max_concurrent_streams: serve.max_concurrent_streams,
            body_budget_mib: body.budget_bytes / (1024 * 1024),
            body_read_timeout_ms: body.read_timeout.as_millis() as u64,
        }
    }
}

impl LimitSettings {
    pub fn serve(&self) -> freshet_edge::Limits {
        freshet_edge::Limits {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_concurrent_streams: self.max_concurrent_streams,
        }
    }

    pub fn bodies(&self) -> freshet_edge::BodyLimits {
        freshet_edge::BodyLimits {
            budget_bytes: self.body_budget_mib * 1024 * 1024,
            read_timeout: Duration::from_millis(self.body_read_timeout_ms),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM certificate chain and private key; when both are set the listener speaks TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Serve TLS with a freshly generated self-signed certificate.
    pub self_signed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: PathBuf::from("./data"),
            fsync: "always".into(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            ready_file: None,
            log: "info".into(),
            streams: StreamsSettings::default(),
            firehose: FirehoseSettings::default(),
            analytics: AnalyticsSettings::default(),
            video: VideoSettings::default(),
            auth: AuthSettings::default(),
            encryption: EncryptionSettings::default(),
            limits: LimitSettings::default(),
            tls: TlsSettings::default(),
            cors: CorsSettings::default(),
            cluster: ClusterSettings::default(),
        }
    }
}

impl Default for StreamsSettings {
    fn default() -> Self {
        StreamsSettings {
            create_delay_ms: 100,
            delete_delay_ms: 100,
            update_delay_ms: 100,
            shard_limit: 1000,
            on_demand_stream_limit: 50,
            shard_count_updates_per_day: 10,
            consumers_per_stream: 20,
            retention_check_secs: 60,
            enforce_limits: false,
            segment_mib: 128,
            on_demand: OnDemandSettings::default(),
        }
    }
}

impl Settings {
    /// Layers the sources; `overrides` holds only the flags given on the command line.
    pub fn load(
        config_file: Option<&PathBuf>,
        overrides: impl Serialize,
    ) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("FRESHET_").split("__"))
            .merge(Serialized::defaults(overrides));
        let settings: Settings = figment.extract().context("invalid settings")?;
        settings.fsync_policy()?;
        Ok(settings)
    }

    pub fn fsync_policy(&self) -> anyhow::Result<FsyncPolicy> {
        match self.fsync.as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => match other.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) => Ok(FsyncPolicy::Interval(Duration::from_millis(ms))),
                _ => bail!("fsync must be always, never or interval:MS (got {other:?})"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "fsync = \"never\"\n[streams]\nshard_limit = 7\ncreate_delay_ms = 5\n",
        )
        .unwrap();
        let overrides = serde_json::json!({"streams": {"create_delay_ms": 0}});
        let s = Settings::load(Some(&file), overrides).unwrap();
        assert_eq!(s.fsync_policy().unwrap(), FsyncPolicy::Never);
        assert_eq!(s.streams.shard_limit, 7);
        assert_eq!(s.streams.create_delay_ms, 0);
        assert_eq!(s.listen.port(), 4566);
    }

    #[test]
    fn example_config_is_the_defaults() {
        // Compiled in rather than read through CARGO_MANIFEST_DIR: a test binary reused from a
        // shared build cache may carry another checkout's path.
        let dir = tempfile::tempdir().unwrap();
        let example = dir.path().join("freshet.example.toml");
        std::fs::write(&example, include_str!("../../../freshet.example.toml")).unwrap();
        let s = Settings::load(Some(&example), serde_json::json!({})).unwrap();
        let d = Settings::default();
        assert_eq!(s.listen, d.listen);
        assert_eq!(s.fsync, d.fsync);
        assert_eq!(s.streams.shard_limit, d.streams.shard_limit);
        assert_eq!(s.streams.segment_mib, d.streams.segment_mib);
    }

    #[test]
    fn bad_fsync_is_refused() {
        let err = Settings::load(None, serde_json::json!({"fsync": "sometimes"})).unwrap_err();
        assert!(err.to_string().contains("fsync"));
    }
}
