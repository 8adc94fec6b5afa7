//! Fragment storage: each video stream is one log (`freshet-log`, the same segmented,
//! group-committed, fsynced log as Kinesis shards), one record per fragment, so a fragment is
//! durable and readable the moment its append returns and fragment numbers are log offsets.
//! An in-memory index of every retained fragment's timestamps answers ListFragments and the
//! playback selectors; it is rebuilt from the log at start.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use freshet_log::{DataKeys, LogError, NewRecord, Sealer, ShardLogId, SharedLog};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::mkv::MkvError;
use crate::mkv::cluster::Cluster;
use crate::mkv::header::Header;

/// Version byte of a stored fragment record (the stored format changes only deliberately).
const RECORD_V1: u8 = 1;
/// Version, producer timestamp (ms), duration (ms), header length.
const RECORD_PREFIX: usize = 1 + 8 + 4 + 4;
/// A fragment number: this prefix, the stream's id and the fragment's log offset, fixed width,
/// so numbers of one stream sort the same as text and as numbers (as AWS's 47-digit ones do).
const NUMBER_PREFIX: &str = "91";
const NUMBER_LEN: usize = 2 + 18 + 20;

#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("stored fragment {0} is unreadable: {1}")]
    Corrupt(u64, String),
}

/// What the index keeps of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentMeta {
    pub offset: u64,
    pub server_ms: i64,
    pub producer_ms: i64,
    pub duration_ms: u32,
    pub size: u32,
}

/// A fragment read back from the log.
#[derive(Clone, Debug)]
pub struct StoredFragment {
    pub meta: FragmentMeta,
    /// The producer's EBML header, Info and Tracks, as received.
    pub header: Bytes,
    /// The Cluster's payload, as received.
    pub cluster: Bytes,
}

impl StoredFragment {
    /// The tracks and frames (parsed on demand: playback paths need them, GetMedia does not).
    pub fn media(&self) -> Result<(Header, Cluster), MkvError> {
        let header = Header::parse(self.header.clone())?;
        let cluster = Cluster::parse(&header, &self.cluster)?;
        Ok((header, cluster))
    }
}

pub fn fragment_number(stream: u64, offset: u64) -> String {
    format!("{NUMBER_PREFIX}{stream:018}{offset:020}")
}

/// The log offset a fragment number names, if it is one of `stream`'s numbers.
pub fn parse_fragment_number(stream: u64, number: &str) -> Option<u64> {
    if number.len() != NUMBER_LEN || !number.starts_with(NUMBER_PREFIX) {
        return None;
    }
    let owner: u64 = number.get(2..20)?.parse().ok()?;
    (owner == stream).then_some(())?;
    number.get(20..)?.parse().ok()
}

fn log_id(stream: u64) -> ShardLogId {
    ShardLogId { stream, shard: 0 }
}

fn encode(producer_ms: i64, duration_ms: u32, header: &[u8], cluster: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(RECORD_PREFIX + header.len() + cluster.len());
    out.put_u8(RECORD_V1);
    out.put_i64(producer_ms);
    out.put_u32(duration_ms);
    out.put_u32(header.len() as u32);
    out.extend_from_slice(header);
    out.extend_from_slice(cluster);
    out.freeze()
}

/// (producer_ms, duration_ms, header, cluster) of a stored record.
fn decode(data: &Bytes) -> Option<(i64, u32, Bytes, Bytes)> {
    if data.len() < RECORD_PREFIX || data[0] != RECORD_V1 {
        return None;
    }
    let producer_ms = i64::from_be_bytes(data[1..9].try_into().ok()?);
    let duration_ms = u32::from_be_bytes(data[9..13].try_into().ok()?);
    let header_len = u32::from_be_bytes(data[13..17].try_into().ok()?) as usize;
    let cluster_start = RECORD_PREFIX.checked_add(header_len)?;
    if cluster_start > data.len() {
        return None;
    }
    Some((
        producer_ms,
        duration_ms,
        data.slice(RECORD_PREFIX..cluster_start),
        data.slice(cluster_start..),
    ))
}

#[derive(Clone)]
pub struct FragmentStore {
    log: SharedLog,
    /// Seals every stream's fragments under its KMS key (Kinesis Video always encrypts).
    sealer: Option<Arc<Sealer>>,
    index: Arc<RwLock<HashMap<u64, Vec<FragmentMeta>>>>,
}

