//! A Flink application's runs, as Managed Service for Apache Flink moves them: StartApplication
//! restores from the snapshot its `ApplicationRestoreConfiguration` names; StopApplication takes
//! a snapshot first when snapshots are enabled (so the next RESTORE_FROM_LATEST_SNAPSHOT resumes
//! where it stopped), `Force` stops without one; an update of a running application stops it,
//! snapshots it and starts the new version from there; RollbackApplication (or a system
//! rollback after a failed update) starts the previous running version from the latest
//! snapshot. Each of these is one `Plan`, run by one task under the application's run lock.

use std::sync::Arc;

use crate::app::AppDoc;
use crate::error::{AnalyticsError, Result};
use crate::flink::{Code, FlinkConfig, RestoreType, RunConfigurationUpdate, not_jar, not_sql};
use crate::launch::{FlinkRun, RunSpec, StopMode};
use crate::model::ApplicationStatus;
use crate::service::{AnalyticsService, Entry, in_use};

/// Snapshots an application may have before CreateApplicationSnapshot answers
/// LimitExceededException (AWS's quota; the snapshots the service takes itself are not held
/// back by it).
pub const MAX_SNAPSHOTS: usize = 1_000;

/// What one launcher task does, in order.
pub(crate) struct Plan {
    /// Stop the current run first, this way.
    stop: Option<StopMode>,
    /// Then take a snapshot for this application version (of the stopped run's last checkpoint).
    snapshot: Option<u64>,
    /// Then start this version of the application.
    start: Option<Start>,
    /// The statuses the plan moves out of; a status changed meanwhile (a forced stop) stands.
    from: &'static [ApplicationStatus],
    /// After a failed start: the version a system rollback goes back to.
    rollback_to: Option<u64>,
}

/// What a Flink run executes.
pub(crate) struct Program {
    /// Flink SQL; empty for a JAR.
    code: String,
    jar: Option<Arc<Vec<u8>>>,
}

pub(crate) struct Start {
    version: u64,
    config: FlinkConfig,
    /// The program, when already read (StartApplication reads it to answer a missing object).
    program: Option<Program>,
    /// Restore from the latest snapshot whatever the restore configuration says (rollbacks).
    latest: bool,
}

impl Start {
    fn of(version: u64, config: FlinkConfig) -> Start {
        Start {
            version,
            config,
            program: None,
            latest: false,
        }
    }
}

/// The version a rollback goes back to: the last one before the current that ran and was not
/// itself rolled back.
pub(crate) fn previous_running_version(doc: &AppDoc) -> Option<u64> {
    doc.versions
        .iter()
        .rev()
        .find(|v| v.version < doc.version && v.ran && v.status != ApplicationStatus::RolledBack)
        .map(|v| v.version)
}

/// A Flink operation reached a SQL application: the callers check the kind (which never
/// changes) first, so this is a bug.
pub(crate) fn not_flink() -> AnalyticsError {
    AnalyticsError::Corrupt("a Flink operation on a SQL application".into())
}

fn flink_of(doc: &AppDoc) -> Result<&FlinkConfig> {
    doc.config.flink.as_ref().ok_or_else(not_flink)
}

/// What AWS answers for a snapshot the application does not have.
pub(crate) fn no_snapshot(app: &str, snapshot: &str) -> AnalyticsError {
    AnalyticsError::ResourceNotFound(format!(
        "Snapshot {snapshot} does not exist for application {app}."
    ))
}

