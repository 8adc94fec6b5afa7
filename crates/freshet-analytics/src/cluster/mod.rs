//! The `Launcher` that runs FLINK-* applications on an Apache Flink cluster, through its REST
//! API, when one machine is not enough: a JAR application's archive is uploaded and run as it
//! is; a Flink SQL application runs as Freshet's SQL runner job (a small JAR built against the
//! cluster's Flink, `scripts/build-flink-sql-runner.sh`) with the statements as its arguments.
//! A snapshot is a Flink savepoint: Stop stops the job with one, CreateApplicationSnapshot
//! triggers one, a start restores from the chosen one.
//!
//! The job id and the last savepoint are the application's checkpoint document in the catalog,
//! so a restarted server finds the job its application runs (and adopts it if it still runs),
//! and a snapshot of a stopped application is the savepoint its stop took.

mod rest;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_runtime::SharedClock;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use rest::{FlinkRest, JobState, RestError, RunJar, Savepoint, root_cause};

use crate::launch::{FlinkRun, LaunchError, Launcher, RunSpec, StopMode};
use crate::run::last_checkpoint;

/// `[analytics.flink]`: the cluster and how Freshet uses it.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The JobManager's REST API, `http://host:8081`.
    pub rest_url: String,
    /// Freshet's Flink SQL runner JAR; without it, Flink SQL applications cannot start.
    pub sql_runner_jar: Option<PathBuf>,
    /// Where savepoints go (`file:///shared/path`, `s3://bucket/prefix`); None: the cluster's
    /// `execution.checkpointing.savepoint-dir`.
    pub savepoint_dir: Option<String>,
    /// Freshet's endpoint as the cluster's Kinesis and Firehose connectors reach it, added to
    /// Flink SQL tables that name no `aws.endpoint`.
    pub endpoint: Option<String>,
    /// How long a job may take to reach RUNNING, and a savepoint to complete.
    pub timeout: Duration,
}

/// The application's checkpoint document when a cluster runs it (and its snapshots'
/// documents): the job and the savepoint a next start restores.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct ClusterState {
    job_id: Option<String>,
    /// A Flink savepoint path, as Flink reports it.
    flink_savepoint: Option<String>,
}

impl ClusterState {
    fn parse(doc: &str) -> Option<ClusterState> {
        serde_json::from_str(doc).ok()
    }

