//! Behaviour of the public `Log` API against real files: round trips, reopen, torn tails, segment
//! rolls, time lookups, retention, group commit and tail notification.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use freshet_log::{FsyncPolicy, Log, LogConfig, LogError, NewRecord, Record, ShardLogId};

fn sid(shard: u32) -> ShardLogId {
    ShardLogId {
        stream: 0xabc,
        shard,
    }
}

fn config(dir: &Path) -> LogConfig {
    LogConfig::new(dir)
}

/// Small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn new_record(rng: &mut Lcg, tag: u64) -> NewRecord {
    let len = match rng.below(10) {
        0 => 0,
        1 => 2000 + rng.below(3000) as usize,
        _ => rng.below(200) as usize,
    };
    let data: Vec<u8> = (0..len).map(|i| (tag as usize * 31 + i) as u8).collect();
    NewRecord {
        sealed: false,
        partition_key: format!("pk-{tag}-{}", "é".repeat(rng.below(3) as usize)).into(),
        explicit_hash_key: (rng.below(2) == 0).then(|| u128::from(tag) << 64 | 0xfeed),
        data: Bytes::from(data),
    }
}

/// What the log should hold for one shard.
#[derive(Default, Clone)]
struct Model {
    records: Vec<Record>,
}

impl Model {
    fn add(&mut self, first_offset: u64, arrival_ms: i64, batch: &[NewRecord]) {
        for (i, r) in batch.iter().enumerate() {
            let offset = first_offset + i as u64;
            // Appends to one shard complete in offset order only per writer round; sort at the end.
            self.records.push(Record {
                sealed: false,
                offset,
                arrival_ms,
                partition_key: r.partition_key.clone(),
                explicit_hash_key: r.explicit_hash_key,
                data: r.data.clone(),
            });
        }
    }
    fn sorted(mut self) -> Vec<Record> {
        self.records.sort_by_key(|r| r.offset);
        self.records
    }
}

/// Reads a whole shard from `from` in calls of at most `max_records`/`max_bytes`.
fn read_all(
    log: &Log,
    id: ShardLogId,
    from: u64,
    max_records: usize,
    max_bytes: usize,
) -> Vec<Record> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let batch = log.read(id, next, max_records, max_bytes).unwrap();
        let Some(last) = batch.last() else { break };
        assert!(batch.len() <= max_records);
        let data: usize = batch.iter().map(|r| r.data.len()).sum();
        assert!(
            batch.len() == 1 || data <= max_bytes,
            "{} records with {data} bytes > {max_bytes}",
            batch.len()
        );
        next = last.offset + 1;
        out.extend(batch);
    }
    out
}

async fn append_ok(log: &Log, id: ShardLogId, batch: Vec<NewRecord>) -> freshet_log::Appended {
    log.append(id, batch).await.unwrap()
}

fn one(data: &str) -> Vec<NewRecord> {
    vec![NewRecord {
        sealed: false,
        partition_key: "k".into(),
        explicit_hash_key: None,
        data: Bytes::copy_from_slice(data.as_bytes()),
    }]
}

