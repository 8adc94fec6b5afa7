//! A delivery stream's records for a reader other than its delivery worker: an Analytics
//! application whose streaming source is the delivery stream (as on AWS, records put into it
//! reach the application as well as the destination). It reads through the worker's own
//! `Source`, opened at the reader's positions, and gets the same records the worker delivers.
//! On a DirectPut stream a named reader holds the log (`retention.rs`): the worker does not trim
//! what the reader has not committed past, so a reader resumes where it committed, skipping
//! nothing.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::source::{LOG_SOURCE, Partition, Source};

pub struct DeliveryReader {
    pub(crate) source: Source,
    /// The name the reader's hold goes by; `None` for a reader that holds nothing (a sample).
    pub(crate) name: Option<String>,
}

impl DeliveryReader {
    /// Records there are, about `max_bytes` (at least one if any is there), per partition: the
    /// delivery stream's log (partition `log`), or each shard of its source stream by shard id.
    /// A position stays valid across restarts: hand the positions back to
    /// `FirehoseService::reader` to resume after them.
    pub async fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Partition>> {
        self.source.read(max_records, max_bytes).await
    }

    /// Resolves when new records may be there (the log's tail or the stream's notifiers).
    pub async fn wait(&mut self) {
        self.source.wait().await
    }

    /// Where the reader resumes now, known from its open on, before any read: a DirectPut
    /// stream's log, or each shard of a source stream (placed when the reader opened; none
    /// while the source stream is missing).
    pub fn positions(&self) -> BTreeMap<String, String> {
        match &self.source {
            Source::Log(log) => BTreeMap::from([(LOG_SOURCE.to_string(), log.next().to_string())]),
            Source::Kinesis(kinesis) => kinesis.positions(),
        }
    }

    /// The reader's owner has durably recorded `positions` (what `read` returned): the log may
    /// drop what comes before them. Until this is called the hold stays where the reader
    /// opened. A KinesisStreamAsSource stream's records stay in its source stream, under that
    /// stream's retention, so there is nothing to hold.
    pub async fn committed(&self, positions: &BTreeMap<String, String>) -> Result<()> {
        if let (Source::Log(log), Some(name)) = (&self.source, &self.name)
            && let Some(next) = positions.get(LOG_SOURCE).and_then(|p| p.parse().ok())
        {
            log.holds().hold(name, next).await?;
        }
        Ok(())
    }

