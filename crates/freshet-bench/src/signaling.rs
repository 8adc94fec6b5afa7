//! `signaling`: KVS WebRTC signaling at scale. Makes (or finds again) C SINGLE_MASTER channels,
//! connects a master and one viewer to each (2C WebSockets, the server's resident memory read
//! before and after), then runs rounds in which every viewer sends an SDP offer to its master on
//! an open-loop schedule at a total rate over all channels, each master answers its viewer, and
//! the viewer measures offer-sent → answer-received. No media and no WebRTC peer is involved:
//! signaling ends where peers would start ICE.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::rest::KinesisVideo;
use crate::sdp::{self, Kind};
use crate::stats::{self, Tally};
use crate::{LatencyMs, Mode, cpu, limits, stamp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Descriptors this process needs besides its WebSockets (stdio, the runtime's epoll and
/// wakers): few, since the control plane's pooled connections are closed before connecting.
const SPARE_FILES: u64 = 64;
/// A handshake that takes longer than this is counted as failed (a server out of descriptors
/// may leave connections in its backlog without ever accepting them).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The server finishes a connection's set-up (its relay queue, its task) just after the
/// handshake answer the client waits for; memory is read once that has settled.
const SETTLE: Duration = Duration::from_secs(1);
/// The schedule starts this long after the tasks are spawned, so spawning 2C tasks does not eat
/// into the first slots.
const LEAD: Duration = Duration::from_millis(500);
/// How long answers may trail the last scheduled offer before the run ends without them.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Plan {
    pub endpoint: String,
    pub channels: usize,
    pub prefix: String,
    pub concurrency: usize,
    pub rounds: u32,
    pub rate: f64,
    pub sdp_size: usize,
    pub ws_read_buffer: usize,
    pub server_pid: Option<u32>,
    pub no_progress: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct SignalingResult {
    pub mode: Mode,
    pub endpoint: String,
    /// Where the WebSockets went (GetSignalingChannelEndpoint's WSS answer).
    pub signaling_endpoint: String,
    pub channels: usize,
    pub channels_created: usize,
    pub channels_reused: usize,
    /// Listing the channels and creating the missing ones.
    pub setup_secs: f64,
    pub connect: ConnectReport,
    pub exchange: ExchangeReport,
    /// The server's soft open-files limit (`/proc/PID/limits`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_open_files_limit: Option<u64>,
    /// CPU seconds this load generator used over the whole run.
    pub client_cpu_secs: Option<f64>,
}

/// Connecting a master and a viewer to every channel.
#[derive(Serialize, Clone, Debug)]
pub struct ConnectReport {
    /// Handshakes tried (2 per channel) and answered with 101.
    pub attempted: usize,
    pub connected: usize,
    /// Channels with both their master and their viewer connected: the ones that exchange.
    pub pairs: usize,
    pub concurrency: usize,
    pub secs: f64,
    pub connections_per_sec: f64,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, Vec<String>>,
    pub server_cpu_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    /// This process's resident memory per open WebSocket (client side), for comparison.
    pub client_bytes_per_connection: Option<f64>,
}

/// The server's resident memory (VmRSS) around the connections.
#[derive(Serialize, Clone, Debug)]
pub struct MemoryReport {
    pub server_rss_before_bytes: u64,
    pub server_rss_connected_bytes: u64,
    pub server_rss_after_exchange_bytes: u64,
    /// (connected − before) / connections.
    pub server_bytes_per_connection: f64,
    /// Descriptors the server had open with every connection up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_open_files: Option<u64>,
}

/// The offer/answer rounds.
#[derive(Serialize, Clone, Debug)]
pub struct ExchangeReport {
    pub rounds: u32,
    /// Offers per second asked for, over all channels.
    pub target_rate: f64,
    /// `messagePayload` characters of an offer and of an answer (base64).
    pub offer_payload_bytes: usize,
    pub answer_payload_bytes: usize,
    pub offers_sent: u64,
    /// Offers the masters received (relayed by the server).
    pub offers_relayed: u64,
    pub answers_sent: u64,
    /// Answers the viewers received.
    pub answers_relayed: u64,
    /// Offers sent whose answer had not come back when the run ended.
    pub missing: u64,
    /// From the first scheduled offer to the last answer (or the drain's end).
    pub secs: f64,
    pub offers_per_sec: f64,
    /// Relayed messages (offers + answers) per second.
    pub messages_per_sec: f64,
    /// Offer sent → answer received, per exchange.
    pub latency_ms: LatencyMs,
    pub server_cpu_secs: Option<f64>,
    pub server_cpu_secs_per_1000_messages: Option<f64>,
    /// CPU seconds of this process over the rounds: on one machine, what the server could not
    /// have.
    pub client_cpu_secs: Option<f64>,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, Vec<String>>,
}

pub async fn run(plan: Plan) -> anyhow::Result<SignalingResult> {
    anyhow::ensure!(plan.channels >= 1, "--channels must be at least 1");
    anyhow::ensure!(plan.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(
        plan.ws_read_buffer >= 1024,
        "--ws-read-buffer must be at least 1024"
    );
    anyhow::ensure!(
        plan.rate.is_finite() && plan.rate > 0.0,
        "--rate must be a positive number"
    );
    let offer_tail = sdp::payload_tail(Kind::Offer, plan.sdp_size);
    let answer_tail = sdp::payload_tail(Kind::Answer, plan.sdp_size);
    let payload_bytes = |tail: &str| stamp::STAMP_B64_LEN + tail.len();
    // AWS refuses a messagePayload over 10 KiB, and so does Freshet.
    anyhow::ensure!(
        payload_bytes(&offer_tail).max(payload_bytes(&answer_tail)) <= 10 * 1024,
        "--sdp-size {} makes payloads over the 10 KiB messagePayload limit",
        plan.sdp_size
    );

    let sockets = 2 * plan.channels as u64;
    let wanted = sockets + SPARE_FILES;
    let allowed = limits::raise_open_files(wanted);
    if allowed < wanted {
        bail!(
            "{sockets} WebSockets need about {wanted} open files and this process may open \
             {allowed}: raise the limit (`ulimit -n {wanted}`; past the hard limit, `ulimit -Hn`, \
             only a privileged process may) or run fewer --channels"
        );
    }
    let server_open_files_limit = plan.server_pid.and_then(limits::open_files_limit);
    if let Some(limit) = server_open_files_limit
        && limit < sockets + 64
    {
        eprintln!(
            "warning: the server may open {limit} files and {sockets} connections need more: \
             start it under `ulimit -n {}`; connections past its limit will fail",
            sockets + 1024
        );
    }
    let client_cpu_before = cpu::process_cpu_secs(std::process::id()).ok();

    let video = KinesisVideo::new(&plan.endpoint)?;
    let started = Instant::now();
    let bar = bar(
        plan.no_progress,
        "{bar:40} {human_pos}/{human_len} channels created ({per_sec}) {elapsed}",
    );
    let channels = video
        .ensure_channels(&plan.prefix, plan.channels, plan.concurrency, &bar)
        .await?;
    bar.finish_and_clear();
    let setup_secs = started.elapsed().as_secs_f64();
    let signaling_endpoint = wss_endpoint(&video, &channels.arns[0], &plan.endpoint).await?;
    // Closes the pool's idle keep-alive connections, which would hold descriptors on both sides.
    drop(video);

    let (mut connect, masters, viewers) =
        connect_all(&plan, &signaling_endpoint, &channels.arns).await;
    let pairs: Vec<(Socket, Socket)> = masters
        .into_iter()
        .zip(viewers)
        .filter_map(|(m, v)| Some((m?, v?)))
        .collect();
    connect.pairs = pairs.len();
    if pairs.is_empty() {
        bail!(
            "no channel got both its master and its viewer connected: {:?}",
            connect.error_samples
        );
    }

    let (exchange, rss_after) = exchange(&plan, pairs, offer_tail, answer_tail).await?;
    if let (Some(memory), Some(after)) = (&mut connect.memory, rss_after) {
        memory.server_rss_after_exchange_bytes = after;
    }
    let client_cpu_secs = client_cpu_before
        .and_then(|before| Some(cpu::process_cpu_secs(std::process::id()).ok()? - before));
    Ok(SignalingResult {
        mode: Mode::Signaling,
        endpoint: plan.endpoint.clone(),
        signaling_endpoint,
        channels: plan.channels,
        channels_created: channels.created,
        channels_reused: channels.reused,
        setup_secs,
        connect,
        exchange,
        server_open_files_limit,
        client_cpu_secs,
    })
}

/// The WSS endpoint GetSignalingChannelEndpoint gives (every channel of one server shares it).
async fn wss_endpoint(video: &KinesisVideo, arn: &str, endpoint: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Endpoint {
        protocol: String,
        resource_endpoint: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Output {
        resource_endpoint_list: Vec<Endpoint>,
    }
    let out: Output = video
        .call(
            "getSignalingChannelEndpoint",
            &serde_json::json!({
                "ChannelARN": arn,
                "SingleMasterChannelEndpointConfiguration": { "Protocols": ["WSS"], "Role": "MASTER" },
            }),
        )
        .await
        .context("GetSignalingChannelEndpoint")?;
    let wss = out
        .resource_endpoint_list
        .into_iter()
        .find(|e| e.protocol == "WSS")
        .map(|e| e.resource_endpoint)
        .with_context(|| format!("no WSS endpoint from {endpoint}"))?;
    anyhow::ensure!(
        wss.starts_with("ws://"),
        "the signaling endpoint is {wss}; the bench speaks plain ws:// only (run the server without TLS)"
    );
    Ok(wss.trim_end_matches('/').to_owned())
}

#[derive(Clone, Copy)]
enum Role {
    Master,
    Viewer,
}

fn viewer_id(channel: usize) -> String {
    format!("viewer-{channel}")
}

/// The connection URL, the ARN percent-encoded as the SDKs send it.
fn url(wss: &str, arn: &str, role: Role, channel: usize) -> String {
    let mut url = format!("{wss}/?X-Amz-ChannelARN={}", percent_encode(arn));
    if let Role::Viewer = role {
        url.push_str("&X-Amz-ClientId=");
        url.push_str(&viewer_id(channel));
    }
    url
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Connects every channel's master and viewer, `concurrency` handshakes at a time, masters
/// first so that a channel's two connections are made close together.
async fn connect_all(
    plan: &Plan,
    wss: &str,
    arns: &[String],
) -> (ConnectReport, Vec<Option<Socket>>, Vec<Option<Socket>>) {
    let rss = |pid: u32| limits::resident_bytes(pid).ok();
    let me = std::process::id();
    let server_rss_before = plan.server_pid.and_then(rss);
    let client_rss_before = rss(me);
    let cpu_before = plan.server_pid.and_then(|p| cpu::process_cpu_secs(p).ok());
    let bar = bar(
        plan.no_progress,
        "{bar:40} {human_pos}/{human_len} connections ({per_sec}) {elapsed}",
    );
    bar.set_length(2 * arns.len() as u64);
    let started = Instant::now();
    let targets = arns
        .iter()
        .enumerate()
        .flat_map(|(i, arn)| [(i, arn, Role::Master), (i, arn, Role::Viewer)]);
    let mut attempts = stream::iter(targets)
        .map(|(i, arn, role)| {
            let url = url(wss, arn, role, i);
            async move { (i, role, connect(url, plan.ws_read_buffer).await) }
        })
        .buffer_unordered(plan.concurrency);
    let mut masters: Vec<Option<Socket>> = arns.iter().map(|_| None).collect();
    let mut viewers: Vec<Option<Socket>> = arns.iter().map(|_| None).collect();
    let mut errors = Tally::new();
    let mut connected = 0;
    while let Some((i, role, result)) = attempts.next().await {
        bar.inc(1);
        match result {
            Ok(socket) => {
                connected += 1;
                match role {
                    Role::Master => masters[i] = Some(socket),
                    Role::Viewer => viewers[i] = Some(socket),
                }
            }
            Err((kind, text)) => errors.note_error(kind, text),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    tokio::time::sleep(SETTLE).await;
    let server_cpu_secs = plan
        .server_pid
        .zip(cpu_before)
        .and_then(|(p, before)| Some(cpu::process_cpu_secs(p).ok()? - before));
    let per_connection = |before: u64, after: u64| {
        (connected > 0).then(|| (after as f64 - before as f64) / connected as f64)
    };
    let memory = plan.server_pid.and_then(|pid| {
        let before = server_rss_before?;
        let after = rss(pid)?;
        Some(MemoryReport {
            server_rss_before_bytes: before,
            server_rss_connected_bytes: after,
            server_rss_after_exchange_bytes: after,
            server_bytes_per_connection: per_connection(before, after).unwrap_or(0.0),
            server_open_files: limits::open_files(pid),
        })
    });
    let client_bytes_per_connection = client_rss_before
        .zip(rss(me))
        .and_then(|(b, a)| per_connection(b, a));
    let report = ConnectReport {
        attempted: 2 * arns.len(),
        connected,
        pairs: 0,
        concurrency: plan.concurrency,
        secs,
        connections_per_sec: if secs > 0.0 {
            connected as f64 / secs
        } else {
            0.0
        },
        errors: errors.errors,
        error_samples: errors.error_samples,
        server_cpu_secs,
        memory,
        client_bytes_per_connection,
    };
    (report, masters, viewers)
}

/// One handshake; a failure as (kind to count it by, message).
async fn connect(url: String, read_buffer: usize) -> Result<Socket, (String, String)> {
    // Frames go out as they are made: an offer is never held back to fill a write buffer.
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0);
    let handshake = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(connect_error(e)),
        Err(_) => Err((
            "timeout".into(),
            format!("no handshake answer within {CONNECT_TIMEOUT:?}"),
        )),
    }
}

fn connect_error(e: tungstenite::Error) -> (String, String) {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect::<String>();
            (
                format!("HTTP {}", response.status().as_u16()),
                format!("refused with {}: {body}", response.status()),
            )
        }
        tungstenite::Error::Io(io) => (format!("io {:?}", io.kind()), io.to_string()),
        other => ("websocket".into(), other.to_string()),
    }
}

/// What the connection tasks count, shared.
struct Exchange {
    offers_sent: AtomicU64,
    offers_relayed: AtomicU64,
    answers_sent: AtomicU64,
    answers_relayed: AtomicU64,
    /// Answers that end the run when all have come.
    expected: u64,
    all_answered: Notify,
    latency_us: Mutex<Histogram<u64>>,
    errors: Mutex<Tally>,
    progress: ProgressBar,
}

impl Exchange {
    fn error(&self, kind: impl Into<String>, text: impl Into<String>) {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note_error(kind.into(), text.into());
    }
}

/// A relayed frame as a client receives it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relayed<'a> {
    #[serde(borrow, default)]
    sender_client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow, default)]
    message_payload: Option<Cow<'a, str>>,
    #[serde(default)]
    status_response: Option<serde_json::Value>,
}

