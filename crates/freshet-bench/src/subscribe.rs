//! Enhanced fan-out readers: register a stream consumer, wait until it is ACTIVE, and hold one
//! SubscribeToShard subscription per shard, reading the records out of the event stream as they
//! are pushed. AWS ends a subscription after 5 minutes (and on some errors); the subscriber then
//! subscribes again after the last ContinuationSequenceNumber, as the KCL does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::client::{CallError, Kinesis};
use crate::eventstream::{Decoder, Message};
use crate::get::Record;
use crate::stamp;
use crate::stats::Tally;

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// A subscriber gives up after this many failed subscriptions in a row.
const MAX_CONSECUTIVE_ERRORS: u32 = 20;
/// AWS refuses a new subscription for the same consumer and shard within 5 s of the previous one
/// (ResourceInUseException); waiting a little longer than that always succeeds.
const RESUBSCRIBE_AFTER_IN_USE: Duration = Duration::from_millis(5_200);

#[derive(Deserialize)]
struct StreamSummary {
    #[serde(rename = "StreamDescriptionSummary")]
    summary: StreamArn,
}

#[derive(Deserialize)]
struct StreamArn {
    #[serde(rename = "StreamARN")]
    arn: String,
}

#[derive(Deserialize)]
struct ConsumerOutput {
    #[serde(rename = "Consumer", alias = "ConsumerDescription")]
    consumer: ConsumerFields,
}

#[derive(Deserialize)]
struct ConsumerFields {
    #[serde(rename = "ConsumerARN")]
    arn: String,
    #[serde(rename = "ConsumerStatus")]
    status: String,
}

#[derive(Deserialize)]
struct SubscribeToShardEvent {
    #[serde(rename = "Records")]
    records: Vec<Record>,
    #[serde(rename = "ContinuationSequenceNumber", default)]
    continuation: Option<String>,
}

/// A registered consumer; `deregister` removes it when the run is over.
pub struct Consumer {
    pub arn: String,
}

