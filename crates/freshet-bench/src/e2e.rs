//! `e2e` and `mixed` modes: producers and readers at the same time.
//!
//! `e2e` puts at a fixed rate while every shard is read two ways at once: a GetRecords poller
//! following the tail and a SubscribeToShard subscriber of a freshly registered consumer. Each
//! record carries its send time (see `stamp`), so each path's put→receipt latency is measured
//! per record. `mixed` runs the `put` producers flat out while GetRecords pollers follow the
//! tail, and reports both throughputs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use tokio::sync::{Mutex, mpsc, watch};

use crate::client::Kinesis;
use crate::get::{self, Follow};
use crate::put::{self, BatchSender, KinesisSender, PutPlan};
use crate::stats::{self, Tally};
use crate::subscribe;

/// After the producers stop, readers get this long to receive what was acknowledged.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// A paced producer gives up after this many failed requests in a row.
const MAX_CONSECUTIVE_ERRORS: u32 = 50;
/// Send slots queued ahead of busy workers before the pacer itself waits: enough to ride out an
/// fsync stall without losing the schedule, bounded so a dead server does not grow memory.
const SCHEDULE_BACKLOG: usize = 10_000;

pub struct PacedPlan {
    pub stream: String,
    pub record_size: usize,
    pub batch: usize,
    /// Records per second, over all workers.
    pub rate: f64,
    pub duration: Duration,
    /// Requests allowed in flight at once (one worker each).
    pub workers: usize,
    /// The pollers' sleep after an empty GetRecords (see `get::Follow::Tail`).
    pub poll_idle: Duration,
}

/// What `e2e` measured: the producers, the pollers and the subscribers.
pub struct E2eTally {
    pub put: Tally,
    /// How long the producers ran (the readers' final drain not included).
    pub put_secs: f64,
    pub polled: Tally,
    pub pushed: Tally,
}