/// Runs the rounds over every connected pair; returns the report and the server's resident
/// memory after them.
async fn exchange(
    plan: &Plan,
    pairs: Vec<(Socket, Socket)>,
    offer_tail: String,
    answer_tail: String,
) -> anyhow::Result<(ExchangeReport, Option<u64>)> {
    let count = pairs.len();
    let expected = count as u64 * u64::from(plan.rounds);
    let bar = bar(
        plan.no_progress,
        "{bar:40} {human_pos}/{human_len} answers ({per_sec}) {elapsed}",
    );
    bar.set_length(expected);
    let shared = Arc::new(Exchange {
        offers_sent: AtomicU64::new(0),
        offers_relayed: AtomicU64::new(0),
        answers_sent: AtomicU64::new(0),
        answers_relayed: AtomicU64::new(0),
        expected,
        all_answered: Notify::new(),
        latency_us: Mutex::new(stats::histogram()),
        errors: Mutex::new(Tally::new()),
        progress: bar.clone(),
    });
    let offer_payload_bytes = stamp::STAMP_B64_LEN + offer_tail.len();
    let answer_payload_bytes = stamp::STAMP_B64_LEN + answer_tail.len();
    let offer_tail: Arc<str> = offer_tail.into();
    let answer_tail: Arc<str> = answer_tail.into();

    let cpu_before = plan
        .server_pid
        .map(cpu::process_cpu_secs)
        .transpose()
        .context("reading the server's CPU time")?;
    let client_cpu_before = cpu::process_cpu_secs(std::process::id()).ok();
    let start = Instant::now() + LEAD;
    // Offer k (round r, pair j: k = r·count + j) is due at start + k/rate: one schedule over
    // all channels, kept whatever the answers do (open loop).
    let schedule = Schedule {
        start,
        pairs: count,
        rounds: plan.rounds,
        rate: plan.rate,
    };
    let mut tasks = Vec::with_capacity(2 * count);
    for (j, (master_socket, viewer_socket)) in pairs.into_iter().enumerate() {
        tasks.push(tokio::spawn(master(
            master_socket,
            answer_tail.clone(),
            shared.clone(),
        )));
        tasks.push(tokio::spawn(viewer(
            viewer_socket,
            j,
            schedule,
            offer_tail.clone(),
            shared.clone(),
        )));
    }
    let last_due = schedule.due(plan.rounds - 1, count - 1);
    let answered =
        tokio::time::timeout_at((last_due + DRAIN).into(), shared.all_answered.notified())
            .await
            .is_ok();
    let end = Instant::now();
    let server_cpu_secs = match (plan.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(
            cpu::process_cpu_secs(pid).context("the server process ended during the run")? - before,
        ),
        _ => None,
    };
    let client_cpu_secs = client_cpu_before
        .and_then(|before| Some(cpu::process_cpu_secs(std::process::id()).ok()? - before));
    bar.finish_and_clear();
    let rss_after = plan.server_pid.and_then(|p| limits::resident_bytes(p).ok());
    for task in &tasks {
        task.abort();
    }

    let secs = end.saturating_duration_since(start).as_secs_f64();
    let per_sec = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
    let offers_sent = shared.offers_sent.load(Ordering::Relaxed);
    let offers_relayed = shared.offers_relayed.load(Ordering::Relaxed);
    let answers_relayed = shared.answers_relayed.load(Ordering::Relaxed);
    let messages = offers_relayed + answers_relayed;
    let mut errors = std::mem::replace(
        &mut *shared.errors.lock().unwrap_or_else(PoisonError::into_inner),
        Tally::new(),
    );
    if !answered {
        errors.note_error(
            "unanswered at the end".into(),
            format!(
                "{} of {expected} answers within {DRAIN:?} of the last offer",
                answers_relayed
            ),
        );
    }
    let latency_ms = LatencyMs::from_us(
        &shared
            .latency_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let report = ExchangeReport {
        rounds: plan.rounds,
        target_rate: plan.rate,
        offer_payload_bytes,
        answer_payload_bytes,
        offers_sent,
        offers_relayed,
        answers_sent: shared.answers_sent.load(Ordering::Relaxed),
        answers_relayed,
        missing: offers_sent.saturating_sub(answers_relayed),
        secs,
        offers_per_sec: per_sec(offers_sent),
        messages_per_sec: per_sec(messages),
        latency_ms,
        server_cpu_secs,
        server_cpu_secs_per_1000_messages: server_cpu_secs
            .filter(|_| messages > 0)
            .map(|c| c * 1000.0 / messages as f64),
        client_cpu_secs,
        errors: errors.errors,
        error_samples: errors.error_samples,
    };
    Ok((report, rss_after))
}

#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    pairs: usize,
    rounds: u32,
    rate: f64,
}