/// Concurrent appends to several shards, then everything read back from the cache and from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_round_trip_from_cache_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 16 << 10; // several segments
    cfg.index_interval_bytes = 512;
    cfg.cache_bytes_per_shard = 64 << 10; // the early records fall out of the cache
    let log = Log::open(cfg.clone()).unwrap();
    let shards: Vec<ShardLogId> = (0..4).map(sid).collect();
    for &s in &shards {
        log.create_shard(s).await.unwrap();
    }

    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let log = log.clone();
        let shards = shards.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(t + 1);
            let mut done = Vec::new();
            for b in 0..40u64 {
                let id = shards[rng.below(4) as usize];
                let n = 1 + rng.below(5);
                let batch: Vec<NewRecord> = (0..n)
                    .map(|i| new_record(&mut rng, t * 1000 + b * 10 + i))
                    .collect();
                let a = log.append(id, batch.clone()).await.unwrap();
                done.push((id, a, batch));
            }
            done
        }));
    }
    let mut models: BTreeMap<ShardLogId, Model> = BTreeMap::new();
    for t in tasks {
        for (id, a, batch) in t.await.unwrap() {
            models
                .entry(id)
                .or_default()
                .add(a.first_offset, a.arrival_ms, &batch);
        }
    }

    let mut expected_all = BTreeMap::new();
    for (&id, model) in &models {
        let expected = model.clone().sorted();
        // Offsets are dense from 0 and arrival times never decrease.
        for (i, r) in expected.iter().enumerate() {
            assert_eq!(r.offset, i as u64);
        }
        assert!(
            expected
                .windows(2)
                .all(|w| w[0].arrival_ms <= w[1].arrival_ms)
        );
        assert_eq!(log.bounds(id).unwrap(), (0, expected.len() as u64));
        assert_eq!(
            log.last_arrival_ms(id).unwrap(),
            expected.last().map(|r| r.arrival_ms)
        );
        assert_eq!(read_all(&log, id, 0, 10_000, usize::MAX), expected);
        assert_eq!(read_all(&log, id, 0, 7, usize::MAX), expected);
        assert_eq!(read_all(&log, id, 0, 10_000, 3000), expected);
        assert_eq!(read_all(&log, id, 0, 1, 0), expected);
        // Every starting point, within a window of a few records.
        for from in 0..expected.len() {
            let got = log.read(id, from as u64, 3, usize::MAX).unwrap();
            let want: Vec<Record> = expected[from..].iter().take(3).cloned().collect();
            assert_eq!(got, want, "shard {id} from {from}");
        }
        assert!(
            log.read(id, expected.len() as u64, 10, 100)
                .unwrap()
                .is_empty()
        );
        assert!(log.read(id, u64::MAX, 10, 100).unwrap().is_empty());
        assert!(log.read(id, 0, 0, 100).unwrap().is_empty());
        expected_all.insert(id, expected);
    }
    let stats = log.stats();
    assert_eq!(stats.appends, 8 * 40);
    assert_eq!(
        stats.records,
        models.values().map(|m| m.records.len() as u64).sum::<u64>()
    );
    log.close().await.unwrap();

    // The same reads with no cache at all, so every record comes from disk via the indexes.
    let mut cold = cfg.clone();
    cold.cache_bytes_per_shard = 0;
    let log = Log::open(cold).unwrap();
    assert_eq!(log.shards(), shards);
    for (&id, expected) in &expected_all {
        assert_eq!(read_all(&log, id, 0, 10_000, usize::MAX), *expected);
        assert_eq!(read_all(&log, id, 0, 5, 1000), *expected);
        for from in (0..expected.len()).step_by(3) {
            let got = log.read(id, from as u64, 2, usize::MAX).unwrap();
            assert_eq!(
                got[..],
                expected[from..(from + 2).min(expected.len())],
                "shard {id} from {from}"
            );
        }
    }
}

#[tokio::test]
async fn reopen_keeps_records_and_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let (a, b) = (sid(1), sid(2));
    log.create_shard(a).await.unwrap();
    log.create_shard(b).await.unwrap();
    let mut rng = Lcg(7);
    for i in 0..20 {
        let batch: Vec<NewRecord> = (0..3).map(|j| new_record(&mut rng, i * 3 + j)).collect();
        append_ok(&log, if i % 2 == 0 { a } else { b }, batch).await;
    }
    let before_a = read_all(&log, a, 0, 1000, usize::MAX);
    let before_b = read_all(&log, b, 0, 1000, usize::MAX);
    let last_a = log.last_arrival_ms(a).unwrap();
    log.close().await.unwrap();
    assert!(matches!(
        log.append(a, one("late")).await,
        Err(LogError::Closed)
    ));
    assert!(matches!(
        log.create_shard(sid(9)).await,
        Err(LogError::Closed)
    ));
    log.close().await.unwrap(); // twice is fine
    assert_eq!(
        read_all(&log, a, 0, 1000, usize::MAX),
        before_a,
        "reads work after close"
    );

    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.shards(), vec![a, b]);
    assert_eq!(log.bounds(a).unwrap(), (0, 30));
    assert_eq!(log.bounds(b).unwrap(), (0, 30));
    assert_eq!(read_all(&log, a, 0, 1000, usize::MAX), before_a);
    assert_eq!(read_all(&log, b, 0, 1000, usize::MAX), before_b);
    assert_eq!(log.last_arrival_ms(a).unwrap(), last_a);
    let next = append_ok(&log, a, one("after reopen")).await;
    assert_eq!(next.first_offset, 30);
    assert!(next.arrival_ms >= last_a.unwrap());
    // Reopen without close(): under FsyncPolicy::Always every acknowledged append is on disk.
    drop(log);
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.bounds(a).unwrap(), (0, 31));
    assert_eq!(
        &log.read(a, 30, 1, 100).unwrap()[0].data[..],
        b"after reopen"
    );
}

