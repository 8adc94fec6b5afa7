//! What the service tests share: a service over a fresh log and catalog in `dir`, on the
//! config's clock, holding one stream.

use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_log::{FsyncPolicy, Log, LogConfig};
use freshet_streams::model::CreateStreamInput;
use freshet_streams::{StreamsConfig, StreamsService};

/// Opens the service with `config` (its delays zeroed) and creates stream `name` of `shards`.
pub async fn service_with(
    dir: &std::path::Path,
    config: StreamsConfig,
    name: &str,
    shards: i64,
) -> StreamsService {
    let mut log_config = LogConfig::new(dir.join("log"));
    log_config.fsync = FsyncPolicy::Never;
    log_config.clock = config.clock.clone();
    let catalog = Catalog::open(&dir.join("c.db")).await.unwrap();
    let config = StreamsConfig {
        create_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        update_delay: Duration::ZERO,
        ..config
    };
    let svc = StreamsService::open(config, catalog, Log::open(log_config).unwrap())
        .await
        .unwrap();
    svc.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        stream_mode_details: None,
        tags: None,
        warm_throughput_mibps: None,
        max_record_size_kib: None,
    })
    .await
    .unwrap();
    svc
}