impl Schedule {
    fn due(&self, round: u32, pair: usize) -> Instant {
        let k = round as f64 * self.pairs as f64 + pair as f64;
        self.start + Duration::from_secs_f64(k / self.rate)
    }
}

/// A viewer: sends its offer in each round at its slot, and times the answers.
async fn viewer(
    socket: Socket,
    pair: usize,
    schedule: Schedule,
    offer_tail: Arc<str>,
    shared: Arc<Exchange>,
) {
    let (mut out, mut incoming) = socket.split();
    let mut round = 0;
    let next_offer = tokio::time::sleep_until(schedule.due(0, pair).into());
    tokio::pin!(next_offer);
    loop {
        tokio::select! {
            () = &mut next_offer, if round < schedule.rounds => {
                // The stamp is taken last, as the frame goes out.
                let frame = format!(
                    r#"{{"action":"SDP_OFFER","messagePayload":"{}{offer_tail}","correlationId":"offer-{round}"}}"#,
                    sdp::stamp_b64(stamp::unix_nanos()),
                );
                if let Err(e) = out.send(Message::text(frame)).await {
                    shared.error("viewer send", e.to_string());
                    return;
                }
                shared.offers_sent.fetch_add(1, Ordering::Relaxed);
                round += 1;
                if round < schedule.rounds {
                    next_offer.as_mut().reset(schedule.due(round, pair).into());
                }
            }
            frame = incoming.next() => {
                let Some(text) = text_frame(frame, "viewer", &shared) else { return };
                let Some(text) = text else { continue };
                viewer_frame(&text, &shared);
            }
        }
    }
}

