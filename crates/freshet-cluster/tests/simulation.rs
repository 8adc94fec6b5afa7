//! A seeded simulation of the cluster log's commit protocol: two nodes append to shared shards
//! while the object store fails requests (before or after doing them), the database client fails
//! commits (before the transaction, or after it committed with the answer lost), nodes crash
//! mid-flush and restart, a stale process keeps running under a restarted node's name, and
//! nodes compact shards (moving batches between objects) and trim them under the same faults.
//! After every few steps, and at the end, it checks what the protocol promises:
//! - every acknowledged append not trimmed is readable at exactly the offsets it was given, whole;
//! - a shard's offsets run from its trim horizon to its next offset without a gap, and a trim
//!   never drops a record that arrived at or after its cutoff;
//! - nothing is readable that was not appended, and nothing twice;
//! - a fenced process never gets an append acknowledged;
//! - every node's tail reaches every shard's next offset.
//!
//! The seed decides every operation and every fault; PostgreSQL is real, so thread timing is
//! not replayed. `FRESHET_SIM_SEEDS` (e.g. `1-200`) and `FRESHET_SIM_STEPS` run it longer
//! (scripts/simulate-cluster.sh); CI runs a few seeds.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use freshet_cluster::{FaultPoint, ObjectLog, ObjectLogConfig};
use freshet_log::{LogBackend, NewRecord, Record, ShardLogId};
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;

const SHARDS: [ShardLogId; 2] = [
    ShardLogId {
        stream: 1,
        shard: 0,
    },
    ShardLogId {
        stream: 1,
        shard: 1,
    },
];
const NODES: [&str; 2] = ["a", "b"];

/// What a request to the faulty store does.
enum Fault {
    None,
    /// Fails without doing anything.
    Before,
    /// Does the request, then reports failure (a reply lost on the way back).
    After,
}

/// An in-memory object store whose requests fail as the seed says.
#[derive(Debug)]
struct FaultyStore {
    inner: InMemory,
    rng: Mutex<StdRng>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultyStore")
    }
}