/// The single segment file of a one-segment shard.
fn only_segment(dir: &Path, id: ShardLogId) -> PathBuf {
    let shard_dir = dir.join(format!("s{:016x}-{:08}", id.stream, id.shard));
    let logs: Vec<PathBuf> = std::fs::read_dir(shard_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(logs.len(), 1);
    logs[0].clone()
}

/// Writes `batches` to a fresh log, closes it and returns (dir, segment path, file length after each batch).
async fn build_log(batches: Vec<Vec<NewRecord>>) -> (tempfile::TempDir, PathBuf, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    log.create_shard(sid(0)).await.unwrap();
    let seg = only_segment(dir.path(), sid(0));
    let mut lens = vec![0];
    for b in batches {
        // While the log is open the file may end in block padding, so batch ends are counted.
        lens.push(lens.last().unwrap() + frames_len(&b) as u64);
        append_ok(&log, sid(0), b).await;
    }
    log.close().await.unwrap();
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        *lens.last().unwrap(),
        "close leaves the segment ending at its last frame"
    );
    (dir, seg, lens)
}

/// Opens the damaged log and checks that exactly the records of the first `intact` batches remain
/// and that appends continue right after them.
async fn check_recovered(dir: &Path, intact: &[Record], case: &str) {
    let log = Log::open(config(dir)).unwrap();
    let n = intact.len() as u64;
    assert_eq!(log.bounds(sid(0)).unwrap(), (0, n), "{case}");
    assert_eq!(
        read_all(&log, sid(0), 0, 1000, usize::MAX),
        intact,
        "{case}"
    );
    let a = append_ok(&log, sid(0), one("next")).await;
    assert_eq!(a.first_offset, n, "{case}");
    assert_eq!(log.read(sid(0), n, 10, 1000).unwrap().len(), 1, "{case}");
    log.close().await.unwrap();
}

/// Truncation at every byte inside the last frame, and a flipped byte anywhere in it: the frame
/// (its whole batch) is gone, everything before it intact, and the next append takes its offset.
#[tokio::test]
async fn torn_tail_every_byte() {
    let mut rng = Lcg(3);
    let batches: Vec<Vec<NewRecord>> = vec![
        (0..3).map(|i| new_record(&mut rng, i)).collect(),
        vec![new_record(&mut rng, 10)],
        vec![NewRecord {
            sealed: false,
            partition_key: "last".into(),
            explicit_hash_key: Some(u128::MAX),
            data: Bytes::from_static(b"the torn one"),
        }],
    ];
    let (dir, seg, lens) = build_log(batches).await;
    let full = std::fs::read(&seg).unwrap();
    let intact = {
        let log = Log::open(config(dir.path())).unwrap();
        let all = read_all(&log, sid(0), 0, 1000, usize::MAX);
        log.close().await.unwrap();
        all[..4].to_vec()
    };
    let last_frame = lens[2] as usize..lens[3] as usize;
    for cut in last_frame.clone() {
        std::fs::write(&seg, &full[..cut]).unwrap();
        check_recovered(dir.path(), &intact, &format!("cut at {cut}")).await;
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len(),
            lens[2] + frame_len_of_next(),
            "cut at {cut}: truncated then one append"
        );
    }
    for i in last_frame {
        for bit in [0x01u8, 0x80] {
            let mut damaged = full.clone();
            damaged[i] ^= bit;
            std::fs::write(&seg, &damaged).unwrap();
            check_recovered(dir.path(), &intact, &format!("flip {bit:#x} at {i}")).await;
        }
    }
}

/// Bytes these records take on disk (the frame layout of `freshet_log`'s format version 1).
fn frames_len(records: &[NewRecord]) -> usize {
    records
        .iter()
        .map(|r| {
            let ehk = if r.explicit_hash_key.is_some() { 16 } else { 0 };
            8 + 20 + r.partition_key.len() + ehk + r.data.len()
        })
        .sum()
}

/// Bytes of the `one("next")` frame appended by `check_recovered`.
fn frame_len_of_next() -> u64 {
    8 + 20 + 1 + 4
}

