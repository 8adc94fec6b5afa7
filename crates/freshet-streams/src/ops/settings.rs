//! Stream settings: retention, encryption, enhanced monitoring, capacity mode, maximum record
//! size, warm throughput, resource policies and account settings.

use std::sync::Arc;

use freshet_iam::{Policy, PolicyKind};

use crate::error::{Result, StreamsError};
use crate::model::StreamMode;
use crate::model::*;
use crate::ops::tags::Tagged;
use crate::service::{StreamsService, kms};
use crate::state::{Status, Stream};

const MIN_RETENTION_HOURS: i64 = 24;
const MAX_RETENTION_HOURS: i64 = 8760;
const ALL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];
const ACCOUNT_SETTINGS_KEY: &str = "account-minimum-throughput-billing-commitment";

impl StreamsService {
    pub async fn increase_stream_retention_period(&self, input: RetentionInput) -> Result<Empty> {
        self.change_retention(input, true).await
    }

    pub async fn decrease_stream_retention_period(&self, input: RetentionInput) -> Result<Empty> {
        self.change_retention(input, false).await
    }

    async fn change_retention(&self, input: RetentionInput, increase: bool) -> Result<Empty> {
        let hours = input.retention_period_hours;
        if hours < MIN_RETENTION_HOURS {
            return Err(StreamsError::InvalidArgument(format!(
                "Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too short."
            )));
        }
        if hours > MAX_RETENTION_HOURS {
            return Err(StreamsError::InvalidArgument(format!(
                "Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too long."
            )));
        }
        let stream = self.find(&input.stream)?;
        let name = stream.name.clone();
        self.update_active(&stream, |row| {
            let current = row.retention_hours;
            if increase && hours < current {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({current} hours). Use DecreaseRetentionPeriod API."
                )));
            }
            if !increase && hours > current {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({current} hours). Use IncreaseRetentionPeriod API."
                )));
            }
            row.retention_hours = hours;
            Ok(())
        })
        .await?;
        if !increase {
            self.enforce_retention().await;
        }
        Ok(Empty {})
    }

    /// Seals the stream's new records under a fresh data key that `KeyId` wraps (the key is
    /// checked and the data key stored before the change is committed).
    pub async fn start_stream_encryption(&self, input: EncryptionInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        if input.encryption_type != "KMS" {
            return Err(StreamsError::InvalidArgument(format!(
                "Encryption type {} is not valid for StartStreamEncryption: only KMS.",
                input.encryption_type
            )));
        }
        let keys = self.keys()?;
        let key_id = input.key_id.clone();
        let first = async {
            keys.start(stream.uid, &key_id, self.key_context(&stream))
                .await
                .map(|_| ())
                .map_err(kms)
        };
        self.update_active_after(&stream, first, |row| {
            row.encryption_type = input.encryption_type;
            row.key_id = Some(input.key_id);
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    /// New records are stored in clear; those sealed before stay sealed and readable.
    pub async fn stop_stream_encryption(&self, input: EncryptionInput) -> Result<Empty> {
        let stream = self.find(&input.stream)?;
        let keys = self.keys()?;
        self.update_active(&stream, |row| {
            row.encryption_type = "NONE".into();
            row.key_id = None;
            Ok(())
        })
        .await?;
        // After the catalog: should the keyring's write fail, records stay sealed (a start
        // reconciles the two), never clear while the catalog says encrypted.
        keys.stop(stream.uid).await.map_err(kms)?;
        Ok(Empty {})
    }

    fn keys(&self) -> Result<&std::sync::Arc<freshet_kms::Keyring>> {
        self.config().keys.as_ref().ok_or_else(|| {
            StreamsError::Log(freshet_log::LogError::Key(freshet_log::KeyError::NotFound(
                "This server has no KMS configured.".into(),
            )))
        })
    }

    pub async fn enable_enhanced_monitoring(
        &self,
        input: MonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring(input, true).await
    }

    pub async fn disable_enhanced_monitoring(
        &self,
        input: MonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring(input, false).await
    }

    async fn change_monitoring(
        &self,
        input: MonitoringInput,
        enable: bool,
    ) -> Result<EnhancedMonitoringOutput> {
        let stream = self.find(&input.stream)?;
        let named: Vec<&str> = if input.shard_level_metrics.iter().any(|m| m == "ALL") {
            ALL_METRICS.to_vec()
        } else {
            input
                .shard_level_metrics
                .iter()
                .map(String::as_str)
                .collect()
        };
        let mut current = Vec::new();
        let mut desired = Vec::new();
        self.update_active(&stream, |row| {
            current = row.shard_level_metrics.clone();
            // Kept in the model's order, which is how AWS lists them.
            desired = ALL_METRICS
                .iter()
                .filter(|m| {
                    let named = named.contains(m);
                    let had = current.iter().any(|c| c == *m);
                    if enable { had || named } else { had && !named }
                })
                .map(|m| m.to_string())
                .collect();
            row.shard_level_metrics = desired.clone();
            Ok(())
        })
        .await?;
        Ok(EnhancedMonitoringOutput {
            stream_name: stream.name.clone(),
            current_shard_level_metrics: current,
            desired_shard_level_metrics: desired,
            stream_arn: stream.arn.clone(),
        })
    }

    pub async fn update_stream_mode(&self, input: UpdateStreamModeInput) -> Result<Empty> {
        let stream = self.find_arn(&input.stream_arn)?;
        let mode = input.stream_mode_details.stream_mode;
        if mode == StreamMode::OnDemand && stream.snapshot().row.mode != StreamMode::OnDemand {
            self.check_on_demand_limit()?;
        }
        self.update_active(&stream, |row| {
            row.mode = mode;
            if input.warm_throughput_mibps.is_some() {
                row.warm_throughput_mibps = input.warm_throughput_mibps;
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn update_max_record_size(&self, input: UpdateMaxRecordSizeInput) -> Result<Empty> {
        let arn = input
            .stream_arn
            .ok_or_else(|| StreamsError::InvalidArgument("StreamARN must be provided.".into()))?;
        let stream = self.find_arn(&arn)?;
        self.update_active(&stream, |row| {
            row.max_record_size_kib = input.max_record_size_kib;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn update_stream_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput> {
        let stream = self.find(&input.stream)?;
        if stream.snapshot().row.mode != StreamMode::OnDemand {
            return Err(StreamsError::InvalidArgument(format!(
                "Warm throughput can only be configured for streams in ON_DEMAND mode; stream {} is not.",
                stream.name
            )));
        }
        let mibps = input.warm_throughput_mibps;
        self.update_active(&stream, |row| {
            row.warm_throughput_mibps = Some(mibps);
            Ok(())
        })
        .await?;
        Ok(UpdateStreamWarmThroughputOutput {
            stream_arn: stream.arn.clone(),
            stream_name: stream.name.clone(),
            warm_throughput: WarmThroughput {
                target_mibps: Some(mibps),
                current_mibps: Some(mibps),
            },
        })
    }

    pub async fn put_resource_policy(&self, input: PutResourcePolicyInput) -> Result<Empty> {
        let (arn, stream) = self.policy_target(&input.resource_arn)?;
        Policy::parse(&input.policy, PolicyKind::Resource)
            .map_err(|e| StreamsError::InvalidArgument(format!("Invalid policy document: {e}")))?;
        if stream.status() != Status::Active {
            return Err(self.not_active(&stream, stream.status()));
        }
        self.store_policy(&arn, Some(&input.policy)).await?;
        Ok(Empty {})
    }

    pub async fn get_resource_policy(
        &self,
        input: ResourceArnInput,
    ) -> Result<GetResourcePolicyOutput> {
        let (arn, _) = self.policy_target(&input.resource_arn)?;
        let policy = self.inner.catalog.get_policy(&arn).await?;
        // AWS answers an empty policy document when none is attached.
        Ok(GetResourcePolicyOutput {
            policy: policy.unwrap_or_else(|| "{}".into()),
        })
    }

    pub async fn delete_resource_policy(&self, input: ResourceArnInput) -> Result<Empty> {
        let (arn, _) = self.policy_target(&input.resource_arn)?;
        if self.inner.catalog.get_policy(&arn).await?.is_none() {
            return Err(StreamsError::ResourceNotFound(format!(
                "No resource policy found for resource ARN {arn}."
            )));
        }
        self.store_policy(&arn, None).await?;
        Ok(Empty {})
    }

    /// The stream or consumer a policy is attached to: its ARN as stored, and its stream.
    fn policy_target(&self, arn: &str) -> Result<(String, Arc<Stream>)> {
        Ok(match self.tagged(arn)? {
            Tagged::Stream(stream) => (stream.arn.clone(), stream),
            Tagged::Consumer(stream, name) => (self.consumer_arn_of(&stream, &name), stream),
        })
    }

    /// Writes (or, with `None`, removes) a resource's policy and what authorization reads.
    pub(crate) async fn store_policy(&self, arn: &str, policy: Option<&str>) -> Result<()> {
        self.inner.catalog.set_policy(arn, policy).await?;
        let parsed = policy
            .and_then(|text| Policy::parse(text, PolicyKind::Resource).ok())
            .map(Arc::new);
        self.inner.policies.lock().insert(arn.to_string(), parsed);
        Ok(())
    }

    /// The policy of an existing stream or consumer, for authorization. A stored document this
    /// version cannot read (accepted before policies were checked) counts as none.
    pub async fn resource_policy(&self, arn: &str) -> Result<Option<Arc<Policy>>> {
        if let Some(cached) = self.inner.policies.lock().get(arn) {
            return Ok(cached.clone());
        }
        // Only resources that exist are remembered, so unknown ARNs cannot grow the cache.
        let (arn, _) = match self.policy_target(arn) {
            Ok(target) => target,
            Err(_) => return Ok(None),
        };
        let parsed = match self.inner.catalog.get_policy(&arn).await? {
            Some(text) => match Policy::parse(&text, PolicyKind::Resource) {
                Ok(policy) => Some(Arc::new(policy)),
                Err(e) => {
                    tracing::warn!(resource = %arn, error = %e, "stored resource policy ignored");
                    None
                }
            },
            None => None,
        };
        // A policy stored meanwhile by PutResourcePolicy is newer than what was read here.
        Ok(self
            .inner
            .policies
            .lock()
            .entry(arn)
            .or_insert(parsed)
            .clone())
    }

    /// The ARN a stream or consumer ARN names as the service spells it (a request may write
    /// the same resource otherwise: another partition, leading zeros), if it exists.
    pub fn canonical_arn(&self, arn: &str) -> Option<String> {
        self.policy_target(arn).ok().map(|(arn, _)| arn)
    }

    /// The ARN of the stream a shard iterator reads, if the iterator is well formed and its
    /// stream exists.
    pub fn iterator_stream_arn(&self, iterator: &str) -> Option<String> {
        let it = self.inner.iterators.decode(iterator)?;
        let streams = self.inner.streams.read();
        streams.by_uid.get(&it.stream_uid).map(|s| s.arn.clone())
    }

    /// A consumer's ARN by its stream's ARN and its name, if it exists.
    pub fn consumer_arn(&self, stream_arn: &str, name: &str) -> Option<String> {
        let (stream, name) = self
            .find_consumer(&ConsumerRef {
                stream_arn: Some(stream_arn.to_string()),
                consumer_name: Some(name.to_string()),
                consumer_arn: None,
            })
            .ok()?;
        Some(self.consumer_arn_of(&stream, &name))
    }

    pub async fn describe_account_settings(&self) -> Result<AccountSettingsOutput> {
        let stored = self.inner.catalog.get_setting(ACCOUNT_SETTINGS_KEY).await?;
        let commitment = stored
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or(MinimumThroughputBillingCommitment {
                status: "DISABLED".into(),
                started_at: None,
                ended_at: None,
                earliest_allowed_end_at: None,
            });
        Ok(AccountSettingsOutput {
            minimum_throughput_billing_commitment: commitment,
        })
    }

    pub async fn update_account_settings(
        &self,
        input: UpdateAccountSettingsInput,
    ) -> Result<AccountSettingsOutput> {
        let now = Timestamp::from_millis(self.now_ms());
        let previous = self
            .describe_account_settings()
            .await?
            .minimum_throughput_billing_commitment;
        let commitment = match input.minimum_throughput_billing_commitment.status.as_str() {
            "ENABLED" => MinimumThroughputBillingCommitment {
                status: "ENABLED".into(),
                started_at: previous.started_at.or(Some(now)),
                ended_at: None,
                // AWS commits an account for at least 24 hours.
                earliest_allowed_end_at: Some(Timestamp(
                    previous.started_at.unwrap_or(now).0 + 86_400.0,
                )),
            },
            _ => {
                if let Some(end) = previous.earliest_allowed_end_at
                    && previous.status == "ENABLED"
                    && end.0 > now.0
                {
                    return Err(StreamsError::InvalidArgument(
                        "The minimum throughput billing commitment cannot be disabled before its earliest allowed end time.".into(),
                    ));
                }
                MinimumThroughputBillingCommitment {
                    status: "DISABLED".into(),
                    started_at: previous.started_at,
                    ended_at: Some(now),
                    earliest_allowed_end_at: None,
                }
            }
        };
        let raw = serde_json::to_vec(&commitment).unwrap_or_default();
        self.inner
            .catalog
            .put_setting(ACCOUNT_SETTINGS_KEY, &raw)
            .await?;
        Ok(AccountSettingsOutput {
            minimum_throughput_billing_commitment: commitment,
        })
    }
}
