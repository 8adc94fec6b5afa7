use std::time::Duration;

use serde_json::json;

use super::*;

async fn service(dir: &std::path::Path, create_delay: Duration) -> VideoService {
    let catalog = Catalog::open(&dir.join("c.db")).await.unwrap();
    let config = VideoConfig {
        max_viewers: 10,
        max_signaling_connections: 1_000,
        turn_listen: None,
        keys: None,
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        data_endpoint: "http://127.0.0.1:4566".into(),
        create_delay,
        clock: freshet_runtime::SharedClock::system(),
    };
    let log = tokio::task::spawn_blocking({
        let dir = dir.join("video-log");
        move || freshet_log::Log::open(freshet_log::LogConfig::new(dir))
    })
    .await
    .unwrap()
    .unwrap();
    VideoService::open(config, catalog, log).await.unwrap()
}

fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn create_describe_update_delete_with_versions() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Duration::ZERO).await;
    let arn = svc
        .create_stream(typed(
            json!({"StreamName": "cam", "DataRetentionInHours": 24}),
        ))
        .await
        .unwrap()
        .stream_arn;
    assert!(arn.starts_with("arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam/"));
    assert!(matches!(
        svc.create_stream(typed(json!({"StreamName": "cam"}))).await,
        Err(VideoError::ResourceInUse(_))
    ));
    let info = svc
        .describe_stream(typed(json!({"StreamARN": arn})))
        .await
        .unwrap()
        .stream_info;
    assert_eq!(info.status, "ACTIVE");
    assert_eq!(
        info.kms_key_id,
        "arn:aws:kms:us-east-1:000000000000:alias/aws/kinesisvideo"
    );
    let v1 = info.version;
    assert!(matches!(
        svc.update_stream(typed(
            json!({"StreamName": "cam", "CurrentVersion": "wrong", "DeviceName": "d"})
        ))
        .await,
        Err(VideoError::VersionMismatch(_))
    ));
    svc.update_data_retention(typed(json!({"StreamName": "cam", "CurrentVersion": v1,
        "Operation": "DECREASE_DATA_RETENTION", "DataRetentionChangeInHours": 4})))
        .await
        .unwrap();
    let info = svc
        .describe_stream(typed(json!({"StreamName": "cam"})))
        .await
        .unwrap()
        .stream_info;
    assert_eq!(info.data_retention_in_hours, 20);
    assert_ne!(info.version, v1);
    assert!(matches!(
        svc.delete_stream(typed(json!({"StreamARN": arn, "CurrentVersion": v1})))
            .await,
        Err(VideoError::VersionMismatch(_))
    ));
    svc.delete_stream(typed(
        json!({"StreamARN": arn, "CurrentVersion": info.version}),
    ))
    .await
    .unwrap();
    assert!(matches!(
        svc.describe_stream(typed(json!({"StreamARN": arn}))).await,
        Err(VideoError::ResourceNotFound(_))
    ));
}

#[tokio::test]
async fn list_pages_by_name_with_prefix_condition() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Duration::ZERO).await;
    for name in ["b-2", "a-1", "b-1", "b-3"] {
        svc.create_stream(typed(json!({"StreamName": name})))
            .await
            .unwrap();
    }
    let cond = json!({"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "b-"});
    let page = svc
        .list_streams(typed(json!({"MaxResults": 2, "StreamNameCondition": cond})))
        .await
        .unwrap();
    let names: Vec<_> = page
        .stream_info_list
        .iter()
        .map(|s| s.stream_name.clone())
        .collect();
    assert_eq!(names, ["b-1", "b-2"]);
    let token = page.next_token.unwrap();
    let page = svc
        .list_streams(typed(
            json!({"MaxResults": 2, "NextToken": token, "StreamNameCondition": cond}),
        ))
        .await
        .unwrap();
    assert_eq!(page.stream_info_list[0].stream_name, "b-3");
    assert_eq!(page.stream_info_list.len(), 1);
    assert!(page.next_token.is_none());
    let all = svc.list_streams(ListStreamsInput::default()).await.unwrap();
    assert_eq!(all.stream_info_list.len(), 4);
}

#[tokio::test]
async fn creating_becomes_active_after_the_delay_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Duration::from_millis(50)).await;
    svc.create_stream(typed(json!({"StreamName": "cam", "Tags": {"a": "1"}})))
        .await
        .unwrap();
    let describe = || svc.describe_stream(typed(json!({"StreamName": "cam"})));
    let info = describe().await.unwrap().stream_info;
    assert_eq!(info.status, "CREATING");
    assert!(matches!(
        svc.update_stream(typed(
            json!({"StreamName": "cam", "CurrentVersion": info.version})
        ))
        .await,
        Err(VideoError::ResourceInUse(_))
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(describe().await.unwrap().stream_info.status, "ACTIVE");
    svc.tag_stream(typed(json!({"StreamName": "cam", "Tags": {"b": "2"}})))
        .await
        .unwrap();
    drop(svc);

    let svc = service(dir.path(), Duration::ZERO).await;
    let tags = svc
        .list_tags_for_stream(typed(json!({"StreamName": "cam"})))
        .await
        .unwrap()
        .tags;
    assert_eq!(tags.len(), 2);
    assert_eq!(
        svc.describe_stream(typed(json!({"StreamName": "cam"})))
            .await
            .unwrap()
            .stream_info
            .version,
        info.version
    );
}

#[tokio::test]
async fn retention_drops_expired_fragments_and_reopen_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Duration::ZERO).await;
    for (name, hours) in [("short", 1), ("long", 48)] {
        svc.create_stream(typed(
            json!({"StreamName": name, "DataRetentionInHours": hours}),
        ))
        .await
        .unwrap();
        let uid = svc.inner.streams.lock().await[name].uid;
        for i in 0..3 {
            svc.inner
                .store
                .append(uid, 1_000 * i, 2000, b"header", b"cluster")
                .await
                .unwrap();
        }
    }
    let count = |svc: VideoService, name: &'static str| async move {
        svc.list_fragments(typed(json!({"StreamName": name})))
            .await
            .unwrap()
            .fragments
            .len()
    };
    // Nothing is past retention yet.
    assert_eq!(svc.expire(svc.now_ms()).await.unwrap(), 0);
    assert_eq!(count(svc.clone(), "short").await, 3);
    // Two hours on: the 1-hour stream is emptied, the 48-hour one keeps everything.
    assert!(svc.expire(svc.now_ms() + 2 * 3_600_000).await.unwrap() > 0);
    assert_eq!(count(svc.clone(), "short").await, 0);
    assert_eq!(count(svc.clone(), "long").await, 3);
    drop(svc);
    let svc = service(dir.path(), Duration::ZERO).await;
    assert_eq!(count(svc.clone(), "short").await, 0);
    assert_eq!(count(svc.clone(), "long").await, 3);
}