impl FaultyStore {
    fn roll(&self) -> Fault {
        match self.rng.lock().gen_range(0..100) {
            0..4 => Fault::Before,
            4..8 => Fault::After,
            _ => Fault::None,
        }
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected {what} failure").into(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match self.roll() {
            Fault::Before => Err(injected("put")),
            Fault::After => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("put reply"))
            }
            Fault::None => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.roll() {
            Fault::None => self.inner.get_opts(location, options).await,
            _ => Err(injected("get")),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

struct Sim {
    url: String,
    store: Arc<FaultyStore>,
    db_faults: Arc<Mutex<StdRng>>,
    rng: StdRng,
    nodes: Vec<Arc<ObjectLog>>,
    /// (shard, offset) -> payload, for every acknowledged append.
    acked: BTreeMap<(ShardLogId, u64), Bytes>,
    attempted: HashSet<Bytes>,
    next_payload: AtomicU64,
    seed: u64,
    /// Batches compaction moved, so a run shows it exercised compaction at all.
    compacted: usize,
    trims: usize,
}

impl Sim {
    async fn open(&self, node: &str) -> ObjectLog {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .expect("the database answers");
        let faults = self.db_faults.clone();
        let mut cfg = ObjectLogConfig::new("sim", node);
        cfg.flush_interval = Duration::from_millis(2);
        cfg.cache_bytes = 4096;
        cfg.compact_interval = Duration::ZERO;
        cfg.compact_after = Duration::ZERO;
        cfg.compact_bytes = 2048;
        cfg.faults = Some(Arc::new(move |_point: FaultPoint| {
            faults.lock().gen_range(0..100) < 5
        }));
        ObjectLog::open(pool, self.store.clone(), "sim", cfg)
            .await
            .expect("a node opens")
    }

    fn batch(&mut self) -> Vec<NewRecord> {
        let n = self.rng.gen_range(1..=5);
        (0..n)
            .map(|_| {
                let id = self.next_payload.fetch_add(1, Relaxed);
                let payload = Bytes::from(format!("seed{}-record{id}", self.seed));
                self.attempted.insert(payload.clone());
                NewRecord::clear("pk".into(), None, payload)
            })
            .collect()
    }

    /// Concurrent appends from random nodes to random shards; the acknowledged ones go into the
    /// model.
    async fn appends(&mut self) {
        let mut calls = Vec::new();
        for _ in 0..self.rng.gen_range(1..=6) {
            let node = self.nodes[self.rng.gen_range(0..NODES.len())].clone();
            let shard = SHARDS[self.rng.gen_range(0..SHARDS.len())];
            let batch = self.batch();
            let payloads: Vec<Bytes> = batch.iter().map(|r| r.data.clone()).collect();
            calls.push(async move { (shard, payloads, node.append(shard, batch).await) });
        }
        for (shard, payloads, outcome) in futures_util::future::join_all(calls).await {
            if let Ok(appended) = outcome {
                self.ack(shard, appended.first_offset, payloads);
            }
        }
    }

    fn ack(&mut self, shard: ShardLogId, first_offset: u64, payloads: Vec<Bytes>) {
        for (i, p) in payloads.into_iter().enumerate() {
            let previous = self.acked.insert((shard, first_offset + i as u64), p);
            assert!(
                previous.is_none(),
                "seed {}: offset acknowledged twice",
                self.seed
            );
        }
    }

    /// A node dies with appends in flight (maybe mid-flush) and starts again.
    async fn crash(&mut self) {
        let i = self.rng.gen_range(0..NODES.len());
        let node = self.nodes[i].clone();
        let mut in_flight = Vec::new();
        for _ in 0..self.rng.gen_range(0..4) {
            let shard = SHARDS[self.rng.gen_range(0..SHARDS.len())];
            let batch = self.batch();
            let payloads: Vec<Bytes> = batch.iter().map(|r| r.data.clone()).collect();
            let node = node.clone();
            in_flight.push(tokio::spawn(async move {
                (shard, payloads, node.append(shard, batch).await)
            }));
        }
        tokio::time::sleep(Duration::from_millis(self.rng.gen_range(0..6))).await;
        for task in &in_flight {
            task.abort();
        }
        for task in in_flight {
            // An append acknowledged before the crash must survive it.
            if let Ok((shard, payloads, Ok(appended))) = task.await {
                self.ack(shard, appended.first_offset, payloads);
            }
        }
        drop(node);
        self.nodes[i] = Arc::new(self.open(NODES[i]).await);
    }

    /// A node restarts while its old process still runs: the old one is fenced.
    async fn stale_process(&mut self) {
        let i = self.rng.gen_range(0..NODES.len());
        let fresh = Arc::new(self.open(NODES[i]).await);
        let stale = std::mem::replace(&mut self.nodes[i], fresh);
        let batch = self.batch();
        let outcome = stale.append(SHARDS[0], batch).await;
        assert!(
            outcome.is_err(),
            "seed {}: a fenced process had an append acknowledged: {outcome:?}",
            self.seed
        );
    }

    /// Trims a shard before the arrival of one of its records, picked at random: the trim may
    /// fail, and must never drop that record or anything after it.
    async fn trim(&mut self) {
        let node = self.nodes[self.rng.gen_range(0..NODES.len())].clone();
        let shard = SHARDS[self.rng.gen_range(0..SHARDS.len())];
        let Ok((horizon, next)) = node.bounds(shard).await else {
            return;
        };
        if next <= horizon {
            return;
        }
        let at = self.rng.gen_range(horizon..next);
        let Ok(picked) = node.read(shard, at, 1, 1).await else {
            return;
        };
        let Some(kept) = picked.first() else {
            return;
        };
        if node.trim_before(shard, kept.arrival_ms).await.is_ok() {
            self.trims += 1;
            let (after, _) = node.bounds(shard).await.unwrap();
            assert!(
                after <= kept.offset,
                "seed {}: trimming before {shard}@{}'s arrival dropped it (horizon {after})",
                self.seed,
                kept.offset
            );
        }
    }

    /// Reads a whole shard through `node`, retrying the store's injected failures.
    async fn read_all(
        &self,
        node: &ObjectLog,
        shard: ShardLogId,
        from: u64,
        next: u64,
    ) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        let mut failures = 0;
        while from + (out.len() as u64) < next {
            match node.read(shard, from + out.len() as u64, 7, 1 << 20).await {
                Ok(more) => {
                    assert!(
                        !more.is_empty(),
                        "seed {}: empty read below the tip",
                        self.seed
                    );
                    out.extend(more);
                }
                Err(e) => {
                    failures += 1;
                    assert!(
                        failures < 200,
                        "seed {}: reads keep failing: {e}",
                        self.seed
                    );
                }
            }
        }
        out
    }

    async fn check(&self) {
        let mut seen = HashSet::new();
        for shard in SHARDS {
            let (horizon, next) = self.nodes[0].bounds(shard).await.unwrap();
            for node in &self.nodes {
                let records = self.read_all(node, shard, horizon, next).await;
                let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
                assert_eq!(
                    offsets,
                    (horizon..next).collect::<Vec<_>>(),
                    "seed {}: offsets of {shard} are not {horizon}..{next} without gaps",
                    self.seed
                );
                for r in &records {
                    assert!(
                        self.attempted.contains(&r.data),
                        "seed {}: {shard}@{} holds a record never appended",
                        self.seed,
                        r.offset
                    );
                    if let Some(want) = self.acked.get(&(shard, r.offset)) {
                        assert_eq!(&r.data, want, "seed {}: {shard}@{}", self.seed, r.offset);
                    }
                }
                if std::ptr::eq(node, &self.nodes[0]) {
                    for r in &records {
                        assert!(
                            seen.insert(r.data.clone()),
                            "seed {}: {:?} readable twice",
                            self.seed,
                            r.data
                        );
                    }
                }
                let mut tail = node.subscribe(shard).unwrap();
                tokio::time::timeout(Duration::from_secs(10), tail.wait_for(|&n| n >= next))
                    .await
                    .unwrap_or_else(|_| {
                        panic!("seed {}: a tail never reached {shard}@{next}", self.seed)
                    })
                    .unwrap();
            }
            for (_, offset) in self
                .acked
                .range((shard, 0)..=(shard, u64::MAX))
                .map(|(k, _)| k)
            {
                assert!(
                    *offset < next,
                    "seed {}: {shard}@{offset} acknowledged, then lost",
                    self.seed
                );
            }
        }
    }
}