fn viewer_frame(text: &str, shared: &Exchange) {
    let now = stamp::unix_nanos();
    let message: Relayed = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return shared.error("viewer: unparseable frame", e.to_string()),
    };
    match &*message.message_type {
        "SDP_ANSWER" => {
            let sent = message
                .message_payload
                .as_deref()
                .map(stamp::Data::from_base64)
                .and_then(|d| d.stamp);
            let Some(sent) = sent else {
                return shared.error(
                    "viewer: answer without a stamp",
                    text.chars().take(120).collect::<String>(),
                );
            };
            // Auto-resizing histogram: recording cannot fail for a u64 value.
            let _ = shared
                .latency_us
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(stamp::latency_us(sent, now));
            shared.progress.inc(1);
            if shared.answers_relayed.fetch_add(1, Ordering::Relaxed) + 1 == shared.expected {
                shared.all_answered.notify_one();
            }
        }
        other => unexpected(other, &message, "viewer", shared),
    }
}

/// A master: answers every offer, naming the viewer it came from.
async fn master(socket: Socket, answer_tail: Arc<str>, shared: Arc<Exchange>) {
    let (mut out, mut incoming) = socket.split();
    loop {
        let frame = incoming.next().await;
        let Some(text) = text_frame(frame, "master", &shared) else {
            return;
        };
        let Some(text) = text else { continue };
        let message: Relayed = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                shared.error("master: unparseable frame", e.to_string());
                continue;
            }
        };
        if message.message_type != "SDP_OFFER" {
            unexpected(&message.message_type, &message, "master", &shared);
            continue;
        }
        shared.offers_relayed.fetch_add(1, Ordering::Relaxed);
        let (Some(sender), Some(payload)) = (&message.sender_client_id, &message.message_payload)
        else {
            shared.error(
                "master: offer without sender or payload",
                text.chars().take(120).collect::<String>(),
            );
            continue;
        };
        let stamp = payload.get(..stamp::STAMP_B64_LEN).unwrap_or_default();
        let frame = format!(
            r#"{{"action":"SDP_ANSWER","recipientClientId":{},"messagePayload":"{stamp}{answer_tail}","correlationId":"answer"}}"#,
            serde_json::Value::from(sender.as_ref()),
        );
        if let Err(e) = out.send(Message::text(frame)).await {
            shared.error("master send", e.to_string());
            return;
        }
        shared.answers_sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// A frame's text: None when the connection ended (counted as an error: nothing in a run closes