    fn to_doc(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How often job and savepoint states are polled.
const POLL: Duration = Duration::from_millis(200);

struct Inner {
    config: ClusterConfig,
    rest: FlinkRest,
    catalog: Catalog,
    clock: SharedClock,
    /// Application uid → the job it runs.
    jobs: Mutex<HashMap<u64, String>>,
}

#[derive(Clone)]
pub struct FlinkCluster {
    inner: Arc<Inner>,
}

fn invalid(e: impl ToString) -> LaunchError {
    LaunchError::InvalidConfiguration(e.to_string())
}

impl FlinkCluster {
    pub fn new(
        config: ClusterConfig,
        catalog: Catalog,
        clock: SharedClock,
    ) -> Result<FlinkCluster, RestError> {
        Ok(FlinkCluster {
            inner: Arc::new(Inner {
                rest: FlinkRest::new(&config.rest_url)?,
                config,
                catalog,
                clock,
                jobs: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Inner {
    async fn state(&self, app_uid: u64) -> ClusterState {
        match last_checkpoint(&self.catalog, app_uid).await {
            Ok(doc) => doc
                .as_deref()
                .and_then(ClusterState::parse)
                .unwrap_or_default(),
            Err(error) => {
                tracing::warn!(app_uid, %error, "cannot read an application's cluster state");
                ClusterState::default()
            }
        }
    }

    async fn save(&self, app_uid: u64, state: &ClusterState) -> Result<(), LaunchError> {
        self.catalog
            .put_application_checkpoint(app_uid, &state.to_doc(), None)
            .await
            .map_err(invalid)
    }

    /// The job application `app_uid` runs now: the one this server started, or the one its
    /// checkpoint names if the cluster still runs it (started before this server restarted).
    async fn live_job(&self, app_uid: u64) -> Option<String> {
        if let Some(job) = self.jobs.lock().get(&app_uid) {
            return Some(job.clone());
        }
        let job = self.state(app_uid).await.job_id?;
        match self.rest.state(&job).await {
            Ok(Some(state)) if !state.is_terminal() => {
                self.jobs.lock().insert(app_uid, job.clone());
                Some(job)
            }
            _ => None,
        }
    }

    /// The savepoint a start restores: the one snapshot `name` holds.
    async fn restore_path(
        &self,
        app_uid: u64,
        name: &str,
        allow_non_restored: bool,
    ) -> Result<Option<String>, LaunchError> {
        let doc = self
            .catalog
            .get_application_snapshot(app_uid, name)
            .await
            .map_err(invalid)?
            .ok_or_else(|| invalid(format!("the snapshot {name} does not exist")))?;
        match ClusterState::parse(&doc).and_then(|s| s.flink_savepoint) {
            Some(path) => Ok(Some(path)),
            // Taken by the embedded engine (before the cluster was configured): its state is
            // not Flink's.
            None if allow_non_restored => {
                tracing::warn!(
                    app_uid,
                    snapshot = name,
                    "snapshot holds no Flink savepoint; starting without state"
                );
                Ok(None)
            }
            None => Err(invalid(format!(
                "the snapshot {name} holds Freshet's embedded engine state, not a Flink savepoint: start with ApplicationRestoreType SKIP_RESTORE_FROM_SNAPSHOT, or with AllowNonRestoredState"
            ))),
        }
    }

    /// The JAR to upload and the arguments its main class gets.
    fn program(
        &self,
        spec: &RunSpec,
        flink: &FlinkRun,
    ) -> Result<(Vec<u8>, Vec<String>), LaunchError> {
        if let Some(jar) = &flink.jar {
            return Ok((jar.to_vec(), property_args(&flink.properties)));
        }
        let path = self.config.sql_runner_jar.as_ref().ok_or_else(|| {
            invalid("a Flink SQL application needs Freshet's SQL runner on the cluster: set [analytics.flink] sql_runner_jar (scripts/build-flink-sql-runner.sh builds it)")
        })?;
        let jar = std::fs::read(path).map_err(|e| {
            invalid(format!(
                "cannot read the SQL runner {}: {e}",
                path.display()
            ))
        })?;
        let statements = freshet_analytics_engine::flink::cluster_statements(
            &spec.code,
            &flink.properties,
            self.config.endpoint.as_deref(),
        )
        .map_err(invalid)?;
        let mut args = vec![format!(
            "SET 'pipeline.name' = '{}'",
            spec.app_name.replace('\'', "''")
        )];
        // The application's CheckpointConfiguration, as Managed Flink applies it to the job.
        if let Some(interval) = flink.checkpoint_interval {
            args.push(format!(
                "SET 'execution.checkpointing.interval' = '{} ms'",
                interval.as_millis()
            ));
        }
        args.extend(statements);
        Ok((jar, args))
    }

    async fn start(&self, spec: RunSpec) -> Result<(), LaunchError> {
        let uid = spec.app_uid;
        let flink = spec
            .flink
            .as_ref()
            .ok_or_else(|| invalid("a SQL application runs on Freshet's embedded engine"))?;
        if let Some(job) = self.live_job(uid).await {
            tracing::info!(application = %spec.app_name, job, "Flink job still running; adopted");
            return Ok(());
        }
        let savepoint = match &flink.restore_from {
            Some(name) => {
                self.restore_path(uid, name, flink.allow_non_restored_state)
                    .await?
            }
            None => None,
        };
        let (jar, args) = self.program(&spec, flink)?;
        let run = RunJar {
            args,
            parallelism: flink.parallelism.max(1),
            savepoint,
            allow_non_restored_state: flink.allow_non_restored_state,
        };
        let jar_id = self
            .rest
            .upload(jar, &format!("{}.jar", jar_file_name(&spec.app_name)))
            .await
            .map_err(invalid)?;
        let submitted = self.rest.run(&jar_id, &run).await;
        // The job holds what it needs once submitted; an upload left behind only takes disk.
        if let Err(error) = self.rest.delete_jar(&jar_id).await {
            tracing::warn!(%error, jar_id, "cannot delete an uploaded JAR");
        }
        let job = submitted.map_err(invalid)?;
        let mut state = self.state(uid).await;
        state.job_id = Some(job.clone());
        self.save(uid, &state).await?;
        self.jobs.lock().insert(uid, job.clone());
        if let Err(e) = self.wait_running(&job).await {
            self.jobs.lock().remove(&uid);
            let _ = self.rest.cancel(&job).await;
            return Err(e);
        }
        tracing::info!(application = %spec.app_name, job, restored = run.savepoint.is_some(), "Flink job running");
        Ok(())
    }

    async fn wait_running(&self, job: &str) -> Result<(), LaunchError> {
        let deadline = self.clock.now_ms() + self.config.timeout.as_millis() as i64;
        loop {
            let state = self.rest.state(job).await.map_err(invalid)?;
            match state {
                Some(state) if state.is_running() => return Ok(()),
                Some(state) if state.is_terminal() => {
                    let why = self.rest.failure(job).await.ok().flatten();
                    return Err(invalid(format!(
                        "the Flink job {job} is {}: {}",
                        state.status,
                        why.unwrap_or_else(|| "the cluster recorded no exception".into())
                    )));
                }
                _ => {}
            }
            if self.clock.now_ms() > deadline {
                return Err(invalid(format!(
                    "the Flink job {job} did not reach RUNNING within {:?} (no free task slots?)",
                    self.config.timeout
                )));
            }
            self.clock.sleep(POLL).await;
        }
    }

    /// Waits for a savepoint trigger's outcome: the savepoint's path.
    async fn await_savepoint(&self, job: &str, trigger: &str) -> Result<String, String> {
        let deadline = self.clock.now_ms() + self.config.timeout.as_millis() as i64;
        loop {
            match self
                .rest
                .savepoint(job, trigger)
                .await
                .map_err(|e| e.to_string())?
            {
                Savepoint::Completed(path) => return Ok(path),
                Savepoint::Failed(why) => return Err(why),
                Savepoint::InProgress if self.clock.now_ms() > deadline => {
                    return Err(format!("no savepoint within {:?}", self.config.timeout));
                }
                Savepoint::InProgress => self.clock.sleep(POLL).await,
            }
        }
    }

    async fn stop(&self, app_uid: u64, mode: StopMode) {
        let Some(job) = self.live_job(app_uid).await else {
            return;
        };
        self.jobs.lock().remove(&app_uid);
        let dir = self.config.savepoint_dir.as_deref();
        let savepoint = match mode {
            StopMode::Force => None,
            StopMode::Graceful => {
                let stopped = match self.rest.stop_with_savepoint(&job, dir).await {
                    Ok(trigger) => self.await_savepoint(&job, &trigger).await,
                    Err(e) => Err(e.to_string()),
                };
                match stopped {
                    Ok(path) => Some(path),
                    Err(why) => {
                        tracing::warn!(
                            app_uid,
                            job,
                            why,
                            "stop with savepoint failed; cancelling the job"
                        );
                        None
                    }
                }
            }
        };
        if savepoint.is_none()
            && let Err(error) = self.rest.cancel(&job).await
        {
            tracing::warn!(app_uid, job, %error, "cannot cancel a Flink job");
        }
        self.wait_ended(&job).await;
        let state = ClusterState {
            job_id: Some(job.clone()),
            flink_savepoint: savepoint,
        };
        if let Err(error) = self.save(app_uid, &state).await {
            tracing::warn!(app_uid, %error, "cannot record a stopped Flink job");
        }
        tracing::info!(app_uid, job, savepoint = ?state.flink_savepoint, "Flink job stopped");
    }

    /// Waits (up to the timeout) until the job is over, so a next start does not find it.
    async fn wait_ended(&self, job: &str) {
        let deadline = self.clock.now_ms() + self.config.timeout.as_millis() as i64;
        while self.clock.now_ms() <= deadline {
            match self.rest.state(job).await {
                Ok(Some(state)) if !state.is_terminal() => self.clock.sleep(POLL).await,
                _ => return,
            }
        }
    }

    async fn snapshot(&self, app_uid: u64, name: &str, version: u64) -> Result<(), LaunchError> {
        let failed = |e: String| invalid(format!("the snapshot {name} was not taken: {e}"));
        let path = match self.live_job(app_uid).await {
            Some(job) => {
                let dir = self.config.savepoint_dir.as_deref();
                let trigger = self
                    .rest
                    .trigger_savepoint(&job, dir)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                self.await_savepoint(&job, &trigger).await.map_err(failed)?
            }
            None => self
                .state(app_uid)
                .await
                .flink_savepoint
                .ok_or_else(|| failed("the application's last run left no savepoint".into()))?,
        };
        let doc = ClusterState {
            job_id: None,
            flink_savepoint: Some(path),
        };
        self.catalog
            .put_application_snapshot(app_uid, name, self.clock.now_ms(), version, &doc.to_doc())
            .await
            .map_err(|e| failed(e.to_string()))
    }
}

/// The runtime properties as program arguments, `--<PropertyGroupId>.<Key> <Value>`, which
/// Flink's `ParameterTool.fromArgs(args)` reads.
fn property_args(properties: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    properties
        .iter()
        .flat_map(|(group, map)| {
            map.iter()
                .flat_map(move |(key, value)| [format!("--{group}.{key}"), value.clone()])
        })
        .collect()
}

/// A file name for the upload: the application's name, kept to the characters Flink's upload
/// handler keeps in a path.
fn jar_file_name(app: &str) -> String {
    app.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Launcher for FlinkCluster {
    fn alive(&self, app_uid: u64) -> BoxFuture<'static, Option<bool>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let job = inner.jobs.lock().get(&app_uid).cloned()?;
            let ended = match inner.rest.state(&job).await {
                Ok(Some(state)) => state.is_terminal(),
                // The cluster forgot the job: it restarted without high availability.
                Ok(None) => true,
                Err(_) => return None,
            };
            if ended {
                inner.jobs.lock().remove(&app_uid);
            }
            Some(!ended)
        })
    }

    fn start(&self, spec: RunSpec) -> BoxFuture<'static, Result<(), LaunchError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.start(spec).await })
    }

    fn stop(&self, app_uid: u64, mode: StopMode) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.stop(app_uid, mode).await })
    }

    fn snapshot(
        &self,
        app_uid: u64,
        name: String,
        version: u64,
    ) -> BoxFuture<'static, Result<(), LaunchError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.snapshot(app_uid, &name, version).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_become_parameter_tool_arguments() {
        let props = BTreeMap::from([
            (
                "app".to_string(),
                BTreeMap::from([
                    ("rate".to_string(), "5".to_string()),
                    ("stream".to_string(), "in".to_string()),
                ]),
            ),
            (
                "z".to_string(),
                BTreeMap::from([("k".to_string(), "v w".to_string())]),
            ),
        ]);
        assert_eq!(
            property_args(&props),
            ["--app.rate", "5", "--app.stream", "in", "--z.k", "v w"]
        );
        assert_eq!(jar_file_name("my app/1"), "my_app_1");
    }

    #[test]
    fn cluster_state_round_trips_and_an_engine_snapshot_holds_no_savepoint() {
        let state = ClusterState {
            job_id: Some("j".into()),
            flink_savepoint: Some("file:/sp/savepoint-1".into()),
        };
        assert_eq!(ClusterState::parse(&state.to_doc()), Some(state));
        // The embedded engine's checkpoint document has other members.
        let engine = r#"{"positions":{},"state":"AAAA","stopped":true}"#;
        assert_eq!(
            ClusterState::parse(engine).and_then(|s| s.flink_savepoint),
            None
        );
    }
}
