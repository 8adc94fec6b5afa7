//! One log's data keys. Starting a stream's encryption asks the key service for a data key
//! (`GenerateDataKey` under the stream's KMS key, with the stream in the encryption context),
//! stores the wrapped key in the catalog (`keyring/<log>`) before any record is sealed with it,
//! and keeps the plaintext key in memory only. Every data key a stream ever had is kept while
//! the stream exists, since records sealed under it may still be retained. A key's rotation, or
//! the stream's move to another KMS key, wraps its data keys anew (`ReEncrypt`); the records
//! are not rewritten.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_log::{DataKey, DataKeys, KeyError};
use freshet_runtime::SharedClock;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::{Context, KeyService, KmsError, Result};

#[derive(Serialize, Deserialize, Clone)]
struct StoredKey {
    key_ref: u32,
    /// The stream's uid, as text (JSON numbers lose u64 precision).
    stream: String,
    key_arn: String,
    blob: String,
    context: Context,
}

#[derive(Serialize, Deserialize, Default)]
struct Doc {
    next_ref: u32,
    keys: Vec<StoredKey>,
    /// Stream uid → the data key sealing its new records.
    current: BTreeMap<String, u32>,
}

#[derive(Clone)]
struct Entry {
    stream: u64,
    stored: StoredKey,
    /// The unwrapped key, or why it could not be unwrapped at start.
    key: Result<Arc<DataKey>, KeyError>,
}

#[derive(Clone, Default)]
struct Ring {
    next_ref: u32,
    keys: BTreeMap<u32, Entry>,
    current: HashMap<u64, u32>,
    /// Streams the catalog calls encrypted whose data key could not be made at start: their
    /// appends are refused (never stored in clear) until a retry succeeds.
    held: HashMap<u64, Held>,
}

#[derive(Clone)]
struct Held {
    key_id: String,
    context: Context,
    error: KeyError,
}

pub struct Keyring {
    /// The catalog setting that stores it: `keyring/<log>`.
    setting: String,
    catalog: Catalog,
    clock: SharedClock,
    kms: Arc<dyn KeyService>,
    ring: RwLock<Ring>,
    write: tokio::sync::Mutex<()>,
}

