//! The Firehose control and data plane over the catalog (delivery stream documents and
//! checkpoints) and a log of its own (one durable input log per DirectPut delivery stream), and
//! readers of a delivery stream's records for Analytics (`reader`, `release_reader`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::{Catalog, CatalogError};
use freshet_log::{LogBackend, LogError, NewRecord, ShardLogId, SharedLog};
use freshet_runtime::Status;
use freshet_runtime::metrics::Exposition;
use freshet_streams::{StartingPosition, StreamsService};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::arn::delivery_stream_arn;
use crate::config::Destination;
use crate::error::{FirehoseError, Result};
use crate::metrics::Metrics;
use crate::model::*;
use crate::reader::DeliveryReader;
use crate::retention::{Holds, READERS};
use crate::sink::{HttpSender, ObjectWriter, S3Target};
use crate::source::{KinesisSource, LogSource, Source};
use crate::worker::{Plan, Sinks, Worker};

pub struct FirehoseConfig {
    pub region: String,
    pub account_id: String,
    pub s3: S3Target,
    /// PEM certificates HTTP endpoint delivery trusts besides the system's roots.
    pub http_ca_pem: Option<Vec<u8>>,
    /// How long a new delivery stream stays CREATING.
    pub create_delay: Duration,
    /// Undelivered bytes per delivery stream beyond which puts get ServiceUnavailableException.
    pub max_backlog_bytes: u64,
    /// Delivery streams allowed in the account.
    pub stream_limit: usize,
    /// Where every reading of time comes from.
    pub clock: freshet_runtime::SharedClock,
    /// The Lambda-compatible endpoint Lambda processors invoke (`[firehose.lambda] endpoint`).
    pub lambda_endpoint: Option<String>,
    /// Data partitions a dynamically partitioned delivery stream buffers at once (AWS: 500).
    pub max_active_partitions: usize,
    /// Where record format conversion finds its tables' columns (the Glue Data Catalog).
    pub schemas: Option<Arc<dyn crate::convert::SchemaSource>>,
    /// Search domains' endpoints by domain name: how a destination's DomainARN is reached.
    pub search_domains: BTreeMap<String, String>,
    /// The Iceberg catalog Iceberg destinations commit through.
    pub iceberg_catalog: Option<Arc<dyn freshet_iceberg::TableCatalog>>,
    /// The data keys of encrypted DirectPut streams (StartDeliveryStreamEncryption); without
    /// one, encryption requests answer InvalidKMSResourceException.
    pub keys: Option<Arc<freshet_kms::Keyring>>,
}

/// The local KMS key an AWS owned CMK stands for.
const AWS_OWNED_KEY: &str = "alias/aws/firehose";

const DESTINATION_ID: &str = "destinationId-000000000001";
const MAX_BATCH_BYTES: u64 = 4 * 1024 * 1024;
const MAX_TAGS: usize = 50;
const SSE_DIRECT_PUT_ONLY: &str =
    "Server-side encryption is not supported for delivery streams of type KinesisStreamAsSource.";

/// Where a delivery stream's records come from (`DeliveryStreamType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    DirectPut,
    KinesisStreamAsSource,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "DirectPut" => Some(Kind::DirectPut),
            "KinesisStreamAsSource" => Some(Kind::KinesisStreamAsSource),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::DirectPut => "DirectPut",
            Kind::KinesisStreamAsSource => "KinesisStreamAsSource",
        }
    }
}

/// What the catalog stores for a delivery stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Doc {
    kind: Kind,
    status: Status,
    version_id: u64,
    updated_ms: Option<i64>,
    direct_put: Option<Value>,
    kinesis: Option<KinesisDoc>,
    destination: Destination,
    encryption: Option<EncryptionDoc>,
    tags: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KinesisDoc {
    arn: String,
    role_arn: String,
    start_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EncryptionDoc {
    key_type: String,
    key_arn: Option<String>,
    status: String,
}

struct Entry {
    uid: u64,
    name: String,
    arn: String,
    created_ms: i64,
    doc: Mutex<Doc>,
    /// Serializes control-plane changes of this stream.
    admin: tokio::sync::Mutex<()>,
    plan: watch::Sender<Arc<Plan>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    /// Readers' holds on the log (DirectPut; none on a KinesisStreamAsSource stream).
    holds: Arc<Holds>,
}

impl Entry {
    fn log_id(&self) -> ShardLogId {
        ShardLogId {
            stream: self.uid,
            shard: 0,
        }
    }

    fn doc(&self) -> Doc {
        self.doc.lock().clone()
    }
}

#[derive(Clone)]
pub struct FirehoseService {
    inner: Arc<Inner>,
}

struct Inner {
    config: FirehoseConfig,
    catalog: Catalog,
    log: SharedLog,
    streams: StreamsService,
    sinks: Arc<Sinks>,
    registry: RwLock<BTreeMap<String, Arc<Entry>>>,
}

fn invalid(message: impl Into<String>) -> FirehoseError {
    FirehoseError::InvalidArgument(message.into())
}

fn to_doc(doc: &Doc) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| FirehoseError::Corrupt(e.to_string()))
}

