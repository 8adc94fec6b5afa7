//! The control plane over a real catalog, streams and Firehose service in a temporary
//! directory, with a launcher that records its calls and starts only when told (so the
//! transitional statuses can be seen), or fails; its snapshots are written to the catalog as
//! the runner writes them. SQL applications first, then Flink applications.

use std::sync::Arc;
use std::time::Duration;

use freshet_catalog::Catalog;
use freshet_firehose::{FirehoseConfig, FirehoseService, S3Target};
use freshet_log::{Log, LogConfig};
use freshet_runtime::{ManualClock, SharedClock};
use freshet_streams::{StreamsConfig, StreamsService};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::launch::{LaunchError, Launcher, RunSpec, Source, StartingPosition, StopMode};
use crate::model::*;
use crate::{AnalyticsConfig, AnalyticsError, AnalyticsService};

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Start(RunSpec),
    Stop(u64),
    /// Application, snapshot name, application version.
    Snapshot(u64, String, u64),
}

struct Recording {
    calls: Mutex<Vec<Call>>,
    /// Starts return once this is true.
    go: watch::Sender<bool>,
    fail: Mutex<Option<String>>,
    /// Fails the next start only.
    fail_once: Mutex<Option<String>>,
    /// Where snapshots are stored, and the clock that dates them (set when the service opens).
    store: Mutex<Option<(Catalog, SharedClock)>>,
}

#[derive(Clone)]
struct TestLauncher(Arc<Recording>);

impl TestLauncher {
    fn new(go: bool) -> TestLauncher {
        TestLauncher(Arc::new(Recording {
            calls: Mutex::new(Vec::new()),
            go: watch::Sender::new(go),
            fail: Mutex::new(None),
            fail_once: Mutex::new(None),
            store: Mutex::new(None),
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
            if let Some(why) = rec.fail_once.lock().take() {
                return Err(LaunchError::InvalidConfiguration(why));
            }
            match rec.fail.lock().clone() {
                Some(why) => Err(LaunchError::InvalidConfiguration(why)),
                None => Ok(()),
            }
        })
    }

    fn stop(&self, app_uid: u64, _mode: StopMode) -> BoxFuture<'static, ()> {
        self.0.calls.lock().push(Call::Stop(app_uid));
        Box::pin(async {})
    }

    fn snapshot(
        &self,
        app_uid: u64,
        name: String,
        version: u64,
    ) -> BoxFuture<'static, Result<(), LaunchError>> {
        let rec = self.0.clone();
        Box::pin(async move {
            rec.calls
                .lock()
                .push(Call::Snapshot(app_uid, name.clone(), version));
            let store = rec.store.lock().clone();
            let (catalog, clock) = store.expect("the service is open");
            catalog
                .put_application_snapshot(app_uid, &name, clock.now_ms(), version, "{}")
                .await
                .map_err(|e| LaunchError::InvalidConfiguration(e.to_string()))
        })
    }
}