impl AnalyticsService {
    /// The program of a configuration: its SQL (its text, its ZIP's `.sql` files, or those of
    /// the S3 object it names, read now through the store Firehose writes to), or a JAR when a
    /// Flink cluster runs the application.
    pub(crate) async fn flink_program(
        &self,
        entry: &Entry,
        flink: &FlinkConfig,
    ) -> Result<Program> {
        let refuse = AnalyticsError::InvalidApplicationConfiguration;
        let name = &entry.name;
        let sql = |code: String| Program { code, jar: None };
        match &flink.code {
            Code::Text { text } if text.trim().is_empty() => Err(refuse(format!(
                "Application {name} has no code: set ApplicationCodeConfiguration before starting it."
            ))),
            Code::Text { text } => Ok(sql(text.clone())),
            Code::Zip { sql: Ok(text), .. } => Ok(sql(text.clone())),
            Code::Zip {
                sql: Err(why), md5, ..
            } => {
                if !self.flink_cluster() {
                    return Err(refuse(not_sql(why)));
                }
                let bytes = self
                    .inner
                    .catalog
                    .get_application_code(entry.uid, md5)
                    .await?
                    .ok_or_else(|| {
                        AnalyticsError::Corrupt(format!("the code archive {md5} of {name} is lost"))
                    })?;
                self.jar(bytes, why)
            }
            Code::S3 { location } => {
                let bucket = crate::arn::bucket_from_arn(&location.bucket_arn).unwrap_or_default();
                let bytes = self
                    .inner
                    .firehose
                    .get_object(bucket, &location.file_key)
                    .await
                    .map_err(|e| {
                        refuse(format!(
                            "Cannot read the code object s3://{bucket}/{}: {e}",
                            location.file_key
                        ))
                    })?
                    .ok_or_else(|| {
                        refuse(format!(
                            "The code object s3://{bucket}/{} does not exist.",
                            location.file_key
                        ))
                    })?;
                match crate::flink::sql_from_zip(&bytes) {
                    Ok(text) => Ok(sql(text)),
                    Err(why) if self.flink_cluster() => self.jar(bytes.to_vec(), &why),
                    Err(why) => Err(refuse(not_sql(&why))),
                }
            }
        }
    }

    /// An archive without SQL, for the Flink cluster: it must be a JAR.
    fn jar(&self, bytes: Vec<u8>, why: &str) -> Result<Program> {
        if !crate::flink::is_jar(&bytes) {
            return Err(AnalyticsError::InvalidApplicationConfiguration(not_jar(
                why,
            )));
        }
        Ok(Program {
            code: String::new(),
            jar: Some(Arc::new(bytes)),
        })
    }

    /// The snapshot a run restores from: none (SKIP), the newest (LATEST; none when there is
    /// none) or the one named (CUSTOM: ResourceNotFoundException without it).
    pub(crate) async fn restore_point(
        &self,
        entry: &Entry,
        flink: &FlinkConfig,
        latest: bool,
    ) -> Result<Option<String>> {
        let snapshots = self
            .inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?;
        let restore = &flink.restore;
        match restore.application_restore_type {
            _ if latest => Ok(snapshots.last().map(|s| s.name.clone())),
            RestoreType::SkipRestoreFromSnapshot => Ok(None),
            RestoreType::RestoreFromLatestSnapshot => Ok(snapshots.last().map(|s| s.name.clone())),
            RestoreType::RestoreFromCustomSnapshot => {
                let name = restore.snapshot_name.clone().unwrap_or_default();
                if snapshots.iter().any(|s| s.name == name) {
                    Ok(Some(name))
                } else {
                    Err(no_snapshot(&entry.name, &name))
                }
            }
        }
    }