impl FirehoseService {
    /// Opens the service over its catalog tables and log, finishing whatever a crash cut short
    /// (creations, deletions), and starts every delivery worker from its checkpoint.
    pub async fn open(
        config: FirehoseConfig,
        catalog: Catalog,
        log: impl LogBackend + 'static,
        streams: StreamsService,
    ) -> Result<FirehoseService> {
        let http = HttpSender::new(config.http_ca_pem.as_deref())
            .map_err(|e| FirehoseError::Corrupt(e.to_string()))?;
        let mut sinks = Sinks::new(
            ObjectWriter::new(config.s3.clone()),
            http,
            config.lambda_endpoint.clone(),
            config.region.clone(),
            config.max_active_partitions,
            config.schemas.clone(),
        );
        sinks.search_domains = config.search_domains.clone();
        sinks.iceberg = config.iceberg_catalog.clone().map(|catalog| {
            Arc::new(crate::iceberg::TableWriter::new(
                catalog,
                Arc::new(ObjectWriter::new(config.s3.clone())),
            ))
        });
        let sinks = Arc::new(sinks);
        let log: SharedLog = match &config.keys {
            Some(keys) => Arc::new(freshet_log::Sealing::new(Arc::new(log), keys.clone())),
            None => Arc::new(log),
        };
        let svc = FirehoseService {
            inner: Arc::new(Inner {
                config,
                catalog,
                log,
                streams,
                sinks,
                registry: RwLock::new(BTreeMap::new()),
            }),
        };
        svc.recover().await?;
        Ok(svc)
    }

    async fn recover(&self) -> Result<()> {
        let rows = self.inner.catalog.load_delivery_streams().await?;
        let mut live = BTreeSet::new();
        for mut row in rows {
            let mut doc: Doc = serde_json::from_str(&row.doc)
                .map_err(|e| FirehoseError::Corrupt(e.to_string()))?;
            let id = ShardLogId {
                stream: row.uid,
                shard: 0,
            };
            if doc.status == Status::Deleting {
                self.remove_log(id).await?;
                self.inner.catalog.delete_delivery_stream(row.uid).await?;
                tracing::info!(
                    stream = row.name,
                    "finished interrupted delivery stream deletion"
                );
                continue;
            }
            if doc.kind == Kind::DirectPut {
                self.create_log(id).await?;
                live.insert(id);
            }
            if doc.status == Status::Creating {
                doc.status = Status::Active;
                self.inner
                    .catalog
                    .update_delivery_stream(row.uid, &to_doc(&doc)?)
                    .await?;
            }
            // The readers' holds share the checkpoint table; the rest is the worker's.
            let holds = Holds::load(
                row.uid,
                self.inner.catalog.clone(),
                row.checkpoints.remove(READERS).as_deref(),
            )?;
            let entry = self.entry(row.uid, row.name.clone(), row.created_ms, doc, holds);
            self.inner
                .registry
                .write()
                .insert(row.name.clone(), entry.clone());
            self.start_worker(&entry, row.checkpoints).await?;
        }
        self.inner
            .log
            .remove_orphans(&|id| live.contains(&id))
            .await?;
        self.recover_sealing().await
    }

    fn arn(&self, name: &str) -> String {
        delivery_stream_arn(
            &self.inner.config.region,
            &self.inner.config.account_id,
            name,
        )
    }

    fn entry(&self, uid: u64, name: String, created_ms: i64, doc: Doc, holds: Holds) -> Arc<Entry> {
        let arn = self.arn(&name);
        let plan = Arc::new(Plan::new(
            name.clone(),
            arn.clone(),
            doc.version_id,
            doc.destination.clone(),
            doc.kinesis.as_ref().map(|k| k.arn.clone()),
        ));
        Arc::new(Entry {
            uid,
            name,
            arn,
            created_ms,
            doc: Mutex::new(doc),
            admin: tokio::sync::Mutex::new(()),
            plan: watch::Sender::new(plan),
            worker: Mutex::new(None),
            metrics: Arc::new(Metrics::default()),
            holds: Arc::new(holds),
        })
    }