struct Harness {
    dir: tempfile::TempDir,
    svc: AnalyticsService,
    launcher: TestLauncher,
    streams: StreamsService,
    firehose: FirehoseService,
    clock: Arc<ManualClock>,
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
    let (clock, manual) = ManualClock::shared(1_700_000_000_000);
    let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
    *launcher.0.store.lock() = Some((catalog.clone(), clock.clone()));
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
            lambda_endpoint: None,
            max_active_partitions: 500,
            schemas: None,
            search_domains: Default::default(),
            iceberg_catalog: None,
            keys: None,
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
            flink_cluster: None,
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
        clock: manual,
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

// ---- Flink applications ----

const ROLE: &str = "arn:aws:iam::000000000000:role/flink";
const FLINK_SQL: &str = "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');\n\
    CREATE TABLE b (id BIGINT) WITH ('connector' = 'blackhole');\n\
    INSERT INTO b SELECT id FROM g;";

fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A FLINK-1_20 application running FLINK_SQL, with `extra` merged into its
/// ApplicationConfiguration.
async fn create_flink(h: &Harness, name: &str, extra: Value) -> Value {
    let mut configuration = json!({
        "ApplicationCodeConfiguration": {
            "CodeContentType": "PLAINTEXT",
            "CodeContent": {"TextContent": FLINK_SQL},
        },
        "ApplicationSnapshotConfiguration": {"SnapshotsEnabled": true},
    });
    for (k, v) in extra.as_object().unwrap() {
        configuration[k] = v.clone();
    }
    h.svc
        .v2_create_application(req(json!({
            "ApplicationName": name,
            "RuntimeEnvironment": "FLINK-1_20",
            "ServiceExecutionRole": ROLE,
            "ApplicationConfiguration": configuration,
        })))
        .await
        .unwrap()["ApplicationDetail"]
        .clone()
}

fn detail(h: &Harness, name: &str) -> Value {
    h.svc
        .v2_describe_application(req(json!({ "ApplicationName": name })))
        .unwrap()["ApplicationDetail"]
        .clone()
}

fn flink_status(h: &Harness, name: &str) -> String {
    detail(h, name)["ApplicationStatus"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn eventually_flink(h: &Harness, name: &str, want: &str) {
    for _ in 0..200 {
        if flink_status(h, name) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} never became {want}: {}", flink_status(h, name));
}

async fn start_flink(h: &Harness, name: &str, run: Value) -> Result<Value, AnalyticsError> {
    let mut input = json!({ "ApplicationName": name });
    if !run.is_null() {
        input["RunConfiguration"] = run;
    }
    h.svc.v2_start_application(req(input)).await
}

async fn stop_flink(h: &Harness, name: &str, force: bool) -> Result<Value, AnalyticsError> {
    h.svc
        .v2_stop_application(req(json!({ "ApplicationName": name, "Force": force })))
        .await
}

fn starts(h: &Harness) -> Vec<RunSpec> {
    h.launcher
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Start(spec) => Some(spec),
            _ => None,
        })
        .collect()
}

fn snapshots_taken(h: &Harness) -> Vec<String> {
    h.launcher
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Snapshot(_, name, _) => Some(name),
            _ => None,
        })
        .collect()
}

async fn snapshot_names(h: &Harness, name: &str) -> Vec<String> {
    h.svc
        .v2_list_application_snapshots(req(json!({ "ApplicationName": name })))
        .await
        .unwrap()["SnapshotSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SnapshotName"].as_str().unwrap().to_string())
        .collect()
}

fn operations(h: &Harness, name: &str) -> Vec<crate::app::OperationRecord> {
    h.svc.get(name).unwrap().doc().operations
}

#[tokio::test]
async fn flink_start_runs_through_starting_and_stop_snapshots_then_resumes() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(false)).await;
    let created = create_flink(
        &h,
        "f",
        json!({"EnvironmentProperties": {"PropertyGroups": [
            {"PropertyGroupId": "app", "PropertyMap": {"rate": "10"}}]}}),
    )
    .await;
    assert_eq!(created["ApplicationStatus"], "READY");
    assert_eq!(created["RuntimeEnvironment"], "FLINK-1_20");
    assert_eq!(
        created["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"]["CodeContentDescription"]
            ["TextContent"],
        FLINK_SQL
    );
    start_flink(&h, "f", Value::Null).await.unwrap();
    assert_eq!(flink_status(&h, "f"), "STARTING");
    h.launcher.0.go.send_replace(true);
    eventually_flink(&h, "f", "RUNNING").await;
    let [spec] = &starts(&h)[..] else {
        panic!("one start: {:?}", h.launcher.calls());
    };
    assert_eq!(spec.code, FLINK_SQL);
    assert!(spec.inputs.is_empty() && spec.starting.is_empty());
    let run = spec.flink.clone().unwrap();
    assert_eq!(run.properties["app"]["rate"], "10");
    assert_eq!(run.restore_from, None, "no snapshot yet: no state");
    assert!(!run.allow_non_restored_state);

    // A stop with snapshots enabled takes one after the run stopped.
    stop_flink(&h, "f", false).await.unwrap();
    eventually_flink(&h, "f", "READY").await;
    let calls = h.launcher.calls();
    assert!(matches!(calls[1], Call::Stop(_)), "{calls:?}");
    let Call::Snapshot(_, taken, 1) = &calls[2] else {
        panic!("a snapshot of version 1 after the stop: {calls:?}");
    };
    assert!(taken.starts_with("ss-"), "{taken}");
    assert_eq!(snapshot_names(&h, "f").await, vec![taken.clone()]);
    let stop = operations(&h, "f").last().cloned().unwrap();
    assert_eq!(stop.operation, "StopApplication");
    assert_eq!(stop.status, crate::app::OperationStatus::Successful);

    // RESTORE_FROM_LATEST_SNAPSHOT (the default) resumes from it.
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let restored = starts(&h)[1].flink.clone().unwrap();
    assert_eq!(restored.restore_from.as_ref(), Some(taken));
}