/// a connection), Some(None) for a frame that is not text.
fn text_frame(
    frame: Option<Result<Message, tungstenite::Error>>,
    who: &str,
    shared: &Exchange,
) -> Option<Option<tungstenite::Utf8Bytes>> {
    match frame {
        Some(Ok(Message::Text(text))) => Some(Some(text)),
        Some(Ok(Message::Close(close))) => {
            let reason = close.map(|c| c.reason.to_string()).unwrap_or_default();
            shared.error(format!("{who}: closed by the server"), reason);
            None
        }
        Some(Ok(_)) => Some(None),
        Some(Err(e)) => {
            shared.error(format!("{who}: connection error"), e.to_string());
            None
        }
        None => {
            shared.error(format!("{who}: connection ended"), "end of stream");
            None
        }
    }
}

fn unexpected(message_type: &str, message: &Relayed, who: &str, shared: &Exchange) {
    match &message.status_response {
        Some(status) => shared.error(
            format!(
                "{who}: STATUS_RESPONSE {}",
                status["errorType"].as_str().unwrap_or("?")
            ),
            status["description"].as_str().unwrap_or_default(),
        ),
        None => shared.error(format!("{who}: {message_type}"), message_type),
    }
}

fn bar(hidden: bool, template: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    crate::styled_bar(template)
}

