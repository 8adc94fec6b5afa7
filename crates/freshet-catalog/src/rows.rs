//! The stored shapes of catalog rows and their decoding from database rows (either backend).

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use freshet_runtime::Status;

use crate::{CatalogError, Result, parse_u128};

/// A row's `status` column: the AWS name of a `Status`.
fn status(row: &AnyRow) -> Result<Status> {
    let text: String = row.try_get("status")?;
    Status::parse(&text).ok_or(CatalogError::Corrupt {
        field: "status",
        value: text,
    })
}

/// A stream's capacity mode (`StreamModeDetails.StreamMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamMode {
    Provisioned,
    OnDemand,
}

impl StreamMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        }
    }

    pub fn parse(text: &str) -> Option<StreamMode> {
        match text {
            "PROVISIONED" => Some(StreamMode::Provisioned),
            "ON_DEMAND" => Some(StreamMode::OnDemand),
            _ => None,
        }
    }
}

/// A stream's stored descriptor. The encryption type holds the AWS enum string.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRow {
    pub uid: u64,
    pub name: String,
    pub status: Status,
    pub mode: StreamMode,
    pub created_ms: i64,
    pub retention_hours: i64,
    pub encryption_type: String,
    pub key_id: Option<String>,
    pub shard_level_metrics: Vec<String>,
    pub max_record_size_kib: i64,
    pub next_shard_index: i64,
    pub warm_throughput_mibps: Option<i64>,
}

/// A shard: its hash-key range, lineage and, once closed, the log offset after its last record.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRow {
    pub index: u32,
    pub hash_start: u128,
    pub hash_end: u128,
    pub parent_index: Option<u32>,
    pub adjacent_parent_index: Option<u32>,
    pub created_ms: i64,
    pub closed_next_offset: Option<u64>,
}

/// A registered consumer (enhanced fan-out) of a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerRow {
    pub name: String,
    pub created_ms: i64,
    pub status: Status,
    pub tags: std::collections::BTreeMap<String, String>,
}

impl ConsumerRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<ConsumerRow> {
        let tags: String = row.try_get("tags")?;
        Ok(ConsumerRow {
            name: row.try_get("name")?,
            created_ms: row.try_get("created_ms")?,
            status: status(row)?,
            tags: serde_json::from_str(&tags).map_err(|_| CatalogError::Corrupt {
                field: "consumers.tags",
                value: tags.clone(),
            })?,
        })
    }
}

impl StreamRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<StreamRow> {
        let metrics: String = row.try_get("shard_level_metrics")?;
        let shard_level_metrics =
            serde_json::from_str(&metrics).map_err(|_| CatalogError::Corrupt {
                field: "shard_level_metrics",
                value: metrics.clone(),
            })?;
        Ok(StreamRow {
            uid: row.try_get::<i64, _>("uid")? as u64,
            name: row.try_get("name")?,
            status: status(row)?,
            mode: {
                let text: String = row.try_get("mode")?;
                StreamMode::parse(&text).ok_or(CatalogError::Corrupt {
                    field: "mode",
                    value: text,
                })?
            },
            created_ms: row.try_get("created_ms")?,
            retention_hours: row.try_get("retention_hours")?,
            encryption_type: row.try_get("encryption_type")?,
            key_id: row.try_get("key_id")?,
            shard_level_metrics,
            max_record_size_kib: row.try_get("max_record_size_kib")?,
            next_shard_index: row.try_get("next_shard_index")?,
            warm_throughput_mibps: row.try_get("warm_throughput_mibps")?,
        })
    }
}

impl ShardRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<ShardRow> {
        Ok(ShardRow {
            index: row.try_get::<i64, _>("shard_index")? as u32,
            hash_start: parse_u128("hash_start", row.try_get("hash_start")?)?,
            hash_end: parse_u128("hash_end", row.try_get("hash_end")?)?,
            parent_index: row
                .try_get::<Option<i64>, _>("parent_index")?
                .map(|v| v as u32),
            adjacent_parent_index: row
                .try_get::<Option<i64>, _>("adjacent_parent_index")?
                .map(|v| v as u32),
            created_ms: row.try_get("created_ms")?,
            closed_next_offset: row
                .try_get::<Option<i64>, _>("closed_next_offset")?
                .map(|v| v as u64),
        })
    }
}

/// A Firehose delivery stream as stored: `doc` is its configuration (JSON owned by the firehose
/// service) and `checkpoints` maps each source to the position its delivery resumes from.
#[derive(Clone, Debug)]
pub struct DeliveryStreamRow {
    pub uid: u64,
    pub name: String,
    pub created_ms: i64,
    pub doc: String,
    pub checkpoints: BTreeMap<String, String>,
}

/// A named resource whose description is a JSON document owned by its service: a Kinesis Video
/// stream (freshet-video), a signaling channel (freshet-signaling).
#[derive(Clone, Debug)]
pub struct NamedDocRow {
    pub uid: u64,
    pub name: String,
    pub created_ms: i64,
    pub doc: String,
}

pub type VideoStreamRow = NamedDocRow;
pub type SignalingChannelRow = NamedDocRow;

/// A Kinesis Data Analytics application: `doc` is the application as JSON owned by
/// freshet-analytics; `checkpoint` is its runner's last committed state and input positions.
#[derive(Clone, Debug)]
pub struct ApplicationRow {
    pub uid: u64,
    pub name: String,
    pub created_ms: i64,
    pub doc: String,
    pub checkpoint: Option<String>,
}

/// A snapshot of a Flink application as listed: its name, when it was taken and for which
/// application version (its document is read on its own, it can be large).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationSnapshotRow {
    pub name: String,
    pub created_ms: i64,
    pub version: u64,
}
