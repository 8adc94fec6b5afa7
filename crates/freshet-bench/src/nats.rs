//! NATS JetStream as a peer (an endpoint `nats://HOST:PORT`): the same `put` and `e2e`
//! workloads, so scripts/bench-compare.sh can set Freshet beside a strong streaming server.
//!
//! A Kinesis shard maps to a file-store JetStream stream (`{stream}_{k}` on subject
//! `{stream}.{k}`), and each record goes to a random one, as random partition keys spread
//! records over shards. A "batch" of `n` records is `n` publishes sent back to back whose
//! acknowledgements are then awaited together: the pipelined equivalent of one PutRecords.
//! In `e2e` an ordered push consumer per stream (DeliverPolicy New, no acks: the JetStream
//! counterpart of a SubscribeToShard subscription) measures put→receipt latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::CallError;
use crate::put::BatchSender;
use crate::stamp::{self, Data};
use crate::stats::Tally;

/// Distinct random payloads per producer.
const POOL_RECORDS: usize = 64;

/// A connection to a JetStream server, with the bench's streams created.
pub struct JetStream {
    context: jetstream::Context,
    streams: Vec<stream::Stream>,
    subjects: Arc<[async_nats::Subject]>,
}

impl JetStream {
    /// Connects to `endpoint` (`nats://HOST:PORT`) and creates the `shards` streams if missing.
    pub async fn connect(endpoint: &str, stream: &str, shards: u32) -> anyhow::Result<Self> {
        let client = async_nats::connect(endpoint)
            .await
            .with_context(|| format!("connecting to {endpoint}"))?;
        let context = jetstream::new(client);
        let mut streams = Vec::new();
        let mut subjects = Vec::new();
        for k in 0..shards {
            let subject = format!("{stream}.{k}");
            let config = stream::Config {
                name: format!("{stream}_{k}"),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                ..Default::default()
            };
            let created = context
                .get_or_create_stream(config)
                .await
                .with_context(|| format!("creating JetStream stream {stream}_{k}"))?;
            streams.push(created);
            subjects.push(async_nats::Subject::from(subject));
        }
        Ok(JetStream {
            context,
            streams,
            subjects: subjects.into(),
        })
    }

    pub fn sender(&self, record_size: usize) -> JetStreamSender {
        let mut rng = StdRng::from_entropy();
        let stamped = record_size >= stamp::STAMP_LEN;
        let tail = if stamped {
            record_size - stamp::STAMP_LEN
        } else {
            record_size
        };
        let pool = (0..POOL_RECORDS)
            .map(|_| {
                let mut raw = vec![0u8; tail];
                rng.fill_bytes(&mut raw);
                raw
            })
            .collect();
        JetStreamSender {
            context: self.context.clone(),
            subjects: Arc::clone(&self.subjects),
            pool,
            rng,
            stamped,
            record_size,
        }
    }

    /// One ordered push consumer per stream from the next message on, each read by a task until
    /// `stop` turns true. Returns once every consumer exists.
    pub async fn start_consumers(
        &self,
        stop: watch::Receiver<bool>,
        received: Arc<AtomicU64>,
    ) -> anyhow::Result<Vec<JoinHandle<anyhow::Result<Tally>>>> {
        let mut tasks = Vec::new();
        for s in &self.streams {
            let config = consumer::push::OrderedConfig {
                deliver_subject: self.context.client().new_inbox(),
                deliver_policy: consumer::DeliverPolicy::New,
                ..Default::default()
            };
            let messages = s
                .create_consumer(config)
                .await
                .context("creating an ordered JetStream consumer")?
                .messages()
                .await
                .context("starting an ordered JetStream consumer")?;
            let mut stop = stop.clone();
            let received = Arc::clone(&received);
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::new();
                tokio::pin!(messages);
                loop {
                    let message = tokio::select! {
                        m = messages.next() => m,
                        _ = stop.changed() => break,
                    };
                    let Some(message) = message else { break };
                    match message {
                        Ok(m) => {
                            tally.receipt(&Data::from_bytes(&m.payload), stamp::unix_nanos());
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tally.error(&CallError::Peer(e.to_string())),
                    }
                }
                Ok(tally)
            }));
        }
        Ok(tasks)
    }
}

/// Publishes batches of records to random streams and awaits their acknowledgements.
pub struct JetStreamSender {
    context: jetstream::Context,
    subjects: Arc<[async_nats::Subject]>,
    pool: Vec<Vec<u8>>,
    rng: StdRng,
    stamped: bool,
    record_size: usize,
}

impl BatchSender for JetStreamSender {
    async fn send(
        &mut self,
        n: usize,
        tally: &mut Tally,
    ) -> anyhow::Result<Result<u64, CallError>> {
        let sent = Instant::now();
        let now = stamp::unix_nanos();
        let mut acks = Vec::with_capacity(n);
        let mut first_error = None;
        for _ in 0..n {
            let mut payload = Vec::with_capacity(self.record_size);
            if self.stamped {
                payload.extend_from_slice(&stamp::encode(now));
            }
            payload.extend_from_slice(&self.pool[self.rng.gen_range(0..self.pool.len())]);
            let subject = self.subjects[self.rng.gen_range(0..self.subjects.len())].clone();
            match self.context.publish(subject, Bytes::from(payload)).await {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    first_error.get_or_insert_with(|| CallError::Peer(e.to_string()));
                }
            }
        }
        let mut acked = 0;
        for ack in acks {
            match ack.await {
                Ok(_) => acked += 1,
                Err(e) => {
                    first_error.get_or_insert_with(|| CallError::Peer(e.to_string()));
                }
            }
        }
        tally.latency(sent.elapsed());
        tally.records += acked;
        tally.bytes += acked * self.record_size as u64;
        match first_error {
            // Some publishes of the batch failed: the batch counts as one failed request.
            Some(error) => {
                tally.error(&error);
                Ok(Err(error))
            }
            None => Ok(Ok(acked)),
        }
    }
}

/// What `e2e` against JetStream measured: the producers and the consumers.
pub struct JetStreamE2e {
    pub put: Tally,
    /// How long the producers ran (the consumers' final drain not included).
    pub put_secs: f64,
    pub consumed: Tally,
}

/// Publishes at `rate` for `duration` while the ordered consumers read.
pub async fn e2e(
    js: &JetStream,
    workers: usize,
    record_size: usize,
    batch: usize,
    rate: f64,
    duration: Duration,
    progress: ProgressBar,
) -> anyhow::Result<JetStreamE2e> {
    let (stop_tx, stop) = watch::channel(false);
    let received = Arc::new(AtomicU64::new(0));
    let consumers = js.start_consumers(stop, Arc::clone(&received)).await?;
    let senders = (0..workers).map(|_| js.sender(record_size)).collect();
    let started = Instant::now();
    let put = crate::e2e::paced(senders, batch, rate, duration, progress).await;
    let put_secs = started.elapsed().as_secs_f64();
    if let Ok(put) = &put {
        crate::e2e::wait_for(put.records, &[&received]).await;
    }
    let _ = stop_tx.send(true);
    let consumed = crate::stats::join(consumers).await;
    Ok(JetStreamE2e {
        put: put?,
        put_secs,
        consumed: consumed?,
    })
}