impl Keyring {
    /// Loads the log's data keys and unwraps them. A key that does not unwrap now (its KMS key
    /// disabled, the endpoint down) stays stored; reads of its records answer the KMS error.
    pub async fn open(
        log: &str,
        catalog: Catalog,
        kms: Arc<dyn KeyService>,
        clock: SharedClock,
    ) -> Result<Arc<Keyring>> {
        let setting = format!("keyring/{log}");
        let doc: Doc = match catalog.get_setting(&setting).await.map_err(internal)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| KmsError::Internal(format!("{setting} does not parse: {e}")))?,
            None => Doc::default(),
        };
        let mut ring = Ring {
            next_ref: doc.next_ref,
            ..Ring::default()
        };
        for stored in doc.keys {
            let stream = stored.stream.parse().map_err(internal)?;
            let key = unwrap(&*kms, &stored).await;
            if let Err(e) = &key {
                tracing::warn!(log, key_ref = stored.key_ref, error = %e, "a data key did not unwrap");
            }
            ring.keys.insert(
                stored.key_ref,
                Entry {
                    stream,
                    stored,
                    key,
                },
            );
        }
        for (stream, key_ref) in doc.current {
            ring.current
                .insert(stream.parse().map_err(internal)?, key_ref);
        }
        let keyring = Arc::new(Keyring {
            setting,
            catalog,
            clock,
            kms,
            ring: RwLock::new(ring),
            write: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(maintain(Arc::downgrade(&keyring)));
        Ok(keyring)
    }

    /// Seals the stream's new records under a fresh data key wrapped by `key_id`; returns that
    /// KMS key's ARN. The stream's older data keys are wrapped anew under it (best effort: one
    /// whose old KMS key refuses stays as it was).
    pub async fn start(&self, stream: u64, key_id: &str, context: Context) -> Result<String> {
        self.start_when(stream, key_id, context, |_| true).await
    }

    /// `start`, installing the new key only if `when` still holds of the ring as it is then.
    async fn start_when(
        &self,
        stream: u64,
        key_id: &str,
        context: Context,
        when: impl FnOnce(&Ring) -> bool,
    ) -> Result<String> {
        let crate::NewDataKey {
            plaintext,
            blob,
            key_arn: arn,
        } = self.kms.generate_data_key(key_id, &context).await?;
        let key: [u8; 32] = plaintext
            .try_into()
            .map_err(|_| KmsError::Internal("the data key is not 256 bits".into()))?;
        self.change(|ring| {
            if !when(ring) {
                return;
            }
            let key_ref = ring.next_ref;
            ring.next_ref += 1;
            ring.keys.insert(
                key_ref,
                Entry {
                    stream,
                    stored: StoredKey {
                        key_ref,
                        stream: stream.to_string(),
                        key_arn: arn.clone(),
                        blob: B64.encode(&blob),
                        context,
                    },
                    key: Ok(Arc::new(DataKey::new(key_ref, &key))),
                },
            );
            ring.current.insert(stream, key_ref);
            ring.held.remove(&stream);
        })
        .await?;
        let older: Vec<StoredKey> = self
            .ring
            .read()
            .keys
            .values()
            .filter(|e| e.stream == stream && e.stored.key_arn != arn)
            .map(|e| e.stored.clone())
            .collect();
        self.rewrap(older, Some(&arn)).await;
        Ok(arn)
    }

    /// `start` for a stream the catalog already calls encrypted (at a service's start). If the
    /// key refuses now, the stream's appends are refused with its error, and the start is
    /// retried every few seconds until it succeeds: nothing is ever stored in clear for it.
    pub async fn resume(&self, stream: u64, key_id: &str, context: Context) {
        if let Err(e) = self.start(stream, key_id, context.clone()).await {
            tracing::warn!(stream, error = %e, "encryption not resumed; appends refused until the key can be used");
            self.ring.write().held.insert(
                stream,
                Held {
                    key_id: key_id.to_string(),
                    context,
                    error: e.into(),
                },
            );
        }
    }

    /// New records of the stream are stored in clear; its data keys stay for the sealed ones.
    pub async fn stop(&self, stream: u64) -> Result<()> {
        self.change(|ring| {
            ring.current.remove(&stream);
            ring.held.remove(&stream);
        })
        .await
    }

    /// Drops a deleted stream's data keys.
    pub async fn forget(&self, stream: u64) -> Result<()> {
        self.retain(|s| s != stream).await
    }

    /// Drops the data keys of every stream `keep` does not claim (streams deleted before a crash
    /// could forget them).
    pub async fn retain(&self, keep: impl Fn(u64) -> bool) -> Result<()> {
        if self.ring.read().keys.values().all(|e| keep(e.stream)) {
            return Ok(());
        }
        self.change(|ring| {
            ring.keys.retain(|_, e| keep(e.stream));
            ring.current.retain(|s, _| keep(*s));
            ring.held.retain(|s, _| keep(*s));
        })
        .await
    }

    /// The ARN of the KMS key sealing the stream's new records, if any.
    pub fn current_key(&self, stream: u64) -> Option<String> {
        let ring = self.ring.read();
        let key_ref = ring.current.get(&stream)?;
        Some(ring.keys.get(key_ref)?.stored.key_arn.clone())
    }

    /// Applies `change` to a copy of the ring, stores it, then makes it current.
    async fn change(&self, change: impl FnOnce(&mut Ring)) -> Result<()> {
        let _guard = self.write.lock().await;
        let mut ring = self.ring.read().clone();
        change(&mut ring);
        let doc = Doc {
            next_ref: ring.next_ref,
            keys: ring.keys.values().map(|e| e.stored.clone()).collect(),
            current: ring
                .current
                .iter()
                .map(|(s, r)| (s.to_string(), *r))
                .collect(),
        };
        let bytes = serde_json::to_vec(&doc).map_err(internal)?;
        self.catalog
            .put_setting(&self.setting, &bytes)
            .await
            .map_err(internal)?;
        *self.ring.write() = ring;
        Ok(())
    }

    /// Wraps each key anew under `destination` (or its own KMS key's newest material) and
    /// stores the new blobs. A key that fails keeps its old blob, which still opens.
    async fn rewrap(&self, keys: Vec<StoredKey>, destination: Option<&str>) {
        let mut renewed = Vec::new();
        for stored in keys {
            let Ok(blob) = B64.decode(&stored.blob) else {
                continue;
            };
            let to = destination.unwrap_or(&stored.key_arn);
            match self.kms.re_encrypt(&blob, &stored.context, to).await {
                Ok((blob, arn)) => {
                    renewed.push((stored.key_ref, stored.blob.clone(), B64.encode(blob), arn))
                }
                Err(e) => {
                    tracing::warn!(key_ref = stored.key_ref, error = %e, "a data key was not wrapped anew")
                }
            }
        }
        if renewed.is_empty() {
            return;
        }
        let n = renewed.len();
        let result = self
            .change(|ring| {
                // Only over the blob that was wrapped anew: a concurrent rewrap (a rotation
                // while the stream moves to another key) that stored first keeps its result.
                for (key_ref, old, blob, arn) in renewed {
                    if let Some(e) = ring.keys.get_mut(&key_ref).filter(|e| e.stored.blob == old) {
                        e.stored.blob = blob;
                        e.stored.key_arn = arn;
                    }
                }
            })
            .await;
        match result {
            Ok(()) => tracing::info!(keyring = %self.setting, keys = n, "data keys wrapped anew"),
            Err(e) => {
                tracing::warn!(keyring = %self.setting, error = %e, "wrapped data keys not stored")
            }
        }
    }

    /// The data keys not wrapped under their KMS key's newest material.
    fn stale(&self) -> Vec<StoredKey> {
        self.ring
            .read()
            .keys
            .values()
            .filter(|e| {
                B64.decode(&e.stored.blob)
                    .is_ok_and(|b| !self.kms.is_current(&b))
            })
            .map(|e| e.stored.clone())
            .collect()
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("setting", &self.setting)
            .field("keys", &self.ring.read().keys.len())
            .finish()
    }
}

