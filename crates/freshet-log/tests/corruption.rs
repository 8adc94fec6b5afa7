//! A flipped byte in a sealed segment is caught by its checksum when read and reported as
//! corruption; the log still opens and serves every other segment.

use bytes::Bytes;
use freshet_log::{Log, LogConfig, LogError, NewRecord, ShardLogId};

const ID: ShardLogId = ShardLogId {
    stream: 7,
    shard: 0,
};

#[tokio::test]
async fn flipped_byte_in_a_sealed_segment_is_reported_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = LogConfig::new(dir.path());
    cfg.segment_bytes = 4096;
    cfg.cache_bytes_per_shard = 0;
    {
        let log = Log::open(cfg.clone()).unwrap();
        log.create_shard(ID).await.unwrap();
        for i in 0..100u32 {
            log.append(
                ID,
                vec![NewRecord {
                    sealed: false,
                    partition_key: format!("k{i}").into(),
                    explicit_hash_key: None,
                    data: Bytes::from(vec![i as u8; 200]),
                }],
            )
            .await
            .unwrap();
        }
        log.close().await.unwrap();
    }
    let shard_dir = dir.path().join(ID.to_string());
    let mut segments: Vec<_> = std::fs::read_dir(&shard_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "several segments were sealed");
    // Flip one byte in the middle of the first sealed segment's data.
    let victim = &segments[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();

    let log = Log::open(cfg).unwrap();
    let err = log.read(ID, 0, 10_000, usize::MAX).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    // Everything in later segments is still served.
    let (_, next) = log.bounds(ID).unwrap();
    let tail = log.read(ID, next - 10, 100, usize::MAX).unwrap();
    assert_eq!(tail.len(), 10);
    assert!(
        tail.iter()
            .all(|r| r.data.len() == 200 && r.data[0] == r.offset as u8)
    );
    // Appends continue after the corruption was found.
    let appended = log
        .append(
            ID,
            vec![NewRecord {
                sealed: false,
                partition_key: "after".into(),
                explicit_hash_key: None,
                data: Bytes::from_static(b"fine"),
            }],
        )
        .await
        .unwrap();
    assert_eq!(appended.first_offset, next);
}
