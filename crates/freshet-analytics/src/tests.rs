//! The control plane over a real catalog, streams and Firehose service in a temporary
//! directory, with a launcher that records its calls and starts only when told (so the
//! transitional statuses can be seen), or fails.

use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_firehose::{FirehoseConfig, FirehoseService, S3Target};
use freshet_log::{Log, LogConfig};
use freshet_runtime::{ManualClock, SharedClock};
use freshet_streams::{StreamsConfig, StreamsService};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::launch::{LaunchError, Launcher, RunSpec, Source, StartingPosition};
use crate::model::*;
use crate::{AnalyticsConfig, AnalyticsError, AnalyticsService};

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Start(RunSpec),
    Stop(u64),
    Snapshot(u64, String),
}

struct Recording {
    calls: Mutex<Vec<Call>>,
    /// Starts return once this is true.
    go: watch::Sender<bool>,
    fail: Mutex<Option<String>>,
}

#[derive(Clone)]
struct TestLauncher(Arc<Recording>);

impl TestLauncher {
    fn new(go: bool) -> TestLauncher {
        TestLauncher(Arc::new(Recording {
            calls: Mutex::new(Vec::new()),
            go: watch::Sender::new(go),
            fail: Mutex::new(None),
        }))
    }

    fn calls(&self) -> Vec<Call> {
        self.0.calls.lock().clone()
    }
}

impl Launcher for TestLauncher {
    fn start(&self, spec: RunSpec) -> BoxFuture<'static, Result<(), LaunchError>> {
        let rec = self.0.clone();
        Box::pin(async move {
            rec.calls.lock().push(Call::Start(spec));
            let mut go = rec.go.subscribe();
            let _ = go.wait_for(|go| *go).await;
            match rec.fail.lock().clone() {
                Some(why) => Err(LaunchError::InvalidConfiguration(why)),
                None => Ok(()),
            }
        })
    }

    fn stop(&self, app_uid: u64) -> BoxFuture<'static, ()> {
        self.0.calls.lock().push(Call::Stop(app_uid));
        Box::pin(async {})
    }

    fn snapshot(
        &self,
        app_uid: u64,
        name: String,
        _version: u64,
    ) -> BoxFuture<'static, Result<(), LaunchError>> {
        self.0.calls.lock().push(Call::Snapshot(app_uid, name));
        Box::pin(async { Ok(()) })
    }
}

struct Harness {
    dir: tempfile::TempDir,
    svc: AnalyticsService,
    launcher: TestLauncher,
    streams: StreamsService,
    firehose: FirehoseService,
}

impl Harness {
    /// Closes the logs, so the directory can be opened again (a server restart).
    async fn close(self) -> tempfile::TempDir {
        self.firehose.close().await.unwrap();
        self.streams.close().await.unwrap();
        self.dir
    }
}