/// A batch is all or nothing across a crash: cutting into any of its frames drops the whole batch.
#[tokio::test]
async fn torn_batch_is_dropped_whole() {
    let mut rng = Lcg(5);
    let batches: Vec<Vec<NewRecord>> = vec![
        (0..2).map(|i| new_record(&mut rng, i)).collect(),
        (0..4).map(|i| new_record(&mut rng, 10 + i)).collect(),
    ];
    let (dir, seg, lens) = build_log(batches).await;
    let full = std::fs::read(&seg).unwrap();
    let intact = {
        let log = Log::open(config(dir.path())).unwrap();
        let all = read_all(&log, sid(0), 0, 1000, usize::MAX);
        log.close().await.unwrap();
        all[..2].to_vec()
    };
    let batch = lens[1] as usize..lens[2] as usize;
    for cut in batch.clone().step_by(7).chain([batch.end - 1]) {
        std::fs::write(&seg, &full[..cut]).unwrap();
        check_recovered(dir.path(), &intact, &format!("cut at {cut}")).await;
    }
    // Garbage after the last good batch (say, a preallocated zero block) is cut off too.
    let mut padded = full.clone();
    padded.extend_from_slice(&[0; 4096]);
    std::fs::write(&seg, &padded).unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.bounds(sid(0)).unwrap(), (0, 6));
    log.close().await.unwrap();
}

