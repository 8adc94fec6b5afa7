//! Encryption at rest: `Sealing` is a `LogBackend` over any other that seals the records of the
//! streams its `DataKeys` name on their way in and opens sealed records on their way out, so a
//! service sees clear records whatever its storage holds.
//!
//! A sealed record's data is an envelope and its partition key is inside it:
//!
//! ```text
//! [u32 key_ref][u32 epoch][u64 counter][AES-256-GCM(u16 pk_len | pk | data)][16-byte tag]
//! ```
//!
//! The 96-bit nonce is the writer's epoch and a per-process counter: the epoch grows with every
//! open of the storage and is durable before the first write under it (`LogBackend::epoch`), so
//! no nonce repeats under a data key, even for records a crash tore away before they were
//! acknowledged (random nonces would allow about 2^32 records per key). The associated data
//! binds the envelope to its shard and key reference, so a record copied into another shard or
//! relabelled with another key does not open. Keys are managed above the log (`DataKeys`): a key
//! reference names a data key for as long as records sealed under it are kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use bytes::{BufMut, BytesMut};
use bytestring::ByteString;
use freshet_runtime::metrics::Exposition;
use tokio::sync::watch;

use crate::{Appended, BoxFuture, LogBackend, LogError, NewRecord, Record, ShardLogId, SharedLog};

const HEADER_LEN: usize = 4 + 12;
const TAG_LEN: usize = 16;
/// What sealing adds to a record besides moving its key inside: header, key length, tag.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + 2 + TAG_LEN;

/// A data key: an AES-256-GCM key and the reference sealed records carry to name it.
pub struct DataKey {
    key_ref: u32,
    cipher: Aes256Gcm,
}

impl DataKey {
    pub fn new(key_ref: u32, key: &[u8; 32]) -> DataKey {
        DataKey {
            key_ref,
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    pub fn key_ref(&self) -> u32 {
        self.key_ref
    }
}

/// Why a stream's records cannot be sealed or opened now; each names the KMS condition AWS
/// reports for it, which services answer with their own error codes.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AccessDenied(String),
    /// The key service did not answer (or asked to slow down).
    #[error("{0}")]
    Unavailable(String),
    /// A sealed record did not open under the key it names: altered or damaged at rest.
    #[error("{0}")]
    Undecryptable(String),
    /// Our fault, not the key's: the keyring's storage failed, or the key service could not be
    /// reached.
    #[error("{0}")]
    Internal(String),
}

impl KeyError {
    /// Whether the server is at fault (a 500 the caller may retry) rather than the key.
    pub fn is_internal(&self) -> bool {
        matches!(self, KeyError::Undecryptable(_) | KeyError::Internal(_))
    }
}

/// Which data key seals a stream's new records and which opens a sealed record.
pub trait DataKeys: Send + Sync {
    /// The key that seals new records of `stream`; `None` while the stream is stored in clear.
    /// An error refuses the append (the stream asks for encryption and its key cannot be used).
    fn sealing(&self, stream: u64) -> Result<Option<Arc<DataKey>>, KeyError>;

    /// The key a sealed record of `stream` names.
    fn opening(&self, stream: u64, key_ref: u32) -> Result<Arc<DataKey>, KeyError>;
}

/// A log whose chosen streams are encrypted at rest (see the module's documentation).
pub struct Sealing {
    inner: SharedLog,
    sealer: Sealer,
}

impl Sealing {
    pub fn new(inner: SharedLog, keys: Arc<dyn DataKeys>) -> Sealing {
        Sealing {
            sealer: Sealer::new(inner.epoch(), keys),
            inner,
        }
    }
}

/// Seals and opens records for one writer of a log: `Sealing` over a backend, or a caller that
/// uses the embedded log's synchronous reads directly (Kinesis Video's fragment store).
pub struct Sealer {
    keys: Arc<dyn DataKeys>,
    epoch: u32,
    counter: AtomicU64,
}

impl Sealer {
    /// For the writer of `epoch` (`LogBackend::epoch`), the only one sealing under it.
    pub fn new(epoch: u64, keys: Arc<dyn DataKeys>) -> Sealer {
        Sealer {
            keys,
            // An epoch past u32 would take four billion restarts.
            epoch: epoch as u32,
            counter: AtomicU64::new(0),
        }
    }