async fn open(dir: tempfile::TempDir, launcher: TestLauncher) -> Harness {
    let clock = SharedClock::new(ManualClock::new(1_700_000_000_000));
    let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
    let streams = StreamsService::open(
        StreamsConfig {
            create_delay: Duration::ZERO,
            clock: clock.clone(),
            ..StreamsConfig::default()
        },
        catalog.clone(),
        Log::open(LogConfig::new(dir.path().join("log"))).unwrap(),
    )
    .await
    .unwrap();
    let firehose = FirehoseService::open(
        FirehoseConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            s3: S3Target::Local(dir.path().join("s3")),
            http_ca_pem: None,
            create_delay: Duration::ZERO,
            max_backlog_bytes: 1 << 20,
            stream_limit: 10,
            clock: clock.clone(),
        },
        catalog.clone(),
        Log::open(LogConfig::new(dir.path().join("firehose-log"))).unwrap(),
        streams.clone(),
    )
    .await
    .unwrap();
    let svc = AnalyticsService::open(
        AnalyticsConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            application_limit: 3,
            clock,
        },
        catalog,
        streams.clone(),
        firehose.clone(),
        Arc::new(launcher.clone()),
    )
    .await
    .unwrap();
    if streams
        .describe_stream_summary(
            serde_json::from_value(serde_json::json!({"StreamName": "src"})).unwrap(),
        )
        .is_err()
    {
        streams
            .create_stream(
                serde_json::from_value(serde_json::json!({"StreamName": "src", "ShardCount": 1}))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    Harness {
        dir,
        svc,
        launcher,
        streams,
        firehose,
    }
}

fn input() -> Input {
    serde_json::from_value(serde_json::json!({
        "NamePrefix": "SOURCE_SQL_STREAM",
        "KinesisStreamsInput": {
            "ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src",
            "RoleARN": "arn:aws:iam::000000000000:role/r"
        },
        "InputSchema": {
            "RecordFormat": {"RecordFormatType": "JSON"},
            "RecordColumns": [{"Name": "a", "Mapping": "$.a", "SqlType": "INTEGER"}]
        }
    }))
    .unwrap()
}

async fn create(h: &Harness, name: &str) {
    h.svc
        .create_application(CreateApplicationInput {
            application_name: name.into(),
            application_description: None,
            inputs: Some(vec![input()]),
            outputs: None,
            cloud_watch_logging_options: None,
            application_code: Some("CREATE OR REPLACE STREAM \"D\" (a INTEGER);".into()),
            tags: None,
        })
        .await
        .unwrap();
}

fn status(h: &Harness, name: &str) -> ApplicationStatus {
    h.svc
        .describe_application(ApplicationRef {
            application_name: name.into(),
        })
        .unwrap()
        .application_detail
        .application_status
}

async fn eventually(h: &Harness, name: &str, want: ApplicationStatus) {
    for _ in 0..200 {
        if status(h, name) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} never became {want:?}: {:?}", status(h, name));
}

async fn start(h: &Harness, name: &str, at: InputStartingPosition) {
    h.svc
        .start_application(StartApplicationInput {
            application_name: name.into(),
            input_configurations: vec![InputConfiguration {
                id: "1.1".into(),
                input_starting_position_configuration: InputStartingPositionConfiguration {
                    input_starting_position: Some(at),
                },
            }],
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn start_runs_through_starting_and_stop_through_stopping() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(false)).await;
    create(&h, "app").await;
    start(&h, "app", InputStartingPosition::TrimHorizon).await;
    assert_eq!(status(&h, "app"), ApplicationStatus::Starting);
    // Not startable twice, not changeable while starting.
    let again = h.svc.start("app", vec![]).await;
    assert!(matches!(again, Err(AnalyticsError::ResourceInUse(_))));
    h.launcher.0.go.send_replace(true);
    eventually(&h, "app", ApplicationStatus::Running).await;
    let [Call::Start(spec)] = &h.launcher.calls()[..] else {
        panic!("one start: {:?}", h.launcher.calls());
    };
    assert_eq!(spec.app_name, "app");
    assert_eq!(spec.version, 1);
    assert_eq!(
        spec.inputs[0].source,
        Source::KinesisStream { name: "src".into() }
    );
    assert_eq!(spec.inputs[0].parallelism, 1);
    assert_eq!(
        spec.starting,
        vec![("1.1".to_string(), StartingPosition::TrimHorizon)]
    );
    let described = h
        .svc
        .describe_application(ApplicationRef {
            application_name: "app".into(),
        })
        .unwrap()
        .application_detail;
    assert_eq!(
        described.input_descriptions[0].input_starting_position_configuration,
        Some(InputStartingPositionConfiguration {
            input_starting_position: Some(InputStartingPosition::TrimHorizon)
        })
    );

    h.svc
        .stop_application(ApplicationRef {
            application_name: "app".into(),
        })
        .await
        .unwrap();
    eventually(&h, "app", ApplicationStatus::Ready).await;
    assert_eq!(h.launcher.calls()[1], Call::Stop(spec.app_uid));
}

#[tokio::test]
async fn a_failed_start_returns_to_ready_and_is_recorded() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    *h.launcher.0.fail.lock() = Some("no runner".into());
    create(&h, "app").await;
    start(&h, "app", InputStartingPosition::Now).await;
    eventually(&h, "app", ApplicationStatus::Ready).await;
    let entry = h.svc.get("app").unwrap();
    let op = entry.doc().operations.last().cloned().unwrap();
    assert_eq!(op.operation, "StartApplication");
    assert_eq!(op.status, crate::app::OperationStatus::Failed);
    assert_eq!(op.error.as_deref(), Some("no runner"));
}

#[tokio::test]
async fn changing_a_running_application_restarts_it_from_where_it_stopped() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create(&h, "app").await;
    start(&h, "app", InputStartingPosition::Now).await;
    eventually(&h, "app", ApplicationStatus::Running).await;
    h.svc
        .update_application(UpdateApplicationInput {
            application_name: "app".into(),
            current_application_version_id: 1,
            application_update: ApplicationUpdate {
                application_code_update: Some("CREATE OR REPLACE STREAM \"E\" (a INTEGER);".into()),
                ..ApplicationUpdate::default()
            },
        })
        .await
        .unwrap();
    eventually(&h, "app", ApplicationStatus::Running).await;
    let calls = h.launcher.calls();
    assert!(matches!(calls[1], Call::Stop(_)), "{calls:?}");
    let Call::Start(spec) = &calls[2] else {
        panic!("restarted: {calls:?}");
    };
    assert_eq!(spec.version, 2);
    assert!(spec.code.contains("\"E\""));
    assert_eq!(spec.starting[0].1, StartingPosition::LastStoppedPoint);
    // Logging options are no part of the run: no restart.
    h.svc
        .add_application_cloud_watch_logging_option(AddApplicationCloudWatchLoggingOptionInput {
            application_name: "app".into(),
            current_application_version_id: Some(2),
            cloud_watch_logging_option: CloudWatchLoggingOption {
                log_stream_arn: "arn:aws:logs:us-east-1:0:log-group:g:log-stream:s".into(),
                role_arn: None,
            },
        })
        .await
        .unwrap();
    assert_eq!(h.launcher.calls().len(), 3);
    assert_eq!(status(&h, "app"), ApplicationStatus::Running);
}