#[tokio::test]
async fn newer_format_is_refused_not_truncated() {
    let (dir, seg, lens) = build_log(vec![one("a"), one("b")]).await;
    let mut bytes = std::fs::read(&seg).unwrap();
    let start = lens[1] as usize;
    bytes[start + 8] = 3; // version byte of the second frame (sealed frames are version 2)
    let crc = crc32c_of(&bytes[start + 8..]);
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    match Log::open(config(dir.path())) {
        Err(LogError::UnsupportedFormat { version: 3, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a log with an unknown record format"),
    }
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "the file is left untouched"
    );
}

/// CRC-32C (Castagnoli), bitwise; the test does not depend on the crate's encoder.
fn crc32c_of(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Segments roll at the configured size; offset_at_time and retention work across them, before and
/// after a reopen (which reads the sealed segments' index files).
#[tokio::test]
async fn segments_time_lookup_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 600;
    cfg.index_interval_bytes = 100;
    cfg.cache_bytes_per_shard = 0;
    let log = Log::open(cfg.clone()).unwrap();
    let id = sid(3);
    log.create_shard(id).await.unwrap();
    let mut arrivals = Vec::new(); // (first offset, arrival, n)
    for i in 0..40u64 {
        let n = 1 + (i % 3);
        let batch: Vec<NewRecord> = (0..n)
            .map(|j| NewRecord {
                sealed: false,
                partition_key: format!("k{i}").into(),
                explicit_hash_key: None,
                data: Bytes::from(vec![j as u8; 60]),
            })
            .collect();
        let a = append_ok(&log, id, batch).await;
        arrivals.push((a.first_offset, a.arrival_ms, n));
        if i % 4 == 3 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let total: u64 = arrivals.iter().map(|a| a.2).sum();
    let shard_dir = dir
        .path()
        .join(format!("s{:016x}-{:08}", id.stream, id.shard));
    let count = |ext: &str| {
        std::fs::read_dir(&shard_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    };

    let expect_at = |ts: i64| arrivals.iter().find(|a| a.1 >= ts).map_or(total, |a| a.0);
    let probes: Vec<i64> = arrivals
        .iter()
        .flat_map(|a| [a.1 - 1, a.1, a.1 + 1])
        .chain([i64::MIN, 0, i64::MAX])
        .collect();
    for &ts in &probes {
        assert_eq!(
            log.offset_at_time(id, ts).unwrap(),
            expect_at(ts),
            "ts {ts}"
        );
    }
    let all = read_all(&log, id, 0, 1000, usize::MAX);
    assert_eq!(all.len() as u64, total);
    // After close: a roll runs after the commit that filled the segment has been acknowledged.
    log.close().await.unwrap();
    assert!(count("log") > 5, "segments rolled: {}", count("log"));
    assert_eq!(
        count("index"),
        count("log") - 1,
        "every sealed segment has an index file"
    );

    let log = Log::open(cfg.clone()).unwrap();
    for &ts in &probes {
        assert_eq!(
            log.offset_at_time(id, ts).unwrap(),
            expect_at(ts),
            "after reopen, ts {ts}"
        );
    }
    assert_eq!(read_all(&log, id, 0, 1000, usize::MAX), all);

    // Retention up to the middle: only whole segments whose newest record is older go.
    let cutoff = arrivals[20].1;
    let segments_before = count("log");
    let freed = log.trim_before(id, cutoff).await.unwrap();
    assert!(freed > 0);
    let (horizon, next) = log.bounds(id).unwrap();
    assert_eq!(next, total);
    assert!(horizon > 0, "something was trimmed");
    assert!(
        horizon <= expect_at(cutoff),
        "records at or after the cutoff are kept"
    );
    // The record just before the horizon is older than the cutoff (whole segments only).
    assert!(all[horizon as usize - 1].arrival_ms < cutoff);
    assert!(count("log") < segments_before);
    assert_eq!(count("index"), count("log") - 1);
    assert_eq!(
        log.read(id, 0, 1, usize::MAX).unwrap()[0].offset,
        horizon,
        "reads below the horizon start at it"
    );
    assert_eq!(
        read_all(&log, id, 0, 1000, usize::MAX),
        all[horizon as usize..]
    );
    assert_eq!(log.offset_at_time(id, i64::MIN).unwrap(), horizon);
    assert_eq!(log.trim_before(id, cutoff).await.unwrap(), 0, "idempotent");

    // Everything expired: the active segment is rolled, then all data goes; the offset survives.
    let freed = log.trim_before(id, i64::MAX).await.unwrap();
    assert!(freed > 0);
    assert_eq!(log.bounds(id).unwrap(), (total, total));
    assert_eq!(log.last_arrival_ms(id).unwrap(), None);
    assert!(log.read(id, 0, 10, usize::MAX).unwrap().is_empty());
    assert_eq!(log.offset_at_time(id, 0).unwrap(), total);
    assert_eq!(count("log"), 1);
    log.close().await.unwrap();
    let log = Log::open(cfg).unwrap();
    assert_eq!(
        log.bounds(id).unwrap(),
        (total, total),
        "the next offset survives a restart"
    );
    assert_eq!(append_ok(&log, id, one("again")).await.first_offset, total);
    assert_eq!(log.read(id, 0, 10, usize::MAX).unwrap()[0].offset, total);
}

/// Many concurrent appends share fsyncs: the count of fsyncs stays far below the count of appends.
#[tokio::test]
async fn group_commit_batches_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let id = sid(0);
    log.create_shard(id).await.unwrap();
    let base = log.stats();
    // On this single-threaded runtime the spawned tasks all queue their appends before any awaits
    // its answer, as concurrent producers do under load.
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                log.append(id, one(&format!("r{i}")))
                    .await
                    .unwrap()
                    .first_offset
            })
        })
        .collect();
    let mut offsets = Vec::new();
    for t in tasks {
        offsets.push(t.await.unwrap());
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..400).collect::<Vec<u64>>());
    let s = log.stats();
    let (appends, fsyncs, batches) = (
        s.appends - base.appends,
        s.fsyncs - base.fsyncs,
        s.batches - base.batches,
    );
    assert_eq!(appends, 400);
    assert!(
        fsyncs * 4 <= appends,
        "{fsyncs} fsyncs for {appends} appends"
    );
    assert_eq!(fsyncs, batches, "one shard: one fsync per group commit");
}

#[tokio::test]
async fn subscribe_wakes_on_append_and_closes_on_remove() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let id = sid(0);
    log.create_shard(id).await.unwrap();
    let mut rx = log.subscribe(id).unwrap();
    assert_eq!(*rx.borrow_and_update(), 0);
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            log.append(id, vec![one("x").remove(0), one("y").remove(0)])
                .await
                .unwrap()
        })
    };
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(*rx.borrow_and_update(), 2);
    // By the time the tail moves, the records are readable.
    assert_eq!(log.read(id, 0, 10, 100).unwrap().len(), 2);
    writer.await.unwrap();
    log.remove_shard(id).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .is_err(),
        "closed on remove"
    );
}