#[tokio::test]
async fn flink_restore_configuration_is_resolved_stored_and_described() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    // A custom snapshot that does not exist is refused before anything starts.
    let missing = start_flink(
        &h,
        "f",
        json!({"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": "nope"}}),
    )
    .await;
    assert!(
        matches!(&missing, Err(AnalyticsError::ResourceNotFound(m)) if m.contains("nope")),
        "{missing:?}"
    );
    let nameless = start_flink(
        &h,
        "f",
        json!({"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT"}}),
    )
    .await;
    assert!(matches!(nameless, Err(AnalyticsError::InvalidArgument(_))));
    assert_eq!(flink_status(&h, "f"), "READY");
    assert!(starts(&h).is_empty());

    // Two snapshots: one taken while running, one at stop.
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    h.svc
        .v2_create_application_snapshot(req(
            json!({"ApplicationName": "f", "SnapshotName": "mine"}),
        ))
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(1));
    stop_flink(&h, "f", false).await.unwrap();
    eventually_flink(&h, "f", "READY").await;
    let names = snapshot_names(&h, "f").await;
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "mine");

    // CUSTOM: the one named, with AllowNonRestoredState passed on.
    start_flink(
        &h,
        "f",
        json!({"ApplicationRestoreConfiguration": {
                "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": "mine"},
               "FlinkRunConfiguration": {"AllowNonRestoredState": true}}),
    )
    .await
    .unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let run = starts(&h).last().unwrap().flink.clone().unwrap();
    assert_eq!(run.restore_from.as_deref(), Some("mine"));
    assert!(run.allow_non_restored_state);
    let described =
        detail(&h, "f")["ApplicationConfigurationDescription"]["RunConfigurationDescription"]
            .clone();
    assert_eq!(
        described,
        json!({
            "ApplicationRestoreConfigurationDescription": {
                "ApplicationRestoreType": "RESTORE_FROM_CUSTOM_SNAPSHOT", "SnapshotName": "mine"},
            "FlinkRunConfigurationDescription": {"AllowNonRestoredState": true},
        })
    );
    stop_flink(&h, "f", false).await.unwrap();
    eventually_flink(&h, "f", "READY").await;

    // SKIP: no state, whatever snapshots there are.
    start_flink(
        &h,
        "f",
        json!({"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}}),
    )
    .await
    .unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let run = starts(&h).last().unwrap().flink.clone().unwrap();
    assert_eq!(run.restore_from, None);
    assert!(run.allow_non_restored_state, "kept from the last start");
}

#[tokio::test]
async fn flink_force_stop_takes_no_snapshot_and_cancels_the_start() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(false)).await;
    create_flink(&h, "f", json!({})).await;
    let refused = stop_flink(&h, "f", true).await;
    assert!(matches!(refused, Err(AnalyticsError::ResourceInUse(_))));
    start_flink(&h, "f", Value::Null).await.unwrap();
    assert_eq!(flink_status(&h, "f"), "STARTING");
    // A plain stop needs RUNNING; a forced one does not.
    assert!(matches!(
        stop_flink(&h, "f", false).await,
        Err(AnalyticsError::ResourceInUse(_))
    ));
    stop_flink(&h, "f", true).await.unwrap();
    assert_eq!(flink_status(&h, "f"), "FORCE_STOPPING");
    // The stop waits for the start in flight, then stops what it started.
    h.launcher.0.go.send_replace(true);
    eventually_flink(&h, "f", "READY").await;
    let calls = h.launcher.calls();
    assert!(
        matches!(calls[..], [Call::Start(_), Call::Stop(_)]),
        "{calls:?}"
    );
    assert!(snapshot_names(&h, "f").await.is_empty());
    let ops = operations(&h, "f");
    assert_eq!(ops[0].operation, "StartApplication");
    assert_eq!(ops[0].status, crate::app::OperationStatus::Cancelled);
    assert_eq!(ops[1].operation, "StopApplication");
    assert_eq!(ops[1].status, crate::app::OperationStatus::Successful);
}

