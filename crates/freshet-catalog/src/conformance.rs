//! The catalog conformance suite: what every backend must do, written once against
//! `CatalogBackend` (as Quickwit's metastore test suite is). A backend's tests instantiate it with
//! `catalog_conformance_suite!(fixture)`, where the fixture opens the same store again on each
//! call (so the suite can check what survives a reopen); the embedded SQLite backend runs it in
//! `tests/conformance.rs`, the PostgreSQL backend against a real server in
//! `tests/conformance_postgres.rs`.

use std::collections::BTreeMap;

use crate::{
    ApplicationSnapshotRow, Catalog, CatalogError, ConsumerRow, Lease, ShardRow, Status,
    StreamMode, StreamRow,
};

/// Opens a catalog over the same storage every time it is called.
pub trait CatalogStore {
    fn open(&self) -> impl std::future::Future<Output = Catalog>;
}

/// Runs every conformance test against the store that `$fixture` (an expression of a type
/// implementing `CatalogStore`, evaluated afresh for each test) opens.
#[macro_export]
macro_rules! catalog_conformance_suite {
    ($fixture:expr) => {
        #[tokio::test]
        async fn stream_round_trips_across_reopen() {
            $crate::conformance::stream_round_trips_across_reopen(&$fixture).await;
        }
        #[tokio::test]
        async fn duplicate_names_are_rejected_and_uids_never_reused() {
            $crate::conformance::duplicate_names_are_rejected_and_uids_never_reused(&$fixture)
                .await;
        }
        #[tokio::test]
        async fn tags_settings_and_policies() {
            $crate::conformance::tags_settings_and_policies(&$fixture).await;
        }
        #[tokio::test]
        async fn reshard_closes_parents_and_adds_children_atomically() {
            $crate::conformance::reshard_closes_parents_and_adds_children_atomically(&$fixture)
                .await;
        }
        #[tokio::test]
        async fn consumers_round_trip_and_go_with_their_stream() {
            $crate::conformance::consumers_round_trip_and_go_with_their_stream(&$fixture).await;
        }
        #[tokio::test]
        async fn delivery_streams_and_checkpoints_round_trip_across_reopen() {
            $crate::conformance::delivery_streams_and_checkpoints_round_trip_across_reopen(
                &$fixture,
            )
            .await;
        }
        #[tokio::test]
        async fn video_streams_round_trip_across_reopen() {
            $crate::conformance::video_streams_round_trip_across_reopen(&$fixture).await;
        }
        #[tokio::test]
        async fn applications_and_checkpoints_round_trip_across_reopen() {
            $crate::conformance::applications_and_checkpoints_round_trip_across_reopen(&$fixture)
                .await;
        }
        #[tokio::test]
        async fn application_checkpoints_are_fenced_on_their_lease() {
            $crate::conformance::application_checkpoints_are_fenced_on_their_lease(&$fixture).await;
        }
        #[tokio::test]
        async fn application_snapshots_round_trip_and_go_with_their_application() {
            $crate::conformance::application_snapshots_round_trip_and_go_with_their_application(
                &$fixture,
            )
            .await;
        }
        #[tokio::test]
        async fn signaling_channels_round_trip_across_reopen() {
            $crate::conformance::signaling_channels_round_trip_across_reopen(&$fixture).await;
        }
        #[tokio::test]
        async fn application_code_round_trips_and_goes_with_its_application() {
            $crate::conformance::application_code_round_trips_and_goes_with_its_application(
                &$fixture,
            )
            .await;
        }
        #[tokio::test]
        async fn leases_change_hands_only_when_free_and_fence_their_writes() {
            $crate::conformance::leases_change_hands_only_when_free_and_fence_their_writes(
                &$fixture,
            )
            .await;
        }
    };
}

fn stream(name: &str) -> StreamRow {
    StreamRow {
        uid: 0,
        name: name.to_string(),
        status: Status::Creating,
        mode: StreamMode::Provisioned,
        created_ms: 1_700_000_000_000,
        retention_hours: 24,
        encryption_type: "NONE".into(),
        key_id: None,
        shard_level_metrics: vec![],
        max_record_size_kib: 1024,
        next_shard_index: 2,
        warm_throughput_mibps: None,
    }
}

