//! The application runner: the `Launcher` that runs applications. Each running application is
//! one task that reads its input (a stream with the typed stream reader, or a delivery stream
//! with Firehose's delivery stream reader), feeds the SQL engine, writes what the engine's
//! outputs produce to their streams and delivery streams, and commits a checkpoint (the
//! engine's open windows and every input partition's position, one document) at an interval and
//! when it stops. Outputs are written before the positions that produced them are committed, so
//! a crash repeats output rather than losing it (at least once, as KDA).

mod checkpoint;
mod metrics;
mod sink;
mod task;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_firehose::FirehoseService;
use freshet_runtime::SharedClock;
use freshet_streams::StreamsService;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::launch::{LaunchError, Launcher, RunSpec, StopMode};

/// How often a running application commits a checkpoint, and how often time advances its
/// windows when no record arrives.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    pub checkpoint_interval: Duration,
    pub tick: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            checkpoint_interval: Duration::from_secs(1),
            tick: Duration::from_millis(100),
        }
    }
}

/// The name application `app_uid`'s delivery stream readers hold records under: a delivery
/// stream keeps them until the application has committed past them (or released them).
pub(crate) fn delivery_reader(app_uid: u64) -> String {
    format!("kinesisanalytics/application/{app_uid}")
}

/// The checkpoint application `app_uid`'s last run committed, if it ran.
pub(crate) async fn last_checkpoint(
    catalog: &Catalog,
    app_uid: u64,
) -> freshet_catalog::Result<Option<String>> {
    Ok(catalog
        .load_applications()
        .await?
        .into_iter()
        .find(|row| row.uid == app_uid)
        .and_then(|row| row.checkpoint))
}

/// What a run needs from the rest of the server.
#[derive(Clone)]
pub(crate) struct Services {
    pub streams: StreamsService,
    pub firehose: FirehoseService,
    pub catalog: Catalog,
    pub clock: SharedClock,
    pub settings: RunnerSettings,
}

struct Running {
    name: String,
    metrics: Arc<metrics::AppMetrics>,
    stop: watch::Sender<task::Halt>,
    requests: tokio::sync::mpsc::Sender<task::SnapshotRequest>,
    task: JoinHandle<()>,
}

/// Runs applications in this process.
#[derive(Clone)]
pub struct Runner {
    services: Services,
    running: Arc<Mutex<HashMap<u64, Running>>>,
}

impl Runner {
    pub fn new(
        streams: StreamsService,
        firehose: FirehoseService,
        catalog: Catalog,
        clock: SharedClock,
        settings: RunnerSettings,
    ) -> Runner {
        Runner {
            services: Services {
                streams,
                firehose,
                catalog,
                clock,
                settings,
            },
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Stops every running application (server shutdown), each with a final checkpoint
    /// that its next start resumes from.
    pub async fn stop_all(&self) {
        let uids: Vec<u64> = self.running.lock().keys().copied().collect();
        for uid in uids {
            self.halt(uid, task::Halt::Shutdown).await;
        }
    }

    fn halt(&self, app_uid: u64, why: task::Halt) -> BoxFuture<'static, ()> {
        let run = self.running.lock().remove(&app_uid);
        Box::pin(async move {
            if let Some(run) = run {
                let _ = run.stop.send(why);
                if let Err(e) = run.task.await {
                    tracing::error!(app_uid, error = %e, "application task failed");
                }
            }
        })
    }
}

impl Launcher for Runner {
    fn start(&self, spec: RunSpec) -> BoxFuture<'static, Result<(), LaunchError>> {
        let services = self.services.clone();
        let running = self.running.clone();
        Box::pin(async move {
            if spec.flink.as_ref().is_some_and(|f| f.jar.is_some()) {
                return Err(LaunchError::InvalidConfiguration(
                    "a JAR application needs an Apache Flink cluster ([analytics.flink] rest_url)"
                        .into(),
                ));
            }
            let uid = spec.app_uid;
            let name = spec.app_name.clone();
            let metrics = Arc::new(metrics::AppMetrics::default());
            let task = task::AppTask::prepare(services, spec, metrics.clone()).await?;
            let (stop, stopped) = watch::channel(task::Halt::Running);
            let (requests, requested) = tokio::sync::mpsc::channel(4);
            let handle = tokio::spawn(task.run(stopped, requested));
            let run = Running {
                name: name.clone(),
                metrics,
                stop,
                requests,
                task: handle,
            };
            if let Some(previous) = running.lock().insert(uid, run) {
                // A start without a stop in between: the older run must not go on writing.
                let _ = previous.stop.send(task::Halt::Stop);
            }
            tracing::info!(application = %name, "application running");
            Ok(())
        })
    }

    fn stop(&self, app_uid: u64, _mode: StopMode) -> BoxFuture<'static, ()> {
        // Either way the run commits its last checkpoint: a forced stop only means no
        // snapshot is taken of it.
        self.halt(app_uid, task::Halt::Stop)
    }

    fn snapshot(
        &self,
        app_uid: u64,
        name: String,
        version: u64,
    ) -> BoxFuture<'static, Result<(), LaunchError>> {
        let requests = self
            .running
            .lock()
            .get(&app_uid)
            .map(|r| r.requests.clone());
        let catalog = self.services.catalog.clone();
        let clock = self.services.clock.clone();
        Box::pin(async move {
            let failed = |e: String| {
                LaunchError::InvalidConfiguration(format!("the snapshot {name} was not taken: {e}"))
            };
            // A running application commits a checkpoint now; a stopped one's last stands.
            let doc = match requests {
                Some(requests) => {
                    let (answer, answered) = tokio::sync::oneshot::channel();
                    requests
                        .send(answer)
                        .await
                        .map_err(|_| failed("the application stopped".into()))?;
                    answered
                        .await
                        .map_err(|_| failed("the application stopped".into()))?
                        .map_err(failed)?
                }
                None => last_checkpoint(&catalog, app_uid)
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .unwrap_or_default(),
            };
            catalog
                .put_application_snapshot(app_uid, &name, clock.now_ms(), version, &doc)
                .await
                .map_err(|e| failed(e.to_string()))
        })
    }

    fn recent_errors(&self, app_uid: u64) -> Vec<crate::AppError> {
        let running = self.running.lock();
        running
            .get(&app_uid)
            .map(|r| r.metrics.errors.list())
            .unwrap_or_default()
    }

    fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        let running: Vec<(String, Arc<metrics::AppMetrics>)> = self
            .running
            .lock()
            .values()
            .map(|r| (r.name.clone(), r.metrics.clone()))
            .collect();
        for (name, metrics) in running {
            metrics.render(&name, e);
        }
    }

    fn forget(&self, app_uid: u64) -> BoxFuture<'static, ()> {
        let firehose = self.services.firehose.clone();
        Box::pin(async move {
            // Not fatal: a hold left behind keeps records for at most a day.
            if let Err(error) = firehose
                .release_reader(&delivery_reader(app_uid), &[])
                .await
            {
                tracing::warn!(app_uid, %error, "cannot release delivery stream holds");
            }
        })
    }
}