#[tokio::test]
async fn flink_launch_failure_leaves_the_application_ready_with_the_error() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    *h.launcher.0.fail.lock() = Some("state does not fit the code".into());
    create_flink(&h, "f", json!({})).await;
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "READY").await;
    let op = operations(&h, "f").last().cloned().unwrap();
    assert_eq!(op.operation, "StartApplication");
    assert_eq!(op.status, crate::app::OperationStatus::Failed);
    assert_eq!(op.error.as_deref(), Some("state does not fit the code"));
    let described = h
        .svc
        .v2_describe_application_operation(req(
            json!({"ApplicationName": "f", "OperationId": op.id}),
        ))
        .unwrap();
    assert_eq!(
        described["ApplicationOperationInfoDetails"]["OperationFailureDetails"]["ErrorInfo"]["ErrorString"],
        "state does not fit the code"
    );
}

async fn update_flink(h: &Harness, name: &str, version: u64, update: Value) -> Value {
    h.svc
        .v2_update_application(req(json!({
            "ApplicationName": name,
            "CurrentApplicationVersionId": version,
            "ApplicationConfigurationUpdate": update,
        })))
        .await
        .unwrap()
}

fn code_update(sql: &str) -> Value {
    json!({"ApplicationCodeConfigurationUpdate": {
        "CodeContentUpdate": {"TextContentUpdate": sql}}})
}