    /// Whether the stream's sealing key may be used now (a stream in clear always may).
    pub fn check(&self, stream: u64) -> Result<(), KeyError> {
        self.keys.sealing(stream).map(drop)
    }

    /// The records as the log stores them: sealed if the stream is encrypted, else as given.
    pub fn prepare(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> Result<Vec<NewRecord>, LogError> {
        match self.keys.sealing(id.stream).map_err(LogError::Key)? {
            None => Ok(records),
            Some(key) => Ok(self.seal(id, &key, records)),
        }
    }

    /// The records as envelopes under `key`, their data slices of one buffer.
    fn seal(&self, id: ShardLogId, key: &DataKey, records: Vec<NewRecord>) -> Vec<NewRecord> {
        let size: usize = records
            .iter()
            .map(|r| SEAL_OVERHEAD + r.partition_key.len() + r.data.len())
            .sum();
        let aad = aad(id, key.key_ref);
        let first = self
            .counter
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let mut buf = BytesMut::with_capacity(size);
        let mut ends = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let start = buf.len();
            buf.put_u32_le(key.key_ref);
            buf.put_u32_le(self.epoch);
            buf.put_u64_le(first + i as u64);
            buf.put_u16_le(r.partition_key.len() as u16);
            buf.put_slice(r.partition_key.as_bytes());
            buf.put_slice(&r.data);
            let (head, body) = buf[start..].split_at_mut(HEADER_LEN);
            let nonce = Nonce::from_slice(&head[4..]);
            // Encryption fails only for messages over 64 GiB; the log caps records far below.
            let tag = key
                .cipher
                .encrypt_in_place_detached(nonce, &aad, body)
                .expect("a record is far below AES-GCM's message limit");
            buf.put_slice(&tag);
            ends.push(buf.len());
        }
        let buf = buf.freeze();
        let mut start = 0;
        records
            .into_iter()
            .zip(ends)
            .map(|(r, end)| {
                let data = buf.slice(start..end);
                start = end;
                NewRecord {
                    partition_key: ByteString::new(),
                    explicit_hash_key: r.explicit_hash_key,
                    data,
                    sealed: true,
                }
            })
            .collect()
    }

    /// Opens every sealed record in place of its envelope (it stays marked `sealed`: stored
    /// encrypted).
    pub fn open(&self, id: ShardLogId, records: &mut [Record]) -> Result<(), LogError> {
        let mut key: Option<Arc<DataKey>> = None;
        for r in records.iter_mut().filter(|r| r.sealed) {
            let envelope = &r.data;
            let key_ref = envelope
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| undecryptable(id, r.offset))?;
            let key = match &key {
                Some(k) if k.key_ref == key_ref => k.clone(),
                _ => {
                    let k = self
                        .keys
                        .opening(id.stream, key_ref)
                        .map_err(LogError::Key)?;
                    key = Some(k.clone());
                    k
                }
            };
            if envelope.len() < SEAL_OVERHEAD {
                return Err(undecryptable(id, r.offset));
            }
            let nonce = Nonce::from_slice(&envelope[4..HEADER_LEN]);
            let tag = Tag::from_slice(&envelope[envelope.len() - TAG_LEN..]);
            let mut clear = BytesMut::from(&envelope[HEADER_LEN..envelope.len() - TAG_LEN]);
            key.cipher
                .decrypt_in_place_detached(nonce, &aad(id, key_ref), &mut clear, tag)
                .map_err(|_| undecryptable(id, r.offset))?;
            let clear = clear.freeze();
            let pk_len = u16::from_le_bytes([clear[0], clear[1]]) as usize;
            let pk = clear
                .get(2..2 + pk_len)
                .map(|_| clear.slice(2..2 + pk_len))
                .and_then(|pk| ByteString::try_from(pk).ok())
                .ok_or_else(|| undecryptable(id, r.offset))?;
            r.data = clear.slice(2 + pk_len..);
            r.partition_key = pk;
        }
        Ok(())
    }
}

fn aad(id: ShardLogId, key_ref: u32) -> [u8; 16] {
    let mut aad = [0; 16];
    aad[..8].copy_from_slice(&id.stream.to_le_bytes());
    aad[8..12].copy_from_slice(&id.shard.to_le_bytes());
    aad[12..].copy_from_slice(&key_ref.to_le_bytes());
    aad
}

