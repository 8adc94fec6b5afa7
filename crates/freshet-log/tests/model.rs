//! Property test: random appends, reads, retention and restarts against a plain in-memory model.

use std::time::Duration;

use bytes::Bytes;
use freshet_log::{Log, LogConfig, NewRecord, Record, ShardLogId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        shard: u32,
        sizes: Vec<usize>,
        ehk: bool,
    },
    Read {
        shard: u32,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    },
    TrimAll {
        shard: u32,
    },
    Reopen {
        close: bool,
    },
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2u32, prop::collection::vec(0..300usize, 1..5), any::<bool>())
            .prop_map(|(shard, sizes, ehk)| Op::Append { shard, sizes, ehk }),
        4 => (0..2u32, 0..60u64, 1..20usize, 0..2000usize)
            .prop_map(|(shard, from, max_records, max_bytes)| Op::Read { shard, from, max_records, max_bytes }),
        1 => (0..2u32).prop_map(|shard| Op::TrimAll { shard }),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
        1 => Just(Op::Tick),
    ]
}

fn id(shard: u32) -> ShardLogId {
    ShardLogId { stream: 1, shard }
}

fn cfg(dir: &std::path::Path) -> LogConfig {
    let mut c = LogConfig::new(dir);
    c.segment_bytes = 700;
    c.index_interval_bytes = 128;
    c.cache_bytes_per_shard = 1500;
    c
}

/// The model of one shard: retained records and the next offset.
#[derive(Default)]
struct ModelShard {
    records: Vec<Record>,
    next: u64,
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(cfg(dir.path())).unwrap();
        let mut model = [ModelShard::default(), ModelShard::default()];
        for s in 0..2 {
            log.create_shard(id(s)).await.unwrap();
        }
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Append { shard, sizes, ehk } => {
                    let batch: Vec<NewRecord> = sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| NewRecord {
                            sealed: false,
                            partition_key: format!("{step}-{i}").into(),
                            explicit_hash_key: ehk.then_some(step as u128),
                            data: Bytes::from(vec![(step + i) as u8; n]),
                        })
                        .collect();
                    let a = log.append(id(shard), batch.clone()).await.unwrap();
                    let m = &mut model[shard as usize];
                    prop_assert_eq!(a.first_offset, m.next);
                    if let Some(last) = m.records.last() {
                        prop_assert!(a.arrival_ms >= last.arrival_ms);
                    }
                    for (i, r) in batch.into_iter().enumerate() {
                        m.records.push(Record {
                            sealed: false,
                            offset: a.first_offset + i as u64,
                            arrival_ms: a.arrival_ms,
                            partition_key: r.partition_key,
                            explicit_hash_key: r.explicit_hash_key,
                            data: r.data,
                        });
                    }
                    m.next += sizes.len() as u64;
                }
                Op::Read {
                    shard,
                    from,
                    max_records,
                    max_bytes,
                } => {
                    let got = log.read(id(shard), from, max_records, max_bytes).unwrap();
                    let m = &model[shard as usize];
                    let start = m.records.partition_point(|r| r.offset < from);
                    let mut want = Vec::new();
                    let mut bytes = 0;
                    for r in &m.records[start..] {
                        if want.len() == max_records
                            || (!want.is_empty() && bytes + r.data.len() > max_bytes)
                        {
                            break;
                        }
                        bytes += r.data.len();
                        want.push(r.clone());
                    }
                    prop_assert_eq!(got, want, "step {}", step);
                }
                Op::TrimAll { shard } => {
                    log.trim_before(id(shard), i64::MAX).await.unwrap();
                    model[shard as usize].records.clear();
                }
                Op::Reopen { close } => {
                    if close {
                        log.close().await.unwrap();
                    }
                    // Without close: dropping the last handle ends the writer thread (nothing is
                    // sealed or synced) and frees the directory, as a crash would.
                    drop(log);
                    log = Log::open(cfg(dir.path())).unwrap();
                }
                Op::Tick => tokio::time::sleep(Duration::from_millis(2)).await,
            }
            for s in 0..2u32 {
                let m = &model[s as usize];
                let horizon = m.records.first().map_or(m.next, |r| r.offset);
                prop_assert_eq!(
                    log.bounds(id(s)).unwrap(),
                    (horizon, m.next),
                    "step {}",
                    step
                );
                prop_assert_eq!(
                    log.last_arrival_ms(id(s)).unwrap(),
                    m.records.last().map(|r| r.arrival_ms)
                );
            }
        }
        for s in 0..2u32 {
            let m = &model[s as usize];
            for probe in m
                .records
                .iter()
                .map(|r| r.arrival_ms)
                .chain([i64::MIN, i64::MAX])
            {
                let want = m
                    .records
                    .iter()
                    .find(|r| r.arrival_ms >= probe)
                    .map_or(m.next, |r| r.offset);
                prop_assert_eq!(log.offset_at_time(id(s), probe).unwrap(), want);
            }
        }
        log.close().await.unwrap();
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check(ops)?;
    }
}
