//! The local KMS: symmetric keys (AES-256-GCM material, one version per rotation) with their
//! states, aliases, and the cryptographic operations over them. Key material is kept wrapped
//! under the master key in one catalog document (`kms/keys`), rewritten on each change; a change
//! is written before it is answered.

use std::collections::BTreeMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use freshet_catalog::Catalog;
use freshet_runtime::SharedClock;
use parking_lot::RwLock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::master::MasterKeys;
use crate::model::*;
use crate::{KmsError, Result};

const DOC: &str = "kms/keys";
/// The services whose AWS managed keys (`alias/aws/<service>`) exist on first use.
const AWS_MANAGED: [&str; 3] = ["kinesis", "firehose", "kinesisvideo"];
const DAY_MS: i64 = 86_400_000;
/// Ciphertext blobs: a version byte, the key's id (16 bytes), the material version, the nonce,
/// then the sealed plaintext and its tag.
const BLOB_VERSION: u8 = 1;
const BLOB_HEADER: usize = 1 + 16 + 4 + 12;

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Enabled => "Enabled",
            State::Disabled => "Disabled",
            State::PendingDeletion => "PendingDeletion",
        }
    }
}

/// A key as stored: everything but its material in the clear.
#[derive(Serialize, Deserialize, Clone)]
struct StoredKey {
    id: uuid::Uuid,
    description: String,
    state: State,
    created_ms: i64,
    /// AWS managed (`alias/aws/<service>`), created on first use, never deleted.
    aws_managed: bool,
    deletion_ms: Option<i64>,
    pending_days: Option<u32>,
    rotation_days: Option<u32>,
    /// When the newest material was made (creation or last rotation).
    rotated_ms: i64,
    on_demand_ms: Option<i64>,
    policy: Option<String>,
    tags: Vec<Tag>,
    /// Each version's material, wrapped under the master key.
    materials: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredAlias {
    name: String,
    key: uuid::Uuid,
    created_ms: i64,
    updated_ms: i64,
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct Doc {
    keys: Vec<StoredKey>,
    aliases: Vec<StoredAlias>,
}

struct Key {
    stored: StoredKey,
    ciphers: Vec<Aes256Gcm>,
}

#[derive(Default)]
struct Keys {
    keys: BTreeMap<uuid::Uuid, Key>,
    aliases: BTreeMap<String, StoredAlias>,
}

/// The local KMS; cheap to clone.
#[derive(Clone)]
pub struct Kms {
    inner: Arc<Inner>,
}

struct Inner {
    region: String,
    account: String,
    master: MasterKeys,
    catalog: Catalog,
    clock: SharedClock,
    keys: RwLock<Keys>,
    /// Serializes changes, so each writes the document its predecessor left.
    write: tokio::sync::Mutex<()>,
    /// Counts rotations of any key's material (keyrings wrap their data keys anew).
    rotations: watch::Sender<u64>,
}

impl Kms {
    /// Loads the keys; material wrapped under a previous master key is wrapped anew under the
    /// current one and written back before this returns.
    pub async fn open(
        catalog: Catalog,
        master: MasterKeys,
        region: &str,
        account: &str,
        clock: SharedClock,
    ) -> Result<Kms> {
        let doc: Doc = match catalog.get_setting(DOC).await.map_err(internal)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                KmsError::Internal(format!("the stored KMS keys do not parse: {e}"))
            })?,
            None => Doc::default(),
        };
        let mut keys = Keys::default();
        let mut rewrapped = 0;
        for mut stored in doc.keys {
            let mut ciphers = Vec::new();
            for wrapped in &mut stored.materials {
                let (material, stale) = master
                    .unwrap(&stored.id.to_string(), wrapped)
                    .map_err(|e| KmsError::Internal(format!("KMS key {}: {e}", stored.id)))?;
                if stale {
                    *wrapped = master.wrap(&stored.id.to_string(), &material);
                    rewrapped += 1;
                }
                ciphers.push(Aes256Gcm::new_from_slice(&material).map_err(|_| {
                    KmsError::Internal(format!("KMS key {}: material is not 32 bytes", stored.id))
                })?);
            }
            keys.keys.insert(stored.id, Key { stored, ciphers });
        }
        for alias in doc.aliases {
            keys.aliases.insert(alias.name.clone(), alias);
        }
        let kms = Kms {
            inner: Arc::new(Inner {
                region: region.to_string(),
                account: account.to_string(),
                master,
                catalog,
                clock,
                keys: RwLock::new(keys),
                write: tokio::sync::Mutex::new(()),
                rotations: watch::channel(0).0,
            }),
        };
        if rewrapped > 0 {
            kms.change(|_, _| Ok(())).await?;
            tracing::info!(
                materials = rewrapped,
                "KMS key material wrapped anew under the current master key"
            );
        }
        Ok(kms)
    }

    /// A receiver that changes whenever some key's material rotates.
    pub fn rotations(&self) -> watch::Receiver<u64> {
        self.inner.rotations.subscribe()
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn arn(&self, id: &uuid::Uuid) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            self.inner.region, self.inner.account
        )
    }

    fn alias_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:{name}",
            self.inner.region, self.inner.account
        )
    }

    async fn save(&self, keys: &Keys) -> Result<()> {
        let doc = Doc {
            keys: keys.keys.values().map(|k| k.stored.clone()).collect(),
            aliases: keys.aliases.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| KmsError::Internal(e.to_string()))?;
        self.inner
            .catalog
            .put_setting(DOC, &bytes)
            .await
            .map_err(internal)
    }

    /// Applies `change` to a copy of the keys, writes it, then makes it current: nothing (new
    /// material above all) is used before it is durable, and a failed write changes nothing.
    async fn change<T>(&self, change: impl FnOnce(&mut Keys, i64) -> Result<T>) -> Result<T> {
        let _guard = self.inner.write.lock().await;
        let now = self.now_ms();
        let mut copy = self.inner.keys.read().clone_all();
        let out = change(&mut copy, now)?;
        self.save(&copy).await?;
        *self.inner.keys.write() = copy;
        Ok(out)
    }

    /// The key a KeyId names: a key id, a key ARN, an alias name or an alias ARN. The AWS
    /// managed alias of a service Freshet serves (`alias/aws/kinesis`, ...) that names no key
    /// yet gets its key, as KMS creates them on the service's first use.
    async fn resolve(&self, key_id: &str) -> Result<uuid::Uuid> {
        let alias = self.alias_name(key_id)?;
        let Some(alias) = alias else {
            return self.key_id(key_id);
        };
        if let Some(a) = self.inner.keys.read().aliases.get(&alias) {
            return Ok(a.key);
        }
        let managed = alias
            .strip_prefix("alias/aws/")
            .filter(|service| AWS_MANAGED.contains(service));
        if let Some(service) = managed {
            let service = service.to_string();
            return self
                .change(|keys, now| {
                    if let Some(a) = keys.aliases.get(&alias) {
                        return Ok(a.key);
                    }
                    let id = self.new_key(
                        keys,
                        now,
                        format!("Default key that protects my {service} data when no other key is defined"),
                        true,
                        None,
                        vec![],
                    );
                    keys.aliases.insert(
                        alias.clone(),
                        StoredAlias {
                            name: alias.clone(),
                            key: id,
                            created_ms: now,
                            updated_ms: now,
                        },
                    );
                    Ok(id)
                })
                .await;
        }
        Err(KmsError::NotFound(format!(
            "Alias {} is not found.",
            self.alias_arn(&alias)
        )))
    }

    /// `Some(alias/...)` if `key_id` names an alias of this region and account.
    fn alias_name(&self, key_id: &str) -> Result<Option<String>> {
        if key_id.starts_with("alias/") {
            return Ok(Some(key_id.to_string()));
        }
        if let Some(rest) = key_id.strip_prefix("arn:aws:kms:") {
            let mut parts = rest.splitn(3, ':');
            let (region, account, resource) = (parts.next(), parts.next(), parts.next());
            if let Some(resource) = resource.filter(|r| r.starts_with("alias/")) {
                if region != Some(self.inner.region.as_str())
                    || account != Some(self.inner.account.as_str())
                {
                    return Err(KmsError::NotFound(format!("Alias {key_id} is not found.")));
                }
                return Ok(Some(resource.to_string()));
            }
        }
        Ok(None)
    }

    fn key_id(&self, key_id: &str) -> Result<uuid::Uuid> {
        let bare = match key_id.strip_prefix("arn:aws:kms:") {
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                let (region, account, resource) = (parts.next(), parts.next(), parts.next());
                match resource.and_then(|r| r.strip_prefix("key/")) {
                    Some(id)
                        if region == Some(self.inner.region.as_str())
                            && account == Some(self.inner.account.as_str()) =>
                    {
                        id
                    }
                    Some(_) => {
                        return Err(KmsError::NotFound(format!("Key '{key_id}' does not exist")));
                    }
                    None => {
                        return Err(KmsError::NotFound(format!("Invalid arn {key_id}")));
                    }
                }
            }
            None => key_id,
        };
        let id = uuid::Uuid::parse_str(bare)
            .ok()
            .filter(|_| bare.len() == 36)
            .ok_or_else(|| KmsError::NotFound(format!("Invalid keyId '{key_id}'")))?;
        if self.inner.keys.read().keys.contains_key(&id) {
            Ok(id)
        } else {
            Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                self.arn(&id)
            )))
        }
    }

    fn new_key(
        &self,
        keys: &mut Keys,
        now: i64,
        description: String,
        aws_managed: bool,
        policy: Option<String>,
        tags: Vec<Tag>,
    ) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let (wrapped, cipher) = self.new_material(&id);
        keys.keys.insert(
            id,
            Key {
                stored: StoredKey {
                    id,
                    description,
                    state: State::Enabled,
                    created_ms: now,
                    aws_managed,
                    deletion_ms: None,
                    pending_days: None,
                    // AWS managed keys rotate every year.
                    rotation_days: aws_managed.then_some(365),
                    rotated_ms: now,
                    on_demand_ms: None,
                    policy,
                    tags,
                    materials: vec![wrapped],
                },
                ciphers: vec![cipher],
            },
        );
        id
    }

    fn new_material(&self, id: &uuid::Uuid) -> (String, Aes256Gcm) {
        let mut material = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut material);
        let wrapped = self.inner.master.wrap(&id.to_string(), &material);
        (wrapped, Aes256Gcm::new(&material.into()))
    }

    fn metadata(&self, key: &StoredKey) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.inner.account.clone(),
            key_id: key.id.to_string(),
            arn: self.arn(&key.id),
            creation_date: secs(key.created_ms),
            enabled: key.state == State::Enabled,
            description: key.description.clone(),
            key_usage: "ENCRYPT_DECRYPT",
            key_state: key.state.name(),
            deletion_date: key.deletion_ms.map(secs),
            pending_deletion_window_in_days: key.pending_days,
            origin: "AWS_KMS",
            key_manager: if key.aws_managed { "AWS" } else { "CUSTOMER" },
            customer_master_key_spec: "SYMMETRIC_DEFAULT",
            key_spec: "SYMMETRIC_DEFAULT",
            encryption_algorithms: ["SYMMETRIC_DEFAULT"],
            multi_region: false,
        }
    }

    pub async fn create_key(&self, input: CreateKeyInput) -> Result<KeyMetadataOutput> {
        let spec = input.key_spec.or(input.customer_master_key_spec);
        if let Some(spec) = spec.filter(|s| s != "SYMMETRIC_DEFAULT") {
            return Err(KmsError::Unsupported(format!(
                "KeySpec {spec} is not supported by Freshet's KMS: only SYMMETRIC_DEFAULT keys."
            )));
        }
        if let Some(usage) = input.key_usage.filter(|u| u != "ENCRYPT_DECRYPT") {
            return Err(KmsError::Unsupported(format!(
                "KeyUsage {usage} is not supported by Freshet's KMS: only ENCRYPT_DECRYPT."
            )));
        }
        if let Some(origin) = input.origin.filter(|o| o != "AWS_KMS") {
            return Err(KmsError::Unsupported(format!(
                "Origin {origin} is not supported by Freshet's KMS: only AWS_KMS."
            )));
        }
        if input.multi_region == Some(true) {
            return Err(KmsError::Unsupported(
                "Multi-Region keys are not supported by Freshet's KMS.".into(),
            ));
        }
        let description = input.description.unwrap_or_default();
        let id = self
            .change(|keys, now| {
                Ok(self.new_key(keys, now, description, false, input.policy, input.tags))
            })
            .await?;
        tracing::info!(key = %id, "KMS key created");
        self.describe(id)
    }

    fn describe(&self, id: uuid::Uuid) -> Result<KeyMetadataOutput> {
        let keys = self.inner.keys.read();
        let key = keys
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::NotFound(format!("Key '{}' does not exist", self.arn(&id))))?;
        Ok(KeyMetadataOutput {
            key_metadata: self.metadata(&key.stored),
        })
    }

    pub async fn describe_key(&self, input: KeyIdInput) -> Result<KeyMetadataOutput> {
        let id = self.resolve(&input.key_id).await?;
        self.describe(id)
    }

    pub fn list_keys(&self, input: PageInput) -> Result<ListKeysOutput> {
        let keys = self.inner.keys.read();
        let ids: Vec<&uuid::Uuid> = keys.keys.keys().collect();
        let (page, next) = page(&ids, input.limit, input.marker.as_deref(), |id| {
            id.to_string()
        })?;
        Ok(ListKeysOutput {
            keys: page
                .iter()
                .map(|id| KeyListEntry {
                    key_id: id.to_string(),
                    key_arn: self.arn(id),
                })
                .collect(),
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    pub async fn create_alias(&self, input: AliasInput) -> Result<Empty> {
        let name = input.alias_name;
        check_alias_name(&name)?;
        let target = input.target_key_id.unwrap_or_default();
        if self.alias_name(&target)?.is_some() {
            return Err(KmsError::Validation(
                "Aliases must refer to keys. Not aliases".into(),
            ));
        }
        let key = self.key_id(&target)?;
        let arn = self.alias_arn(&name);
        self.change(|keys, now| {
            if keys.aliases.contains_key(&name) {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name {arn} already exists"
                )));
            }
            keys.aliases.insert(
                name.clone(),
                StoredAlias {
                    name: name.clone(),
                    key,
                    created_ms: now,
                    updated_ms: now,
                },
            );
            Ok(Empty {})
        })
        .await
    }

    pub async fn update_alias(&self, input: AliasInput) -> Result<Empty> {
        let name = input.alias_name;
        let target = input.target_key_id.unwrap_or_default();
        if self.alias_name(&target)?.is_some() {
            return Err(KmsError::Validation(
                "Aliases must refer to keys. Not aliases".into(),
            ));
        }
        let key = self.key_id(&target)?;
        let arn = self.alias_arn(&name);
        self.change(|keys, now| {
            let alias = keys
                .aliases
                .get_mut(&name)
                .filter(|_| !name.starts_with("alias/aws/"))
                .ok_or_else(|| KmsError::NotFound(format!("Alias {arn} is not found.")))?;
            alias.key = key;
            alias.updated_ms = now;
            Ok(Empty {})
        })
        .await
    }

    pub async fn delete_alias(&self, input: AliasInput) -> Result<Empty> {
        let name = input.alias_name;
        if name.starts_with("alias/aws/") {
            return Err(KmsError::NotAuthorized(
                "Cannot delete AWS reserved alias".into(),
            ));
        }
        let arn = self.alias_arn(&name);
        self.change(|keys, _| {
            keys.aliases
                .remove(&name)
                .map(|_| Empty {})
                .ok_or_else(|| KmsError::NotFound(format!("Alias {arn} is not found.")))
        })
        .await
    }

    pub async fn list_aliases(&self, input: PageInput) -> Result<ListAliasesOutput> {
        let key = match &input.key_id {
            Some(k) => Some(self.resolve(k).await?),
            None => None,
        };
        let keys = self.inner.keys.read();
        let aliases: Vec<&StoredAlias> = keys
            .aliases
            .values()
            .filter(|a| key.is_none_or(|k| a.key == k))
            .collect();
        let (page, next) = page(&aliases, input.limit, input.marker.as_deref(), |a| {
            a.name.clone()
        })?;
        Ok(ListAliasesOutput {
            aliases: page
                .iter()
                .map(|a| AliasListEntry {
                    alias_name: a.name.clone(),
                    alias_arn: self.alias_arn(&a.name),
                    target_key_id: Some(a.key.to_string()),
                    creation_date: Some(secs(a.created_ms)),
                    last_updated_date: Some(secs(a.updated_ms)),
                })
                .collect(),
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// Applies `change` to one customer managed key (AWS managed keys refuse changes).
    async fn change_key<T>(
        &self,
        key_id: &str,
        change: impl FnOnce(&mut StoredKey, String, i64) -> Result<T>,
    ) -> Result<T> {
        let id = self.resolve(key_id).await?;
        let arn = self.arn(&id);
        self.change(|keys, now| {
            let key = keys
                .keys
                .get_mut(&id)
                .ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))?;
            if key.stored.aws_managed {
                return Err(KmsError::Unsupported(format!(
                    "{arn} is an AWS managed key; its state and rotation are managed by AWS."
                )));
            }
            change(&mut key.stored, arn, now)
        })
        .await
    }

    pub async fn enable_key(&self, input: KeyIdInput) -> Result<Empty> {
        self.set_state(&input.key_id, State::Enabled).await
    }

    pub async fn disable_key(&self, input: KeyIdInput) -> Result<Empty> {
        self.set_state(&input.key_id, State::Disabled).await
    }

    /// Enables or disables a key; one pending deletion must have its deletion cancelled first.
    async fn set_state(&self, key_id: &str, state: State) -> Result<Empty> {
        self.change_key(key_id, |key, arn, _| {
            if key.state == State::PendingDeletion {
                return Err(pending_deletion(&arn));
            }
            key.state = state;
            Ok(Empty {})
        })
        .await
    }

    pub async fn schedule_key_deletion(
        &self,
        input: ScheduleDeletionInput,
    ) -> Result<ScheduleDeletionOutput> {
        let days = input.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 30"
            )));
        }
        self.change_key(&input.key_id, |key, arn, now| {
            if key.state == State::PendingDeletion {
                return Err(pending_deletion(&arn));
            }
            let when = now + days as i64 * DAY_MS;
            key.state = State::PendingDeletion;
            key.deletion_ms = Some(when);
            key.pending_days = Some(days);
            Ok(ScheduleDeletionOutput {
                key_id: arn,
                deletion_date: secs(when),
                key_state: State::PendingDeletion.name(),
                pending_window_in_days: days,
            })
        })
        .await
    }

    pub async fn cancel_key_deletion(&self, input: KeyIdInput) -> Result<KeyIdOutput> {
        self.change_key(&input.key_id, |key, arn, _| {
            if key.state != State::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{arn} is not pending deletion."
                )));
            }
            key.state = State::Disabled;
            key.deletion_ms = None;
            key.pending_days = None;
            Ok(KeyIdOutput { key_id: arn })
        })
        .await
    }

    pub async fn enable_key_rotation(&self, input: EnableRotationInput) -> Result<Empty> {
        let days = input.rotation_period_in_days.unwrap_or(365);
        if !(90..=2560).contains(&days) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560"
            )));
        }
        self.change_key(&input.key_id, |key, arn, _| {
            usable_state(key, &arn)?;
            key.rotation_days = Some(days);
            Ok(Empty {})
        })
        .await
    }

    pub async fn disable_key_rotation(&self, input: KeyIdInput) -> Result<Empty> {
        self.change_key(&input.key_id, |key, arn, _| {
            usable_state(key, &arn)?;
            key.rotation_days = None;
            Ok(Empty {})
        })
        .await
    }

    pub async fn get_key_rotation_status(&self, input: KeyIdInput) -> Result<RotationStatusOutput> {
        let id = self.resolve(&input.key_id).await?;
        let keys = self.inner.keys.read();
        let key = &keys.keys[&id].stored;
        Ok(RotationStatusOutput {
            key_rotation_enabled: key.rotation_days.is_some(),
            key_id: self.arn(&id),
            rotation_period_in_days: key.rotation_days,
            next_rotation_date: key
                .rotation_days
                .map(|d| secs(key.rotated_ms + d as i64 * DAY_MS)),
            on_demand_rotation_start_date: key.on_demand_ms.map(secs),
        })
    }

    /// New material for the key; what was sealed under older material still opens, and
    /// keyrings wrap their data keys anew under the newest (`rotations`).
    pub async fn rotate_key_on_demand(&self, input: KeyIdInput) -> Result<KeyIdOutput> {
        let out = self
            .change_key(&input.key_id, |key, arn, now| {
                usable_state(key, &arn)?;
                key.on_demand_ms = Some(now);
                Ok(KeyIdOutput { key_id: arn })
            })
            .await?;
        let id = self.resolve(&input.key_id).await?;
        self.rotate(id).await?;
        Ok(out)
    }

    /// Rotates every key whose rotation period has passed (run once a minute by the server).
    pub async fn rotate_due(&self) -> Result<()> {
        let now = self.now_ms();
        let due: Vec<uuid::Uuid> = self
            .inner
            .keys
            .read()
            .keys
            .values()
            .filter(|k| {
                k.stored.state == State::Enabled
                    && k.stored
                        .rotation_days
                        .is_some_and(|d| now >= k.stored.rotated_ms + d as i64 * DAY_MS)
            })
            .map(|k| k.stored.id)
            .collect();
        for id in due {
            self.rotate(id).await?;
        }
        Ok(())
    }

    async fn rotate(&self, id: uuid::Uuid) -> Result<()> {
        let (wrapped, cipher) = self.new_material(&id);
        self.change(|keys, now| {
            if let Some(key) = keys.keys.get_mut(&id) {
                key.stored.materials.push(wrapped);
                key.stored.rotated_ms = now;
                key.ciphers.push(cipher);
            }
            Ok(())
        })
        .await?;
        tracing::info!(key = %id, "KMS key material rotated");
        self.inner.rotations.send_modify(|n| *n += 1);
        Ok(())
    }

    /// The key's ARN and its newest material's version and cipher, if it may encrypt now.
    fn for_use(&self, id: uuid::Uuid) -> Result<(String, u32, Aes256Gcm)> {
        let keys = self.inner.keys.read();
        let key = &keys.keys[&id];
        let arn = self.arn(&id);
        usable_state(&key.stored, &arn)?;
        let version = key.ciphers.len() - 1;
        Ok((arn, version as u32, key.ciphers[version].clone()))
    }

    fn seal(
        &self,
        id: uuid::Uuid,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<(Vec<u8>, String)> {
        let (arn, version, cipher) = self.for_use(id)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut blob = Vec::with_capacity(BLOB_HEADER + plaintext.len() + 16);
        blob.push(BLOB_VERSION);
        blob.extend_from_slice(id.as_bytes());
        blob.extend_from_slice(&version.to_le_bytes());
        blob.extend_from_slice(&nonce);
        let aad = aad(&blob[..BLOB_HEADER], context);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| KmsError::Internal("encryption failed".into()))?;
        blob.extend_from_slice(&sealed);
        Ok((blob, arn))
    }

    /// The plaintext of a blob and the ARN of the key that sealed it.
    fn unseal(
        &self,
        blob: &[u8],
        context: &Context,
        expect: Option<uuid::Uuid>,
    ) -> Result<(Vec<u8>, String)> {
        let invalid = || KmsError::InvalidCiphertext(String::new());
        let id = blob_key(blob).ok_or_else(invalid)?;
        if expect.is_some_and(|e| e != id) {
            return Err(KmsError::IncorrectKey(
                "The key ID in the request does not identify a CMK that can perform this operation."
                    .into(),
            ));
        }
        let version = u32::from_le_bytes([blob[17], blob[18], blob[19], blob[20]]) as usize;
        let keys = self.inner.keys.read();
        let Some(key) = keys.keys.get(&id) else {
            return Err(invalid());
        };
        let arn = self.arn(&id);
        usable_state(&key.stored, &arn)?;
        let cipher = key.ciphers.get(version).ok_or_else(invalid)?;
        let aad = aad(&blob[..BLOB_HEADER], context);
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(&blob[21..BLOB_HEADER]),
                Payload {
                    msg: &blob[BLOB_HEADER..],
                    aad: &aad,
                },
            )
            .map_err(|_| invalid())?;
        Ok((plaintext, arn))
    }

    /// Whether a blob was sealed under its key's newest material (else `rewrap` renews it).
    pub fn is_current(&self, blob: &[u8]) -> bool {
        let Some(id) = blob.get(1..17).and_then(|b| uuid::Uuid::from_slice(b).ok()) else {
            return true;
        };
        let version = blob
            .get(17..21)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let keys = self.inner.keys.read();
        keys.keys
            .get(&id)
            .is_none_or(|k| Some(k.ciphers.len() - 1) == version)
    }

    pub async fn generate_data_key(
        &self,
        input: GenerateDataKeyInput,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyOutput> {
        let len = match (input.key_spec.as_deref(), input.number_of_bytes) {
            (Some(_), Some(_)) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
            (Some("AES_256"), None) => 32,
            (Some("AES_128"), None) => 16,
            (Some(spec), None) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
                )));
            }
            (None, Some(n)) if (1..=1024).contains(&n) => n,
            (None, Some(n)) => {
                return Err(KmsError::Validation(format!(
                    "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
                )));
            }
            (None, None) => {
                return Err(KmsError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
        };
        let id = self.resolve(&input.key_id).await?;
        let mut plaintext = vec![0u8; len];
        rand::rngs::OsRng.fill_bytes(&mut plaintext);
        let (blob, arn) = self.seal(id, &plaintext, &input.encryption_context)?;
        Ok(GenerateDataKeyOutput {
            ciphertext_blob: blob,
            plaintext: with_plaintext.then_some(plaintext),
            key_id: arn,
        })
    }

    pub async fn encrypt(&self, input: EncryptInput) -> Result<EncryptOutput> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let id = self.resolve(&input.key_id).await?;
        let (blob, arn) = self.seal(id, &input.plaintext, &input.encryption_context)?;
        Ok(EncryptOutput {
            ciphertext_blob: blob,
            key_id: arn,
            encryption_algorithm: "SYMMETRIC_DEFAULT",
        })
    }

    pub async fn decrypt(&self, input: DecryptInput) -> Result<DecryptOutput> {
        check_algorithm(input.encryption_algorithm.as_deref())?;
        let expect = match &input.key_id {
            Some(k) => Some(self.resolve(k).await?),
            None => None,
        };
        let (plaintext, arn) =
            self.unseal(&input.ciphertext_blob, &input.encryption_context, expect)?;
        Ok(DecryptOutput {
            key_id: arn,
            plaintext,
            encryption_algorithm: "SYMMETRIC_DEFAULT",
        })
    }

    pub async fn re_encrypt(&self, input: ReEncryptInput) -> Result<ReEncryptOutput> {
        let expect = match &input.source_key_id {
            Some(k) => Some(self.resolve(k).await?),
            None => None,
        };
        let (plaintext, source) = self.unseal(
            &input.ciphertext_blob,
            &input.source_encryption_context,
            expect,
        )?;
        let destination = self.resolve(&input.destination_key_id).await?;
        let (blob, arn) = self.seal(
            destination,
            &plaintext,
            &input.destination_encryption_context,
        )?;
        Ok(ReEncryptOutput {
            ciphertext_blob: blob,
            source_key_id: source,
            key_id: arn,
            source_encryption_algorithm: "SYMMETRIC_DEFAULT",
            destination_encryption_algorithm: "SYMMETRIC_DEFAULT",
        })
    }

    pub fn generate_random(&self, input: GenerateRandomInput) -> Result<GenerateRandomOutput> {
        let n = input.number_of_bytes.unwrap_or(0);
        if !(1..=1024).contains(&n) {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        let mut plaintext = vec![0u8; n];
        rand::rngs::OsRng.fill_bytes(&mut plaintext);
        Ok(GenerateRandomOutput { plaintext })
    }

    /// Whether the key (by ARN) may be used now, as keyrings ask before each append and read.
    pub fn usable(&self, arn: &str) -> Result<()> {
        let id = self.key_id(arn)?;
        let keys = self.inner.keys.read();
        usable_state(&keys.keys[&id].stored, arn)
    }

    /// The ARN of the key a KeyId names (creating an AWS managed key for `alias/aws/...`).
    pub async fn key_arn(&self, key_id: &str) -> Result<String> {
        let id = self.resolve(key_id).await?;
        let keys = self.inner.keys.read();
        usable_state(&keys.keys[&id].stored, &self.arn(&id))?;
        Ok(self.arn(&id))
    }
}