impl SignalingResult {
    pub fn summary(&self) -> String {
        let c = &self.connect;
        let x = &self.exchange;
        let mut s = format!(
            "signaling at {endpoint} ({wss}): {channels} channels ({created} created, {reused} \
             reused, {setup:.1} s)\n  \
             connections: {connected}/{attempted} in {csecs:.1} s ({cps:.0}/s, {conc} handshakes \
             in flight); {pairs} channels with master and viewer",
            endpoint = self.endpoint,
            wss = self.signaling_endpoint,
            channels = self.channels,
            created = self.channels_created,
            reused = self.channels_reused,
            setup = self.setup_secs,
            connected = c.connected,
            attempted = c.attempted,
            csecs = c.secs,
            cps = c.connections_per_sec,
            conc = c.concurrency,
            pairs = c.pairs,
        );
        if let Some(cpu) = c.server_cpu_secs {
            s.push_str(&format!(
                "\n  server CPU for connecting: {cpu:.2} s ({:.0} µs per connection)",
                cpu * 1e6 / c.connected.max(1) as f64
            ));
        }
        if let Some(m) = &c.memory {
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            s.push_str(&format!(
                "\n  server RSS: {:.1} MiB before, {:.1} MiB connected, {:.1} MiB after the \
                 exchange: {:.1} KiB per connection",
                mib(m.server_rss_before_bytes),
                mib(m.server_rss_connected_bytes),
                mib(m.server_rss_after_exchange_bytes),
                m.server_bytes_per_connection / 1024.0
            ));
        }
        let open_files = c.memory.as_ref().and_then(|m| m.server_open_files);
        match (open_files, self.server_open_files_limit) {
            (Some(fds), Some(limit)) => s.push_str(&format!(
                "\n  server open files: {fds} of its limit {limit}"
            )),
            (Some(fds), None) => s.push_str(&format!("\n  server open files: {fds}")),
            (None, Some(limit)) => s.push_str(&format!("\n  server open-files limit: {limit}")),
            (None, None) => {}
        }
        if let Some(b) = c.client_bytes_per_connection {
            s.push_str(&format!(
                "\n  client RSS per connection: {:.1} KiB",
                b / 1024.0
            ));
        }
        for (kind, count) in &c.errors {
            s.push_str(&format!("\n  connect errors: {count} × {kind}"));
            for sample in c.error_samples.get(kind).into_iter().flatten() {
                s.push_str(&format!("\n    e.g. {sample}"));
            }
        }
        s.push_str(&format!(
            "\n  exchange: {rounds} rounds at {target:.0} offers/s target; offers {sent} sent, \
             {orel} relayed; answers {asent} sent, {arel} relayed ({missing} missing) in {secs:.2} s\n  \
             throughput: {ops:.0} offers/s, {mps:.0} relayed messages/s (payloads {op} B offer, \
             {ap} B answer)\n  \
             offer→answer latency ms: {latency}",
            rounds = x.rounds,
            target = x.target_rate,
            sent = x.offers_sent,
            orel = x.offers_relayed,
            asent = x.answers_sent,
            arel = x.answers_relayed,
            missing = x.missing,
            secs = x.secs,
            ops = x.offers_per_sec,
            mps = x.messages_per_sec,
            op = x.offer_payload_bytes,
            ap = x.answer_payload_bytes,
            latency = crate::quantiles(&x.latency_ms),
        ));
        if let Some(cpu) = x.server_cpu_secs {
            s.push_str(&format!("\n  server CPU: {cpu:.2} s"));
            if let Some(per) = x.server_cpu_secs_per_1000_messages {
                s.push_str(&format!(", {per:.3} s per 1,000 relayed messages"));
            }
        }
        if let Some(cpu) = x.client_cpu_secs {
            s.push_str(&format!("\n  client CPU: {cpu:.2} s"));
        }
        if let Some(cpu) = self.client_cpu_secs {
            s.push_str(&format!(" ({cpu:.2} s over the whole run)"));
        }
        for (kind, count) in &x.errors {
            s.push_str(&format!("\n  exchange errors: {count} × {kind}"));
            for sample in x.error_samples.get(kind).into_iter().flatten() {
                s.push_str(&format!("\n    e.g. {sample}"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_the_arn_and_name_the_viewer() {
        let arn = "arn:aws:kinesisvideo:us-east-1:000000000000:channel/bench-sig-7/1700000000000";
        assert_eq!(
            url("ws://127.0.0.1:4566", arn, Role::Master, 7),
            "ws://127.0.0.1:4566/?X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-east-1%3A000000000000%3Achannel%2Fbench-sig-7%2F1700000000000"
        );
        assert!(url("ws://h:1", arn, Role::Viewer, 7).ends_with("&X-Amz-ClientId=viewer-7"));
    }

    #[test]
    fn the_schedule_spreads_rounds_over_all_channels() {
        let start = Instant::now();
        let s = Schedule {
            start,
            pairs: 4,
            rounds: 2,
            rate: 2.0,
        };
        assert_eq!(s.due(0, 0), start);
        assert_eq!(s.due(0, 3), start + Duration::from_millis(1_500));
        // Round 1 begins after every channel's round-0 offer.
        assert_eq!(s.due(1, 0), start + Duration::from_secs(2));
        assert_eq!(s.due(1, 3), start + Duration::from_millis(3_500));
    }
}