#[tokio::test]
async fn stale_versions_and_bad_changes_leave_nothing_behind() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create(&h, "app").await;
    let stale = h
        .svc
        .delete_application_output(DeleteApplicationOutputInput {
            application_name: "app".into(),
            current_application_version_id: 7,
            output_id: "1.1".into(),
        })
        .await;
    assert!(matches!(
        stale,
        Err(AnalyticsError::ConcurrentModification(_))
    ));
    let bad_code = h
        .svc
        .update_application(UpdateApplicationInput {
            application_name: "app".into(),
            current_application_version_id: 1,
            application_update: ApplicationUpdate {
                application_code_update: Some("SELEKT nothing".into()),
                ..ApplicationUpdate::default()
            },
        })
        .await;
    assert!(matches!(bad_code, Err(AnalyticsError::CodeValidation(_))));
    let entry = h.svc.get("app").unwrap();
    assert_eq!(entry.doc().version, 1);
    assert_eq!(entry.doc().versions.len(), 1);
    // The limit of applications per account.
    create(&h, "b").await;
    create(&h, "c").await;
    let over = h
        .svc
        .create_application(CreateApplicationInput {
            application_name: "d".into(),
            application_description: None,
            inputs: None,
            outputs: None,
            cloud_watch_logging_options: None,
            application_code: None,
            tags: None,
        })
        .await;
    assert!(matches!(over, Err(AnalyticsError::LimitExceeded(_))));
}

#[tokio::test]
async fn running_applications_start_again_after_a_restart() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create(&h, "app").await;
    create(&h, "idle").await;
    start(&h, "app", InputStartingPosition::TrimHorizon).await;
    eventually(&h, "app", ApplicationStatus::Running).await;
    let dir = h.close().await;

    let h = open(dir, TestLauncher::new(true)).await;
    eventually(&h, "app", ApplicationStatus::Running).await;
    assert_eq!(status(&h, "idle"), ApplicationStatus::Ready);
    let [Call::Start(spec)] = &h.launcher.calls()[..] else {
        panic!("one start: {:?}", h.launcher.calls());
    };
    assert_eq!(spec.app_name, "app");
    assert_eq!(spec.starting[0].1, StartingPosition::LastStoppedPoint);
}