impl Keys {
    fn clone_all(&self) -> Keys {
        Keys {
            keys: self
                .keys
                .iter()
                .map(|(id, k)| {
                    (
                        *id,
                        Key {
                            stored: k.stored.clone(),
                            ciphers: k.ciphers.clone(),
                        },
                    )
                })
                .collect(),
            aliases: self.aliases.clone(),
        }
    }
}

/// The key id a blob of this KMS names, if it is one.
pub(crate) fn blob_key(blob: &[u8]) -> Option<uuid::Uuid> {
    if blob.len() < BLOB_HEADER + 16 || blob[0] != BLOB_VERSION {
        return None;
    }
    uuid::Uuid::from_slice(&blob[1..17]).ok()
}

fn usable_state(key: &StoredKey, arn: &str) -> Result<()> {
    match key.state {
        State::Enabled => Ok(()),
        State::Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
        State::PendingDeletion => Err(pending_deletion(arn)),
    }
}

fn pending_deletion(arn: &str) -> KmsError {
    KmsError::InvalidState(format!("{arn} is pending deletion."))
}

fn check_alias_name(name: &str) -> Result<()> {
    if name.starts_with("alias/aws/") {
        return Err(KmsError::NotAuthorized(
            "Cannot create alias with prefix 'alias/aws/'".into(),
        ));
    }
    let rest = name.strip_prefix("alias/").unwrap_or("");
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    Ok(())
}