    /// The name of a snapshot the service takes itself: `ss-<epoch milliseconds>` (AWS does not
    /// document the names of the snapshots it takes; this one sorts by time and is told apart
    /// from a user's).
    async fn auto_snapshot_name(&self, entry: &Entry) -> Result<String> {
        let taken = self
            .inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?;
        let base = format!("ss-{}", self.now_ms());
        let mut name = base.clone();
        let mut n = 1;
        while taken.iter().any(|s| s.name == name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        Ok(name)
    }

    fn status_of(&self, entry: &Entry) -> ApplicationStatus {
        entry.doc.lock().status
    }

    /// Starts the run a `Start` describes: its code, the snapshot it restores from, then the
    /// launcher.
    async fn launch(&self, entry: &Entry, start: Start) -> Result<()> {
        let program = match start.program {
            Some(program) => program,
            None => self.flink_program(entry, &start.config).await?,
        };
        let restore_from = self
            .restore_point(entry, &start.config, start.latest)
            .await?;
        let spec = RunSpec {
            app_uid: entry.uid,
            app_name: entry.name.clone(),
            version: start.version,
            code: program.code,
            inputs: Vec::new(),
            outputs: Vec::new(),
            references: Vec::new(),
            starting: Vec::new(),
            flink: Some(FlinkRun {
                properties: start.config.property_map(),
                restore_from,
                allow_non_restored_state: start.config.allow_non_restored_state(),
                jar: program.jar,
                parallelism: start.config.effective_parallelism(),
                checkpoint_interval: start.config.checkpoint_interval(),
            }),
        };
        self.inner
            .flink_launcher
            .start(spec)
            .await
            .map_err(|e| AnalyticsError::InvalidApplicationConfiguration(e.to_string()))
    }

    /// Runs a plan in its own task.
    pub(crate) fn spawn_plan(&self, entry: Arc<Entry>, plan: Plan) {
        let svc = self.clone();
        tokio::spawn(async move { svc.run_plan(entry, plan).await });
    }

    async fn run_plan(&self, entry: Arc<Entry>, plan: Plan) {
        let _run = entry.run.lock().await;
        let launcher = &self.inner.flink_launcher;
        if let Some(mode) = plan.stop {
            launcher.stop(entry.uid, mode).await;
        }
        let mut snapshot_failure = None;
        if let Some(version) = plan.snapshot
            && plan.from.contains(&self.status_of(&entry))
        {
            let taken = match self.auto_snapshot_name(&entry).await {
                Ok(name) => launcher
                    .snapshot(entry.uid, name.clone(), version)
                    .await
                    .map_err(|e| format!("snapshot {name} could not be taken: {e}")),
                Err(e) => Err(format!("no snapshot could be taken: {e}")),
            };
            if let Err(why) = taken {
                tracing::warn!(application = entry.name, why, "application snapshot failed");
                snapshot_failure = Some(why);
            }
        }
        let Some(start) = plan.start else {
            let outcome = snapshot_failure.map_or(Ok(()), Err);
            self.settle(&entry, plan.from, ApplicationStatus::Ready, outcome)
                .await;
            return;
        };
        if !plan.from.contains(&self.status_of(&entry)) {
            return;
        }
        match self.launch(&entry, start).await {
            Ok(()) => {
                self.settle(&entry, plan.from, ApplicationStatus::Running, Ok(()))
                    .await
            }
            Err(error) => {
                tracing::warn!(%error, application = entry.name, "application failed to start");
                let rollback = match plan.rollback_to {
                    Some(target) => self.begin_system_rollback(&entry, target, &error).await,
                    None => None,
                };
                match rollback {
                    Some(start) => self.finish_rollback(&entry, start).await,
                    None => {
                        self.settle(
                            &entry,
                            plan.from,
                            ApplicationStatus::Ready,
                            Err(error.to_string()),
                        )
                        .await
                    }
                }
            }
        }
    }

    /// The failed update's operation fails, naming the rollback it started; the application
    /// goes ROLLING_BACK to `target` as a new version.
    async fn begin_system_rollback(
        &self,
        entry: &Entry,
        target: u64,
        error: &AnalyticsError,
    ) -> Option<Start> {
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if doc.status != ApplicationStatus::Updating {
            return None;
        }
        let now = self.now_ms();
        let failed = doc
            .operations
            .iter()
            .rev()
            .find(|op| op.status == crate::app::OperationStatus::InProgress)
            .map(|op| op.id.clone());
        doc.end_operation(Err(error.to_string()), now);
        let from = doc.version;
        let start = rollback_doc(&mut doc, target, now)?;
        let id = doc.begin_operation("RollbackApplication", from, now);
        if let Some(op) = doc
            .operations
            .iter_mut()
            .find(|op| Some(&op.id) == failed.as_ref())
        {
            op.rollback_operation = Some(id);
        }
        if let Err(error) = self.save(entry, doc).await {
            tracing::warn!(%error, application = entry.name, "cannot record a system rollback");
            return None;
        }
        tracing::info!(application = entry.name, target, "system rollback");
        Some(start)
    }

    /// Starts the version a rollback goes back to, from the latest snapshot.
    async fn finish_rollback(&self, entry: &Entry, start: Start) {
        let from = &[ApplicationStatus::RollingBack];
        let (to, outcome) = match self.launch(entry, start).await {
            Ok(()) => (ApplicationStatus::Running, Ok(())),
            Err(e) => (ApplicationStatus::Ready, Err(e.to_string())),
        };
        self.settle(entry, from, to, outcome).await;
    }

    /// StartApplication of a Flink application: its RunConfiguration is stored (and described),
    /// the code and the snapshot to restore are checked now, then STARTING until it runs.
    pub(crate) async fn start_flink(
        &self,
        name: &str,
        run: Option<RunConfigurationUpdate>,
    ) -> Result<String> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if doc.status != ApplicationStatus::Ready {
            return Err(in_use(name, doc.status));
        }
        if let Some(run) = run {
            let flink = doc.config.flink.as_mut().ok_or_else(not_flink)?;
            flink.apply_run(run)?;
            let config = doc.config.clone();
            if let Some(current) = doc.current_version() {
                current.config = config;
            }
        }
        let flink = flink_of(&doc)?.clone();
        let program = self.flink_program(&entry, &flink).await?;
        self.restore_point(&entry, &flink, false).await?;
        doc.status = ApplicationStatus::Starting;
        let operation = doc.begin_operation("StartApplication", doc.version, self.now_ms());
        let version = doc.version;
        self.save(&entry, doc).await?;
        let mut start = Start::of(version, flink);
        start.program = Some(program);
        self.spawn_plan(
            entry.clone(),
            Plan {
                stop: None,
                snapshot: None,
                start: Some(start),
                from: &[ApplicationStatus::Starting],
                rollback_to: None,
            },
        );
        Ok(operation)
    }