fn shards() -> Vec<ShardRow> {
    vec![
        ShardRow {
            index: 0,
            hash_start: 0,
            hash_end: u128::MAX / 2,
            parent_index: None,
            adjacent_parent_index: None,
            created_ms: 1,
            closed_next_offset: None,
        },
        ShardRow {
            index: 1,
            hash_start: u128::MAX / 2 + 1,
            hash_end: u128::MAX,
            parent_index: None,
            adjacent_parent_index: None,
            created_ms: 1,
            closed_next_offset: Some(7),
        },
    ]
}

pub async fn stream_round_trips_across_reopen(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let tags = BTreeMap::from([("team".to_string(), "data".to_string())]);
    let uid = catalog
        .create_stream(&stream("orders"), &shards(), &tags)
        .await
        .unwrap();
    let mut row = stream("orders");
    row.uid = uid;
    row.status = Status::Active;
    row.shard_level_metrics = vec!["IncomingBytes".into()];
    catalog.update_stream(&row).await.unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let loaded = catalog.load_streams().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].stream, row);
    assert_eq!(loaded[0].shards, shards());
    assert_eq!(loaded[0].tags, tags);
}

pub async fn duplicate_names_are_rejected_and_uids_never_reused(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let first = catalog
        .create_stream(&stream("a"), &[], &BTreeMap::new())
        .await
        .unwrap();
    let err = catalog
        .create_stream(&stream("a"), &[], &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::NameTaken(name) if name == "a"));
    catalog.delete_stream(first).await.unwrap();
    let second = catalog
        .create_stream(&stream("a"), &shards(), &BTreeMap::new())
        .await
        .unwrap();
    assert!(second > first);
    let loaded = catalog.load_streams().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].stream.uid, second);
}

pub async fn tags_settings_and_policies(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let uid = catalog
        .create_stream(&stream("t"), &[], &BTreeMap::new())
        .await
        .unwrap();
    let tags = BTreeMap::from([("k".to_string(), "v".to_string())]);
    catalog.set_tags(uid, &tags).await.unwrap();
    assert_eq!(catalog.load_streams().await.unwrap()[0].tags, tags);
    catalog.set_tags(uid, &BTreeMap::new()).await.unwrap();
    assert!(catalog.load_streams().await.unwrap()[0].tags.is_empty());

    assert_eq!(catalog.get_setting("secret").await.unwrap(), None);
    catalog.put_setting("secret", b"abc").await.unwrap();
    catalog.put_setting("secret", b"xyz").await.unwrap();
    assert_eq!(
        catalog.get_setting("secret").await.unwrap(),
        Some(b"xyz".to_vec())
    );

    catalog.set_policy("arn:x/s", Some("{}")).await.unwrap();
    catalog
        .set_policy("arn:x/s/consumer/c", Some("{}"))
        .await
        .unwrap();
    assert_eq!(
        catalog.get_policy("arn:x/s").await.unwrap().as_deref(),
        Some("{}")
    );
    catalog.delete_policies_under("arn:x/s").await.unwrap();
    assert_eq!(
        catalog.get_policy("arn:x/s/consumer/c").await.unwrap(),
        None
    );
}