#[tokio::test]
async fn shard_lifecycle_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let id = sid(5);
    assert!(matches!(log.bounds(id), Err(LogError::ShardNotFound(x)) if x == id));
    assert!(matches!(
        log.append(id, one("x")).await,
        Err(LogError::ShardNotFound(_))
    ));
    assert!(matches!(
        log.read(id, 0, 1, 1),
        Err(LogError::ShardNotFound(_))
    ));
    assert!(matches!(log.subscribe(id), Err(LogError::ShardNotFound(_))));
    assert!(matches!(
        log.trim_before(id, 0).await,
        Err(LogError::ShardNotFound(_))
    ));
    log.create_shard(id).await.unwrap();
    assert_eq!(log.bounds(id).unwrap(), (0, 0));
    assert_eq!(log.last_arrival_ms(id).unwrap(), None);
    assert_eq!(log.offset_at_time(id, 0).unwrap(), 0);
    append_ok(&log, id, one("a")).await;
    log.create_shard(id).await.unwrap(); // idempotent: keeps the data
    assert_eq!(log.bounds(id).unwrap(), (0, 1));
    let empty = append_ok(&log, id, Vec::new()).await;
    assert_eq!(empty.first_offset, 1, "an empty batch takes no offsets");
    let too_long = NewRecord {
        sealed: false,
        partition_key: "k".repeat(70_000).into(),
        explicit_hash_key: None,
        data: Bytes::new(),
    };
    assert!(matches!(
        log.append(id, vec![too_long]).await,
        Err(LogError::InvalidRecord(_))
    ));
    log.remove_shard(id).await.unwrap();
    log.remove_shard(id).await.unwrap(); // idempotent
    assert!(log.shards().is_empty());
    assert!(matches!(log.bounds(id), Err(LogError::ShardNotFound(_))));
    log.create_shard(id).await.unwrap();
    assert_eq!(
        log.bounds(id).unwrap(),
        (0, 0),
        "a re-created shard log starts empty"
    );
    log.close().await.unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.shards(), vec![id]);
    // A remove cut short by a crash (directory already renamed) is finished at open.
    std::fs::create_dir(dir.path().join("s0000000000000abc-00000009.deleting")).unwrap();
    std::fs::write(
        dir.path()
            .join("s0000000000000abc-00000009.deleting/00000000000000000000.log"),
        b"x",
    )
    .unwrap();
    drop(log);
    std::thread::sleep(Duration::from_millis(50)); // the writer thread finishes after the last handle drops
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.shards(), vec![id]);
    assert!(
        !dir.path()
            .join("s0000000000000abc-00000009.deleting")
            .exists()
    );
}

#[tokio::test]
async fn interval_and_never_policies() {
    for policy in [
        FsyncPolicy::Interval(Duration::from_millis(5)),
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.fsync = policy;
        cfg.segment_bytes = 300;
        let log = Log::open(cfg.clone()).unwrap();
        let id = sid(1);
        log.create_shard(id).await.unwrap();
        for i in 0..50 {
            append_ok(&log, id, one(&format!("record {i:03}"))).await;
        }
        assert_eq!(log.bounds(id).unwrap(), (0, 50), "{policy:?}");
        let all = read_all(&log, id, 0, 100, usize::MAX);
        assert_eq!(all.len(), 50);
        let s = log.stats();
        assert!(s.fsyncs < s.appends, "{policy:?}: {s:?}");
        log.close().await.unwrap();
        let log = Log::open(cfg).unwrap();
        assert_eq!(read_all(&log, id, 0, 100, usize::MAX), all, "{policy:?}");
    }
}

#[tokio::test]
async fn a_directory_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Log::open(LogConfig::new(dir.path())).unwrap();
    match Log::open(LogConfig::new(dir.path())) {
        Err(LogError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        other => panic!("a second writer opened the directory: {:?}", other.is_ok()),
    }
    // Dropping the last handle ends the writer thread, which lets go of the lock.
    drop(first);
    Log::open(LogConfig::new(dir.path())).expect("the lock outlived the log");
}