    /// StopApplication of a Flink application: from RUNNING, STOPPING with a snapshot when
    /// snapshots are enabled; with `force`, FORCE_STOPPING without one, from any status AWS
    /// allows (STARTING, UPDATING, STOPPING, AUTOSCALING, RUNNING), cancelling what was in
    /// progress.
    pub(crate) async fn stop_flink(&self, name: &str, force: bool) -> Result<String> {
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        let now = self.now_ms();
        let plan = if force {
            if !matches!(
                doc.status,
                ApplicationStatus::Starting
                    | ApplicationStatus::Updating
                    | ApplicationStatus::Stopping
                    | ApplicationStatus::Autoscaling
                    | ApplicationStatus::Running
            ) {
                return Err(in_use(name, doc.status));
            }
            doc.cancel_operations(now);
            doc.status = ApplicationStatus::ForceStopping;
            Plan {
                stop: Some(StopMode::Force),
                snapshot: None,
                start: None,
                from: &[ApplicationStatus::ForceStopping],
                rollback_to: None,
            }
        } else {
            if doc.status != ApplicationStatus::Running {
                return Err(in_use(name, doc.status));
            }
            doc.status = ApplicationStatus::Stopping;
            Plan {
                stop: Some(StopMode::Graceful),
                snapshot: flink_of(&doc)?.snapshots_enabled.then_some(doc.version),
                start: None,
                from: &[ApplicationStatus::Stopping],
                rollback_to: None,
            }
        };
        let operation = doc.begin_operation("StopApplication", doc.version, now);
        self.save(&entry, doc).await?;
        self.spawn_plan(entry.clone(), plan);
        Ok(operation)
    }