pub async fn e2e(
    kinesis: &Kinesis,
    plan: PacedPlan,
    progress: ProgressBar,
) -> anyhow::Result<E2eTally> {
    let shards = get::list_shards(kinesis, &plan.stream).await?;
    // Unique per run, so a consumer left behind by an interrupted run is never reused.
    let name = format!(
        "freshet-bench-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let consumer = subscribe::register(kinesis, &plan.stream, &name).await?;
    let outcome = e2e_with_consumer(kinesis, &plan, &shards, &consumer.arn, progress).await;
    // Deregistered whatever happened, so repeated runs do not pile up consumers (AWS allows 20).
    let deregistered = consumer.deregister(kinesis).await;
    let tally = outcome?;
    deregistered?;
    Ok(tally)
}

async fn e2e_with_consumer(
    kinesis: &Kinesis,
    plan: &PacedPlan,
    shards: &[String],
    consumer_arn: &str,
    progress: ProgressBar,
) -> anyhow::Result<E2eTally> {
    let (stop_tx, stop) = watch::channel(false);
    let polled_count = Arc::new(AtomicU64::new(0));
    let pushed_count = Arc::new(AtomicU64::new(0));
    let follow = Follow::Tail {
        idle: plan.poll_idle,
        stop: stop.clone(),
    };
    let pollers = get::start_readers(
        kinesis,
        &plan.stream,
        follow,
        None,
        ProgressBar::hidden(),
        Arc::clone(&polled_count),
    )
    .await?;
    let subscribers = subscribe::start_subscribers(
        kinesis,
        consumer_arn,
        shards,
        stop,
        Arc::clone(&pushed_count),
    )
    .await;
    let subscribers = match subscribers {
        Ok(s) => s,
        Err(e) => {
            let _ = stop_tx.send(true);
            let _ = stats::join(pollers).await;
            return Err(e);
        }
    };
    let senders = (0..plan.workers)
        .map(|_| KinesisSender::new(kinesis, &plan.stream, plan.record_size))
        .collect();
    let started = Instant::now();
    let put = paced(senders, plan.batch, plan.rate, plan.duration, progress).await;
    let put_secs = started.elapsed().as_secs_f64();
    if let Ok(put) = &put {
        wait_for(put.records, &[&polled_count, &pushed_count]).await;
    }
    let _ = stop_tx.send(true);
    let polled = stats::join(pollers).await;
    let pushed = stats::join(subscribers).await;
    Ok(E2eTally {
        put: put?,
        put_secs,
        polled: polled.context("GetRecords poller")?,
        pushed: pushed.context("SubscribeToShard subscriber")?,
    })
}

/// `mixed`: the `put` producers and tail-following pollers, run together.
pub async fn mixed(
    kinesis: &Kinesis,
    stream: &str,
    senders: Vec<KinesisSender>,
    plan: Arc<PutPlan>,
    poll_idle: Duration,
    progress: ProgressBar,
) -> anyhow::Result<(Tally, Tally)> {
    let (stop_tx, stop) = watch::channel(false);
    let read_count = Arc::new(AtomicU64::new(0));
    let follow = Follow::Tail {
        idle: poll_idle,
        stop,
    };
    let readers = get::start_readers(
        kinesis,
        stream,
        follow,
        None,
        ProgressBar::hidden(),
        Arc::clone(&read_count),
    )
    .await?;
    let put = put::produce(senders, plan, progress).await;
    if let Ok(put) = &put {
        wait_for(put.records, &[&read_count]).await;
    }
    let _ = stop_tx.send(true);
    let read = stats::join(readers).await;
    Ok((put?, read?))
}

/// Waits until every counter has reached `target` or the grace time is over.
pub async fn wait_for(target: u64, counters: &[&AtomicU64]) {
    let until = Instant::now() + DRAIN_GRACE;
    while Instant::now() < until && counters.iter().any(|c| c.load(Ordering::Relaxed) < target) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `batch` records every `batch / rate` seconds for `duration`. The schedule is open-loop:
/// a pacer emits send slots on time whatever the server's latency, and one worker per sender
/// (each with one request in flight) takes them, so a slow answer delays neither the next send
/// nor the measurement of the records behind it.
pub async fn paced<S: BatchSender>(
    senders: Vec<S>,
    batch: usize,
    rate: f64,
    duration: Duration,
    progress: ProgressBar,
) -> anyhow::Result<Tally> {
    let (tx, rx) = mpsc::channel::<()>(SCHEDULE_BACKLOG);
    // Workers share one queue; the lock is held across `recv().await` on purpose: it is what
    // hands each slot to exactly one idle worker.
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::with_capacity(senders.len());
    for sender in senders {
        let worker = PacedWorker {
            sender,
            slots: Arc::clone(&rx),
            batch,
            progress: progress.clone(),
        };
        workers.push(tokio::spawn(worker.run()));
    }
    let period = Duration::from_secs_f64(batch as f64 / rate);
    let mut ticker = tokio::time::interval(period);
    // The timer wheel has millisecond resolution: shorter periods fire in bursts that catch up.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = tokio::time::Instant::now() + duration;
    loop {
        let tick = ticker.tick().await;
        if tick >= end {
            break;
        }
        if tx.send(()).await.is_err() {
            break; // every worker gave up; their errors come at join
        }
    }
    drop(tx);
    stats::join(workers).await
}

struct PacedWorker<S> {
    sender: S,
    slots: Arc<Mutex<mpsc::Receiver<()>>>,
    batch: usize,
    progress: ProgressBar,
}

impl<S: BatchSender> PacedWorker<S> {
    async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let mut consecutive_errors = 0;
        loop {
            let slot = self.slots.lock().await.recv().await;
            if slot.is_none() {
                break;
            }
            match self.sender.send(self.batch, &mut tally).await? {
                Ok(acked) => {
                    consecutive_errors = 0;
                    self.progress.inc(acked);
                }
                Err(error) => {
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        bail!("{consecutive_errors} put failures in a row; last: {error}");
                    }
                }
            }
        }
        Ok(tally)
    }
}