impl FragmentStore {
    /// Indexes every retained fragment of `streams` (creating their logs if missing) and drops
    /// the logs of streams that no longer exist.
    pub async fn open(
        log: SharedLog,
        streams: Vec<u64>,
        keys: Option<Arc<dyn DataKeys>>,
    ) -> Result<FragmentStore, StoreError> {
        log.remove_orphans(&|id| streams.contains(&id.stream))
            .await?;
        let existing = log.shards();
        for &stream in &streams {
            if !existing.contains(&log_id(stream)) {
                log.create_shard(log_id(stream)).await?;
            }
        }
        let store = FragmentStore {
            sealer: keys.map(|keys| Arc::new(Sealer::new(log.epoch(), keys))),
            log,
            index: Default::default(),
        };
        for stream in streams {
            let metas = store.scan(stream).await?;
            store.index.write().insert(stream, metas);
        }
        Ok(store)
    }

    /// The index of a stream's retained fragments. A sealed fragment whose key refuses now
    /// (disabled, missing) is left out, not a reason to refuse to start: it is indexed at the
    /// first start after the key is usable again.
    async fn scan(&self, stream: u64) -> Result<Vec<FragmentMeta>, StoreError> {
        let id = log_id(stream);
        let (mut next, end) = self.log.bounds(id).await?;
        let mut metas = Vec::new();
        let mut refused = None;
        while next < end {
            let batch = self.log.read(id, next, 256, 64 << 20).await?;
            let Some(last) = batch.last() else { break };
            next = last.offset + 1;
            for mut record in batch {
                match self.unseal(id, std::slice::from_mut(&mut record)) {
                    Ok(()) => metas.push(self.to_stored(record)?.meta),
                    Err(StoreError::Log(LogError::Key(e))) => refused = Some(e),
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(error) = refused {
            tracing::warn!(stream, %error, "sealed fragments left out of the index");
        }
        Ok(metas)
    }

    fn unseal(
        &self,
        id: ShardLogId,
        records: &mut [freshet_log::Record],
    ) -> Result<(), StoreError> {
        if let Some(sealer) = &self.sealer {
            sealer.open(id, records)?;
        }
        Ok(())
    }

    fn to_stored(&self, record: freshet_log::Record) -> Result<StoredFragment, StoreError> {
        let (producer_ms, duration_ms, header, cluster) = decode(&record.data)
            .ok_or_else(|| StoreError::Corrupt(record.offset, "bad record layout".into()))?;
        Ok(StoredFragment {
            meta: FragmentMeta {
                offset: record.offset,
                server_ms: record.arrival_ms,
                producer_ms,
                duration_ms,
                size: (header.len() + cluster.len()) as u32,
            },
            header,
            cluster,
        })
    }

    /// Whether the log takes durable writes (for health checks).
    pub fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        self.log.render_metrics("video", e);
    }

    pub async fn probe(&self) -> Result<(), StoreError> {
        Ok(self.log.probe().await?)
    }

    /// Commits and syncs everything and stops the log's writer: a clean shutdown, so the next
    /// start has nothing to recover.
    pub async fn close(&self) -> Result<(), StoreError> {
        Ok(self.log.close().await?)
    }

    /// Whether the stream's fragments can be sealed and opened now (its KMS key is usable).
    pub fn check_key(&self, stream: u64) -> Result<(), StoreError> {
        if let Some(sealer) = &self.sealer {
            sealer.check(stream).map_err(LogError::Key)?;
        }
        Ok(())
    }

    /// A new stream's log.
    pub async fn create(&self, stream: u64) -> Result<(), StoreError> {
        self.log.create_shard(log_id(stream)).await?;
        self.index.write().insert(stream, Vec::new());
        Ok(())
    }

    /// Deletes a stream's fragments.
    pub async fn remove(&self, stream: u64) -> Result<(), StoreError> {
        self.index.write().remove(&stream);
        self.log.remove_shard(log_id(stream)).await?;
        Ok(())
    }

    /// The offset the next fragment will get (PutMedia is the stream's only writer, so the
    /// number it announces before persisting is the one the fragment gets).
    pub async fn next_offset(&self, stream: u64) -> Result<u64, StoreError> {
        Ok(self.log.bounds(log_id(stream)).await?.1)
    }

    /// Appends a fragment; once this returns it is durable (per the log's fsync policy),
    /// readable and indexed.
    pub async fn append(
        &self,
        stream: u64,
        producer_ms: i64,
        duration_ms: u32,
        header: &[u8],
        cluster: &[u8],
    ) -> Result<FragmentMeta, StoreError> {
        let data = encode(producer_ms, duration_ms, header, cluster);
        let size = (header.len() + cluster.len()) as u32;
        let mut records = vec![NewRecord::clear(Default::default(), None, data)];
        if let Some(sealer) = &self.sealer {
            records = sealer.prepare(log_id(stream), records)?;
        }
        let appended = self.log.append(log_id(stream), records).await?;
        let meta = FragmentMeta {
            offset: appended.first_offset,
            server_ms: appended.arrival_ms,
            producer_ms,
            duration_ms,
            size,
        };
        if let Some(metas) = self.index.write().get_mut(&stream) {
            metas.push(meta);
        }
        Ok(meta)
    }

    /// Fragments at offsets >= `from`, at most `max` of them (fewer at the tip).
    pub async fn read(
        &self,
        stream: u64,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredFragment>, StoreError> {
        let mut records = self.log.read(log_id(stream), from, max, 64 << 20).await?;
        self.unseal(log_id(stream), &mut records)?;
        records.into_iter().map(|r| self.to_stored(r)).collect()
    }

    /// The fragment at `offset`, if retained.
    pub async fn get(
        &self,
        stream: u64,
        offset: u64,
    ) -> Result<Option<StoredFragment>, StoreError> {
        Ok(self
            .read(stream, offset, 1)
            .await?
            .into_iter()
            .find(|f| f.meta.offset == offset))
    }

    /// The first `max` index entries `keep` selects, in fragment order (a copy: the lock is
    /// not held while callers work on them).
    pub fn select(
        &self,
        stream: u64,
        max: usize,
        keep: impl Fn(&FragmentMeta) -> bool,
    ) -> Vec<FragmentMeta> {
        self.index
            .read()
            .get(&stream)
            .map(|metas| {
                metas
                    .iter()
                    .filter(|m| keep(m))
                    .take(max)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last `max` index entries `keep` selects, in fragment order.
    pub fn select_newest(
        &self,
        stream: u64,
        max: usize,
        keep: impl Fn(&FragmentMeta) -> bool,
    ) -> Vec<FragmentMeta> {
        let mut newest: Vec<FragmentMeta> = self
            .index
            .read()
            .get(&stream)
            .map(|metas| {
                metas
                    .iter()
                    .rev()
                    .filter(|m| keep(m))
                    .take(max)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        newest.reverse();
        newest
    }

    /// Whether the fragment at `offset` is retained (the index, no read).
    pub fn contains(&self, stream: u64, offset: u64) -> bool {
        self.index
            .read()
            .get(&stream)
            .is_some_and(|metas| metas.binary_search_by_key(&offset, |m| m.offset).is_ok())
    }

    /// The newest fragment's index entry.
    pub fn last(&self, stream: u64) -> Option<FragmentMeta> {
        self.index
            .read()
            .get(&stream)
            .and_then(|m| m.last().copied())
    }

    /// Wakes on every new durable fragment; closes when the stream is deleted.
    pub fn subscribe(&self, stream: u64) -> Result<watch::Receiver<u64>, StoreError> {
        Ok(self.log.subscribe(log_id(stream))?)
    }

    /// Retention: drops fragments older than `cutoff_ms` (whole log segments at a time).
    pub async fn expire(&self, stream: u64, cutoff_ms: i64) -> Result<u64, StoreError> {
        let freed = self.log.trim_before(log_id(stream), cutoff_ms).await?;
        let horizon = self.log.bounds(log_id(stream)).await?.0;
        if let Some(metas) = self.index.write().get_mut(&stream) {
            metas.retain(|m| m.offset >= horizon);
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_numbers_round_trip_and_belong_to_one_stream() {
        let n = fragment_number(7, 12345);
        assert_eq!(n.len(), NUMBER_LEN);
        assert_eq!(parse_fragment_number(7, &n), Some(12345));
        assert_eq!(parse_fragment_number(8, &n), None);
        assert_eq!(parse_fragment_number(7, "12345"), None);
        assert!(fragment_number(7, 9) < fragment_number(7, 10));
    }

    #[test]
    fn records_round_trip() {
        let data = encode(-5, 2000, b"head", b"cluster");
        let (p, d, h, c) = decode(&data).unwrap();
        assert_eq!(
            (p, d, &h[..], &c[..]),
            (-5, 2000, &b"head"[..], &b"cluster"[..])
        );
        assert!(decode(&data.slice(..10)).is_none());
    }
}
