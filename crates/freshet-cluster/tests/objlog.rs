//! The cluster log on a real PostgreSQL (a throwaway server), twice: on an in-memory object store
//! and on a real S3-compatible server (moto, a throwaway one), so the log is shown to use only what
//! S3 itself offers, as S3 answers it (ranged GETs, prefix LISTs, DELETEs). On each: the log conformance
//! suite, and what only a shared log has to show: several nodes appending to one shard, tails woken
//! across nodes, fencing of a stale process, and objects cleaned up.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use freshet_cluster::{ObjectLog, ObjectLogConfig};
use freshet_log::conformance::LogStore;
use freshet_log::{LogBackend, LogError, NewRecord, ShardLogId};
use futures_util::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::OnceCell;

const PREFIX: &str = "cluster-a";

/// The conformance suite and the cluster tests on an in-memory object store.
mod in_memory {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::new(Arc::new(InMemory::new()))
    }

    freshet_log::log_conformance_suite!(cluster());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_appending_to_one_shard_share_one_gapless_order() {
        super::nodes_appending_to_one_shard_share_one_gapless_order(cluster()).await;
    }

    #[tokio::test]
    async fn a_stale_process_under_a_reused_name_is_fenced() {
        super::a_stale_process_under_a_reused_name_is_fenced(cluster()).await;
    }

    #[tokio::test]
    async fn uncommitted_objects_are_swept_and_trims_delete_whole_objects() {
        super::uncommitted_objects_are_swept_and_trims_delete_whole_objects(cluster()).await;
    }

    #[tokio::test]
    async fn logs_sharing_a_cluster_keep_apart() {
        super::logs_sharing_a_cluster_keep_apart(cluster()).await;
    }

    #[tokio::test]
    async fn compaction_gathers_a_shards_batches_into_one_object() {
        super::compaction_gathers_a_shards_batches_into_one_object(cluster()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn objects_stay_within_flush_bytes_while_appends_wait_for_room() {
        super::objects_stay_within_flush_bytes_while_appends_wait_for_room(cluster()).await;
    }
}

/// The conformance suite and the cluster tests on a real S3-compatible server (moto), a fresh
/// bucket for each test.
mod on_s3 {
    use super::*;

    async fn cluster() -> Cluster {
        Cluster::new(freshet_testkit::s3_bucket().await.object_store())
    }

    freshet_log::log_conformance_suite!(cluster().await);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_appending_to_one_shard_share_one_gapless_order() {
        super::nodes_appending_to_one_shard_share_one_gapless_order(cluster().await).await;
    }

    #[tokio::test]
    async fn a_stale_process_under_a_reused_name_is_fenced() {
        super::a_stale_process_under_a_reused_name_is_fenced(cluster().await).await;
    }

    #[tokio::test]
    async fn uncommitted_objects_are_swept_and_trims_delete_whole_objects() {
        super::uncommitted_objects_are_swept_and_trims_delete_whole_objects(cluster().await).await;
    }

    #[tokio::test]
    async fn logs_sharing_a_cluster_keep_apart() {
        super::logs_sharing_a_cluster_keep_apart(cluster().await).await;
    }

    #[tokio::test]
    async fn compaction_gathers_a_shards_batches_into_one_object() {
        super::compaction_gathers_a_shards_batches_into_one_object(cluster().await).await;
    }
}

/// One database and one bucket, shared by every node a test opens.
struct Cluster {
    url: OnceCell<String>,
    store: Arc<dyn ObjectStore>,
}

impl Cluster {
    fn new(store: Arc<dyn ObjectStore>) -> Cluster {
        Cluster {
            url: OnceCell::new(),
            store,
        }
    }

    async fn node(&self, name: &str) -> ObjectLog {
        self.node_of("streams", name).await
    }

    /// A node of the log named `log`.
    async fn node_of(&self, log: &str, name: &str) -> ObjectLog {
        self.node_with(log, name, |_| {}).await
    }

    /// A node of the log named `log`, configured further by `adjust`.
    async fn node_with(
        &self,
        log: &str,
        name: &str,
        adjust: impl FnOnce(&mut ObjectLogConfig),
    ) -> ObjectLog {
        let url = self
            .url
            .get_or_init(freshet_testkit::postgres_database)
            .await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .expect("the database answers");
        let mut cfg = ObjectLogConfig::new(log, name);
        cfg.flush_interval = Duration::from_millis(5);
        adjust(&mut cfg);
        ObjectLog::open(pool, self.store.clone(), PREFIX, cfg)
            .await
            .expect("the log opens")
    }

    async fn objects(&self) -> Vec<String> {
        self.store
            .list(Some(&Path::from(PREFIX)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap()
    }
}

impl LogStore for Cluster {
    async fn open(&self) -> Box<dyn LogBackend> {
        Box::new(self.node("n1").await)
    }
}

const S: ShardLogId = ShardLogId {
    stream: 3,
    shard: 0,
};

fn records(tag: &str, n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            NewRecord::clear(
                format!("{tag}-{i}").into(),
                None,
                Bytes::from(format!("{tag}-{i}")),
            )
        })
        .collect()
}

async fn nodes_appending_to_one_shard_share_one_gapless_order(cluster: Cluster) {
    let a = Arc::new(cluster.node("a").await);
    let b = Arc::new(cluster.node("b").await);
    a.create_shard(S).await.unwrap();
    // Node b learns of the shard from a's notification.
    tokio::time::timeout(Duration::from_secs(10), async {
        while b.subscribe(S).is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("b hears of the new shard");
    let mut b_tail = b.subscribe(S).unwrap();

    let mut writers = Vec::new();
    for (name, log) in [("a", a.clone()), ("b", b.clone())] {
        writers.push(tokio::spawn(async move {
            let mut firsts = Vec::new();
            for round in 0..40 {
                let appended = log
                    .append(S, records(&format!("{name}{round}"), 3))
                    .await
                    .unwrap();
                firsts.push(appended.first_offset);
            }
            firsts
        }));
    }
    let mut all_firsts = Vec::new();
    for (w, name) in writers.into_iter().zip(["a", "b"]) {
        let firsts = w.await.unwrap();
        assert!(
            firsts.windows(2).all(|p| p[0] < p[1]),
            "{name}'s appends keep their order"
        );
        all_firsts.extend(firsts);
    }
    all_firsts.sort_unstable();
    assert_eq!(
        all_firsts,
        (0..80).map(|i| i * 3).collect::<Vec<u64>>(),
        "no gap, no overlap"
    );

    tokio::time::timeout(Duration::from_secs(10), b_tail.wait_for(|&n| n == 240))
        .await
        .expect("b's tail sees every commit")
        .unwrap();
    // Each node reads the other's records (not from its own cache) where the offsets said.
    for reader in [&a, &b] {
        let mut got = Vec::new();
        while got.len() < 240 {
            let more = reader
                .read(S, got.len() as u64, 1000, 1 << 20)
                .await
                .unwrap();
            assert!(!more.is_empty());
            got.extend(more);
        }
        for batch in got.chunks(3) {
            let first = std::str::from_utf8(&batch[0].data).unwrap().to_string();
            let tag = first.trim_end_matches("-0");
            for (i, r) in batch.iter().enumerate() {
                assert_eq!(
                    r.data,
                    Bytes::from(format!("{tag}-{i}")),
                    "a batch stays whole"
                );
                assert_eq!(r.arrival_ms, batch[0].arrival_ms);
            }
        }
        assert!(got.windows(2).all(|p| p[0].arrival_ms <= p[1].arrival_ms));
    }
}

async fn a_stale_process_under_a_reused_name_is_fenced(cluster: Cluster) {
    let old = cluster.node("n").await;
    old.create_shard(S).await.unwrap();
    old.append(S, records("old", 1)).await.unwrap();
    let new = cluster.node("n").await;
    assert!(new.epoch() > old.epoch());
    assert!(!new.opened_clean(), "the old process never closed");
    assert!(matches!(
        old.append(S, records("late", 1)).await,
        Err(LogError::Fenced(_))
    ));
    assert_eq!(
        new.append(S, records("new", 1)).await.unwrap().first_offset,
        1
    );
    let got = new.read(S, 0, 10, 1 << 20).await.unwrap();
    assert_eq!(got.len(), 2, "the fenced append left nothing");
}

async fn uncommitted_objects_are_swept_and_trims_delete_whole_objects(cluster: Cluster) {
    let log = cluster.node("n").await;
    log.create_shard(S).await.unwrap();
    let first = log.append(S, records("x", 5)).await.unwrap();
    // What a crash between an object's PUT and its commit leaves (an earlier epoch's object:
    // a node sweeps only those, its own may be between PUT and commit).
    let orphan = Path::from(format!("{PREFIX}/streams/n/0000000000000000-0000000000"));
    cluster
        .store
        .put(&orphan, Bytes::from_static(b"never committed").into())
        .await
        .unwrap();
    drop(log);
    assert_eq!(cluster.objects().await.len(), 2);

    let log = cluster.node("n").await;
    assert_eq!(cluster.objects().await.len(), 1, "the orphan is swept");
    assert_eq!(log.read(S, 0, 10, 1 << 20).await.unwrap().len(), 5);
    log.append(S, records("y", 2)).await.unwrap();
    assert_eq!(cluster.objects().await.len(), 2);
    let freed = log.trim_before(S, first.arrival_ms + 1).await.unwrap();
    assert!(freed > 0);
    assert_eq!(
        cluster.objects().await.len(),
        1,
        "the expired object is deleted"
    );
    assert_eq!(log.bounds(S).await.unwrap(), (5, 7));
    log.remove_shard(S).await.unwrap();
    assert!(
        cluster.objects().await.is_empty(),
        "a removed shard leaves no object"
    );
}

/// Two services' logs in one database and bucket: the same shard ids, separate records, offsets,
/// tails and objects.
async fn logs_sharing_a_cluster_keep_apart(cluster: Cluster) {
    let streams = cluster.node_of("streams", "n").await;
    let firehose = cluster.node_of("firehose", "n").await;
    assert!(firehose.opened_clean(), "a node's writer is per log");
    streams.create_shard(S).await.unwrap();
    assert!(
        firehose.bounds(S).await.is_err(),
        "not created in the other log"
    );
    firehose.create_shard(S).await.unwrap();
    let mut firehose_tail = firehose.subscribe(S).unwrap();
    streams.append(S, records("s", 3)).await.unwrap();
    assert_eq!(
        firehose
            .append(S, records("f", 1))
            .await
            .unwrap()
            .first_offset,
        0
    );
    assert_eq!(streams.bounds(S).await.unwrap(), (0, 3));
    assert_eq!(firehose.bounds(S).await.unwrap(), (0, 1));
    assert_eq!(*firehose_tail.borrow_and_update(), 1);
    let got = firehose.read(S, 0, 10, 1 << 20).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, Bytes::from("f-0"));
    streams.remove_shard(S).await.unwrap();
    assert_eq!(
        firehose.bounds(S).await.unwrap(),
        (0, 1),
        "the other log keeps its shard"
    );
    let objects = cluster.objects().await;
    assert!(
        objects
            .iter()
            .all(|o| o.starts_with(&format!("{PREFIX}/firehose/n/"))),
        "{objects:?}"
    );
}

/// Batches of two shards flushed together, one object per flush, are moved into one object per
/// shard; every record reads back the same, and the emptied objects are gone.
async fn compaction_gathers_a_shards_batches_into_one_object(cluster: Cluster) {
    let log = cluster
        .node_with("streams", "n", |cfg| {
            cfg.compact_interval = Duration::ZERO;
            cfg.compact_after = Duration::ZERO;
        })
        .await;
    let t = ShardLogId {
        stream: 3,
        shard: 1,
    };
    log.create_shard(S).await.unwrap();
    log.create_shard(t).await.unwrap();
    for round in 0..6 {
        let (a, b) = tokio::join!(
            log.append(S, records(&format!("s{round}"), 3)),
            log.append(t, records(&format!("t{round}"), 2))
        );
        a.unwrap();
        b.unwrap();
    }
    let before_s = log.read(S, 0, 100, 1 << 20).await.unwrap();
    let before_t = log.read(t, 0, 100, 1 << 20).await.unwrap();
    assert_eq!((before_s.len(), before_t.len()), (18, 12));
    let objects = cluster.objects().await.len();
    assert!(objects >= 6, "{objects} objects for 6 rounds of flushes");
    // Only ranges old enough move: tails read the young ones from the writers' caches.
    let unmoved = cluster
        .node_with("streams", "n2", |cfg| {
            cfg.compact_interval = Duration::ZERO;
            cfg.compact_after = Duration::from_secs(3600);
        })
        .await;
    assert_eq!(unmoved.compact().await.unwrap(), 0);

    assert_eq!(
        log.compact().await.unwrap(),
        12,
        "every batch of both shards moved"
    );
    assert_eq!(
        cluster.objects().await.len(),
        2,
        "one object per shard is left"
    );
    assert_eq!(log.compact().await.unwrap(), 0, "nothing left to gather");
    // A node that never cached these batches reads them back whole, in one GET per shard.
    let reader = cluster.node("n3").await;
    assert_eq!(reader.read(S, 0, 100, 1 << 20).await.unwrap(), before_s);
    assert_eq!(reader.read(t, 0, 100, 1 << 20).await.unwrap(), before_t);
    assert_eq!(reader.read(S, 4, 2, 1 << 20).await.unwrap(), before_s[4..6]);
    assert_eq!(
        reader
            .offset_at_time(t, before_t[6].arrival_ms)
            .await
            .unwrap(),
        6
    );
    // New appends go on after the moved ones.
    assert_eq!(
        log.append(S, records("late", 1))
            .await
            .unwrap()
            .first_offset,
        18
    );
}

/// Many appends at once against a small queue: they wait for room rather than pile up, every
/// one is acknowledged at its own offsets, and no object outgrows `flush_bytes`.
async fn objects_stay_within_flush_bytes_while_appends_wait_for_room(cluster: Cluster) {
    let log = Arc::new(
        cluster
            .node_with("streams", "n", |cfg| {
                cfg.flush_bytes = 4096;
                cfg.queue_bytes = 16 << 10;
                cfg.flush_interval = Duration::from_millis(20);
            })
            .await,
    );
    log.create_shard(S).await.unwrap();
    let appends: Vec<_> = (0..64)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                let batch = (0..10)
                    .map(|j| {
                        NewRecord::clear(format!("{i}-{j}").into(), None, vec![7u8; 100].into())
                    })
                    .collect();
                log.append(S, batch).await.unwrap().first_offset
            })
        })
        .collect();
    let mut firsts = Vec::new();
    for a in appends {
        firsts.push(a.await.unwrap());
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..64).map(|i| i * 10).collect::<Vec<u64>>());
    let sizes: Vec<u64> = cluster
        .store
        .list(Some(&Path::from(PREFIX)))
        .map_ok(|m| m.size)
        .try_collect()
        .await
        .unwrap();
    assert!(
        sizes.len() >= 64 * 10 * 100 / 4096,
        "{} objects",
        sizes.len()
    );
    assert!(sizes.iter().all(|&size| size <= 4096), "{sizes:?}");
}