    /// The delivery stream's records from `positions`, or from `start` where there is none.
    async fn source(
        &self,
        entry: &Entry,
        start: StartingPosition,
        positions: BTreeMap<String, String>,
    ) -> Result<Source> {
        Ok(match entry.doc().kinesis {
            Some(k) => Source::Kinesis(Box::new(
                KinesisSource::open(self.inner.streams.clone(), k.arn, start, positions).await,
            )),
            None => Source::Log(
                LogSource::open(
                    self.inner.log.clone(),
                    entry.log_id(),
                    entry.holds.clone(),
                    &positions,
                    &start,
                )
                .await?,
            ),
        })
    }

    async fn start_worker(
        &self,
        entry: &Arc<Entry>,
        checkpoints: BTreeMap<String, String>,
    ) -> Result<()> {
        // Without a checkpoint: DirectPut delivers everything in the log; a Kinesis source
        // starts at the delivery stream's creation (as Firehose reads LATEST as of then).
        let start = match &entry.doc().kinesis {
            Some(k) => StartingPosition::AtTimestamp(k.start_ms),
            None => StartingPosition::TrimHorizon,
        };
        let source = self.source(entry, start, checkpoints).await?;
        let worker = Worker {
            uid: entry.uid,
            channel: uuid::Uuid::new_v4().to_string(),
            catalog: self.inner.catalog.clone(),
            sinks: self.inner.sinks.clone(),
            metrics: entry.metrics.clone(),
            plan: entry.plan.subscribe(),
            source,
            clock: self.inner.config.clock.clone(),
        };
        *entry.worker.lock() = Some(tokio::spawn(worker.run()));
        Ok(())
    }

    /// A Lambda processor needs somewhere to invoke its function, and a search destination
    /// given a DomainARN an endpoint for its domain.
    fn check_endpoints(&self, destination: &Destination) -> Result<()> {
        if let Destination::Search { config, .. } = destination
            && config.endpoint(&self.inner.sinks.search_domains).is_none()
        {
            return Err(invalid(format!(
                "The search domain {} has no endpoint here: set [firehose.search_domains] {} = \"https://...\" in Freshet's configuration, or give ClusterEndpoint.",
                config.domain_arn.as_deref().unwrap_or_default(),
                config.domain_name().unwrap_or_default()
            )));
        }
        if let Destination::Iceberg(_) = destination
            && self.inner.sinks.iceberg.is_none()
        {
            return Err(invalid(
                "Iceberg destinations need an Iceberg catalog, and this server has none.",
            ));
        }
        let lambda = destination.processing()?.and_then(|p| p.lambda);
        if let Some(lambda) = lambda
            && !self.inner.sinks.lambda.configured()
        {
            return Err(invalid(format!(
                "The Lambda processor ({}) needs a Lambda-compatible endpoint: set [firehose.lambda] endpoint in Freshet's configuration.",
                lambda.arn
            )));
        }
        Ok(())
    }

    async fn create_log(&self, id: ShardLogId) -> Result<()> {
        Ok(self.inner.log.create_shard(id).await?)
    }

    async fn remove_log(&self, id: ShardLogId) -> Result<()> {
        Ok(self.inner.log.remove_shard(id).await?)
    }

