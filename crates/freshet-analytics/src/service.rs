//! The Analytics control plane: applications in memory (one `Entry` each) over the catalog's
//! `applications` rows, every change applied to a copy of the document, committed, then
//! published, under the application's admin lock (so a version check and its change are
//! atomic). Starting and stopping are a `Launcher`'s job; the status moves around it as on AWS:
//! the call returns at once, STARTING/STOPPING/UPDATING until the launcher is done. A Flink
//! application's runs (snapshots, restores, rollbacks) are `lifecycle.rs`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use freshet_catalog::{Catalog, CatalogError};
use freshet_firehose::FirehoseService;
use freshet_runtime::SharedClock;
use freshet_streams::StreamsService;
use parking_lot::{Mutex, RwLock};

use crate::app::{AppDoc, Config};
use crate::arn::{application_arn, application_name_from_arn};
use crate::error::{AnalyticsError, Result};
use crate::flink::FlinkConfig;
use crate::launch::{self, Launcher, RunSpec, Source, StartingPosition, StopMode};
use crate::model::*;
use crate::validate;

/// How often the jobs of applications on a Flink cluster are checked.
const JOB_WATCH: std::time::Duration = std::time::Duration::from_secs(2);

pub struct AnalyticsConfig {
    pub region: String,
    pub account_id: String,
    /// Applications allowed in the account (AWS's default quota is 50 per Region).
    pub application_limit: usize,
    /// Where every reading of time comes from.
    pub clock: SharedClock,
    /// Where FLINK-* applications run instead of the launcher that runs SQL applications: an
    /// Apache Flink cluster, which runs JARs as well as Flink SQL.
    pub flink_cluster: Option<Arc<dyn Launcher>>,
}

pub(crate) struct Entry {
    pub uid: u64,
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
    pub doc: Mutex<AppDoc>,
    /// Serializes changes of this application (API calls and the launcher's transitions).
    pub admin: tokio::sync::Mutex<()>,
    /// Serializes the launcher calls of one application (a forced stop or a rollback waits for
    /// a start in flight instead of racing it). Taken before `admin`, never while holding it.
    pub run: tokio::sync::Mutex<()>,
}

impl Entry {
    pub fn doc(&self) -> AppDoc {
        self.doc.lock().clone()
    }
}

#[derive(Clone)]
pub struct AnalyticsService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: AnalyticsConfig,
    pub catalog: Catalog,
    pub streams: StreamsService,
    pub firehose: FirehoseService,
    pub launcher: Arc<dyn Launcher>,
    /// Runs FLINK-* applications: the Flink cluster when one is configured, else `launcher`.
    pub flink_launcher: Arc<dyn Launcher>,
    pub registry: RwLock<BTreeMap<String, Arc<Entry>>>,
}

impl AnalyticsService {
    /// Opens the service over the catalog: finishes interrupted deletions, settles transitional
    /// statuses, and starts again every application that was running (from where it stopped).
    pub async fn open(
        config: AnalyticsConfig,
        catalog: Catalog,
        streams: StreamsService,
        firehose: FirehoseService,
        launcher: Arc<dyn Launcher>,
    ) -> Result<AnalyticsService> {
        let flink_launcher = config.flink_cluster.clone().unwrap_or(launcher.clone());
        let svc = AnalyticsService {
            inner: Arc::new(Inner {
                config,
                catalog,
                streams,
                firehose,
                launcher,
                flink_launcher,
                registry: RwLock::new(BTreeMap::new()),
            }),
        };
        svc.recover().await?;
        if svc.flink_cluster() {
            svc.spawn_job_watch();
        }
        Ok(svc)
    }

    /// A job on a Flink cluster can end without Freshet (it finishes, fails past its restart
    /// strategy, or is cancelled from Flink's dashboard): its application then goes READY, as
    /// the run is over, so DescribeApplication tells and a StartApplication runs it again.
    fn spawn_job_watch(&self) {
        let svc = self.clone();
        tokio::spawn(async move {
            loop {
                svc.inner.config.clock.sleep(JOB_WATCH).await;
                let entries: Vec<Arc<Entry>> =
                    svc.inner.registry.read().values().cloned().collect();
                for entry in entries {
                    let doc = entry.doc();
                    if doc.config.flink.is_none() || doc.status != ApplicationStatus::Running {
                        continue;
                    }
                    if svc.inner.flink_launcher.alive(entry.uid).await == Some(false) {
                        tracing::warn!(
                            application = entry.name,
                            "its Flink job ended on the cluster; the application is READY"
                        );
                        let running = &[ApplicationStatus::Running];
                        svc.settle(&entry, running, ApplicationStatus::Ready, Ok(()))
                            .await;
                    }
                }
            }
        });
    }