    /// Holds the log from where the reader opened.
    pub(crate) async fn hold(&self) -> Result<()> {
        if let (Source::Log(log), Some(name)) = (&self.source, &self.name) {
            log.holds().hold(name, log.next()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use freshet_catalog::Catalog;
    use freshet_log::{FsyncPolicy, Log, LogConfig, ShardLogId};
    use freshet_runtime::{ManualClock, SharedClock};
    use freshet_streams::{StartingPosition, StreamsConfig, StreamsService};
    use serde_json::json;

    use super::*;
    use crate::model::{Blob, PutRecordBatchInput, RecordInput};
    use crate::{FirehoseConfig, FirehoseService, S3Target};

    struct Setup {
        _dir: tempfile::TempDir,
        firehose: FirehoseService,
        catalog: Catalog,
        log: Log,
        hand: std::sync::Arc<ManualClock>,
    }

    /// A Firehose service whose log rolls a segment after every put (so trims are visible) and
    /// whose clock moves by hand (so puts arrive at distinct times), with one DirectPut delivery
    /// stream "ds" that delivers at once to the embedded S3 store.
    async fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (clock, hand): (SharedClock, _) = ManualClock::shared(1_700_000_000_000);
        let catalog = Catalog::open(&dir.path().join("c.db")).await.unwrap();
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
        let mut log_config = LogConfig::new(dir.path().join("firehose-log"));
        log_config.fsync = FsyncPolicy::Never;
        log_config.segment_bytes = 64;
        log_config.clock = clock.clone();
        let log = Log::open(log_config).unwrap();
        let firehose = FirehoseService::open(
            FirehoseConfig {
                region: "us-east-1".into(),
                account_id: "000000000000".into(),
                s3: S3Target::Local(dir.path().join("s3")),
                http_ca_pem: None,
                create_delay: Duration::ZERO,
                max_backlog_bytes: 1 << 20,
                stream_limit: 10,
                clock,
                lambda_endpoint: None,
                max_active_partitions: 500,
                schemas: None,
                search_domains: Default::default(),
                iceberg_catalog: None,
                keys: None,
            },
            catalog.clone(),
            log.clone(),
            streams,
        )
        .await
        .unwrap();
        firehose
            .create_delivery_stream(
                serde_json::from_value(json!({
                    "DeliveryStreamName": "ds",
                    "ExtendedS3DestinationConfiguration": {
                        "RoleARN": "arn:aws:iam::000000000000:role/r",
                        "BucketARN": "arn:aws:s3:::b",
                        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        Setup {
            _dir: dir,
            firehose,
            catalog,
            log,
            hand,
        }
    }

    impl Setup {
        /// Puts three 40-byte records (one segment), a second after the previous put.
        async fn put(&self, tag: u8) {
            self.hand.advance(Duration::from_secs(1));
            let records = (0..3)
                .map(|i| RecordInput {
                    data: Blob(Bytes::from(vec![tag + i; 40])),
                })
                .collect();
            self.firehose
                .put_record_batch(PutRecordBatchInput {
                    delivery_stream_name: "ds".into(),
                    records,
                })
                .await
                .unwrap();
        }

        async fn id(&self) -> ShardLogId {
            let uid = self.catalog.load_delivery_streams().await.unwrap()[0].uid;
            ShardLogId {
                stream: uid,
                shard: 0,
            }
        }

        /// Waits (real time: the worker's I/O) until delivery has checkpointed `next`.
        async fn delivered(&self, next: u64) {
            for _ in 0..2000 {
                let rows = self.catalog.load_delivery_streams().await.unwrap();
                if rows[0].checkpoints.get(LOG_SOURCE) == Some(&next.to_string()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("delivery never reached offset {next}");
        }

        /// Waits until the trim that follows a delivery has moved the log's trim horizon to
        /// `want`; a horizon past `want` (trimmed too far) never comes back, so it fails.
        async fn horizon_reaches(&self, want: u64) {
            let id = self.id().await;
            let mut horizon = 0;
            for _ in 0..2000 {
                horizon = self.log.bounds(id).unwrap().0;
                if horizon >= want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(horizon, want);
        }
    }

    fn data(partitions: &[Partition]) -> Vec<u8> {
        partitions
            .iter()
            .flat_map(|p| &p.records)
            .map(|r| r.data[0])
            .collect()
    }

    #[tokio::test]
    async fn delivery_trims_only_what_the_reader_committed_past() {
        let s = setup().await;
        let mut reader = s
            .firehose
            .reader(
                "ds",
                Some("app/1"),
                StartingPosition::TrimHorizon,
                BTreeMap::new(),
            )
            .await
            .unwrap();
        s.put(10).await;
        s.put(20).await;
        s.put(30).await;
        s.delivered(9).await;
        // Delivered, but the reader holds it all. (The trim may still be on its way here; had
        // it dropped anything, the reads and the horizon checks below would see it.)
        assert_eq!(s.log.bounds(s.id().await).unwrap().0, 0);

        let read = reader.read(3, 1 << 20).await.unwrap();
        assert_eq!(data(&read), vec![10, 11, 12]);
        assert_eq!(read[0].partition, LOG_SOURCE);
        let positions: BTreeMap<String, String> = read
            .into_iter()
            .map(|p| (p.partition, p.position))
            .collect();
        assert_eq!(positions[LOG_SOURCE], "3");
        reader.committed(&positions).await.unwrap();
        s.put(40).await;
        s.delivered(12).await;
        // Only the segment the reader committed past goes.
        s.horizon_reaches(3).await;

        // A reader opened again at the committed positions (a restart) skips nothing.
        drop(reader);
        let mut again = s
            .firehose
            .reader("ds", Some("app/1"), StartingPosition::Latest, positions)
            .await
            .unwrap();
        let read = again.read(100, 1 << 20).await.unwrap();
        assert_eq!(data(&read), vec![20, 21, 22, 30, 31, 32, 40, 41, 42]);

        // Released, the reader holds nothing: delivery trims up to what it delivered.
        s.firehose.release_reader("app/1", &[]).await.unwrap();
        s.put(50).await;
        s.delivered(15).await;
        s.horizon_reaches(12).await;
        assert!(
            !s.catalog.load_delivery_streams().await.unwrap()[0].checkpoints
                [crate::retention::READERS]
                .contains("app/1")
        );
        s.firehose.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_reader_starts_at_now_or_the_trim_horizon_and_wakes_on_puts() {
        let s = setup().await;
        s.put(10).await;
        let mut latest = s
            .firehose
            .reader("ds", None, StartingPosition::Latest, BTreeMap::new())
            .await
            .unwrap();
        assert!(latest.read(100, 1 << 20).await.unwrap().is_empty());
        assert_eq!(latest.positions()[LOG_SOURCE], "3");
        let woken = tokio::spawn(async move {
            latest.wait().await;
            latest.read(100, 1 << 20).await.unwrap()
        });
        s.put(20).await;
        assert_eq!(data(&woken.await.unwrap()), vec![20, 21, 22]);
        let mut oldest = s
            .firehose
            .reader("ds", None, StartingPosition::TrimHorizon, BTreeMap::new())
            .await
            .unwrap();
        assert_eq!(
            data(&oldest.read(100, 1 << 20).await.unwrap()),
            vec![10, 11, 12, 20, 21, 22]
        );
        let missing = s
            .firehose
            .reader("nope", None, StartingPosition::Latest, BTreeMap::new())
            .await;
        assert!(matches!(
            missing,
            Err(crate::FirehoseError::ResourceNotFound(_))
        ));
        s.firehose.close().await.unwrap();
    }
}