#[tokio::test]
async fn flink_update_of_a_running_application_snapshots_and_restarts_it() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let new_sql = FLINK_SQL.replace("'10'", "'20'");
    let out = update_flink(&h, "f", 1, code_update(&new_sql)).await;
    assert_eq!(out["ApplicationDetail"]["ApplicationVersionId"], 2);
    assert_eq!(out["ApplicationDetail"]["ApplicationVersionUpdatedFrom"], 1);
    assert!(out["OperationId"].is_string());
    eventually_flink(&h, "f", "RUNNING").await;
    let calls = h.launcher.calls();
    let [
        Call::Start(_),
        Call::Stop(_),
        Call::Snapshot(_, taken, 1),
        Call::Start(spec),
    ] = &calls[..]
    else {
        panic!("stop, snapshot of version 1, start: {calls:?}");
    };
    assert_eq!(spec.version, 2);
    assert_eq!(spec.code, new_sql);
    assert_eq!(
        spec.flink.as_ref().unwrap().restore_from.as_ref(),
        Some(taken)
    );
    // A stale version, a bad token: refused; the token DescribeApplication gives: taken.
    let stale = h
        .svc
        .v2_update_application(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 1,
            "ApplicationConfigurationUpdate": code_update(FLINK_SQL)})))
        .await;
    assert!(matches!(
        stale,
        Err(AnalyticsError::ConcurrentModification(_))
    ));
    let token = detail(&h, "f")["ConditionalToken"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = h
        .svc
        .v2_update_application(req(json!({
            "ApplicationName": "f", "ConditionalToken": "abc",
            "ApplicationConfigurationUpdate": code_update(FLINK_SQL)})))
        .await;
    assert!(matches!(
        bad,
        Err(AnalyticsError::ConcurrentModification(_))
    ));
    let neither = h
        .svc
        .v2_update_application(req(json!({
            "ApplicationName": "f", "ApplicationConfigurationUpdate": code_update(FLINK_SQL)})))
        .await;
    assert!(matches!(neither, Err(AnalyticsError::InvalidArgument(_))));
    h.svc
        .v2_update_application(req(json!({
            "ApplicationName": "f", "ConditionalToken": token,
            "RunConfigurationUpdate": {"ApplicationRestoreConfiguration": {
                "ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}}})))
        .await
        .unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let last = starts(&h).last().cloned().unwrap();
    assert_eq!(last.version, 3);
    assert_eq!(last.flink.unwrap().restore_from, None, "SKIP");
    // Bad Flink SQL is refused at the update, with its place.
    let bad_code = h
        .svc
        .v2_update_application(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 3,
            "ApplicationConfigurationUpdate": code_update("CREATE TABEL x;")})))
        .await;
    assert!(
        matches!(&bad_code, Err(AnalyticsError::CodeValidation(m)) if m.contains("line 1")),
        "{bad_code:?}"
    );
}

#[tokio::test]
async fn flink_rollback_goes_back_to_the_previous_running_version() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    let rollback = |version: u64| {
        h.svc.v2_rollback_application(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": version})))
    };
    assert!(matches!(
        rollback(1).await,
        Err(AnalyticsError::ResourceInUse(_))
    ));
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    assert!(
        matches!(rollback(1).await, Err(AnalyticsError::InvalidArgument(m)) if m.contains("previous running version"))
    );
    let v2_sql = FLINK_SQL.replace("'10'", "'30'");
    update_flink(&h, "f", 1, code_update(&v2_sql)).await;
    eventually_flink(&h, "f", "RUNNING").await;
    assert!(matches!(
        rollback(1).await,
        Err(AnalyticsError::ConcurrentModification(_))
    ));

    let out = rollback(2).await.unwrap();
    assert_eq!(out["ApplicationDetail"]["ApplicationVersionId"], 3);
    assert_eq!(
        out["ApplicationDetail"]["ApplicationStatus"],
        "ROLLING_BACK"
    );
    assert_eq!(
        out["ApplicationDetail"]["ApplicationVersionRolledBackFrom"],
        2
    );
    assert_eq!(
        out["ApplicationDetail"]["ApplicationVersionRolledBackTo"],
        1
    );
    eventually_flink(&h, "f", "RUNNING").await;
    let last = starts(&h).last().cloned().unwrap();
    assert_eq!(last.version, 3);
    assert_eq!(last.code, FLINK_SQL, "version 1's code");
    let latest = snapshot_names(&h, "f").await.last().cloned();
    assert_eq!(last.flink.unwrap().restore_from, latest);
    let versions = h
        .svc
        .v2_list_application_versions(req(json!({"ApplicationName": "f"})))
        .unwrap()["ApplicationVersionSummaries"]
        .clone();
    assert_eq!(
        versions,
        json!([
            {"ApplicationVersionId": 3, "ApplicationStatus": "RUNNING"},
            {"ApplicationVersionId": 2, "ApplicationStatus": "ROLLED_BACK"},
            {"ApplicationVersionId": 1, "ApplicationStatus": "RUNNING"},
        ])
    );
    let op = operations(&h, "f").last().cloned().unwrap();
    assert_eq!(
        (op.operation.as_str(), op.from_version, op.to_version),
        ("RollbackApplication", 2, 3)
    );
    assert_eq!(op.status, crate::app::OperationStatus::Successful);
}

#[tokio::test]
async fn flink_rollback_needs_a_snapshot_and_a_failed_update_rolls_back_when_enabled() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(
        &h,
        "f",
        json!({"ApplicationSnapshotConfiguration": {"SnapshotsEnabled": false},
               "ApplicationSystemRollbackConfiguration": {"RollbackEnabled": true}}),
    )
    .await;
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    // Snapshots disabled: the update restarts without taking one.
    update_flink(&h, "f", 1, code_update(&FLINK_SQL.replace("'10'", "'11'"))).await;
    eventually_flink(&h, "f", "RUNNING").await;
    assert!(snapshots_taken(&h).is_empty());
    let refused = h
        .svc
        .v2_rollback_application(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 2})))
        .await;
    assert!(
        matches!(&refused, Err(AnalyticsError::InvalidArgument(m)) if m.contains("no snapshots")),
        "{refused:?}"
    );

    // The next update's new version fails to start: the system rollback runs version 2 again.
    *h.launcher.0.fail_once.lock() = Some("does not compile".into());
    update_flink(&h, "f", 2, code_update(&FLINK_SQL.replace("'10'", "'12'"))).await;
    eventually_flink(&h, "f", "RUNNING").await;
    let d = detail(&h, "f");
    assert_eq!(d["ApplicationVersionId"], 4);
    assert_eq!(d["ApplicationVersionRolledBackFrom"], 3);
    assert_eq!(d["ApplicationVersionRolledBackTo"], 2);
    let last = starts(&h).last().cloned().unwrap();
    assert!(last.code.contains("'11'"), "{}", last.code);
    let ops = operations(&h, "f");
    let [.., update, rollback] = &ops[..] else {
        panic!("{ops:?}");
    };
    assert_eq!(update.operation, "UpdateApplication");
    assert_eq!(update.status, crate::app::OperationStatus::Failed);
    assert_eq!(update.rollback_operation.as_ref(), Some(&rollback.id));
    assert_eq!(rollback.operation, "RollbackApplication");
    assert_eq!(rollback.status, crate::app::OperationStatus::Successful);
}