/// A crash leaves the active segment ending in the block padding of its last direct write (on file
/// systems that take direct I/O): recovery cuts it off, keeps every record and appends after them.
#[tokio::test]
async fn crash_with_block_padding_keeps_every_record() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (log, seg, put) = log_with_batches(dir.path(), 11, 5, |_| {}).await;
    // A copy of the directory while the log is open is what a SIGKILL leaves behind.
    let crashed = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let shard_dir = seg.parent().unwrap();
    let copy_dir = crashed.path().join(shard_dir.file_name().unwrap());
    std::fs::create_dir(&copy_dir).unwrap();
    let copy = copy_dir.join(seg.file_name().unwrap());
    std::fs::copy(&seg, &copy).unwrap();
    let on_disk = std::fs::read(&copy).unwrap();
    let logical = frames_len(&put);
    assert!(on_disk.len() >= logical);
    if takes_direct_io(dir.path()) {
        assert_eq!(
            on_disk.len() % 4096,
            0,
            "a direct write covers whole blocks"
        );
        assert!(on_disk.len() > logical, "the last block is padded");
    }
    assert!(
        on_disk[logical..].iter().all(|&b| b == 0),
        "padding is zeros"
    );
    log.close().await.unwrap();

    let log = Log::open(config(crashed.path())).unwrap();
    let n = put.len() as u64;
    assert_eq!(log.bounds(sid(0)).unwrap(), (0, n));
    assert_holds(&log, &put);
    assert_eq!(append_ok(&log, sid(0), one("next")).await.first_offset, n);
    log.close().await.unwrap();
    assert_eq!(
        std::fs::metadata(&copy).unwrap().len() as usize,
        logical + frame_len_of_next() as usize
    );
}

fn takes_direct_io(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = tempfile::NamedTempFile::new_in(dir).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(0o40000) // O_DIRECT on x86-64 Linux
        .open(probe.path())
        .is_ok()
}

/// On a file system that refuses direct I/O (tmpfs) the log writes through the page cache: no
/// block padding, and everything reads back before and after a reopen.
#[tokio::test]
async fn works_where_direct_io_is_refused() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || takes_direct_io(shm) {
        return; // no tmpfs here to try it on
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let (log, _, put) = log_with_batches(dir.path(), 23, 4, |seg_and_put| {
        let (seg, put) = seg_and_put;
        assert_eq!(
            std::fs::metadata(seg).unwrap().len() as usize,
            frames_len(put),
            "no padding through the page cache"
        );
    })
    .await;
    log.close().await.unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_holds(&log, &put);
    log.close().await.unwrap();
}

/// A log under `dir` with one shard and `batches` appended batches of random records (the k-th
/// has k + 2), `after_each` looking at the segment and the records so far after each append.
async fn log_with_batches(
    dir: &Path,
    seed: u64,
    batches: u64,
    after_each: impl Fn((&Path, &[NewRecord])),
) -> (Log, PathBuf, Vec<NewRecord>) {
    let log = Log::open(config(dir)).unwrap();
    log.create_shard(sid(0)).await.unwrap();
    let seg = only_segment(dir, sid(0));
    let mut rng = Lcg(seed);
    let mut put = Vec::new();
    for b in 0..batches {
        let batch: Vec<NewRecord> = (0..2 + b)
            .map(|i| new_record(&mut rng, b * 10 + i))
            .collect();
        put.extend(batch.clone());
        append_ok(&log, sid(0), batch).await;
        after_each((&seg, &put));
    }
    (log, seg, put)
}

/// Shard 0 of `log` holds exactly `put`, in order.
fn assert_holds(log: &Log, put: &[NewRecord]) {
    let got = read_all(log, sid(0), 0, 1000, usize::MAX);
    assert_eq!(got.len(), put.len());
    for (r, p) in got.iter().zip(put) {
        assert_eq!((&r.partition_key, &r.data), (&p.partition_key, &p.data));
    }
}

#[tokio::test]
async fn probe_answers_while_the_directory_takes_writes_and_not_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(LogConfig::new(dir.path())).unwrap();
    log.probe().await.unwrap();
    // It leaves nothing behind.
    assert!(!dir.path().join(".probe").exists());
    assert!(log.shards().is_empty());
    log.close().await.unwrap();
    assert!(matches!(log.probe().await, Err(LogError::Closed)));
}

#[tokio::test]
async fn only_a_completed_close_makes_the_next_open_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(LogConfig::new(dir.path())).unwrap();
    assert!(!log.opened_clean(), "a first start");
    log.create_shard(sid(0)).await.unwrap();
    log.close().await.unwrap();
    drop(log);
    let log = Log::open(LogConfig::new(dir.path())).unwrap();
    assert!(log.opened_clean());
    // Dropped without close, as a crash leaves it: the next open is not clean.
    drop(log);
    let log = Log::open(LogConfig::new(dir.path())).unwrap();
    assert!(!log.opened_clean());
    assert_eq!(log.shards(), vec![sid(0)]);
}
