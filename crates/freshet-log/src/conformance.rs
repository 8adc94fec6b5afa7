//! The log conformance suite: what every record store must do, written once against
//! `LogBackend`. A backend's tests instantiate it with `log_conformance_suite!(fixture)`, where
//! the fixture opens the same storage again on each call (so the suite can check what survives a
//! close and a reopen); the embedded log runs it in `tests/conformance.rs`.

use std::time::Duration;

use bytes::Bytes;

use crate::{LogBackend, LogError, NewRecord, ShardLogId};

/// Opens a log over the same storage every time it is called (after the previous one closed).
pub trait LogStore {
    fn open(&self) -> impl std::future::Future<Output = Box<dyn LogBackend>>;
}

/// Runs every conformance test against the storage that `$fixture` (an expression of a type
/// implementing `LogStore`, evaluated afresh for each test) opens.
#[macro_export]
macro_rules! log_conformance_suite {
    ($fixture:expr) => {
        $crate::log_conformance_suite!(@tests $fixture;
            appends_get_consecutive_offsets_and_read_back_in_order,
            reads_are_bounded_but_never_empty_before_the_tip,
            time_lookups_and_trims_follow_arrival,
            subscribers_wake_on_durable_appends,
            shard_creation_and_removal_are_idempotent,
            acknowledged_records_survive_a_reopen_and_epochs_grow,
            a_closed_log_refuses_writes_and_reports_it,
        );
    };
    (@tests $fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::conformance::$name(&$fixture).await;
            }
        )*
    };
}

const A: ShardLogId = ShardLogId {
    stream: 1,
    shard: 0,
};
const B: ShardLogId = ShardLogId {
    stream: 1,
    shard: 1,
};

fn batch(prefix: &str, n: usize, size: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            sealed: false,
            partition_key: format!("{prefix}{i}").into(),
            explicit_hash_key: (i % 2 == 1).then_some(i as u128 * 7),
            data: Bytes::from(vec![i as u8; size]),
        })
        .collect()
}