async fn unwrap(kms: &dyn KeyService, stored: &StoredKey) -> Result<Arc<DataKey>, KeyError> {
    let blob = B64
        .decode(&stored.blob)
        .map_err(|_| KeyError::Undecryptable("a stored data key is not base64".into()))?;
    let plaintext = kms.decrypt(&blob, &stored.context).await?;
    let key: [u8; 32] = plaintext
        .try_into()
        .map_err(|_| KeyError::Undecryptable("a stored data key is not 256 bits".into()))?;
    Ok(Arc::new(DataKey::new(stored.key_ref, &key)))
}

/// How often keys that could not be used are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// For as long as the keyring exists: wraps its data keys anew whenever a KMS key rotates, and
/// every few seconds retries what a refusing key left undone (held streams' starts, data keys
/// that did not unwrap at open), so a key enabled again is used again without a restart.
async fn maintain(keyring: Weak<Keyring>) {
    let Some((mut rotations, clock)) = keyring
        .upgrade()
        .map(|k| (k.kms.rotations(), k.clock.clone()))
    else {
        return;
    };
    loop {
        let Some(k) = keyring.upgrade() else { return };
        let stale = k.stale();
        if !stale.is_empty() {
            k.rewrap(stale, None).await;
        }
        k.retry().await;
        drop(k);
        tokio::select! {
            changed = rotations.changed() => if changed.is_err() { return },
            _ = clock.sleep(RETRY_EVERY) => {}
        }
    }
}

impl Keyring {
    async fn retry(&self) {
        let held: Vec<(u64, Held)> = self
            .ring
            .read()
            .held
            .iter()
            .map(|(s, h)| (*s, h.clone()))
            .collect();
        for (stream, h) in held {
            // Unless the stream stopped encryption (or went) meanwhile.
            let still_held = |ring: &Ring| ring.held.contains_key(&stream);
            match self
                .start_when(stream, &h.key_id, h.context, still_held)
                .await
            {
                Ok(_) => tracing::info!(stream, "encryption resumed"),
                Err(e) => {
                    if let Some(h) = self.ring.write().held.get_mut(&stream) {
                        h.error = e.into();
                    }
                }
            }
        }
        let failed: Vec<StoredKey> = self
            .ring
            .read()
            .keys
            .values()
            .filter(|e| e.key.is_err())
            .map(|e| e.stored.clone())
            .collect();
        for stored in failed {
            let key = unwrap(&*self.kms, &stored).await;
            if key.is_ok() {
                tracing::info!(key_ref = stored.key_ref, "a data key unwrapped on retry");
            }
            if let Some(e) = self.ring.write().keys.get_mut(&stored.key_ref) {
                e.key = key;
            }
        }
    }
}

impl DataKeys for Keyring {
    fn sealing(&self, stream: u64) -> Result<Option<Arc<DataKey>>, KeyError> {
        let ring = self.ring.read();
        if let Some(held) = ring.held.get(&stream) {
            return Err(held.error.clone());
        }
        let Some(key_ref) = ring.current.get(&stream) else {
            return Ok(None);
        };
        let entry = ring
            .keys
            .get(key_ref)
            .ok_or_else(|| KeyError::NotFound(format!("data key {key_ref} is missing")))?;
        self.kms.usable(&entry.stored.key_arn)?;
        entry.key.clone().map(Some)
    }

    fn opening(&self, stream: u64, key_ref: u32) -> Result<Arc<DataKey>, KeyError> {
        let ring = self.ring.read();
        let entry = ring
            .keys
            .get(&key_ref)
            .filter(|e| e.stream == stream)
            .ok_or_else(|| {
                KeyError::NotFound(format!(
                    "the data key {key_ref} of a sealed record is not in the keyring"
                ))
            })?;
        self.kms.usable(&entry.stored.key_arn)?;
        entry.key.clone()
    }
}