    /// After an UpdateApplication of a RUNNING Flink application (the new version committed,
    /// UPDATING): stop, snapshot when the running version had snapshots enabled, start the new
    /// version as its restore configuration says; a failed start rolls back when the new
    /// version has system rollbacks enabled.
    pub(crate) fn restart_flink(&self, entry: Arc<Entry>, before: &AppDoc, after: &AppDoc) {
        let (Some(old), Some(new)) = (&before.config.flink, &after.config.flink) else {
            return;
        };
        let plan = Plan {
            stop: Some(StopMode::Graceful),
            snapshot: old.snapshots_enabled.then_some(before.version),
            start: Some(Start::of(after.version, new.clone())),
            from: &[ApplicationStatus::Updating],
            rollback_to: new.rollback_enabled.then_some(before.version),
        };
        self.spawn_plan(entry, plan);
    }

    /// RollbackApplication: from RUNNING or UPDATING (or AUTOSCALING, never entered here), at
    /// the current version, to the previous running version as a new version, starting from the
    /// latest snapshot (none: AWS rejects the rollback).
    pub(crate) async fn rollback(&self, name: &str, expected: u64) -> Result<(Arc<Entry>, AppDoc)> {
        let entry = self.get(name)?;
        let admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if !matches!(
            doc.status,
            ApplicationStatus::Running
                | ApplicationStatus::Updating
                | ApplicationStatus::Autoscaling
        ) {
            return Err(in_use(name, doc.status));
        }
        doc.check_version(name, Some(expected))?;
        let target = previous_running_version(&doc).ok_or_else(|| {
            AnalyticsError::InvalidArgument(format!(
                "Application {name} has no previous running version to roll back to."
            ))
        })?;
        if self
            .inner
            .catalog
            .list_application_snapshots(entry.uid)
            .await?
            .is_empty()
        {
            return Err(AnalyticsError::InvalidArgument(format!(
                "Application {name} has no snapshots: a rollback restores the latest snapshot."
            )));
        }
        let now = self.now_ms();
        doc.cancel_operations(now);
        let from = doc.version;
        let start = rollback_doc(&mut doc, target, now)
            .ok_or_else(|| AnalyticsError::Corrupt(format!("version {target} is not kept")))?;
        doc.begin_operation("RollbackApplication", from, now);
        self.save(&entry, doc.clone()).await?;
        let svc = self.clone();
        let task_entry = entry.clone();
        tokio::spawn(async move {
            let _run = task_entry.run.lock().await;
            svc.inner
                .flink_launcher
                .stop(task_entry.uid, StopMode::Graceful)
                .await;
            svc.finish_rollback(&task_entry, start).await;
        });
        drop(admin);
        Ok((entry, doc))
    }

    /// A Flink application that was running when the server stopped starts again: from a
    /// snapshot of its last checkpoint when snapshots are enabled (as AWS restarts a job from
    /// its latest state), else as its restore configuration says.
    pub(crate) fn spawn_flink_recovery(&self, entry: Arc<Entry>) {
        let doc = entry.doc();
        let Some(flink) = doc.config.flink.clone() else {
            return;
        };
        let plan = Plan {
            stop: None,
            snapshot: flink.snapshots_enabled.then_some(doc.version),
            start: Some(Start::of(doc.version, flink)),
            from: &[ApplicationStatus::Starting],
            rollback_to: None,
        };
        self.spawn_plan(entry, plan);
    }
}

/// Makes `target`'s configuration the next version, ROLLING_BACK; the version it goes back from
/// is listed ROLLED_BACK. None when `target` is no longer kept.
fn rollback_doc(doc: &mut AppDoc, target: u64, now_ms: i64) -> Option<Start> {
    let config = doc
        .versions
        .iter()
        .find(|v| v.version == target)?
        .config
        .clone();
    let from = doc.version;
    doc.status = ApplicationStatus::RollingBack;
    doc.config = config;
    doc.bump(now_ms);
    if let Some(v) = doc.versions.iter_mut().find(|v| v.version == from) {
        v.status = ApplicationStatus::RolledBack;
    }
    doc.updated_from = None;
    doc.rolled_back_from = Some(from);
    doc.rolled_back_to = Some(target);
    let flink = doc.config.flink.clone()?;
    Some(Start {
        version: doc.version,
        config: flink,
        program: None,
        latest: true,
    })
}