pub async fn reshard_closes_parents_and_adds_children_atomically(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let mut row = stream("r");
    row.uid = catalog
        .create_stream(&row, &shards(), &BTreeMap::new())
        .await
        .unwrap();
    row.next_shard_index = 3;
    row.status = Status::Updating;
    let child = ShardRow {
        index: 2,
        hash_start: 0,
        hash_end: u128::MAX / 2,
        parent_index: Some(0),
        adjacent_parent_index: None,
        created_ms: 2,
        closed_next_offset: None,
    };
    catalog
        .reshard(&row, &[(0, 42)], std::slice::from_ref(&child))
        .await
        .unwrap();
    let loaded = &catalog.load_streams().await.unwrap()[0];
    assert_eq!(loaded.stream.next_shard_index, 3);
    assert_eq!(loaded.stream.status, Status::Updating);
    assert_eq!(loaded.shards[0].closed_next_offset, Some(42));
    assert_eq!(loaded.shards[2], child);

    catalog.delete_shards(row.uid, &[0]).await.unwrap();
    let loaded = &catalog.load_streams().await.unwrap()[0];
    assert_eq!(
        loaded.shards.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

pub async fn consumers_round_trip_and_go_with_their_stream(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let uid = catalog
        .create_stream(&stream("s"), &shards(), &BTreeMap::new())
        .await
        .unwrap();
    let mut consumer = ConsumerRow {
        name: "app".into(),
        created_ms: 5,
        status: Status::Creating,
        tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
    };
    catalog.put_consumer(uid, &consumer).await.unwrap();
    consumer.status = Status::Active;
    catalog.put_consumer(uid, &consumer).await.unwrap();
    assert_eq!(
        catalog.load_streams().await.unwrap()[0].consumers,
        vec![consumer]
    );
    catalog.delete_consumer(uid, "app").await.unwrap();
    assert!(
        catalog.load_streams().await.unwrap()[0]
            .consumers
            .is_empty()
    );
    catalog
        .put_consumer(
            uid,
            &ConsumerRow {
                name: "b".into(),
                created_ms: 1,
                status: Status::Active,
                tags: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    catalog.delete_stream(uid).await.unwrap();
    assert!(catalog.load_streams().await.unwrap().is_empty());
}

pub async fn delivery_streams_and_checkpoints_round_trip_across_reopen(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog
        .create_delivery_stream("a", 7, r#"{"v":1}"#)
        .await
        .unwrap();
    assert!(matches!(
        catalog.create_delivery_stream("a", 8, "{}").await,
        Err(CatalogError::NameTaken(_))
    ));
    let b = catalog.create_delivery_stream("b", 9, "{}").await.unwrap();
    assert!(b > a);
    catalog
        .update_delivery_stream(a, r#"{"v":2}"#)
        .await
        .unwrap();
    catalog.put_checkpoint(a, "log", "10", None).await.unwrap();
    catalog.put_checkpoint(a, "log", "25", None).await.unwrap();
    catalog
        .put_checkpoint(b, "shardId-000000000000", "3", None)
        .await
        .unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let rows = catalog.load_delivery_streams().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].name.as_str(), rows[0].created_ms), ("a", 7));
    assert_eq!(rows[0].doc, r#"{"v":2}"#);
    assert_eq!(rows[0].checkpoints["log"], "25");
    catalog.delete_delivery_stream(a).await.unwrap();
    let rows = catalog.load_delivery_streams().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].checkpoints["shardId-000000000000"], "3");
    // A recreated name gets a new uid, so old checkpoints can never apply to it.
    let again = catalog.create_delivery_stream("a", 10, "{}").await.unwrap();
    assert!(again > b);
    assert!(
        catalog.load_delivery_streams().await.unwrap()[1]
            .checkpoints
            .is_empty()
    );
}

pub async fn signaling_channels_round_trip_across_reopen(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog
        .create_signaling_channel("lobby", 7, "{}")
        .await
        .unwrap();
    assert!(matches!(
        catalog.create_signaling_channel("lobby", 8, "{}").await,
        Err(CatalogError::NameTaken(_))
    ));
    // A video stream of the same name is another resource.
    catalog.create_video_stream("lobby", 8, "{}").await.unwrap();
    let b = catalog
        .create_signaling_channel("door", 9, "{}")
        .await
        .unwrap();
    catalog
        .update_signaling_channel(a, r#"{"v":2}"#)
        .await
        .unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let rows = catalog.load_signaling_channels().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].name.as_str(), rows[0].created_ms), ("lobby", 7));
    assert_eq!(rows[0].doc, r#"{"v":2}"#);
    assert_eq!(rows[1].uid, b);
    catalog.delete_signaling_channel(a).await.unwrap();
    let rows = catalog.load_signaling_channels().await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["door"]
    );
    // Uids are never reused: a recreated name gets a new one.
    let again = catalog
        .create_signaling_channel("lobby", 10, "{}")
        .await
        .unwrap();
    assert!(again > b);
    assert_eq!(catalog.load_video_streams().await.unwrap().len(), 1);
}

pub async fn video_streams_round_trip_across_reopen(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog.create_video_stream("cam", 7, "{}").await.unwrap();
    assert!(matches!(
        catalog.create_video_stream("cam", 8, "{}").await,
        Err(CatalogError::NameTaken(_))
    ));
    let b = catalog.create_video_stream("door", 9, "{}").await.unwrap();
    catalog.update_video_stream(a, r#"{"v":2}"#).await.unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let rows = catalog.load_video_streams().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].name.as_str(), rows[0].created_ms), ("cam", 7));
    assert_eq!(rows[0].doc, r#"{"v":2}"#);
    catalog.delete_video_stream(a).await.unwrap();
    let rows = catalog.load_video_streams().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].uid, b);
    assert!(catalog.create_video_stream("cam", 10, "{}").await.unwrap() > b);
}