/// Runs one seed; returns how many batches compaction moved and how many trims succeeded.
async fn simulate(url: String, seed: u64, steps: usize) -> (usize, usize) {
    let mut sim = Sim {
        url,
        store: Arc::new(FaultyStore {
            inner: InMemory::new(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }),
        db_faults: Arc::new(Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed))),
        rng: StdRng::seed_from_u64(seed.wrapping_mul(31)),
        nodes: Vec::new(),
        acked: BTreeMap::new(),
        attempted: HashSet::new(),
        next_payload: AtomicU64::new(0),
        seed,
        compacted: 0,
        trims: 0,
    };
    for name in NODES {
        let node = Arc::new(sim.open(name).await);
        sim.nodes.push(node);
    }
    for shard in SHARDS {
        sim.nodes[0].create_shard(shard).await.unwrap();
        sim.nodes[1].create_shard(shard).await.unwrap();
    }
    for step in 1..=steps {
        match sim.rng.gen_range(0..20) {
            0 => sim.crash().await,
            1 => sim.stale_process().await,
            // Compaction under the same faults: it may fail, never lose or move a record.
            4 => sim.trim().await,
            2 | 3 => {
                let node = sim.nodes[sim.rng.gen_range(0..NODES.len())].clone();
                if let Ok(moved) = node.compact().await {
                    sim.compacted += moved;
                }
            }
            _ => sim.appends().await,
        }
        if step % 15 == 0 {
            sim.check().await;
        }
    }
    sim.check().await;
    assert!(
        !sim.acked.is_empty(),
        "seed {seed}: no append was acknowledged at all"
    );
    (sim.compacted, sim.trims)
}

fn seeds() -> Vec<u64> {
    let spec = std::env::var("FRESHET_SIM_SEEDS").unwrap_or_else(|_| "1-4".into());
    match spec.split_once('-') {
        Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
        None => vec![spec.parse().unwrap()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_protocol_keeps_its_promises_under_faults() {
    let steps = std::env::var("FRESHET_SIM_STEPS").map_or(60, |s| s.parse().unwrap());
    let (mut compacted, mut trimmed) = (0, 0);
    for seed in seeds() {
        // A database per seed: every run starts from nothing.
        let (moved, trims) =
            simulate(freshet_testkit::postgres_database().await, seed, steps).await;
        eprintln!(
            "seed {seed}: {steps} steps, {moved} batches compacted, {trims} trims, every check held"
        );
        compacted += moved;
        trimmed += trims;
    }
    assert!(
        compacted > 0 && trimmed > 0,
        "no seed compacted or trimmed anything"
    );
}