fn undecryptable(id: ShardLogId, offset: u64) -> LogError {
    LogError::Key(KeyError::Undecryptable(format!(
        "the sealed record at offset {offset} of {id} does not open under its data key"
    )))
}

impl LogBackend for Sealing {
    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    fn opened_clean(&self) -> bool {
        self.inner.opened_clean()
    }

    fn shards(&self) -> Vec<ShardLogId> {
        self.inner.shards()
    }

    fn create_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        self.inner.create_shard(id)
    }

    fn remove_shard(&self, id: ShardLogId) -> BoxFuture<'_, Result<(), LogError>> {
        self.inner.remove_shard(id)
    }

    fn append(
        &self,
        id: ShardLogId,
        records: Vec<NewRecord>,
    ) -> BoxFuture<'_, Result<Appended, LogError>> {
        match self.sealer.prepare(id, records) {
            Ok(records) => self.inner.append(id, records),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn read(
        &self,
        id: ShardLogId,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, LogError>> {
        Box::pin(async move {
            let mut records = self.inner.read(id, from, max_records, max_bytes).await?;
            self.sealer.open(id, &mut records)?;
            Ok(records)
        })
    }

    fn bounds(&self, id: ShardLogId) -> BoxFuture<'_, Result<(u64, u64), LogError>> {
        self.inner.bounds(id)
    }

    fn offset_at_time(&self, id: ShardLogId, ts_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        self.inner.offset_at_time(id, ts_ms)
    }

    fn trim_before(&self, id: ShardLogId, cutoff_ms: i64) -> BoxFuture<'_, Result<u64, LogError>> {
        self.inner.trim_before(id, cutoff_ms)
    }

    fn subscribe(&self, id: ShardLogId) -> Result<watch::Receiver<u64>, LogError> {
        self.inner.subscribe(id)
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), LogError>> {
        self.inner.probe()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), LogError>> {
        self.inner.close()
    }

    fn render_metrics(&self, service: &str, e: &mut Exposition) {
        self.inner.render_metrics(service, e)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use parking_lot::Mutex;

    use super::*;
    use crate::{Log, LogConfig};

    #[derive(Default)]
    struct Keys {
        sealing: Mutex<HashMap<u64, Arc<DataKey>>>,
        all: Mutex<HashMap<u32, Arc<DataKey>>>,
        refuse: Mutex<Option<KeyError>>,
    }

    impl DataKeys for Keys {
        fn sealing(&self, stream: u64) -> Result<Option<Arc<DataKey>>, KeyError> {
            if let Some(e) = self.refuse.lock().clone() {
                return Err(e);
            }
            Ok(self.sealing.lock().get(&stream).cloned())
        }

        fn opening(&self, _stream: u64, key_ref: u32) -> Result<Arc<DataKey>, KeyError> {
            self.all
                .lock()
                .get(&key_ref)
                .cloned()
                .ok_or_else(|| KeyError::NotFound(format!("no key {key_ref}")))
        }
    }

    impl Keys {
        fn start(&self, stream: u64, key_ref: u32, byte: u8) {
            let key = Arc::new(DataKey::new(key_ref, &[byte; 32]));
            self.all.lock().insert(key_ref, key.clone());
            self.sealing.lock().insert(stream, key);
        }
    }

    fn record(pk: &str, data: &[u8]) -> NewRecord {
        NewRecord::clear(pk.into(), Some(7), bytes::Bytes::copy_from_slice(data))
    }

    const A: ShardLogId = ShardLogId {
        stream: 1,
        shard: 0,
    };

    async fn open(dir: &std::path::Path, keys: Arc<Keys>) -> Sealing {
        let log = tokio::task::spawn_blocking({
            let cfg = LogConfig::new(dir);
            move || Log::open(cfg)
        })
        .await
        .unwrap()
        .unwrap();
        log.create_shard(A).await.unwrap();
        Sealing::new(Arc::new(log), keys)
    }

    fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
        walk(dir).iter().any(|f| {
            std::fs::read(f)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }

    #[tokio::test]
    async fn sealed_records_read_back_clear_and_never_reach_the_files_clear() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::default());
        let log = open(dir.path(), keys.clone()).await;
        log.append(A, vec![record("clear-key", b"clear-before")])
            .await
            .unwrap();
        keys.start(A.stream, 1, 0x11);
        log.append(
            A,
            vec![
                record("secret-key-1", b"secret-payload-1"),
                record("secret-key-2", b"secret-payload-2"),
            ],
        )
        .await
        .unwrap();
        keys.start(A.stream, 2, 0x22);
        log.append(A, vec![record("secret-key-3", b"secret-payload-3")])
            .await
            .unwrap();
        let read = log.read(A, 0, 10, 1 << 20).await.unwrap();
        let got: Vec<(&str, &[u8], bool)> = read
            .iter()
            .map(|r| (&*r.partition_key, &r.data[..], r.sealed))
            .collect();
        assert_eq!(
            got,
            [
                ("clear-key", &b"clear-before"[..], false),
                ("secret-key-1", b"secret-payload-1", true),
                ("secret-key-2", b"secret-payload-2", true),
                ("secret-key-3", b"secret-payload-3", true),
            ]
        );
        assert!(read.iter().all(|r| r.explicit_hash_key == Some(7)));
        log.close().await.unwrap();
        assert!(files_contain(dir.path(), b"clear-before"));
        for needle in [&b"secret-payload"[..], b"secret-key"] {
            assert!(!files_contain(dir.path(), needle));
        }
    }

    #[tokio::test]
    async fn a_refused_key_refuses_the_append_and_a_missing_one_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::default());
        let log = open(dir.path(), keys.clone()).await;
        keys.start(A.stream, 1, 0x11);
        log.append(A, vec![record("k", b"v")]).await.unwrap();
        *keys.refuse.lock() = Some(KeyError::Disabled("disabled".into()));
        let err = log.append(A, vec![record("k", b"w")]).await.unwrap_err();
        assert!(matches!(err, LogError::Key(KeyError::Disabled(_))), "{err}");
        assert_eq!(log.bounds(A).await.unwrap(), (0, 1), "nothing was written");
        keys.all.lock().clear();
        let err = log.read(A, 0, 10, 1 << 20).await.unwrap_err();
        assert!(matches!(err, LogError::Key(KeyError::NotFound(_))), "{err}");
    }

    #[tokio::test]
    async fn a_wrong_key_or_an_altered_envelope_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::default());
        let log = open(dir.path(), keys.clone()).await;
        keys.start(A.stream, 1, 0x11);
        log.append(A, vec![record("k", b"value")]).await.unwrap();
        keys.all
            .lock()
            .insert(1, Arc::new(DataKey::new(1, &[0x12; 32])));
        let err = log.read(A, 0, 10, 1 << 20).await.unwrap_err();
        assert!(
            matches!(err, LogError::Key(KeyError::Undecryptable(_))),
            "{err}"
        );
        // The same envelope in another shard does not open either (the shard is authenticated).
        keys.start(A.stream, 1, 0x11);
        let stored = log.inner.read(A, 0, 10, 1 << 20).await.unwrap();
        let other = ShardLogId { shard: 1, ..A };
        log.create_shard(other).await.unwrap();
        log.inner
            .append(
                other,
                vec![NewRecord {
                    sealed: true,
                    ..NewRecord::clear(ByteString::new(), None, stored[0].data.clone())
                }],
            )
            .await
            .unwrap();
        let err = log.read(other, 0, 10, 1 << 20).await.unwrap_err();
        assert!(
            matches!(err, LogError::Key(KeyError::Undecryptable(_))),
            "{err}"
        );
    }

    #[tokio::test]
    async fn nonces_never_repeat_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(Keys::default());
        keys.start(A.stream, 1, 0x11);
        let mut nonces = std::collections::HashSet::new();
        for _ in 0..3 {
            let log = open(dir.path(), keys.clone()).await;
            log.append(A, vec![record("k", b"a"), record("k", b"b")])
                .await
                .unwrap();
            log.close().await.unwrap();
            drop(log);
        }
        let log = open(dir.path(), keys.clone()).await;
        for r in log.inner.read(A, 0, 100, 1 << 20).await.unwrap() {
            assert!(r.sealed);
            assert!(nonces.insert(r.data[4..16].to_vec()), "nonce repeated");
        }
        assert_eq!(nonces.len(), 6);
    }
}