pub async fn appends_get_consecutive_offsets_and_read_back_in_order(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    log.create_shard(B).await.unwrap();
    let first = log.append(A, batch("a", 3, 10)).await.unwrap();
    let second = log.append(A, batch("b", 2, 10)).await.unwrap();
    let other = log.append(B, batch("c", 1, 10)).await.unwrap();
    assert_eq!((first.first_offset, second.first_offset), (0, 3));
    assert_eq!(other.first_offset, 0, "offsets are per shard");
    assert!(second.arrival_ms >= first.arrival_ms);
    let read = log.read(A, 0, 5, 1 << 20).await.unwrap();
    assert_eq!(
        read.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    let sent: Vec<NewRecord> = batch("a", 3, 10)
        .into_iter()
        .chain(batch("b", 2, 10))
        .collect();
    for (got, want) in read.iter().zip(&sent) {
        assert_eq!(got.partition_key, want.partition_key);
        assert_eq!(got.explicit_hash_key, want.explicit_hash_key);
        assert_eq!(got.data, want.data);
    }
    assert_eq!(log.bounds(A).await.unwrap(), (0, 5));
    assert_eq!(log.read(A, 3, 100, 1 << 20).await.unwrap()[0].offset, 3);
    // An empty batch writes nothing and takes no offset.
    assert_eq!(log.append(A, Vec::new()).await.unwrap().first_offset, 5);
    assert_eq!(log.bounds(A).await.unwrap(), (0, 5));
    assert_eq!(
        log.append(A, batch("d", 1, 1)).await.unwrap().first_offset,
        5
    );
    assert_eq!(log.bounds(A).await.unwrap(), (0, 6));
    assert!(matches!(
        log.append(
            ShardLogId {
                stream: 9,
                shard: 9
            },
            batch("x", 1, 1)
        )
        .await,
        Err(LogError::ShardNotFound(_))
    ));
}

pub async fn reads_are_bounded_but_never_empty_before_the_tip(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    log.append(A, batch("a", 10, 1000)).await.unwrap();
    assert_eq!(log.read(A, 0, 4, 1 << 20).await.unwrap().len(), 4);
    // One record always comes, whatever the byte budget.
    assert_eq!(log.read(A, 0, 100, 1).await.unwrap().len(), 1);
    let some = log.read(A, 0, 100, 3000).await.unwrap();
    assert!(
        (1..=4).contains(&some.len()),
        "{} records for 3000 bytes",
        some.len()
    );
    assert!(log.read(A, 10, 100, 1 << 20).await.unwrap().is_empty());
}

pub async fn time_lookups_and_trims_follow_arrival(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    let old = log.append(A, batch("old", 3, 100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let new = log.append(A, batch("new", 2, 100)).await.unwrap();
    assert!(new.arrival_ms > old.arrival_ms);
    assert_eq!(log.offset_at_time(A, i64::MIN).await.unwrap(), 0);
    assert_eq!(log.offset_at_time(A, new.arrival_ms).await.unwrap(), 3);
    assert_eq!(log.offset_at_time(A, i64::MAX).await.unwrap(), 5);
    // Trimming never drops a record that arrived at or after the cutoff.
    log.trim_before(A, new.arrival_ms).await.unwrap();
    let (horizon, next) = log.bounds(A).await.unwrap();
    assert!(horizon <= 3 && next == 5);
    let kept = log.read(A, 0, 100, 1 << 20).await.unwrap();
    assert_eq!(kept.first().map(|r| r.offset), Some(horizon));
    assert_eq!(kept.last().map(|r| r.offset), Some(4));
    // Everything expired: nothing left to read, and offsets go on from where they were.
    log.trim_before(A, i64::MAX).await.unwrap();
    assert_eq!(log.bounds(A).await.unwrap(), (5, 5));
    assert_eq!(
        log.append(A, batch("z", 1, 1)).await.unwrap().first_offset,
        5
    );
}

pub async fn subscribers_wake_on_durable_appends(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    let mut tail = log.subscribe(A).unwrap();
    assert_eq!(*tail.borrow_and_update(), 0);
    log.append(A, batch("a", 2, 10)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), tail.wait_for(|&next| next >= 2))
        .await
        .expect("woken by the append")
        .unwrap();
    // What the notifier announces is readable.
    assert_eq!(log.read(A, 0, 10, 1 << 20).await.unwrap().len(), 2);
}

pub async fn shard_creation_and_removal_are_idempotent(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    log.append(A, batch("a", 2, 10)).await.unwrap();
    log.create_shard(A).await.unwrap();
    assert_eq!(
        log.bounds(A).await.unwrap(),
        (0, 2),
        "a second create keeps the data"
    );
    log.create_shard(B).await.unwrap();
    assert_eq!(log.shards(), [A, B]);
    log.remove_shard(A).await.unwrap();
    log.remove_shard(A).await.unwrap();
    assert_eq!(log.shards(), [B]);
    assert!(matches!(
        log.bounds(A).await,
        Err(LogError::ShardNotFound(_))
    ));
    log.create_shard(A).await.unwrap();
    assert_eq!(
        log.bounds(A).await.unwrap(),
        (0, 0),
        "a recreated shard starts empty"
    );
}

pub async fn acknowledged_records_survive_a_reopen_and_epochs_grow(store: &impl LogStore) {
    let log = store.open().await;
    let first_epoch = log.epoch();
    log.create_shard(A).await.unwrap();
    log.append(A, batch("a", 3, 100)).await.unwrap();
    log.close().await.unwrap();
    drop(log);

    let log = store.open().await;
    assert!(log.epoch() > first_epoch);
    assert!(log.opened_clean());
    assert_eq!(log.shards(), [A]);
    let read = log.read(A, 0, 100, 1 << 20).await.unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(
        log.append(A, batch("b", 1, 1)).await.unwrap().first_offset,
        3
    );
    // Dropped without close, as a crash leaves it: still every acknowledged record.
    drop(log);
    let log = store.open().await;
    assert!(!log.opened_clean());
    assert_eq!(log.bounds(A).await.unwrap(), (0, 4));
}

pub async fn a_closed_log_refuses_writes_and_reports_it(store: &impl LogStore) {
    let log = store.open().await;
    log.create_shard(A).await.unwrap();
    log.append(A, batch("a", 1, 10)).await.unwrap();
    log.probe().await.unwrap();
    log.close().await.unwrap();
    assert!(matches!(
        log.append(A, batch("b", 1, 1)).await,
        Err(LogError::Closed)
    ));
    assert!(matches!(log.create_shard(B).await, Err(LogError::Closed)));
    assert!(matches!(log.probe().await, Err(LogError::Closed)));
    log.close().await.unwrap();
}