    fn get(&self, name: &str) -> Result<Arc<Entry>> {
        self.inner
            .registry
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| {
                FirehoseError::ResourceNotFound(format!(
                    "Firehose {name} under account {} not found.",
                    self.inner.config.account_id
                ))
            })
    }

    async fn save(&self, entry: &Entry, doc: Doc) -> Result<()> {
        self.inner
            .catalog
            .update_delivery_stream(entry.uid, &to_doc(&doc)?)
            .await?;
        *entry.doc.lock() = doc;
        Ok(())
    }

    pub async fn create_delivery_stream(
        &self,
        input: CreateDeliveryStreamInput,
    ) -> Result<CreateDeliveryStreamOutput> {
        let name = input.delivery_stream_name;
        let kind = match input.delivery_stream_type.as_deref() {
            None => Kind::DirectPut,
            Some(name) => Kind::parse(name).ok_or_else(|| {
                invalid(format!(
                    "DeliveryStreamType {name} is not supported by Freshet yet."
                ))
            })?,
        };
        let kinesis = match (kind, input.kinesis_stream_source_configuration) {
            (Kind::DirectPut, None) => None,
            (Kind::DirectPut, Some(_)) => {
                return Err(invalid(
                    "KinesisStreamSourceConfiguration is only allowed with DeliveryStreamType KinesisStreamAsSource.",
                ));
            }
            (Kind::KinesisStreamAsSource, Some(k)) => {
                if !self.inner.streams.contains(&k.kinesis_stream_arn) {
                    return Err(invalid(format!(
                        "Kinesis stream {} does not exist.",
                        k.kinesis_stream_arn
                    )));
                }
                Some(KinesisDoc {
                    arn: k.kinesis_stream_arn,
                    role_arn: k.role_arn,
                    start_ms: self.inner.config.clock.now_ms(),
                })
            }
            (Kind::KinesisStreamAsSource, None) => {
                return Err(invalid(
                    "KinesisStreamSourceConfiguration is required for DeliveryStreamType KinesisStreamAsSource.",
                ));
            }
        };
        for source in ["MSKSourceConfiguration", "DatabaseSourceConfiguration"] {
            if input.rest.get(source).is_some_and(|v| !v.is_null()) {
                return Err(invalid(format!(
                    "{source} is not supported by Freshet yet."
                )));
            }
        }
        let encryption = match input.delivery_stream_encryption_configuration_input {
            Some(_) if kinesis.is_some() => {
                return Err(invalid(SSE_DIRECT_PUT_ONLY));
            }
            Some(e) => Some(encryption(e)?),
            None => None,
        };
        let destination = Destination::from_create(&input.rest)?;
        self.check_endpoints(&destination)?;
        let tags = input.tags.unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(FirehoseError::LimitExceeded(format!(
                "A delivery stream can have at most {MAX_TAGS} tags."
            )));
        }
        if self.inner.registry.read().contains_key(&name) {
            return Err(self.in_use(&name));
        }
        if self.inner.registry.read().len() >= self.inner.config.stream_limit {
            return Err(FirehoseError::LimitExceeded(format!(
                "You have already consumed your firehose quota of {} hoses. Firehose names: {name}",
                self.inner.config.stream_limit
            )));
        }
        let doc = Doc {
            kind,
            status: Status::Creating,
            version_id: 1,
            updated_ms: None,
            direct_put: input.direct_put_source_configuration,
            kinesis,
            destination,
            encryption,
            tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
        };
        let created_ms = self.inner.config.clock.now_ms();
        let uid = match self
            .inner
            .catalog
            .create_delivery_stream(&name, created_ms, &to_doc(&doc)?)
            .await
        {
            Ok(uid) => uid,
            Err(CatalogError::NameTaken(_)) => return Err(self.in_use(&name)),
            Err(e) => return Err(e.into()),
        };
        let holds = Holds::load(uid, self.inner.catalog.clone(), None)?;
        let entry = self.entry(uid, name.clone(), created_ms, doc.clone(), holds);
        if doc.kind == Kind::DirectPut {
            self.create_log(entry.log_id()).await?;
        }
        if let Some(key) = doc.encryption.as_ref().map(EncryptionDoc::kms_key) {
            // Refused keys create nothing: the row and log go again before the answer.
            if let Err(e) = self.start_sealing(uid, &name, key).await {
                self.remove_log(entry.log_id()).await?;
                self.inner.catalog.delete_delivery_stream(uid).await?;
                return Err(e);
            }
        }
        self.inner
            .registry
            .write()
            .insert(name.clone(), entry.clone());
        tracing::info!(
            stream = name,
            kind = doc.kind.as_str(),
            "delivery stream created"
        );
        let delay = self.inner.config.create_delay;
        if delay.is_zero() {
            self.activate(entry).await?;
        } else {
            let svc = self.clone();
            let clock = &self.inner.config.clock;
            freshet_runtime::lifecycle::after(clock, delay, format!("delivery stream {name}"), {
                move || async move { svc.activate(entry).await }
            });
        }
        Ok(CreateDeliveryStreamOutput {
            delivery_stream_arn: self.arn(&name),
        })
    }

    /// CREATING → ACTIVE, and delivery starts; a stream deleted meanwhile stays deleted.
    async fn activate(&self, entry: Arc<Entry>) -> Result<()> {
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if doc.status != Status::Creating {
            return Ok(());
        }
        doc.status = Status::Active;
        self.save(&entry, doc).await?;
        self.start_worker(&entry, BTreeMap::new()).await
    }

    fn in_use(&self, name: &str) -> FirehoseError {
        FirehoseError::ResourceInUse(format!(
            "Firehose {name} under accountId {} already exists",
            self.inner.config.account_id
        ))
    }

    pub async fn delete_delivery_stream(&self, input: DeleteDeliveryStreamInput) -> Result<Empty> {
        let entry = self.get(&input.delivery_stream_name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        doc.status = Status::Deleting;
        self.save(&entry, doc.clone()).await?;
        if let Some(worker) = entry.worker.lock().take() {
            worker.abort();
        }
        if doc.kind == Kind::DirectPut {
            self.remove_log(entry.log_id()).await?;
        }
        if let Some(keys) = &self.inner.config.keys {
            keys.forget(entry.uid).await.map_err(kms)?;
        }
        self.inner.catalog.delete_delivery_stream(entry.uid).await?;
        self.inner.registry.write().remove(&entry.name);
        tracing::info!(stream = entry.name, "delivery stream deleted");
        Ok(Empty {})
    }

    pub fn describe_delivery_stream(&self, input: DescribeDeliveryStreamInput) -> Result<Value> {
        let entry = self.get(&input.delivery_stream_name)?;
        let doc = entry.doc();
        let source = match &doc.kinesis {
            Some(k) => json!({"KinesisStreamSourceDescription": {
                "KinesisStreamARN": k.arn, "RoleARN": k.role_arn,
                "DeliveryStartTimestamp": k.start_ms as f64 / 1000.0}}),
            None => json!({"DirectPutSourceDescription":
                doc.direct_put.clone().unwrap_or_else(|| json!({}))}),
        };
        let encryption = match &doc.encryption {
            Some(e) => {
                let mut v = json!({"KeyType": e.key_type, "Status": e.status});
                if let Some(arn) = &e.key_arn {
                    v["KeyARN"] = json!(arn);
                }
                v
            }
            None => json!({"Status": "DISABLED"}),
        };
        let mut destination = doc.destination.describe();
        destination.insert("DestinationId".into(), json!(DESTINATION_ID));
        let skip = input.exclusive_start_destination_id.as_deref() == Some(DESTINATION_ID)
            || input.limit == Some(0);
        let destinations = if skip {
            vec![]
        } else {
            vec![Value::Object(destination)]
        };
        let mut d = json!({
            "DeliveryStreamName": entry.name,
            "DeliveryStreamARN": entry.arn,
            "DeliveryStreamStatus": doc.status,
            "DeliveryStreamEncryptionConfiguration": encryption,
            "DeliveryStreamType": doc.kind,
            "VersionId": doc.version_id.to_string(),
            "CreateTimestamp": entry.created_ms as f64 / 1000.0,
            "Source": source,
            "Destinations": destinations,
            "HasMoreDestinations": false,
        });
        if let Some(updated) = doc.updated_ms {
            d["LastUpdateTimestamp"] = json!(updated as f64 / 1000.0);
        }
        Ok(json!({ "DeliveryStreamDescription": d }))
    }

    /// Whether delivery stream `name` exists (Analytics checks the inputs and outputs it names).
    pub fn contains(&self, name: &str) -> bool {
        self.inner.registry.read().contains_key(name)
    }

    /// Up to `max` records the delivery stream holds, oldest first, without moving its delivery:
    /// what Analytics' schema discovery samples. A KinesisStreamAsSource delivery stream's records
    /// are its source stream's, from the trim horizon.
    pub async fn sample(&self, name: &str, max: usize) -> Result<Vec<bytes::Bytes>> {
        const SAMPLE_BYTES: usize = 4 << 20;
        let mut reader = self
            .reader(name, None, StartingPosition::TrimHorizon, BTreeMap::new())
            .await?;
        Ok(reader
            .read(max, SAMPLE_BYTES)
            .await?
            .into_iter()
            .flat_map(|partition| partition.records)
            .map(|r| r.data)
            .take(max)
            .collect())
    }

    /// A reader of delivery stream `name`'s records (what PutRecord and PutRecordBatch put, or
    /// its source stream's) beside its delivery, resuming after `positions` (as its `read`
    /// returned them), or from `start` where there is none. A reader with a `holder` name holds
    /// a DirectPut stream's log from where it opens, moved by `DeliveryReader::committed`, until
    /// `release_reader`: the delivery worker trims nothing the reader has not committed past,
    /// for up to 24 hours after a record arrived (`retention.rs`).
    pub async fn reader(
        &self,
        name: &str,
        holder: Option<&str>,
        start: StartingPosition,
        positions: BTreeMap<String, String>,
    ) -> Result<DeliveryReader> {
        let entry = self.get(name)?;
        let reader = DeliveryReader {
            source: self.source(&entry, start, positions).await?,
            name: holder.map(str::to_string),
        };
        reader.hold().await?;
        Ok(reader)
    }

    /// Drops `holder`'s holds on every delivery stream but those named in `keep`.
    pub async fn release_reader(&self, holder: &str, keep: &[String]) -> Result<()> {
        let entries: Vec<Arc<Entry>> = self
            .inner
            .registry
            .read()
            .values()
            .filter(|e| !keep.contains(&e.name))
            .cloned()
            .collect();
        for entry in entries {
            entry.holds.release(holder).await?;
        }
        Ok(())
    }

    /// The bytes of an object in the S3 store delivery writes to (an S3-compatible endpoint, or
    /// the embedded directory); `None` when it does not exist. Analytics reads reference data
    /// and discovers schemas from here.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner
            .sinks
            .objects
            .get(bucket, key)
            .await
            .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))
    }

    /// The keys of the objects under `prefix` in the same store (a directory: whole key
    /// segments; empty for the whole bucket), in key order: what a Flink `filesystem` table
    /// whose path is a directory reads.
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        self.inner
            .sinks
            .objects
            .list(bucket, prefix)
            .await
            .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))
    }

    pub fn list_delivery_streams(
        &self,
        input: ListDeliveryStreamsInput,
    ) -> Result<ListDeliveryStreamsOutput> {
        let limit = input.limit.unwrap_or(10).clamp(1, 10_000) as usize;
        let registry = self.inner.registry.read();
        let names: Vec<String> = registry
            .values()
            .filter(|e| {
                input
                    .delivery_stream_type
                    .as_ref()
                    .is_none_or(|t| t == e.doc.lock().kind.as_str())
            })
            .map(|e| e.name.clone())
            .filter(|n| {
                input
                    .exclusive_start_delivery_stream_name
                    .as_ref()
                    .is_none_or(|start| n > start)
            })
            .collect();
        Ok(ListDeliveryStreamsOutput {
            has_more_delivery_streams: names.len() > limit,
            delivery_stream_names: names.into_iter().take(limit).collect(),
        })
    }

    pub async fn update_destination(&self, input: UpdateDestinationInput) -> Result<Empty> {
        let entry = self.get(&input.delivery_stream_name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if input.current_delivery_stream_version_id != doc.version_id.to_string() {
            return Err(FirehoseError::ConcurrentModification(format!(
                "Cannot update firehose: {} since the current version id: {} and specified version id: {} do not match",
                entry.name, doc.version_id, input.current_delivery_stream_version_id
            )));
        }
        if input.destination_id != DESTINATION_ID {
            return Err(invalid(format!(
                "Destination Id {} not found for firehose {}.",
                input.destination_id, entry.name
            )));
        }
        if doc.status != Status::Active {
            return Err(FirehoseError::ResourceInUse(format!(
                "Firehose {} is not in the ACTIVE state.",
                entry.name
            )));
        }
        doc.destination = doc.destination.update(&input.rest)?;
        self.check_endpoints(&doc.destination)?;
        doc.version_id += 1;
        doc.updated_ms = Some(self.inner.config.clock.now_ms());
        self.save(&entry, doc.clone()).await?;
        entry.plan.send_replace(Arc::new(Plan::new(
            entry.name.clone(),
            entry.arn.clone(),
            doc.version_id,
            doc.destination,
            doc.kinesis.as_ref().map(|k| k.arn.clone()),
        )));
        tracing::info!(
            stream = entry.name,
            version = doc.version_id,
            "delivery stream destination updated"
        );
        Ok(Empty {})
    }

    pub async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput> {
        let (ids, encrypted) = self
            .put(&input.delivery_stream_name, vec![input.record.data.0])
            .await?;
        Ok(PutRecordOutput {
            record_id: ids.into_iter().next().unwrap_or_default(),
            encrypted,
        })
    }

    pub async fn put_record_batch(
        &self,
        input: PutRecordBatchInput,
    ) -> Result<PutRecordBatchOutput> {
        let data = input.records.into_iter().map(|r| r.data.0).collect();
        let (ids, encrypted) = self.put(&input.delivery_stream_name, data).await?;
        Ok(PutRecordBatchOutput {
            failed_put_count: 0,
            encrypted,
            request_responses: ids
                .into_iter()
                .map(|id| PutRecordBatchResponseEntry {
                    record_id: Some(id),
                    ..Default::default()
                })
                .collect(),
        })
    }

    /// Appends records to the delivery stream's log; acknowledged once durable there.
    async fn put(&self, name: &str, data: Vec<bytes::Bytes>) -> Result<(Vec<String>, bool)> {
        let bytes: u64 = data.iter().map(|d| d.len() as u64).sum();
        // PutRecordBatch's limit (one PutRecord is at most 1,000 KiB, so it never trips).
        if bytes > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "Records size exceeds {} MB limit",
                MAX_BATCH_BYTES >> 20
            )));
        }
        let entry = self.get(name)?;
        let (kind, encrypted) = {
            let doc = entry.doc.lock();
            let encrypted = doc
                .encryption
                .as_ref()
                .is_some_and(|e| e.status == "ENABLED");
            (doc.kind, encrypted)
        };
        if kind != Kind::DirectPut {
            return Err(invalid(
                "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
            ));
        }
        let n = data.len() as u64;
        let m = &entry.metrics;
        m.incoming_put_requests.add(1);
        if m.backlog_bytes.get() + bytes > self.inner.config.max_backlog_bytes {
            m.throttled_records.add(n);
            return Err(FirehoseError::ServiceUnavailable("Slow down.".into()));
        }
        let records = data
            .into_iter()
            .map(|data| NewRecord {
                sealed: false,
                partition_key: Default::default(),
                explicit_hash_key: None,
                data,
            })
            .collect();
        let appended = self
            .inner
            .log
            .append(entry.log_id(), records)
            .await
            .map_err(|error| match error {
                LogError::Key(e) if !e.is_internal() => {
                    FirehoseError::InvalidKmsResource(e.to_string())
                }
                error => {
                    tracing::warn!(%error, stream = name, "delivery stream append failed");
                    FirehoseError::ServiceUnavailable(
                        "The delivery stream cannot store records right now; retry later.".into(),
                    )
                }
            })?;
        m.incoming_records.add(n);
        m.incoming_bytes.add(bytes);
        m.backlog_bytes.add(bytes);
        let ids = (0..n)
            .map(|i| {
                format!(
                    "{:016x}{:016x}{:016x}",
                    entry.uid,
                    appended.first_offset + i,
                    appended.arrival_ms
                )
            })
            .collect();
        Ok((ids, encrypted))
    }

    /// A control-plane change of one stream's document: checked and applied by `change` under
    /// the stream's admin lock, saved to the catalog, then made visible.
    async fn modify(
        &self,
        name: &str,
        change: impl FnOnce(&mut Doc) -> Result<()>,
    ) -> Result<Empty> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        change(&mut doc)?;
        self.save(&entry, doc).await?;
        Ok(Empty {})
    }

    pub async fn tag_delivery_stream(&self, input: TagDeliveryStreamInput) -> Result<Empty> {
        self.modify(&input.delivery_stream_name, |doc| {
            for tag in input.tags {
                doc.tags.insert(tag.key, tag.value);
            }
            if doc.tags.len() > MAX_TAGS {
                return Err(FirehoseError::LimitExceeded(format!(
                    "A delivery stream can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(())
        })
        .await
    }

    pub async fn untag_delivery_stream(&self, input: UntagDeliveryStreamInput) -> Result<Empty> {
        self.modify(&input.delivery_stream_name, |doc| {
            for key in &input.tag_keys {
                doc.tags.remove(key);
            }
            Ok(())
        })
        .await
    }

    pub fn list_tags_for_delivery_stream(
        &self,
        input: ListTagsForDeliveryStreamInput,
    ) -> Result<ListTagsForDeliveryStreamOutput> {
        let entry = self.get(&input.delivery_stream_name)?;
        let limit = input.limit.unwrap_or(50).clamp(1, 50) as usize;
        let doc = entry.doc();
        let tags: Vec<Tag> = doc
            .tags
            .into_iter()
            .filter(|(k, _)| {
                input
                    .exclusive_start_tag_key
                    .as_ref()
                    .is_none_or(|start| k > start)
            })
            .map(|(key, value)| Tag { key, value })
            .collect();
        Ok(ListTagsForDeliveryStreamOutput {
            has_more_tags: tags.len() > limit,
            tags: tags.into_iter().take(limit).collect(),
        })
    }

    pub async fn start_delivery_stream_encryption(
        &self,
        input: StartEncryptionInput,
    ) -> Result<Empty> {
        let requested = input
            .delivery_stream_encryption_configuration_input
            .unwrap_or(EncryptionInput {
                key_arn: None,
                key_type: "AWS_OWNED_CMK".into(),
            });
        let entry = self.get(&input.delivery_stream_name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        direct_put_only(&doc)?;
        let requested = encryption(requested)?;
        // The data key is made and stored before the document says the stream is encrypted.
        self.start_sealing(entry.uid, &entry.name, requested.kms_key())
            .await?;
        doc.encryption = Some(requested);
        self.save(&entry, doc).await?;
        Ok(Empty {})
    }

    /// New records are stored in clear; those sealed before stay sealed until delivered.
    pub async fn stop_delivery_stream_encryption(&self, input: DeliveryStreamRef) -> Result<Empty> {
        let entry = self.get(&input.delivery_stream_name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        direct_put_only(&doc)?;
        let keys = self.keys()?;
        if let Some(e) = doc.encryption.as_mut() {
            e.status = "DISABLED".into();
        }
        // The document first: should the keyring's write fail, records stay sealed (a start
        // reconciles the two), never clear while the document says encrypted.
        self.save(&entry, doc).await?;
        keys.stop(entry.uid).await.map_err(kms)?;
        Ok(Empty {})
    }

    fn keys(&self) -> Result<&Arc<freshet_kms::Keyring>> {
        self.inner.config.keys.as_ref().ok_or_else(|| {
            FirehoseError::InvalidKmsResource("This server has no KMS configured.".into())
        })
    }

    /// Seals the stream's new records under a fresh data key wrapped by `key`.
    async fn start_sealing(&self, uid: u64, name: &str, key: &str) -> Result<()> {
        self.keys()?
            .start(uid, key, self.key_context(name))
            .await
            .map(drop)
            .map_err(kms)
    }

    /// The encryption context of a delivery stream's data keys.
    fn key_context(&self, name: &str) -> freshet_kms::Context {
        [("aws:firehose:arn".to_string(), self.arn(name))].into()
    }

    /// Brings the keyring in line with the documents after a crash between the two.
    async fn recover_sealing(&self) -> Result<()> {
        let Some(keys) = &self.inner.config.keys else {
            return Ok(());
        };
        let entries: Vec<Arc<Entry>> = self.inner.registry.read().values().cloned().collect();
        keys.retain(|uid| entries.iter().any(|e| e.uid == uid))
            .await
            .map_err(kms)?;
        for entry in entries {
            let key = entry
                .doc()
                .encryption
                .filter(|e| e.status == "ENABLED")
                .map(|e| e.kms_key().to_string());
            match (key, keys.current_key(entry.uid)) {
                (Some(key), None) => {
                    let context = self.key_context(&entry.name);
                    keys.resume(entry.uid, &key, context).await;
                }
                (None, Some(_)) => keys.stop(entry.uid).await.map_err(kms)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The delivery stream's recent deliveries, newest first.
    pub fn recent_deliveries(&self, name: &str) -> Result<Vec<crate::Delivery>> {
        Ok(self.get(name)?.metrics.activity.list())
    }

    /// Adds every delivery stream's metrics, and the log's, to a scrape.
    pub fn render_metrics(&self, e: &mut Exposition) {
        for entry in self.inner.registry.read().values() {
            entry.metrics.render(&entry.name, e);
        }
        self.inner.log.render_metrics("firehose", e);
    }

    /// Whether the service is open: its log takes durable writes and its catalog answers.
    pub async fn health(&self) -> Result<()> {
        self.inner.log.probe().await?;
        self.inner.catalog.ping().await?;
        Ok(())
    }

    /// Stops the delivery workers and closes the log (everything acknowledged is already
    /// durable; undelivered records are delivered after the next start).
    pub async fn close(&self) -> Result<()> {
        for entry in self.inner.registry.read().values() {
            if let Some(worker) = entry.worker.lock().take() {
                worker.abort();
            }
        }
        self.inner.log.close().await?;
        Ok(())
    }
}

/// Server-side encryption applies to what Firehose stores itself: DirectPut streams only.
fn direct_put_only(doc: &Doc) -> Result<()> {
    if doc.kind != Kind::DirectPut {
        return Err(invalid(SSE_DIRECT_PUT_ONLY));
    }
    Ok(())
}

impl EncryptionDoc {
    /// The KMS key that wraps the stream's data keys.
    fn kms_key(&self) -> &str {
        self.key_arn.as_deref().unwrap_or(AWS_OWNED_KEY)
    }
}

/// A KMS refusal: Firehose answers every one with InvalidKMSResourceException (our own
/// failures stay internal).
fn kms(e: freshet_kms::KmsError) -> FirehoseError {
    if e.is_internal() {
        return FirehoseError::Log(LogError::Key(e.into()));
    }
    FirehoseError::InvalidKmsResource(e.to_string())
}

fn encryption(input: EncryptionInput) -> Result<EncryptionDoc> {
    match (input.key_type.as_str(), &input.key_arn) {
        ("CUSTOMER_MANAGED_CMK", None) => Err(invalid(
            "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.",
        )),
        ("AWS_OWNED_CMK", Some(_)) => Err(invalid(
            "KeyARN must not be specified when KeyType is AWS_OWNED_CMK.",
        )),
        _ => Ok(EncryptionDoc {
            key_type: input.key_type,
            key_arn: input.key_arn,
            status: "ENABLED".into(),
        }),
    }
}
