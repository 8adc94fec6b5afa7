//! Kinesis Video Streams' CloudWatch metrics (namespace `AWS/KinesisVideo`, dimension
//! `StreamName`), rendered on `/metrics` under the `kinesisvideo_` prefix: each API's
//! `.Requests`, `.Success` and `.Latency`, and what PutMedia took in and GetMedia sent out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use freshet_runtime::SharedClock;
use freshet_runtime::metrics::{Call, Counter, Exposition, Histogram};
use parking_lot::Mutex;

const PREFIX: &str = "kinesisvideo";
const NAMESPACE: &str = "AWS/KinesisVideo";

/// The APIs whose calls are metered, by the name CloudWatch gives their metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    PutMedia,
    GetMedia,
    GetMediaForFragmentList,
    ListFragments,
    GetHLSStreamingSessionURL,
    GetHLSMasterPlaylist,
    GetHLSMediaPlaylist,
    GetMP4InitFragment,
    GetMP4MediaFragment,
    GetTSFragment,
    GetDASHStreamingSessionURL,
    GetDASHManifest,
    GetClip,
    GetImages,
}

const OPS: [Op; 14] = [
    Op::PutMedia,
    Op::GetMedia,
    Op::GetMediaForFragmentList,
    Op::ListFragments,
    Op::GetHLSStreamingSessionURL,
    Op::GetHLSMasterPlaylist,
    Op::GetHLSMediaPlaylist,
    Op::GetMP4InitFragment,
    Op::GetMP4MediaFragment,
    Op::GetTSFragment,
    Op::GetDASHStreamingSessionURL,
    Op::GetDASHManifest,
    Op::GetClip,
    Op::GetImages,
];

impl Op {
    /// The op a streaming session's GET serves, by its path's last segment.
    pub fn of_action(action: &str) -> Option<Op> {
        Some(match action {
            "getHLSMasterPlaylist.m3u8" => Op::GetHLSMasterPlaylist,
            "getHLSMediaPlaylist.m3u8" => Op::GetHLSMediaPlaylist,
            "getMP4InitFragment.mp4" => Op::GetMP4InitFragment,
            "getMP4MediaFragment.mp4" => Op::GetMP4MediaFragment,
            "getTSFragment.ts" => Op::GetTSFragment,
            "getDASHManifest.mpd" => Op::GetDASHManifest,
            _ => return None,
        })
    }

    fn name(self) -> String {
        format!("{self:?}")
    }
}

/// One stream's counters.
#[derive(Debug)]
pub struct StreamMetrics {
    calls: Vec<Call>,
    pub incoming_bytes: Counter,
    pub incoming_fragments: Counter,
    pub incoming_frames: Counter,
    pub error_acks: Counter,
    pub connection_errors: Counter,
    /// From a fragment's last byte received to its append being durable.
    pub persist_latency: Histogram,
    pub outgoing_bytes: Counter,
    pub outgoing_fragments: Counter,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        StreamMetrics {
            calls: OPS.iter().map(|_| Call::default()).collect(),
            incoming_bytes: Counter::default(),
            incoming_fragments: Counter::default(),
            incoming_frames: Counter::default(),
            error_acks: Counter::default(),
            connection_errors: Counter::default(),
            persist_latency: Histogram::latency(),
            outgoing_bytes: Counter::default(),
            outgoing_fragments: Counter::default(),
        }
    }
}

impl StreamMetrics {
    pub fn call(&self, op: Op) -> &Call {
        &self.calls[op as usize]
    }

    /// Runs an operation on the stream, metering it.
    pub async fn timed<T, E>(
        &self,
        clock: &SharedClock,
        op: Op,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = clock.elapsed();
        let result = work.await;
        let took = clock.elapsed().saturating_sub(started);
        self.call(op).finished(took, result.is_ok());
        result
    }

    fn render(&self, stream: &str, e: &mut Exposition) {
        let labels = [("StreamName", stream)];
        for (op, call) in OPS.iter().zip(&self.calls) {
            call.render(e, PREFIX, NAMESPACE, &op.name(), &labels);
        }
        let counters = [
            ("PutMedia.IncomingBytes", "Bytes", &self.incoming_bytes),
            (
                "PutMedia.IncomingFragments",
                "Count",
                &self.incoming_fragments,
            ),
            ("PutMedia.IncomingFrames", "Count", &self.incoming_frames),
            ("PutMedia.ErrorAckCount", "Count", &self.error_acks),
            (
                "PutMedia.ConnectionErrors",
                "Count",
                &self.connection_errors,
            ),
            ("GetMedia.OutgoingBytes", "Bytes", &self.outgoing_bytes),
            (
                "GetMedia.OutgoingFragments",
                "Count",
                &self.outgoing_fragments,
            ),
        ];
        for (name, unit, counter) in counters {
            let help = format!("{NAMESPACE} {name} ({unit})");
            e.counter(PREFIX, name, &help, &labels, counter.get());
        }
        let name = "PutMedia.FragmentPersistLatency";
        let help = format!("{NAMESPACE} {name} (Milliseconds)");
        e.histogram(PREFIX, name, &help, &labels, &self.persist_latency);
    }
}

/// Every stream's counters, by stream uid, with the stream's name.
#[derive(Default)]
pub struct VideoMetrics {
    streams: Mutex<HashMap<u64, (String, Arc<StreamMetrics>)>>,
}

impl VideoMetrics {
    /// Starts metering a stream (created, or found at start).
    pub fn register(&self, uid: u64, name: &str) {
        let mut streams = self.streams.lock();
        streams
            .entry(uid)
            .or_insert_with(|| (name.to_string(), Arc::default()));
    }

    /// A registered stream's counters.
    pub fn get(&self, uid: u64) -> Arc<StreamMetrics> {
        let streams = self.streams.lock();
        // Every stream is registered when it appears; one that is not (deleted while a
        // request ran) gets counters that are never shown.
        match streams.get(&uid) {
            Some((_, m)) => m.clone(),
            None => Arc::default(),
        }
    }

    pub fn forget(&self, uid: u64) {
        self.streams.lock().remove(&uid);
    }

    /// Adds every stream's metrics to a scrape.
    pub fn render(&self, e: &mut Exposition) {
        let mut streams: Vec<(String, Arc<StreamMetrics>)> =
            self.streams.lock().values().cloned().collect();
        streams.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, m) in streams {
            m.render(&name, e);
        }
    }
}