#[tokio::test]
async fn flink_snapshots_need_a_running_application_with_snapshots_enabled() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    let snap = |name: &str| {
        h.svc.v2_create_application_snapshot(req(
            json!({"ApplicationName": "f", "SnapshotName": name}),
        ))
    };
    assert!(matches!(
        snap("s1").await,
        Err(AnalyticsError::ResourceInUse(_))
    ));
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    snap("s1").await.unwrap();
    h.clock.advance(Duration::from_secs(2));
    snap("s2").await.unwrap();
    assert!(matches!(
        snap("s1").await,
        Err(AnalyticsError::InvalidArgument(m)) if m.contains("already exists")
    ));
    let page = h
        .svc
        .v2_list_application_snapshots(req(json!({"ApplicationName": "f", "Limit": 1})))
        .await
        .unwrap();
    assert_eq!(page["SnapshotSummaries"][0]["SnapshotName"], "s1");
    assert_eq!(page["SnapshotSummaries"][0]["SnapshotStatus"], "READY");
    assert_eq!(
        page["SnapshotSummaries"][0]["RuntimeEnvironment"],
        "FLINK-1_20"
    );
    let page = h
        .svc
        .v2_list_application_snapshots(req(json!({
            "ApplicationName": "f", "Limit": 1, "NextToken": page["NextToken"]})))
        .await
        .unwrap();
    assert_eq!(page["SnapshotSummaries"][0]["SnapshotName"], "s2");
    assert!(page.get("NextToken").is_none());
    let d = h
        .svc
        .v2_describe_application_snapshot(req(
            json!({"ApplicationName": "f", "SnapshotName": "s2"}),
        ))
        .await
        .unwrap()["SnapshotDetails"]
        .clone();
    assert_eq!(d["ApplicationVersionId"], 1);
    let created = d["SnapshotCreationTimestamp"].as_f64().unwrap();
    let delete = |ts: f64| {
        h.svc.v2_delete_application_snapshot(req(json!({
            "ApplicationName": "f", "SnapshotName": "s2", "SnapshotCreationTimestamp": ts})))
    };
    assert!(matches!(
        delete(created + 5.0).await,
        Err(AnalyticsError::InvalidArgument(_))
    ));
    delete(created).await.unwrap();
    assert!(matches!(
        delete(created).await,
        Err(AnalyticsError::ResourceNotFound(_))
    ));
    assert_eq!(snapshot_names(&h, "f").await, vec!["s1"]);

    // Snapshots disabled: InvalidApplicationConfigurationException.
    update_flink(
        &h,
        "f",
        1,
        json!({"ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": false}}),
    )
    .await;
    eventually_flink(&h, "f", "RUNNING").await;
    assert!(matches!(
        snap("s3").await,
        Err(AnalyticsError::InvalidApplicationConfiguration(_))
    ));
    // Deleting the application deletes its snapshots.
    let uid = h.svc.get("f").unwrap().uid;
    stop_flink(&h, "f", false).await.unwrap();
    eventually_flink(&h, "f", "READY").await;
    let created = detail(&h, "f")["CreateTimestamp"].as_f64().unwrap();
    h.svc
        .v2_delete_application(req(
            json!({"ApplicationName": "f", "CreateTimestamp": created}),
        ))
        .await
        .unwrap();
    let catalog = h.launcher.0.store.lock().clone().unwrap().0;
    assert!(
        catalog
            .list_application_snapshots(uid)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn flink_and_sql_applications_refuse_each_other_s_operations() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    create(&h, "sql").await;
    // v1 does not see Flink applications.
    let v1 = h.svc.describe_application(ApplicationRef {
        application_name: "f".into(),
    });
    assert!(matches!(v1, Err(AnalyticsError::UnsupportedOperation(_))));
    let listed = h
        .svc
        .list_applications(ListApplicationsInput {
            limit: None,
            exclusive_start_application_name: None,
        })
        .unwrap();
    assert_eq!(listed.application_summaries.len(), 1);
    // v2's SQL-only operations: InvalidArgumentException for a Flink application.
    let add = h
        .svc
        .v2_add_application_output(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 1,
            "Output": {"Name": "X", "KinesisStreamsOutput": {
                "ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src"},
                "DestinationSchema": {"RecordFormatType": "JSON"}}})))
        .await;
    assert!(matches!(add, Err(AnalyticsError::InvalidArgument(m)) if m.contains("FLINK-1_20")));
    // Flink-only operations keep their SQL answers.
    let snap = h
        .svc
        .v2_list_application_snapshots(req(json!({"ApplicationName": "sql"})))
        .await;
    assert!(matches!(snap, Err(AnalyticsError::UnsupportedOperation(_))));
    // Logging options are for both.
    h.svc
        .v2_add_application_cloud_watch_logging_option(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 1,
            "CloudWatchLoggingOption": {"LogStreamARN": "arn:aws:logs:us-east-1:0:log-group:g:log-stream:s"}})))
        .await
        .unwrap();
    let out = h
        .svc
        .v2_delete_application_cloud_watch_logging_option(req(json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 2,
            "CloudWatchLoggingOptionId": "2.1"})))
        .await
        .unwrap();
    assert_eq!(out["ApplicationVersionId"], 3);
    // Studio is refused.
    let studio = h
        .svc
        .v2_create_application(req(json!({
            "ApplicationName": "z", "RuntimeEnvironment": "ZEPPELIN-FLINK-3_0",
            "ServiceExecutionRole": ROLE})))
        .await;
    assert!(matches!(
        studio,
        Err(AnalyticsError::UnsupportedOperation(_))
    ));
}