/// Registers `name` on the stream and waits until it is ACTIVE.
pub async fn register(kinesis: &Kinesis, stream: &str, name: &str) -> anyhow::Result<Consumer> {
    let summary: StreamSummary = kinesis
        .call_json("DescribeStreamSummary", &json!({ "StreamName": stream }))
        .await
        .context("DescribeStreamSummary")?;
    let input = json!({ "StreamARN": summary.summary.arn, "ConsumerName": name });
    let registered: ConsumerOutput = kinesis
        .call_json("RegisterStreamConsumer", &input)
        .await
        .context("RegisterStreamConsumer")?;
    let arn = registered.consumer.arn;
    let started = Instant::now();
    let mut status = registered.consumer.status;
    while status != "ACTIVE" {
        if started.elapsed() > ACTIVE_TIMEOUT {
            bail!("consumer {name} still {status} after {ACTIVE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let described: ConsumerOutput = kinesis
            .call_json("DescribeStreamConsumer", &json!({ "ConsumerARN": arn }))
            .await
            .context("DescribeStreamConsumer")?;
        status = described.consumer.status;
    }
    Ok(Consumer { arn })
}

impl Consumer {
    pub async fn deregister(self, kinesis: &Kinesis) -> anyhow::Result<()> {
        kinesis
            .call(
                "DeregisterStreamConsumer",
                kinesis.wire().encode(&json!({ "ConsumerARN": self.arn })),
            )
            .await
            .context("DeregisterStreamConsumer")?;
        Ok(())
    }
}

/// Starts one subscriber per shard and returns once every one has its first subscription (the
/// server has fixed the LATEST position), so records put afterwards are all delivered.
pub async fn start_subscribers(
    kinesis: &Kinesis,
    consumer_arn: &str,
    shards: &[String],
    stop: watch::Receiver<bool>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<Vec<JoinHandle<anyhow::Result<Tally>>>> {
    let mut tasks = Vec::with_capacity(shards.len());
    let mut ready = Vec::with_capacity(shards.len());
    for shard in shards {
        let (tx, rx) = oneshot::channel();
        let subscriber = Subscriber {
            kinesis: kinesis.clone(),
            consumer_arn: consumer_arn.to_owned(),
            shard: shard.clone(),
            stop: stop.clone(),
            received: Arc::clone(&received),
            ready: Some(tx),
        };
        tasks.push(tokio::spawn(subscriber.run()));
        ready.push(rx);
    }
    for (rx, shard) in ready.into_iter().zip(shards) {
        // A dropped sender means the task ended before subscribing: its error comes at join.
        if rx.await.is_err() {
            bail!("the subscriber of {shard} failed before its first subscription");
        }
    }
    Ok(tasks)
}

struct Subscriber {
    kinesis: Kinesis,
    consumer_arn: String,
    shard: String,
    stop: watch::Receiver<bool>,
    received: Arc<AtomicU64>,
    ready: Option<oneshot::Sender<()>>,
}

/// How one subscription ended.
enum End {
    /// The body ended cleanly (the 5-minute limit): subscribe again.
    Expired,
    /// The run is over.
    Stopped,
}

impl Subscriber {
    async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        let mut continuation: Option<String> = None;
        let mut consecutive_errors = 0;
        while !*self.stop.borrow() {
            let position = match &continuation {
                Some(seq) => json!({ "Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq }),
                None => json!({ "Type": "LATEST" }),
            };
            let input = json!({
                "ConsumerARN": self.consumer_arn,
                "ShardId": self.shard,
                "StartingPosition": position,
            });
            let sent = Instant::now();
            let outcome = match self
                .kinesis
                .call_streaming("SubscribeToShard", self.kinesis.wire().encode(&input))
                .await
            {
                Ok(body) => {
                    tally.latency(sent.elapsed());
                    if let Some(ready) = self.ready.take() {
                        let _ = ready.send(());
                    }
                    self.read(body, &mut tally, &mut continuation).await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(End::Stopped) => break,
                Ok(End::Expired) => consecutive_errors = 0,
                Err(error) => {
                    tally.error(&error);
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        bail!(
                            "{consecutive_errors} SubscribeToShard failures in a row on {}; last: {error}",
                            self.shard
                        );
                    }
                    let pause = match &error {
                        CallError::Api { kind, .. } if kind.starts_with("ResourceInUse") => {
                            RESUBSCRIBE_AFTER_IN_USE
                        }
                        _ => Duration::from_millis(200),
                    };
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = self.stop.changed() => {}
                    }
                }
            }
        }
        Ok(tally)
    }

    /// Reads one subscription's events until its body ends or the run stops.
    async fn read(
        &mut self,
        mut body: Incoming,
        tally: &mut Tally,
        continuation: &mut Option<String>,
    ) -> Result<End, CallError> {
        let mut decoder = Decoder::new();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                _ = self.stop.changed() => return Ok(End::Stopped),
            };
            let Some(frame) = frame else {
                decoder.finish().map_err(transport)?;
                return Ok(End::Expired);
            };
            let frame = frame.map_err(|e| CallError::Transport(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            decoder.push(&data);
            while let Some(message) = decoder.next_message().map_err(transport)? {
                self.handle(message, tally, continuation)?;
            }
        }
    }

    fn handle(
        &self,
        message: Message,
        tally: &mut Tally,
        continuation: &mut Option<String>,
    ) -> Result<(), CallError> {
        match message.header(":message-type") {
            Some("event") => {}
            Some("exception") | Some("error") => {
                let kind = message
                    .header(":exception-type")
                    .or_else(|| message.header(":error-code"))
                    .unwrap_or("unknown")
                    .to_owned();
                return Err(CallError::Api {
                    status: http::StatusCode::OK,
                    kind,
                    message: String::from_utf8_lossy(&message.payload)
                        .chars()
                        .take(200)
                        .collect(),
                });
            }
            other => {
                return Err(CallError::Transport(format!(
                    "event-stream message of type {other:?}"
                )));
            }
        }
        if message.header(":event-type") != Some("SubscribeToShardEvent") {
            return Ok(()); // initial-response
        }
        let now = stamp::unix_nanos();
        let event: SubscribeToShardEvent = self
            .kinesis
            .decode("SubscribeToShardEvent", &message.payload)?;
        for record in &event.records {
            tally.receipt(&record.data, now);
        }
        self.received
            .fetch_add(event.records.len() as u64, Ordering::Relaxed);
        if event.continuation.is_some() {
            *continuation = event.continuation;
        }
        Ok(())
    }
}

fn transport(e: crate::eventstream::FrameError) -> CallError {
    CallError::Transport(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Wire;
    use crate::eventstream::tests::encode;

    fn subscriber() -> Subscriber {
        let (_tx, stop) = watch::channel(false);
        Subscriber {
            kinesis: Kinesis::new("http://127.0.0.1:1", false, Wire::Json).unwrap(),
            consumer_arn: "arn".into(),
            shard: "shardId-000000000000".into(),
            stop,
            received: Arc::new(AtomicU64::new(0)),
            ready: None,
        }
    }

    fn decode(bytes: &[u8]) -> Message {
        let mut d = Decoder::new();
        d.push(bytes);
        d.next_message().unwrap().unwrap()
    }

    #[test]
    fn events_are_booked_with_their_latency() {
        let s = subscriber();
        let mut tally = Tally::new();
        let mut continuation = None;
        let sent = stamp::unix_nanos() - 3_000_000; // 3 ms ago
        let data = |n: u64| {
            use base64::Engine;
            let mut raw = stamp::encode(n).to_vec();
            raw.extend_from_slice(&[1, 2, 3]);
            base64::engine::general_purpose::STANDARD.encode(raw)
        };
        let payload = format!(
            r#"{{"Records":[{{"Data":"{}"}},{{"Data":"{}"}}],"ContinuationSequenceNumber":"42","MillisBehindLatest":0}}"#,
            data(sent),
            data(sent)
        );
        let initial = encode(
            &[
                (":message-type", "event"),
                (":event-type", "initial-response"),
            ],
            b"{}",
        );
        s.handle(decode(&initial), &mut tally, &mut continuation)
            .unwrap();
        assert_eq!(tally.records, 0);
        let event = encode(
            &[
                (":message-type", "event"),
                (":event-type", "SubscribeToShardEvent"),
            ],
            payload.as_bytes(),
        );
        s.handle(decode(&event), &mut tally, &mut continuation)
            .unwrap();
        assert_eq!(tally.records, 2);
        assert_eq!(tally.bytes, 30);
        assert_eq!(s.received.load(Ordering::Relaxed), 2);
        assert_eq!(continuation.as_deref(), Some("42"));
        assert!(tally.receipt_us.min() >= 3_000);
    }

    #[test]
    fn exceptions_end_the_subscription_with_their_type() {
        let s = subscriber();
        let message = encode(
            &[
                (":message-type", "exception"),
                (":exception-type", "ResourceInUseException"),
            ],
            br#"{"message":"taken over"}"#,
        );
        let err = s
            .handle(decode(&message), &mut Tally::new(), &mut None)
            .unwrap_err();
        assert!(matches!(err, CallError::Api { ref kind, .. } if kind == "ResourceInUseException"));
    }
}
