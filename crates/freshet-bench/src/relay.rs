//! `turn`: the embedded TURN server's relay throughput. Takes credentials from
//! GetIceServerConfig as a KVS client does, allocates a relay with a TURN client (webrtc-rs,
//! the crate the server embeds), and pushes datagrams both ways at once (client → relay → peer
//! and peer → relay → client) for a duration, each direction keeping a window of datagrams in
//! flight so the run measures what the relay carries rather than how many the sockets drop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use webrtc_util::Conn;

use crate::rest::KinesisVideo;
use crate::{LatencyMs, Mode, cpu, stats};

type Socket = Arc<dyn Conn + Send + Sync>;

/// The channel whose credentials the run uses is this and `0` (made if missing).
const CHANNEL_PREFIX: &str = "bench-turn-";
/// A datagram: marker, sequence number, send time (ns since the run's base), then padding.
const MAGIC: &[u8; 4] = b"FTRN";
const HEADER: usize = 20;
/// A window with no arrival for this long is written off as lost, so a sender never waits on
/// datagrams that will not come.
const LOSS_TIMEOUT: Duration = Duration::from_millis(20);
/// Datagrams still on their way when the senders stop are counted for this long.
const GRACE: Duration = Duration::from_millis(250);

pub struct Plan {
    pub endpoint: String,
    pub allocations: usize,
    pub packet_size: usize,
    pub window: usize,
    pub duration: Duration,
    pub server_pid: Option<u32>,
    pub no_progress: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct TurnResult {
    pub mode: Mode,
    pub endpoint: String,
    /// The TURN URI GetIceServerConfig gave.
    pub turn_uri: String,
    pub allocations: usize,
    /// UDP payload bytes per datagram (what a media packet would be).
    pub packet_size: usize,
    pub window: usize,
    pub secs: f64,
    pub client_to_peer: FlowReport,
    pub peer_to_client: FlowReport,
    /// Both directions: relayed payload megabits (10^6) per second.
    pub mbit_per_sec: f64,
    pub packets_per_sec: f64,
    pub server_cpu_secs: Option<f64>,
    /// Relayed datagrams per server CPU-second.
    pub packets_per_server_cpu_sec: Option<f64>,
    /// CPU seconds of this process (the TURN client and the peers), over the pushing.
    pub client_cpu_secs: Option<f64>,
}

/// One direction through the relay.
#[derive(Serialize, Clone, Debug)]
pub struct FlowReport {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub lost: u64,
    pub mbit_per_sec: f64,
    pub packets_per_sec: f64,
    /// Send → receipt through the relay, per datagram.
    pub latency_ms: LatencyMs,
}

/// What a direction's sender and receiver share: the window's accounting.
#[derive(Default)]
struct Flow {
    sent: AtomicU64,
    received: AtomicU64,
    written_off: AtomicU64,
    arrived: Notify,
}

impl Flow {
    fn in_flight(&self) -> u64 {
        self.sent
            .load(Ordering::Relaxed)
            .saturating_sub(self.received.load(Ordering::Relaxed))
            .saturating_sub(self.written_off.load(Ordering::Relaxed))
    }
}

/// What a receiver counted.
struct Received {
    packets: u64,
    bytes: u64,
    latency_us: Histogram<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IceServer {
    uris: Vec<String>,
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IceConfig {
    ice_server_list: Vec<IceServer>,
}

/// One allocation: the client's relay and the peer beyond it.
struct Allocation {
    client: turn::client::Client,
    relay: Socket,
    relayed: SocketAddr,
    peer: Socket,
    peer_addr: SocketAddr,
}

pub async fn run(plan: Plan) -> anyhow::Result<TurnResult> {
    anyhow::ensure!(plan.allocations >= 1, "--allocations must be at least 1");
    anyhow::ensure!(plan.window >= 1, "--window must be at least 1");
    anyhow::ensure!(
        (HEADER..=8192).contains(&plan.packet_size),
        "--packet-size must be {HEADER}..=8192"
    );
    let video = KinesisVideo::new(&plan.endpoint)?;
    let channel = video
        .ensure_channels(CHANNEL_PREFIX, 1, 1, &ProgressBar::hidden())
        .await?;
    let config: IceConfig = video
        .call(
            "v1/get-ice-server-config",
            &serde_json::json!({ "ChannelARN": channel.arns[0], "ClientId": "bench", "Service": "TURN" }),
        )
        .await
        .context("GetIceServerConfig")?;
    let Some(server) = config.ice_server_list.into_iter().next() else {
        bail!(
            "the server offers no TURN server: start it with FRESHET_VIDEO__TURN_LISTEN=127.0.0.1:0 \
             (or [video] turn_listen)"
        );
    };
    let uri = server
        .uris
        .iter()
        .find(|u| u.starts_with("turn:") && u.contains("transport=udp"))
        .with_context(|| format!("no UDP TURN URI in {:?}", server.uris))?
        .clone();
    let addr: SocketAddr = uri
        .trim_start_matches("turn:")
        .split('?')
        .next()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("the TURN URI {uri} has no IP:port"))?;

    let mut allocations = Vec::with_capacity(plan.allocations);
    for _ in 0..plan.allocations {
        allocations.push(allocate(addr, &server).await?);
    }

    let bar = if plan.no_progress {
        ProgressBar::hidden()
    } else {
        let bar = crate::styled_bar("{spinner} pushing datagrams both ways {elapsed} {msg}");
        bar.set_message(format!("of {:?}", plan.duration));
        bar
    };
    let cpu_before = plan
        .server_pid
        .map(cpu::process_cpu_secs)
        .transpose()
        .context("reading the server's CPU time")?;
    let client_cpu_before = cpu::process_cpu_secs(std::process::id()).ok();
    let base = Instant::now();
    let deadline = base + plan.duration;
    let pusher = Pusher {
        base,
        deadline,
        window: plan.window as u64,
        size: plan.packet_size,
    };
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for a in &allocations {
        // Index 0: client → relay → peer; 1: peer → relay → client. Each has its own window.
        let directions = [
            (a.relay.clone(), a.peer.clone(), a.peer_addr),
            (a.peer.clone(), a.relay.clone(), a.relayed),
        ];
        for (i, (from, to, target)) in directions.into_iter().enumerate() {
            let flow = Arc::new(Flow::default());
            senders.push(tokio::spawn(pusher.send(from, target, flow.clone())));
            receivers.push((
                i,
                flow.clone(),
                tokio::spawn(receive(to, base, deadline + GRACE, flow)),
            ));
        }
    }
    for sender in senders {
        sender.await.context("a sender panicked")??;
    }
    let mut totals = [received_none(), received_none()];
    let mut sent = [0u64; 2];
    for (i, flow, receiver) in receivers {
        let r = receiver.await.context("a receiver panicked")??;
        sent[i] += flow.sent.load(Ordering::Relaxed);
        totals[i].packets += r.packets;
        totals[i].bytes += r.bytes;
        let _ = totals[i].latency_us.add(&r.latency_us);
    }
    let server_cpu_secs = match (plan.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(
            cpu::process_cpu_secs(pid).context("the server process ended during the run")? - before,
        ),
        _ => None,
    };
    let client_cpu_secs = client_cpu_before
        .and_then(|before| Some(cpu::process_cpu_secs(std::process::id()).ok()? - before));
    bar.finish_and_clear();
    for a in allocations {
        // Frees the allocation on the server; a failure here does not change what was measured.
        let _ = a.client.close().await;
    }

    let secs = plan.duration.as_secs_f64();
    let report = |sent: u64, r: &Received| FlowReport {
        packets_sent: sent,
        packets_received: r.packets,
        lost: sent.saturating_sub(r.packets),
        mbit_per_sec: r.bytes as f64 * 8.0 / 1e6 / secs,
        packets_per_sec: r.packets as f64 / secs,
        latency_ms: LatencyMs::from_us(&r.latency_us),
    };
    let client_to_peer = report(sent[0], &totals[0]);
    let peer_to_client = report(sent[1], &totals[1]);
    let packets = totals[0].packets + totals[1].packets;
    Ok(TurnResult {
        mode: Mode::Turn,
        endpoint: plan.endpoint,
        turn_uri: uri,
        allocations: plan.allocations,
        packet_size: plan.packet_size,
        window: plan.window,
        secs,
        mbit_per_sec: client_to_peer.mbit_per_sec + peer_to_client.mbit_per_sec,
        packets_per_sec: packets as f64 / secs,
        client_to_peer,
        peer_to_client,
        server_cpu_secs,
        packets_per_server_cpu_sec: server_cpu_secs
            .filter(|&c| c > 0.0)
            .map(|c| packets as f64 / c),
        client_cpu_secs,
    })
}

fn received_none() -> Received {
    Received {
        packets: 0,
        bytes: 0,
        latency_us: stats::histogram(),
    }
}

/// Allocates a relay with the credentials and opens it to a new peer socket (a TURN server
/// relays only from peers the client has sent to: the permission of RFC 8656 9).
async fn allocate(server: SocketAddr, ice: &IceServer) -> anyhow::Result<Allocation> {
    let local: IpAddr = if server.ip().is_loopback() {
        server.ip()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let socket = tokio::net::UdpSocket::bind((local, 0))
        .await
        .context("binding the TURN client's socket")?;
    let client = turn::client::Client::new(turn::client::ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: ice.username.clone(),
        password: ice.password.clone(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .context("starting the TURN client")?;
    client.listen().await.context("starting the TURN client")?;
    let relay: Socket = Arc::new(
        client
            .allocate()
            .await
            .context("allocating a relay with GetIceServerConfig's credentials")?,
    );
    let relayed = relay.local_addr().context("the relayed address")?;
    let peer: Socket = Arc::new(
        tokio::net::UdpSocket::bind((server.ip(), 0))
            .await
            .context("binding the peer's socket")?,
    );
    let peer_addr = peer.local_addr().context("the peer's address")?;
    relay
        .send_to(b"open", peer_addr)
        .await
        .context("the first send through the relay")?;
    let mut buf = [0u8; 64];
    let (_, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .context("the peer got nothing through the relay within 5 s")?
        .context("the peer's receive")?;
    anyhow::ensure!(
        from == relayed,
        "the peer heard from {from}, not the relayed address {relayed}"
    );
    Ok(Allocation {
        client,
        relay,
        relayed,
        peer,
        peer_addr,
    })
}

#[derive(Clone, Copy)]
struct Pusher {
    base: Instant,
    deadline: Instant,
    window: u64,
    size: usize,
}

impl Pusher {
    /// Sends to `target` until the deadline, at most `window` datagrams in flight.
    async fn send(self, socket: Socket, target: SocketAddr, flow: Arc<Flow>) -> anyhow::Result<()> {
        let mut packet = vec![0u8; self.size];
        packet[..4].copy_from_slice(MAGIC);
        let mut seq = 0u64;
        while Instant::now() < self.deadline {
            let in_flight = flow.in_flight();
            if in_flight >= self.window {
                if tokio::time::timeout(LOSS_TIMEOUT, flow.arrived.notified())
                    .await
                    .is_err()
                {
                    flow.written_off.fetch_add(in_flight, Ordering::Relaxed);
                }
                continue;
            }
            packet[4..12].copy_from_slice(&seq.to_be_bytes());
            let sent = self.base.elapsed().as_nanos() as u64;
            packet[12..20].copy_from_slice(&sent.to_be_bytes());
            socket
                .send_to(&packet, target)
                .await
                .with_context(|| format!("sending to {target}"))?;
            flow.sent.fetch_add(1, Ordering::Relaxed);
            seq += 1;
        }
        Ok(())
    }
}

/// Counts this run's datagrams arriving on `socket` until `stop`.
async fn receive(
    socket: Socket,
    base: Instant,
    stop: Instant,
    flow: Arc<Flow>,
) -> anyhow::Result<Received> {
    let mut received = received_none();
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match tokio::time::timeout_at(stop.into(), socket.recv_from(&mut buf)).await {
            Err(_) => break,
            Ok(result) => result.context("receiving")?.0,
        };
        if n < HEADER || &buf[..4] != MAGIC {
            continue;
        }
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&buf[12..20]);
        let now = base.elapsed().as_nanos() as u64;
        let _ = received
            .latency_us
            .record(now.saturating_sub(u64::from_be_bytes(sent)) / 1_000);
        received.packets += 1;
        received.bytes += n as u64;
        flow.received.fetch_add(1, Ordering::Relaxed);
        flow.arrived.notify_one();
    }
    Ok(received)
}

impl TurnResult {
    pub fn summary(&self) -> String {
        let flow = |name: &str, f: &FlowReport| {
            format!(
                "\n  {name}: {:.1} Mbit/s, {:.0} packets/s ({} sent, {} received, {} lost)\n    \
                 latency ms: {}",
                f.mbit_per_sec,
                f.packets_per_sec,
                f.packets_sent,
                f.packets_received,
                f.lost,
                crate::quantiles(&f.latency_ms)
            )
        };
        let mut s = format!(
            "turn via {uri} ({endpoint}): {allocations} allocation(s), {size}-byte datagrams, \
             window {window}, {secs:.1} s\n  \
             relayed: {mbps:.1} Mbit/s, {pps:.0} packets/s (both directions)",
            uri = self.turn_uri,
            endpoint = self.endpoint,
            allocations = self.allocations,
            size = self.packet_size,
            window = self.window,
            secs = self.secs,
            mbps = self.mbit_per_sec,
            pps = self.packets_per_sec,
        );
        s.push_str(&flow("client → relay → peer", &self.client_to_peer));
        s.push_str(&flow("peer → relay → client", &self.peer_to_client));
        if let Some(cpu) = self.server_cpu_secs {
            s.push_str(&format!(
                "\n  server CPU: {cpu:.2} s ({:.0}% of a core)",
                cpu / self.secs * 100.0
            ));
            if let Some(p) = self.packets_per_server_cpu_sec {
                s.push_str(&format!(", {p:.0} packets per server CPU-second"));
            }
        }
        if let Some(cpu) = self.client_cpu_secs {
            s.push_str(&format!("\n  client CPU: {cpu:.2} s"));
        }
        s
    }
}