#[tokio::test]
async fn flink_zip_code_without_sql_is_refused_at_start() {
    use base64::Engine;
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    zip.start_file("Job.class", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"\xca\xfe\xba\xbe").unwrap();
    zip.finish().unwrap();
    let bytes = out.into_inner();
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    let created = create_flink(
        &h,
        "jar",
        json!({"ApplicationCodeConfiguration": {"CodeContentType": "ZIPFILE",
            "CodeContent": {"ZipFileContent": base64::engine::general_purpose::STANDARD.encode(&bytes)}}}),
    )
    .await;
    let code =
        &created["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"];
    assert_eq!(code["CodeContentType"], "ZIPFILE");
    assert_eq!(code["CodeContentDescription"]["CodeSize"], bytes.len());
    assert_eq!(
        code["CodeContentDescription"]["CodeMD5"]
            .as_str()
            .unwrap()
            .len(),
        32
    );
    let refused = start_flink(&h, "jar", Value::Null).await;
    assert!(
        matches!(&refused, Err(AnalyticsError::InvalidApplicationConfiguration(m)) if m.contains("rest_url")),
        "{refused:?}"
    );
    assert_eq!(flink_status(&h, "jar"), "READY");
    // An S3 object that does not exist: the same exception, at start.
    create_flink(
        &h,
        "s3",
        json!({"ApplicationCodeConfiguration": {"CodeContentType": "ZIPFILE",
            "CodeContent": {"S3ContentLocation": {"BucketARN": "arn:aws:s3:::code", "FileKey": "app.zip"}}}}),
    )
    .await;
    let refused = start_flink(&h, "s3", Value::Null).await;
    assert!(
        matches!(&refused, Err(AnalyticsError::InvalidApplicationConfiguration(m)) if m.contains("does not exist")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn running_flink_applications_resume_from_a_snapshot_after_a_restart() {
    let h = open(tempfile::tempdir().unwrap(), TestLauncher::new(true)).await;
    create_flink(&h, "f", json!({})).await;
    start_flink(&h, "f", Value::Null).await.unwrap();
    eventually_flink(&h, "f", "RUNNING").await;
    let dir = h.close().await;

    let h = open(dir, TestLauncher::new(true)).await;
    eventually_flink(&h, "f", "RUNNING").await;
    let calls = h.launcher.calls();
    let [Call::Snapshot(_, taken, 1), Call::Start(spec)] = &calls[..] else {
        panic!("a snapshot of the last checkpoint, then a start from it: {calls:?}");
    };
    assert_eq!(
        spec.flink.as_ref().unwrap().restore_from.as_ref(),
        Some(taken)
    );
}
