//! Settings of the Data Streams service (filled from the binary's settings tree).

use std::time::Duration;

use freshet_runtime::SharedClock;

#[derive(Clone, Debug)]
pub struct StreamsConfig {
    /// Region and account that appear in ARNs and error messages.
    pub region: String,
    pub account_id: String,
    /// How long a stream stays CREATING / DELETING / UPDATING, so that waiters observe the
    /// transitions as they do on AWS. Zero makes the change complete before the call returns.
    pub create_delay: Duration,
    pub delete_delay: Duration,
    pub update_delay: Duration,
    /// Open shards allowed in the account (DescribeLimits' ShardLimit).
    pub shard_limit: u32,
    /// On-demand streams allowed in the account.
    pub on_demand_stream_limit: u32,
    /// Registered consumers allowed per stream (AWS: 20).
    pub consumers_per_stream: u32,
    /// UpdateShardCount calls allowed per stream in a rolling 24 hours (AWS: 10).
    pub shard_count_updates_per_day: u32,
    /// How ON_DEMAND streams split and merge shards by themselves.
    pub on_demand: crate::autoscale::OnDemandPolicy,
    /// How often retention deletes expired segments.
    pub retention_interval: Duration,
    /// Whether AWS's per-shard throughput limits are enforced (see `limits`).
    pub enforce_limits: bool,
    /// Where every reading of time comes from (arrival times are the log's).
    pub clock: SharedClock,
    /// The data keys of encrypted streams (StartStreamEncryption); without one, encryption
    /// requests answer KMSNotFoundException.
    pub keys: Option<std::sync::Arc<freshet_kms::Keyring>>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            create_delay: Duration::from_millis(100),
            delete_delay: Duration::from_millis(100),
            update_delay: Duration::from_millis(100),
            shard_limit: 1000,
            on_demand_stream_limit: 50,
            shard_count_updates_per_day: 10,
            consumers_per_stream: 20,
            on_demand: Default::default(),
            retention_interval: Duration::from_secs(60),
            enforce_limits: false,
            clock: SharedClock::system(),
            keys: None,
        }
    }
}