pub async fn leases_change_hands_only_when_free_and_fence_their_writes(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog
        .acquire_lease("worker/1", "node-a", 1_000, 10_000)
        .await
        .unwrap()
        .expect("a free lease is taken");
    assert_eq!((a.epoch, a.expires_ms), (1, 11_000));
    // Held and running: another holder is refused, the holder itself keeps its epoch.
    assert_eq!(
        catalog
            .acquire_lease("worker/1", "node-b", 5_000, 10_000)
            .await
            .unwrap(),
        None
    );
    let a = catalog.renew_lease(&a, 9_000, 10_000).await.unwrap();
    assert_eq!((a.epoch, a.expires_ms), (1, 19_000));
    let uid = catalog.create_delivery_stream("d", 1, "{}").await.unwrap();
    catalog
        .put_checkpoint(uid, "log", "5", Some(&a))
        .await
        .unwrap();

    // Expired: another holder takes it with a greater epoch, and the old holder is fenced.
    let b = catalog
        .acquire_lease("worker/1", "node-b", 19_000, 10_000)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert_eq!(b.epoch, 2);
    let fenced = catalog.put_checkpoint(uid, "log", "9", Some(&a)).await;
    assert!(matches!(
        fenced,
        Err(CatalogError::Fenced {
            held: 1,
            current: 2,
            ..
        })
    ));
    assert!(matches!(
        catalog.renew_lease(&a, 20_000, 10_000).await,
        Err(CatalogError::Fenced { .. })
    ));
    // The fenced write changed nothing; the new holder's does.
    let reopened = store.open().await;
    assert_eq!(
        reopened.load_delivery_streams().await.unwrap()[0].checkpoints["log"],
        "5"
    );
    reopened
        .put_checkpoint(uid, "log", "9", Some(&b))
        .await
        .unwrap();
    // A release frees it at once, and the epoch keeps growing.
    reopened.release_lease(&b, 20_000).await.unwrap();
    let c: Lease = reopened
        .acquire_lease("worker/1", "node-a", 20_000, 10_000)
        .await
        .unwrap()
        .expect("a released lease is free");
    assert_eq!(c.epoch, 3);
    // Leases are per name.
    assert!(
        reopened
            .acquire_lease("worker/2", "node-b", 20_000, 10_000)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn applications_and_checkpoints_round_trip_across_reopen(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog
        .create_application("a", 7, r#"{"v":1}"#)
        .await
        .unwrap();
    assert!(matches!(
        catalog.create_application("a", 8, "{}").await,
        Err(CatalogError::NameTaken(_))
    ));
    let b = catalog.create_application("b", 9, "{}").await.unwrap();
    assert!(b > a);
    catalog.update_application(a, r#"{"v":2}"#).await.unwrap();
    catalog
        .put_application_checkpoint(a, r#"{"state":1}"#, None)
        .await
        .unwrap();
    catalog
        .put_application_checkpoint(a, r#"{"state":2}"#, None)
        .await
        .unwrap();
    catalog
        .put_application_checkpoint(b, r#"{"state":3}"#, None)
        .await
        .unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let rows = catalog.load_applications().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].name.as_str(), rows[0].created_ms), ("a", 7));
    assert_eq!(rows[0].doc, r#"{"v":2}"#);
    assert_eq!(rows[0].checkpoint.as_deref(), Some(r#"{"state":2}"#));
    catalog.delete_application_checkpoint(b).await.unwrap();
    catalog.delete_application(a).await.unwrap();
    let rows = catalog.load_applications().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].uid, rows[0].checkpoint.as_deref()), (b, None));
    // A recreated name gets a new uid and no checkpoint: the old one went with its application.
    let again = catalog.create_application("a", 10, "{}").await.unwrap();
    assert!(again > b);
    let rows = catalog.load_applications().await.unwrap();
    assert_eq!((rows[1].uid, rows[1].checkpoint.as_deref()), (again, None));
}

pub async fn application_checkpoints_are_fenced_on_their_lease(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let uid = catalog.create_application("app", 1, "{}").await.unwrap();
    let a = catalog
        .acquire_lease("application/app", "node-a", 1_000, 10_000)
        .await
        .unwrap()
        .expect("a free lease is taken");
    catalog
        .put_application_checkpoint(uid, "one", Some(&a))
        .await
        .unwrap();
    let b = catalog
        .acquire_lease("application/app", "node-b", 11_000, 10_000)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert!(matches!(
        catalog
            .put_application_checkpoint(uid, "two", Some(&a))
            .await,
        Err(CatalogError::Fenced {
            held: 1,
            current: 2,
            ..
        })
    ));
    let reopened = store.open().await;
    assert_eq!(
        reopened.load_applications().await.unwrap()[0]
            .checkpoint
            .as_deref(),
        Some("one")
    );
    reopened
        .put_application_checkpoint(uid, "three", Some(&b))
        .await
        .unwrap();
    assert_eq!(
        reopened.load_applications().await.unwrap()[0]
            .checkpoint
            .as_deref(),
        Some("three")
    );
}

pub async fn application_code_round_trips_and_goes_with_its_application(store: &impl CatalogStore) {
    let catalog = store.open().await;
    let a = catalog.create_application("a", 1, "{}").await.unwrap();
    let b = catalog.create_application("b", 2, "{}").await.unwrap();
    let jar: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    catalog.put_application_code(a, "m1", &jar).await.unwrap();
    // Stored again under the same MD5: the first stays (same MD5, same bytes).
    catalog
        .put_application_code(a, "m1", b"other")
        .await
        .unwrap();
    catalog.put_application_code(b, "m1", b"b's").await.unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    assert_eq!(
        catalog.get_application_code(a, "m1").await.unwrap(),
        Some(jar)
    );
    assert_eq!(
        catalog.get_application_code(b, "m1").await.unwrap(),
        Some(b"b's".to_vec())
    );
    assert_eq!(catalog.get_application_code(a, "m2").await.unwrap(), None);
    catalog.delete_application(a).await.unwrap();
    assert_eq!(catalog.get_application_code(a, "m1").await.unwrap(), None);
    assert!(
        catalog
            .get_application_code(b, "m1")
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn application_snapshots_round_trip_and_go_with_their_application(
    store: &impl CatalogStore,
) {
    let catalog = store.open().await;
    let a = catalog.create_application("a", 1, "{}").await.unwrap();
    let b = catalog.create_application("b", 2, "{}").await.unwrap();
    catalog
        .put_application_snapshot(a, "late", 30, 2, "state-late")
        .await
        .unwrap();
    catalog
        .put_application_snapshot(a, "early", 10, 1, "state-early")
        .await
        .unwrap();
    catalog
        .put_application_snapshot(b, "early", 20, 1, "state-b")
        .await
        .unwrap();
    catalog.close().await;

    let catalog = store.open().await;
    let row = |name: &str, created_ms, version| ApplicationSnapshotRow {
        name: name.into(),
        created_ms,
        version,
    };
    // Oldest first, whatever order they were stored in; each application sees its own.
    assert_eq!(
        catalog.list_application_snapshots(a).await.unwrap(),
        vec![row("early", 10, 1), row("late", 30, 2)]
    );
    assert_eq!(
        catalog.get_application_snapshot(a, "early").await.unwrap(),
        Some("state-early".to_string())
    );
    assert_eq!(
        catalog.get_application_snapshot(b, "early").await.unwrap(),
        Some("state-b".to_string())
    );
    assert_eq!(
        catalog.get_application_snapshot(a, "none").await.unwrap(),
        None
    );
    // A put of an existing name replaces it.
    catalog
        .put_application_snapshot(a, "early", 40, 3, "state-again")
        .await
        .unwrap();
    assert_eq!(
        catalog.list_application_snapshots(a).await.unwrap(),
        vec![row("late", 30, 2), row("early", 40, 3)]
    );
    catalog
        .delete_application_snapshot(a, "late")
        .await
        .unwrap();
    catalog
        .delete_application_snapshot(a, "late")
        .await
        .unwrap();
    assert_eq!(
        catalog.list_application_snapshots(a).await.unwrap(),
        vec![row("early", 40, 3)]
    );
    // Deleting an application deletes its snapshots; a recreated name starts with none.
    catalog.delete_application(a).await.unwrap();
    let again = catalog.create_application("a", 50, "{}").await.unwrap();
    assert!(
        catalog
            .list_application_snapshots(a)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        catalog
            .list_application_snapshots(again)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        catalog.list_application_snapshots(b).await.unwrap().len(),
        1
    );
}