fn check_algorithm(algorithm: Option<&str>) -> Result<()> {
    match algorithm {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {other} is incompatible with key spec SYMMETRIC_DEFAULT."
        ))),
    }
}

/// What the nonce and tag authenticate: the blob's header and the context, in a form where no
/// two different contexts meet (lengths before each string).
fn aad(header: &[u8], context: &Context) -> Vec<u8> {
    let mut aad = header.to_vec();
    for (k, v) in context {
        for s in [k, v] {
            aad.extend_from_slice(&(s.len() as u32).to_le_bytes());
            aad.extend_from_slice(s.as_bytes());
        }
    }
    aad
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// One page of `items` (sorted by `key`) after `marker`, and the marker of the next page.
fn page<'a, T>(
    items: &'a [T],
    limit: Option<usize>,
    marker: Option<&str>,
    key: impl Fn(&T) -> String,
) -> Result<(&'a [T], Option<String>)> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"
        )));
    }
    let start = match marker {
        Some(m) => items
            .iter()
            .position(|i| key(i).as_str() > m)
            .unwrap_or(items.len()),
        None => 0,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| key(&items[end - 1]));
    Ok((&items[start..end], next))
}

fn internal(e: impl std::fmt::Display) -> KmsError {
    KmsError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::MasterKey;

    fn master(byte: u8, previous: &[u8]) -> MasterKeys {
        let load = |b: u8, dir: &std::path::Path| {
            let path = dir.join(format!("{b}.key"));
            std::fs::write(&path, hex::encode([b; 32])).unwrap();
            MasterKey::load(&path, false).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        MasterKeys::new(
            load(byte, dir.path()),
            previous.iter().map(|&b| load(b, dir.path())).collect(),
        )
    }

    async fn open(dir: &std::path::Path, keys: MasterKeys) -> Result<Kms> {
        let catalog = Catalog::open(&dir.join("catalog.db")).await.unwrap();
        Kms::open(
            catalog,
            keys,
            "eu-west-1",
            "123456789012",
            SharedClock::system(),
        )
        .await
    }

    fn encrypt_input(key_id: &str, plaintext: &[u8]) -> EncryptInput {
        EncryptInput {
            key_id: key_id.into(),
            plaintext: plaintext.to_vec(),
            encryption_context: [("a".to_string(), "b".to_string())].into(),
            encryption_algorithm: None,
        }
    }

    fn decrypt_input(blob: Vec<u8>) -> DecryptInput {
        DecryptInput {
            ciphertext_blob: blob,
            key_id: None,
            encryption_context: [("a".to_string(), "b".to_string())].into(),
            encryption_algorithm: None,
        }
    }

    #[tokio::test]
    async fn blobs_open_after_rotation_and_across_a_master_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let kms = open(dir.path(), master(1, &[])).await.unwrap();
        let key = kms
            .create_key(CreateKeyInput::default())
            .await
            .unwrap()
            .key_metadata;
        assert!(
            key.arn
                .starts_with("arn:aws:kms:eu-west-1:123456789012:key/")
        );
        let old = kms
            .encrypt(encrypt_input(&key.key_id, b"before"))
            .await
            .unwrap();
        assert!(kms.is_current(&old.ciphertext_blob));
        let mut rotations = kms.rotations();
        kms.rotate_key_on_demand(KeyIdInput {
            key_id: key.arn.clone(),
        })
        .await
        .unwrap();
        assert!(rotations.has_changed().unwrap());
        rotations.mark_unchanged();
        assert!(!kms.is_current(&old.ciphertext_blob));
        let new = kms
            .encrypt(encrypt_input(&key.key_id, b"after"))
            .await
            .unwrap();
        assert!(kms.is_current(&new.ciphertext_blob));
        drop(kms);
        // A new master key alone cannot unwrap the material; with the old one as previous it
        // can, and the material is wrapped anew so the old one is no longer needed.
        assert!(open(dir.path(), master(2, &[])).await.is_err());
        let kms = open(dir.path(), master(2, &[1])).await.unwrap();
        drop(kms);
        let kms = open(dir.path(), master(2, &[])).await.unwrap();
        for (blob, text) in [(old, &b"before"[..]), (new, b"after")] {
            let out = kms
                .decrypt(decrypt_input(blob.ciphertext_blob))
                .await
                .unwrap();
            assert_eq!(
                (out.plaintext.as_slice(), out.key_id.as_str()),
                (text, key.arn.as_str())
            );
        }
    }

    #[tokio::test]
    async fn key_ids_resolve_by_id_arn_and_alias_and_refuse_other_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let kms = open(dir.path(), master(1, &[])).await.unwrap();
        let key = kms
            .create_key(CreateKeyInput::default())
            .await
            .unwrap()
            .key_metadata;
        kms.create_alias(AliasInput {
            alias_name: "alias/app".into(),
            target_key_id: Some(key.key_id.clone()),
        })
        .await
        .unwrap();
        for name in [
            key.key_id.clone(),
            key.arn.clone(),
            "alias/app".into(),
            "arn:aws:kms:eu-west-1:123456789012:alias/app".into(),
        ] {
            assert_eq!(kms.key_arn(&name).await.unwrap(), key.arn, "{name}");
        }
        let foreign = key.arn.replace("123456789012", "210987654321");
        assert!(matches!(
            kms.key_arn(&foreign).await,
            Err(KmsError::NotFound(_))
        ));
        assert_eq!(
            kms.key_arn("not-a-key").await,
            Err(KmsError::NotFound("Invalid keyId 'not-a-key'".into()))
        );
        // Aliases may not point at aliases, and reserved names are refused.
        let err = kms
            .create_alias(AliasInput {
                alias_name: "alias/other".into(),
                target_key_id: Some("alias/app".into()),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::Validation(_)));
        let managed = kms.key_arn("alias/aws/kinesis").await.unwrap();
        assert_eq!(kms.key_arn("alias/aws/kinesis").await.unwrap(), managed);
        let err = kms
            .disable_key(KeyIdInput { key_id: managed })
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::Unsupported(_)));
    }

    #[tokio::test]
    async fn list_pages_follow_their_markers() {
        let dir = tempfile::tempdir().unwrap();
        let kms = open(dir.path(), master(1, &[])).await.unwrap();
        for _ in 0..5 {
            kms.create_key(CreateKeyInput::default()).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let page = kms
                .list_keys(PageInput {
                    limit: Some(2),
                    marker: marker.clone(),
                    key_id: None,
                })
                .unwrap();
            assert!(page.keys.len() <= 2);
            seen.extend(page.keys.into_iter().map(|k| k.key_id));
            marker = page.next_marker;
            if !page.truncated {
                break;
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((seen.len(), sorted), (5, seen.clone()));
    }
}