fn internal(e: impl std::fmt::Display) -> KmsError {
    KmsError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use freshet_runtime::SharedClock;

    use super::*;
    use crate::Kms;
    use crate::master::{MasterKey, MasterKeys};
    use crate::model::{CreateKeyInput, KeyIdInput};

    async fn setup(dir: &std::path::Path) -> (Kms, Catalog) {
        let path = dir.join("master.key");
        let master = MasterKeys::new(MasterKey::load(&path, true).unwrap(), vec![]);
        let catalog = Catalog::open(&dir.join("catalog.db")).await.unwrap();
        let kms = Kms::open(
            catalog.clone(),
            master,
            "us-east-1",
            "000000000000",
            SharedClock::system(),
        )
        .await
        .unwrap();
        (kms, catalog)
    }

    fn ctx() -> Context {
        [("aws:kinesis:arn".to_string(), "s".to_string())].into()
    }

    #[tokio::test]
    async fn keys_seal_open_survive_a_reopen_and_follow_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let (kms, catalog) = setup(dir.path()).await;
        let key = kms
            .create_key(CreateKeyInput::default())
            .await
            .unwrap()
            .key_metadata;
        let ring = Keyring::open(
            "streams",
            catalog.clone(),
            Arc::new(kms.clone()),
            SharedClock::system(),
        )
        .await
        .unwrap();
        assert!(ring.sealing(7).unwrap().is_none());
        assert_eq!(ring.start(7, &key.key_id, ctx()).await.unwrap(), key.arn);
        let first = ring.sealing(7).unwrap().unwrap();
        assert_eq!(ring.current_key(7), Some(key.arn.clone()));
        // Another stream cannot open this stream's key.
        assert!(matches!(
            ring.opening(8, first.key_ref()),
            Err(KeyError::NotFound(_))
        ));
        kms.disable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        assert!(matches!(ring.sealing(7), Err(KeyError::Disabled(_))));
        assert!(matches!(
            ring.opening(7, first.key_ref()),
            Err(KeyError::Disabled(_))
        ));
        kms.enable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        let blob = |ring: &Keyring| ring.ring.read().keys[&first.key_ref()].stored.blob.clone();
        let before = blob(&ring);
        kms.rotate_key_on_demand(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        for _ in 0..200 {
            if blob(&ring) != before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_ne!(blob(&ring), before, "the data key was not wrapped anew");
        ring.stop(7).await.unwrap();
        assert!(ring.sealing(7).unwrap().is_none());
        drop(ring);
        let ring = Keyring::open(
            "streams",
            catalog.clone(),
            Arc::new(kms.clone()),
            SharedClock::system(),
        )
        .await
        .unwrap();
        assert!(ring.sealing(7).unwrap().is_none());
        assert!(
            ring.opening(7, first.key_ref()).is_ok(),
            "sealed records stay readable"
        );
        ring.forget(7).await.unwrap();
        assert!(ring.opening(7, first.key_ref()).is_err());
    }

    #[tokio::test]
    async fn a_refused_resume_holds_appends_and_retries_until_the_key_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let (kms, catalog) = setup(dir.path()).await;
        let (clock, manual) = freshet_runtime::ManualClock::shared(0);
        let key = kms
            .create_key(CreateKeyInput::default())
            .await
            .unwrap()
            .key_metadata;
        let ring = Keyring::open(
            "video",
            catalog.clone(),
            Arc::new(kms.clone()),
            clock.clone(),
        )
        .await
        .unwrap();
        kms.disable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        ring.resume(3, &key.arn, ctx()).await;
        // Held: the stream's appends are refused, never stored in clear.
        assert!(matches!(ring.sealing(3), Err(KeyError::Disabled(_))));
        kms.enable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        for _ in 0..200 {
            manual.advance(RETRY_EVERY);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if matches!(ring.sealing(3), Ok(Some(_))) {
                break;
            }
        }
        let sealing = ring
            .sealing(3)
            .unwrap()
            .expect("the held stream seals once the key is back");
        // A data key that does not unwrap at open is retried the same way.
        kms.disable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        drop(ring);
        let ring = Keyring::open("video", catalog, Arc::new(kms.clone()), clock)
            .await
            .unwrap();
        kms.enable_key(KeyIdInput {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap();
        for _ in 0..200 {
            manual.advance(RETRY_EVERY);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if ring.opening(3, sealing.key_ref()).is_ok() {
                break;
            }
        }
        assert!(
            ring.opening(3, sealing.key_ref()).is_ok(),
            "the data key was not unwrapped again"
        );
    }
}