    async fn recover(&self) -> Result<()> {
        for row in self.inner.catalog.load_applications().await? {
            let mut doc = AppDoc::parse(&row.doc)?;
            if doc.status == ApplicationStatus::Deleting {
                self.inner.catalog.delete_application(row.uid).await?;
                self.launcher_of(doc.config.flink.is_some())
                    .forget(row.uid)
                    .await;
                tracing::info!(application = row.name, "finished interrupted deletion");
                continue;
            }
            let resume = matches!(
                doc.status,
                ApplicationStatus::Running
                    | ApplicationStatus::Starting
                    | ApplicationStatus::Updating
                    | ApplicationStatus::RollingBack
                    | ApplicationStatus::Autoscaling
            );
            let settled = if resume {
                ApplicationStatus::Starting
            } else {
                ApplicationStatus::Ready
            };
            if doc.status != settled {
                doc.status = settled;
                self.inner
                    .catalog
                    .update_application(row.uid, &doc.to_json()?)
                    .await?;
            }
            let entry = Arc::new(Entry {
                uid: row.uid,
                arn: self.arn(&row.name),
                name: row.name.clone(),
                created_ms: row.created_ms,
                doc: Mutex::new(doc),
                admin: tokio::sync::Mutex::new(()),
                run: tokio::sync::Mutex::new(()),
            });
            self.inner.registry.write().insert(row.name, entry.clone());
            if resume {
                tracing::info!(application = entry.name, "restarting application");
                if entry.doc().config.flink.is_some() {
                    self.spawn_flink_recovery(entry);
                } else {
                    let spec = self.run_spec(&entry, &entry.doc(), BTreeMap::new());
                    self.spawn_start(entry, spec, false);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.config.clock.now_ms()
    }

    pub(crate) fn arn(&self, name: &str) -> String {
        application_arn(
            &self.inner.config.region,
            &self.inner.config.account_id,
            name,
        )
    }

    pub(crate) fn get(&self, name: &str) -> Result<Arc<Entry>> {
        self.inner
            .registry
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| {
                AnalyticsError::ResourceNotFound(format!(
                    "Application {name} is not found under account {}.",
                    self.inner.config.account_id
                ))
            })
    }

    pub(crate) fn get_by_arn(&self, arn: &str) -> Result<Arc<Entry>> {
        let name = application_name_from_arn(
            arn,
            &self.inner.config.region,
            &self.inner.config.account_id,
        )
        .ok_or_else(|| AnalyticsError::InvalidArgument(format!("Invalid ResourceARN {arn}.")))?;
        self.get(name)
    }

    /// Refuses an operation of one API family on an application of the other: v1 and v2's
    /// SQL-only operations on a Flink application (`flink: true` asks for a Flink one).
    pub(crate) fn require_kind(
        &self,
        name: &str,
        flink: bool,
        refuse: impl FnOnce(&str) -> AnalyticsError,
    ) -> Result<()> {
        let entry = self.get(name)?;
        let doc = entry.doc.lock();
        if doc.config.flink.is_some() != flink {
            return Err(refuse(doc.config.runtime()));
        }
        Ok(())
    }

    /// The v1 API sees SQL applications only.
    fn v1_only(&self, name: &str) -> Result<()> {
        self.require_kind(name, false, |runtime| {
            AnalyticsError::UnsupportedOperation(format!(
                "Application {name} is a {runtime} application: manage it through the KinesisAnalytics_20180523 API (kinesisanalyticsv2)."
            ))
        })
    }

    /// What runs an application of this kind.
    pub(crate) fn launcher_of(&self, flink: bool) -> Arc<dyn Launcher> {
        if flink {
            self.inner.flink_launcher.clone()
        } else {
            self.inner.launcher.clone()
        }
    }

    /// Whether FLINK-* applications run on a Flink cluster (which runs JARs too).
    pub(crate) fn flink_cluster(&self) -> bool {
        self.inner.config.flink_cluster.is_some()
    }

    /// Keeps the code archive a request brought (a JAR) in the catalog.
    pub(crate) async fn keep_archive(
        &self,
        uid: u64,
        archive: Option<(String, Arc<Vec<u8>>)>,
    ) -> Result<()> {
        if let Some((md5, bytes)) = archive {
            self.inner
                .catalog
                .put_application_code(uid, &md5, &bytes)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn save(&self, entry: &Entry, doc: AppDoc) -> Result<()> {
        self.inner
            .catalog
            .update_application(entry.uid, &doc.to_json()?)
            .await?;
        *entry.doc.lock() = doc;
        Ok(())
    }

    /// Where an input reads or an output writes: a Freshet stream or delivery stream of this
    /// region and account, which must exist.
    pub(crate) fn source(&self, arn: &str, firehose: bool) -> Result<Source> {
        let (region, account) = (&self.inner.config.region, &self.inner.config.account_id);
        if firehose {
            let name = freshet_firehose::arn::delivery_stream_name_from_arn(arn, region, account)
                .ok_or_else(|| {
                AnalyticsError::InvalidArgument(format!(
                    "{arn} is not a delivery stream ARN of region {region} and account {account}."
                ))
            })?;
            if !self.inner.firehose.contains(name) {
                return Err(AnalyticsError::InvalidArgument(format!(
                    "Delivery stream {name} under account {account} not found."
                )));
            }
            Ok(Source::DeliveryStream { name: name.into() })
        } else {
            let name = freshet_streams::arn::stream_name_from_arn(arn, region, account)
                .ok_or_else(|| {
                    AnalyticsError::InvalidArgument(format!(
                        "{arn} is not a Kinesis stream ARN of region {region} and account {account}."
                    ))
                })?;
            if !self.inner.streams.contains(name) {
                return Err(AnalyticsError::InvalidArgument(format!(
                    "Stream {name} under account {account} not found."
                )));
            }
            Ok(Source::KinesisStream { name: name.into() })
        }
    }

    /// Every stream a configuration names exists.
    fn check_resources(&self, config: &Config) -> Result<()> {
        for input in &config.inputs {
            self.input_source(input)?;
        }
        for output in &config.outputs {
            self.output_destination(output)?;
        }
        Ok(())
    }

    fn input_source(&self, input: &InputDescription) -> Result<Source> {
        match (
            &input.kinesis_streams_input_description,
            &input.kinesis_firehose_input_description,
        ) {
            (Some(s), _) => self.source(&s.resource_arn, false),
            (None, Some(f)) => self.source(&f.resource_arn, true),
            (None, None) => Err(AnalyticsError::InvalidArgument(format!(
                "Input {} has no source.",
                input.input_id
            ))),
        }
    }

    fn output_destination(&self, output: &OutputDescription) -> Result<Source> {
        match (
            &output.kinesis_streams_output_description,
            &output.kinesis_firehose_output_description,
        ) {
            (Some(s), _) => self.source(&s.resource_arn, false),
            (None, Some(f)) => self.source(&f.resource_arn, true),
            (None, None) => Err(AnalyticsError::InvalidArgument(format!(
                "Output {} has no destination.",
                output.output_id
            ))),
        }
    }

    // ---- creation and deletion ----

    /// Creates an application from a validated configuration (v1 and v2 share this).
    /// Creates an application of `config` with its CloudWatch logging options and tags (the
    /// members every CreateApplication shares).
    pub(crate) async fn create(
        &self,
        name: String,
        mut config: Config,
        cloudwatch: Option<Vec<crate::model::CloudWatchLoggingOption>>,
        tags: Option<Vec<crate::model::Tag>>,
    ) -> Result<Arc<Entry>> {
        for c in cloudwatch.unwrap_or_default() {
            config.add_cloudwatch(c, 1)?;
        }
        let tags: BTreeMap<String, Option<String>> = tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        validate::tags(&tags)?;
        validate::code(&config.code)?;
        self.check_resources(&config)?;
        if self.inner.registry.read().contains_key(&name) {
            return Err(self.name_in_use(&name));
        }
        if self.inner.registry.read().len() >= self.inner.config.application_limit {
            return Err(AnalyticsError::LimitExceeded(format!(
                "Exceeded the maximum number of applications ({}) allowed in account {}.",
                self.inner.config.application_limit, self.inner.config.account_id
            )));
        }
        let archive = config.flink.as_mut().and_then(FlinkConfig::take_archive);
        let now = self.now_ms();
        let doc = AppDoc::new(config, tags, now);
        let uid = match self
            .inner
            .catalog
            .create_application(&name, now, &doc.to_json()?)
            .await
        {
            Ok(uid) => uid,
            Err(CatalogError::NameTaken(_)) => return Err(self.name_in_use(&name)),
            Err(e) => return Err(e.into()),
        };
        self.keep_archive(uid, archive).await?;
        let entry = Arc::new(Entry {
            uid,
            arn: self.arn(&name),
            name: name.clone(),
            created_ms: now,
            doc: Mutex::new(doc),
            admin: tokio::sync::Mutex::new(()),
            run: tokio::sync::Mutex::new(()),
        });
        self.inner.registry.write().insert(name, entry.clone());
        Ok(entry)
    }

    fn name_in_use(&self, name: &str) -> AnalyticsError {
        AnalyticsError::ResourceInUse(format!(
            "Application {name} already exists under account {}.",
            self.inner.config.account_id
        ))
    }

    /// Deletes an application named with its exact creation time. A READY one goes at once; a
    /// RUNNING one is DELETING until its run has stopped, as on AWS.
    pub(crate) async fn delete(&self, name: &str, create_timestamp: f64) -> Result<()> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        let launcher = self.launcher_of(doc.config.flink.is_some());
        // SDKs send timestamps as whole epoch seconds (boto3 drops the fraction), so the
        // creation time is compared to the second.
        if create_timestamp.floor() as i64 != entry.created_ms.div_euclid(1000) {
            return Err(AnalyticsError::InvalidArgument(format!(
                "Create timestamp {create_timestamp} does not match the creation time of application {name}."
            )));
        }
        match doc.status {
            ApplicationStatus::Ready => {
                self.inner.catalog.delete_application(entry.uid).await?;
                launcher.forget(entry.uid).await;
                self.forget(&entry);
            }
            ApplicationStatus::Running => {
                doc.status = ApplicationStatus::Deleting;
                self.save(&entry, doc).await?;
                let svc = self.clone();
                let entry = entry.clone();
                tokio::spawn(async move {
                    launcher.stop(entry.uid, StopMode::Graceful).await;
                    let _admin = entry.admin.lock().await;
                    match svc.inner.catalog.delete_application(entry.uid).await {
                        Ok(()) => {
                            launcher.forget(entry.uid).await;
                            svc.forget(&entry);
                        }
                        // Left DELETING: the next start finishes it.
                        Err(error) => {
                            tracing::warn!(%error, application = entry.name, "cannot delete application")
                        }
                    }
                });
            }
            status => return Err(in_use(name, status)),
        }
        Ok(())
    }

    fn forget(&self, entry: &Entry) {
        let mut registry = self.inner.registry.write();
        if registry
            .get(&entry.name)
            .is_some_and(|e| e.uid == entry.uid)
        {
            registry.remove(&entry.name);
        }
    }

    // ---- configuration changes ----

    /// Applies a change to a READY or RUNNING application at `expected` version (None: any),
    /// commits it as the next version, and restarts a running application when the change
    /// touches what its run uses (`affects_run`: not for logging options), so it takes effect.
    /// Returns the new document.
    pub(crate) async fn change(
        &self,
        name: &str,
        expected: Option<u64>,
        operation: &str,
        affects_run: bool,
        change: impl FnOnce(&mut Config, u64) -> Result<()>,
    ) -> Result<(Arc<Entry>, AppDoc)> {
        let entry = self.get(name)?;
        let admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if !matches!(
            doc.status,
            ApplicationStatus::Ready | ApplicationStatus::Running
        ) {
            return Err(in_use(name, doc.status));
        }
        doc.check_version(name, expected)?;
        let before = doc.version;
        change(&mut doc.config, before + 1)?;
        self.check_resources(&doc.config)?;
        let now = self.now_ms();
        doc.bump(now);
        let restart = doc.status == ApplicationStatus::Running && affects_run;
        doc.begin_operation(operation, before, now);
        if restart {
            doc.status = ApplicationStatus::Updating;
        } else {
            doc.end_operation(Ok(()), now);
        }
        self.save(&entry, doc.clone()).await?;
        if restart {
            let spec = self.run_spec(&entry, &doc, BTreeMap::new());
            self.spawn_start(entry.clone(), spec, true);
        }
        drop(admin);
        Ok((entry, doc))
    }

    /// Changes what a running application does not use (tags): no version, no restart.
    async fn change_tags(
        &self,
        arn: &str,
        change: impl FnOnce(&mut BTreeMap<String, Option<String>>),
    ) -> Result<()> {
        let entry = self.get_by_arn(arn)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        change(&mut doc.tags);
        validate::tags(&doc.tags)?;
        self.save(&entry, doc).await
    }

    // ---- running ----

    /// What a run of this application version does; `starting` per input id (inputs not
    /// named resume where they stopped).
    fn run_spec(
        &self,
        entry: &Entry,
        doc: &AppDoc,
        starting: BTreeMap<String, StartingPosition>,
    ) -> RunSpec {
        let c = &doc.config;
        let inputs = c
            .inputs
            .iter()
            .filter_map(|i| {
                Some(launch::InputSpec {
                    id: i.input_id.clone(),
                    // Checked at every change; one deleted since is the launcher's to report.
                    source: self.input_source(i).ok()?,
                    name_prefix: i.name_prefix.clone(),
                    parallelism: i.input_parallelism.count.unwrap_or(1),
                    schema: schema(&i.input_schema),
                })
            })
            .collect();
        let outputs = c
            .outputs
            .iter()
            .filter_map(|o| {
                Some(launch::OutputSpec {
                    id: o.output_id.clone(),
                    name: o.name.clone(),
                    destination: self.output_destination(o).ok()?,
                    format: match o.destination_schema.record_format_type {
                        RecordFormatType::Json => launch::OutputFormat::Json,
                        RecordFormatType::Csv => launch::OutputFormat::Csv,
                    },
                })
            })
            .collect();
        let references = c
            .references
            .iter()
            .map(|r| launch::ReferenceSpec {
                id: r.reference_id.clone(),
                table_name: r.table_name.clone(),
                bucket: crate::arn::bucket_from_arn(
                    &r.s3_reference_data_source_description.bucket_arn,
                )
                .unwrap_or_default()
                .to_string(),
                file_key: r.s3_reference_data_source_description.file_key.clone(),
                schema: schema(&r.reference_schema),
            })
            .collect();
        RunSpec {
            app_uid: entry.uid,
            app_name: entry.name.clone(),
            version: doc.version,
            code: c.code.clone(),
            inputs,
            outputs,
            references,
            starting: c
                .inputs
                .iter()
                .map(|i| {
                    let at = starting
                        .get(&i.input_id)
                        .copied()
                        .unwrap_or(StartingPosition::LastStoppedPoint);
                    (i.input_id.clone(), at)
                })
                .collect(),
            flink: None,
        }
    }

    /// Runs the launcher for an application that is STARTING (or UPDATING: `restart` stops the
    /// current run first) and settles its status: RUNNING, or READY when it failed to start.
    fn spawn_start(&self, entry: Arc<Entry>, spec: RunSpec, restart: bool) {
        let svc = self.clone();
        tokio::spawn(async move {
            if restart {
                svc.inner.launcher.stop(entry.uid, StopMode::Graceful).await;
            }
            let outcome = svc.inner.launcher.start(spec).await;
            if let Err(error) = &outcome {
                tracing::warn!(%error, application = entry.name, "application failed to start");
            }
            let (to, outcome) = match outcome {
                Ok(()) => (ApplicationStatus::Running, Ok(())),
                Err(e) => (ApplicationStatus::Ready, Err(e.to_string())),
            };
            let from = [ApplicationStatus::Starting, ApplicationStatus::Updating];
            svc.settle(&entry, &from, to, outcome).await;
        });
    }

    /// Moves an application out of a transitional status once its launcher call is done; a
    /// status changed meanwhile (a deletion) stands.
    pub(crate) async fn settle(
        &self,
        entry: &Entry,
        from: &[ApplicationStatus],
        to: ApplicationStatus,
        outcome: std::result::Result<(), String>,
    ) {
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if !from.contains(&doc.status) {
            return;
        }
        doc.status = to;
        if to == ApplicationStatus::Running
            && let Some(version) = doc.current_version()
        {
            version.ran = true;
        }
        doc.end_operation(outcome, self.now_ms());
        if let Err(error) = self.save(entry, doc).await {
            tracing::warn!(%error, application = entry.name, "cannot record application status");
        }
    }

    /// Starts a READY application: STARTING now, RUNNING once the launcher has it running.
    pub(crate) async fn start(
        &self,
        name: &str,
        starting: Vec<(String, InputStartingPositionConfiguration)>,
    ) -> Result<String> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if doc.status != ApplicationStatus::Ready {
            return Err(in_use(name, doc.status));
        }
        if doc.config.inputs.is_empty() {
            return Err(AnalyticsError::InvalidApplicationConfiguration(format!(
                "Application {name} has no input: add one before starting it."
            )));
        }
        let mut positions = BTreeMap::new();
        for (id, position) in starting {
            if !doc.config.inputs.iter().any(|i| i.input_id == id) {
                return Err(AnalyticsError::InvalidArgument(format!(
                    "Input id {id} is not an input of application {name}."
                )));
            }
            let at = match position.input_starting_position {
                Some(InputStartingPosition::Now) | None => StartingPosition::Now,
                Some(InputStartingPosition::TrimHorizon) => StartingPosition::TrimHorizon,
                Some(InputStartingPosition::LastStoppedPoint) => StartingPosition::LastStoppedPoint,
            };
            positions.insert(id, at);
        }
        self.check_resources(&doc.config)?;
        for input in &mut doc.config.inputs {
            let at = match positions.get(&input.input_id) {
                Some(StartingPosition::Now) => InputStartingPosition::Now,
                Some(StartingPosition::TrimHorizon) => InputStartingPosition::TrimHorizon,
                _ => InputStartingPosition::LastStoppedPoint,
            };
            input.input_starting_position_configuration =
                Some(InputStartingPositionConfiguration {
                    input_starting_position: Some(at),
                });
        }
        doc.status = ApplicationStatus::Starting;
        let operation = doc.begin_operation("StartApplication", doc.version, self.now_ms());
        self.save(&entry, doc.clone()).await?;
        let spec = self.run_spec(&entry, &doc, positions);
        self.spawn_start(entry.clone(), spec, false);
        Ok(operation)
    }

    /// Stops a RUNNING application: STOPPING now, READY once its last checkpoint is committed.
    pub(crate) async fn stop(&self, name: &str) -> Result<String> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if doc.status != ApplicationStatus::Running {
            return Err(in_use(name, doc.status));
        }
        doc.status = ApplicationStatus::Stopping;
        let operation = doc.begin_operation("StopApplication", doc.version, self.now_ms());
        self.save(&entry, doc).await?;
        let svc = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            svc.inner.launcher.stop(entry.uid, StopMode::Graceful).await;
            svc.settle(
                &entry,
                &[ApplicationStatus::Stopping],
                ApplicationStatus::Ready,
                Ok(()),
            )
            .await;
        });
        Ok(operation)
    }

    pub async fn health(&self) -> Result<()> {
        Ok(self.inner.catalog.ping().await?)
    }

    /// The application's recent errors while running, newest first.
    pub fn recent_errors(&self, name: &str) -> Result<Vec<crate::AppError>> {
        let entry = self.get(name)?;
        let flink = entry.doc().config.flink.is_some();
        Ok(self.launcher_of(flink).recent_errors(entry.uid))
    }

    /// Adds the running SQL applications' metrics to a scrape.
    pub fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        self.inner.launcher.render_metrics(e);
    }

    // ---- v1 operations ----

    pub async fn create_application(
        &self,
        input: CreateApplicationInput,
    ) -> Result<CreateApplicationOutput> {
        let mut config = Config {
            description: input.application_description,
            code: input.application_code.unwrap_or_default(),
            ..Config::default()
        };
        for i in input.inputs.unwrap_or_default() {
            config.add_input(i, 1)?;
        }
        for o in input.outputs.unwrap_or_default() {
            config.add_output(o, 1)?;
        }
        let entry = self
            .create(
                input.application_name,
                config,
                input.cloud_watch_logging_options,
                input.tags,
            )
            .await?;
        Ok(CreateApplicationOutput {
            application_summary: summary(&entry),
        })
    }

    pub fn describe_application(&self, input: ApplicationRef) -> Result<DescribeApplicationOutput> {
        self.v1_only(&input.application_name)?;
        let entry = self.get(&input.application_name)?;
        let doc = entry.doc();
        let c = doc.config;
        Ok(DescribeApplicationOutput {
            application_detail: ApplicationDetail {
                application_name: entry.name.clone(),
                application_description: c.description,
                application_arn: entry.arn.clone(),
                application_status: doc.status,
                create_timestamp: seconds(entry.created_ms),
                last_update_timestamp: seconds(doc.updated_ms),
                input_descriptions: c.inputs,
                output_descriptions: c.outputs,
                reference_data_source_descriptions: c.references,
                cloud_watch_logging_option_descriptions: c.cloudwatch,
                application_code: Some(c.code),
                application_version_id: doc.version,
            },
        })
    }

    /// Application names in order after `after`, at most `limit`, and whether more follow.
    /// (`sql_only`: v1 lists SQL applications only.)
    pub(crate) fn page(
        &self,
        after: Option<&str>,
        limit: usize,
        sql_only: bool,
    ) -> (Vec<Arc<Entry>>, bool) {
        let registry = self.inner.registry.read();
        let mut page: Vec<Arc<Entry>> = registry
            .values()
            .filter(|e| after.is_none_or(|a| e.name.as_str() > a))
            .filter(|e| !sql_only || e.doc.lock().config.flink.is_none())
            .take(limit + 1)
            .cloned()
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }

    pub fn list_applications(
        &self,
        input: ListApplicationsInput,
    ) -> Result<ListApplicationsOutput> {
        let (page, more) = self.page(
            input.exclusive_start_application_name.as_deref(),
            input.limit.unwrap_or(50),
            true,
        );
        Ok(ListApplicationsOutput {
            application_summaries: page.iter().map(|e| summary(e)).collect(),
            has_more_applications: more,
        })
    }

    pub async fn update_application(&self, input: UpdateApplicationInput) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let name = input.application_name.clone();
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "UpdateApplication",
            true,
            |config, _| config.apply(input.application_update, &name),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn delete_application(&self, input: DeleteApplicationInput) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        self.delete(&input.application_name, input.create_timestamp)
            .await?;
        Ok(Empty {})
    }

    pub async fn start_application(&self, input: StartApplicationInput) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let starting = input
            .input_configurations
            .into_iter()
            .map(|c| (c.id, c.input_starting_position_configuration))
            .collect();
        self.start(&input.application_name, starting).await?;
        Ok(Empty {})
    }

    pub async fn stop_application(&self, input: ApplicationRef) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        self.stop(&input.application_name).await?;
        Ok(Empty {})
    }

    pub async fn add_application_input(&self, input: AddApplicationInputInput) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let new = input.input;
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "AddApplicationInput",
            true,
            |config, version| config.add_input(new, version).map(drop),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn add_application_output(&self, input: AddApplicationOutputInput) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let new = input.output;
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "AddApplicationOutput",
            true,
            |config, version| config.add_output(new, version).map(drop),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn delete_application_output(
        &self,
        input: DeleteApplicationOutputInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let app = input.application_name.clone();
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "DeleteApplicationOutput",
            true,
            |config, _| config.remove_output(&input.output_id, &app),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn add_application_reference_data_source(
        &self,
        input: AddApplicationReferenceDataSourceInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let new = input.reference_data_source;
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "AddApplicationReferenceDataSource",
            true,
            |config, version| config.add_reference(new, version).map(drop),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn delete_application_reference_data_source(
        &self,
        input: DeleteApplicationReferenceDataSourceInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let app = input.application_name.clone();
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "DeleteApplicationReferenceDataSource",
            true,
            |config, _| config.remove_reference(&input.reference_id, &app),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn add_application_input_processing_configuration(
        &self,
        input: AddApplicationInputProcessingConfigurationInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let app = input.application_name.clone();
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "AddApplicationInputProcessingConfiguration",
            true,
            |config, _| {
                // The input must exist before the Lambda question arises.
                config.input_mut(&input.input_id, &app)?;
                Err(validate::no_lambda("InputProcessingConfiguration"))
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn delete_application_input_processing_configuration(
        &self,
        input: DeleteApplicationInputProcessingConfigurationInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let app = input.application_name.clone();
        self.change(
            &input.application_name,
            Some(input.current_application_version_id),
            "DeleteApplicationInputProcessingConfiguration",
            true,
            |config, _| {
                let i = config.input_mut(&input.input_id, &app)?;
                match i.input_processing_configuration_description.take() {
                    Some(_) => Ok(()),
                    None => Err(AnalyticsError::ResourceNotFound(format!(
                        "Input {} of application {app} has no input processing configuration.",
                        input.input_id
                    ))),
                }
            },
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn add_application_cloud_watch_logging_option(
        &self,
        input: AddApplicationCloudWatchLoggingOptionInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let option = input.cloud_watch_logging_option;
        self.change(
            &input.application_name,
            input.current_application_version_id,
            "AddApplicationCloudWatchLoggingOption",
            false,
            |config, version| config.add_cloudwatch(option, version).map(drop),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn delete_application_cloud_watch_logging_option(
        &self,
        input: DeleteApplicationCloudWatchLoggingOptionInput,
    ) -> Result<Empty> {
        self.v1_only(&input.application_name)?;
        let app = input.application_name.clone();
        self.change(
            &input.application_name,
            input.current_application_version_id,
            "DeleteApplicationCloudWatchLoggingOption",
            false,
            |config, _| config.remove_cloudwatch(&input.cloud_watch_logging_option_id, &app),
        )
        .await?;
        Ok(Empty {})
    }

    pub async fn tag_resource(&self, input: TagResourceInput) -> Result<Empty> {
        self.change_tags(&input.resource_arn, |tags| {
            for t in input.tags {
                tags.insert(t.key, t.value);
            }
        })
        .await?;
        Ok(Empty {})
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<Empty> {
        self.change_tags(&input.resource_arn, |tags| {
            for k in &input.tag_keys {
                tags.remove(k);
            }
        })
        .await?;
        Ok(Empty {})
    }

    pub fn list_tags_for_resource(
        &self,
        input: ResourceArnInput,
    ) -> Result<ListTagsForResourceOutput> {
        let entry = self.get_by_arn(&input.resource_arn)?;
        Ok(ListTagsForResourceOutput {
            tags: entry
                .doc()
                .tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
        })
    }
}

/// AWS's answer to a call the application's status does not allow.
pub(crate) fn in_use(name: &str, status: ApplicationStatus) -> AnalyticsError {
    AnalyticsError::ResourceInUse(format!(
        "Application {name} is in {} state. The operation is not allowed in this state.",
        status.as_str()
    ))
}

pub(crate) fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn summary(entry: &Entry) -> ApplicationSummary {
    ApplicationSummary {
        application_name: entry.name.clone(),
        application_arn: entry.arn.clone(),
        application_status: entry.doc.lock().status,
    }
}

fn schema(s: &SourceSchema) -> launch::Schema {
    let mapping = s
        .record_format
        .mapping_parameters
        .clone()
        .unwrap_or_default();
    launch::Schema {
        columns: s
            .record_columns
            .iter()
            .map(|c| launch::RecordColumn {
                name: c.name.clone(),
                sql_type: c.sql_type.clone(),
                mapping: c.mapping.clone(),
            })
            .collect(),
        format: match (s.record_format.record_format_type, mapping.csv) {
            (RecordFormatType::Csv, Some(csv)) => launch::RecordFormat::Csv {
                row_delimiter: csv.record_row_delimiter,
                column_delimiter: csv.record_column_delimiter,
            },
            // AWS's defaults: a CSV schema without parameters splits lines on commas.
            (RecordFormatType::Csv, None) => launch::RecordFormat::Csv {
                row_delimiter: "\n".into(),
                column_delimiter: ",".into(),
            },
            (RecordFormatType::Json, _) => launch::RecordFormat::Json {
                record_row_path: mapping
                    .json
                    .map_or_else(|| "$".to_string(), |j| j.record_row_path),
            },
        },
    }
}
