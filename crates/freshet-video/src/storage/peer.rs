//! A storage session's peers: Freshet joins the channel's signaling room like a viewer, sends the
//! master an SDP offer to receive H.264 video and Opus audio (what AWS requires of a master),
//! takes its answer and ICE candidates, and records the video it then receives into the mapped
//! stream. Viewers that join the session (JoinStorageSessionAsViewer) get an offer of their own,
//! as from the master, and the master's media forwarded to them as it arrives. WebRTC itself is
//! str0m's: one `Rtc` per peer, all on one UDP socket (str0m says which peer a datagram is for).
//!
//! The session ends when the master does not answer within the channel's message TTL, when its
//! ICE disconnects, when the master sends no media for `MAX_IDLE`, when its room place is taken
//! or the channel deleted, or when it is stopped (a newer JoinStorageSession, shutdown). The
//! fragment in progress is stored then. A viewer that disconnects just leaves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use freshet_runtime::SharedClock;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::recorder::{AccessUnit, Recorded, Recorder};
use crate::service::IngestSlot;
use crate::service::VideoService;
use crate::signaling::hub::{ChannelRef, Hub, Outgoing};
use crate::signaling::message::Action;
use crate::store::FragmentStore;

/// A master that sends no media for this long has gone (PutMedia's idle limit).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// Key frame requests are this far apart at least (a browser answers one within a frame or two).
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(500);
/// Fragments waiting for their append; a full queue slows the session, never drops media.
const WRITE_QUEUE: usize = 16;

/// Where a session records and how it reaches the master.
pub(crate) struct SessionSpec {
    pub channel: ChannelRef,
    pub channel_name: String,
    /// The session's place in the signaling room.
    pub client_id: String,
    /// The address its UDP socket binds, which its ICE candidate names.
    pub bind: IpAddr,
    pub stream: u64,
    pub store: FragmentStore,
    pub slot: IngestSlot,
    pub clock: SharedClock,
}

/// Why a session ended (logged).
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("the master did not answer within the channel's message TTL")]
    NoAnswer,
    #[error("ICE disconnected")]
    Disconnected,
    #[error("the master sent no media for {} seconds", MAX_IDLE.as_secs())]
    Idle,
    #[error("its signaling connection closed: {0}")]
    Left(&'static str),
    #[error("stopped")]
    Stopped,
    #[error("{0}")]
    Failed(String),
}

/// str0m takes `Instant`s; they are derived from the clock's elapsed time, so the clock stays
/// the only source of time.
struct Mono {
    anchor: Instant,
    at: Duration,
    clock: SharedClock,
}

impl Mono {
    fn new(clock: SharedClock) -> Mono {
        #[allow(clippy::disallowed_methods)]
        // One reading to anchor str0m's timeline; every later one is the anchor plus the
        // clock's elapsed time.
        let anchor = Instant::now();
        Mono {
            anchor,
            at: clock.elapsed(),
            clock,
        }
    }

    fn now(&self) -> Instant {
        self.anchor + self.clock.elapsed().saturating_sub(self.at)
    }
}

/// What JoinStorageSessionAsViewer asks of a running session.
pub(crate) enum Command {
    /// Offer this viewer (a ClientId in the room) the master's media.
    AddViewer(String),
}

/// Runs a session to its end; `stop` ends it early.
pub(crate) async fn run(
    spec: SessionSpec,
    svc: VideoService,
    stop: oneshot::Receiver<()>,
    commands: mpsc::Receiver<Command>,
) {
    let hub = &svc.inner.hub;
    let socket = match UdpSocket::bind(SocketAddr::new(spec.bind, 0)).await {
        Ok(socket) => socket,
        Err(error) => {
            tracing::warn!(channel = %spec.channel_name, %error, bind = %spec.bind, "storage session cannot bind a UDP socket");
            return;
        }
    };
    let joined = match hub.join(&spec.channel, Some(&spec.client_id)) {
        Ok(joined) => joined,
        Err(error) => {
            tracing::warn!(channel = %spec.channel_name, %error, "storage session cannot join the channel");
            return;
        }
    };
    let conn = joined.conn;
    let (writes, written) = mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write_fragments(
        spec.store.clone(),
        spec.stream,
        written,
        spec.channel_name.clone(),
    ));
    let ended = match Session::new(&spec, hub, &socket, writes) {
        Ok(session) => session.run(&socket, joined.frames, stop, commands).await,
        Err(error) => Ended::Failed(error),
    };
    hub.leave(spec.channel.uid, conn);
    // The writer ends once the session's sender is gone and every fragment is appended.
    let _ = writer.await;
    tracing::info!(channel = %spec.channel_name, %ended, "storage session ended");
    drop(spec.slot);
}

/// Appends recorded fragments in order.
async fn write_fragments(
    store: FragmentStore,
    stream: u64,
    mut fragments: mpsc::Receiver<Recorded>,
    channel: String,
) {
    while let Some(f) = fragments.recv().await {
        if let Err(error) = store
            .append(stream, f.producer_ms, f.duration_ms, &f.header, &f.cluster)
            .await
        {
            tracing::error!(%channel, %error, "storage session cannot store a fragment");
        }
    }
}

/// One WebRTC connection of the session: the master's, or a viewer's.
struct Peer {
    /// None: the master; a viewer's ClientId.
    viewer: Option<String>,
    rtc: Rtc,
    /// The offer until its answer comes.
    pending: Option<SdpPendingOffer>,
    video: Mid,
    audio: Mid,
}

impl Peer {
    /// A peer whose offer names the session's socket as its host candidate: receive-only for the
    /// master, send-only for a viewer.
    fn new(
        viewer: Option<String>,
        now: Instant,
        addr: SocketAddr,
    ) -> Result<(Peer, String), String> {
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(now);
        let candidate = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        let direction = match viewer {
            None => Direction::RecvOnly,
            Some(_) => Direction::SendOnly,
        };
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, direction, None, None, None);
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| "no offer to make".to_string())?;
        let peer = Peer {
            viewer,
            rtc,
            pending: Some(pending),
            video,
            audio,
        };
        Ok((peer, offer_payload(&offer.to_sdp_string())))
    }

    fn is_master(&self) -> bool {
        self.viewer.is_none()
    }

    /// Takes a signaling message from this peer: its answer, or an ICE candidate.
    fn on_signal(&mut self, kind: &str, payload: &serde_json::Value) -> Result<(), String> {
        match kind {
            "SDP_ANSWER" => {
                let (Some(pending), Some(sdp)) = (self.pending.take(), payload["sdp"].as_str())
                else {
                    return Ok(());
                };
                let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
                self.rtc
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .map_err(|e| e.to_string())
            }
            "ICE_CANDIDATE" => {
                // Candidates the session cannot use (mDNS names, TCP) are skipped; ICE goes on
                // with the others and with peer-reflexive ones.
                if let Some(line) = payload["candidate"].as_str().filter(|l| !l.is_empty())
                    && let Ok(candidate) = Candidate::from_sdp_string(line)
                {
                    self.rtc.add_remote_candidate(candidate);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// What one peer's events asked of the session.
enum Happened {
    Nothing,
    Gone,
    /// The master's media, to record and forward.
    Media(Box<MediaData>),
    /// A viewer connected or asked for a key frame: ask the master for one.
    WantsKeyframe,
}

struct Session<'a> {
    spec: &'a SessionSpec,
    hub: &'a Hub,
    mono: Mono,
    addr: SocketAddr,
    /// The master first, then viewers.
    peers: Vec<Peer>,
    recorder: Recorder,
    writes: mpsc::Sender<Recorded>,
    last_media: Duration,
    last_keyframe_request: Option<Duration>,
}

impl<'a> Session<'a> {
    /// The session with its master peer, whose offer is sent.
    fn new(
        spec: &'a SessionSpec,
        hub: &'a Hub,
        socket: &UdpSocket,
        writes: mpsc::Sender<Recorded>,
    ) -> Result<Session<'a>, String> {
        let mono = Mono::new(spec.clock.clone());
        let addr = socket.local_addr().map_err(|e| e.to_string())?;
        let (master, offer) = Peer::new(None, mono.now(), addr)?;
        let session = Session {
            spec,
            hub,
            mono,
            addr,
            peers: vec![master],
            recorder: Recorder::new(spec.clock.now_ms()),
            writes,
            last_media: spec.clock.elapsed(),
            last_keyframe_request: None,
        };
        session.signal_master(Action::SdpOffer, offer);
        Ok(session)
    }

    async fn run(
        mut self,
        socket: &UdpSocket,
        mut frames: mpsc::Receiver<Outgoing>,
        mut stop: oneshot::Receiver<()>,
        mut commands: mpsc::Receiver<Command>,
    ) -> Ended {
        let answer_by = self.spec.clock.elapsed()
            + Duration::from_secs(self.spec.channel.message_ttl_seconds.into());
        let mut buf = vec![0u8; 2048];
        let ended = loop {
            let deadline = match self.drive(socket).await {
                Ok(deadline) => deadline,
                Err(ended) => break ended,
            };
            let now = self.spec.clock.elapsed();
            let master_pending = self.peers[0].pending.is_some();
            if master_pending && now >= answer_by {
                break Ended::NoAnswer;
            }
            if !master_pending && now.saturating_sub(self.last_media) >= MAX_IDLE {
                break Ended::Idle;
            }
            // Wake for the earliest of str0m's timeouts and the session's own deadlines.
            let wait = deadline
                .saturating_duration_since(self.mono.now())
                .min(Duration::from_secs(1));
            tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.receive(&buf[..n], source),
                    Err(e) => break Ended::Failed(e.to_string()),
                },
                frame = frames.recv() => match frame {
                    Some(Outgoing::Text(text)) => self.on_signal(&text),
                    Some(Outgoing::Close(why)) => break Ended::Left(why),
                    None => break Ended::Left("the room closed"),
                },
                command = commands.recv() => match command {
                    Some(Command::AddViewer(id)) => self.add_viewer(id),
                    // The registry let go of the session: it is being replaced or shut down.
                    None => break Ended::Stopped,
                },
                _ = self.spec.clock.sleep(wait) => {
                    let now = self.mono.now();
                    for peer in &mut self.peers {
                        // A peer whose timers fail is dropped at its next poll.
                        let _ = peer.rtc.handle_input(Input::Timeout(now));
                    }
                }
                _ = &mut stop => break Ended::Stopped,
            }
        };
        if let Some(last) = self.recorder.finish() {
            let _ = self.writes.send(last).await;
        }
        for peer in &mut self.peers {
            peer.rtc.disconnect();
        }
        ended
    }

    /// A datagram, for the peer whose ICE or DTLS it belongs to.
    fn receive(&mut self, data: &[u8], source: SocketAddr) {
        // Not STUN, DTLS or RTP: nothing for any peer.
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            self.mono.now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.addr,
                contents,
            },
        );
        if let Some(peer) = self.peers.iter_mut().find(|p| p.rtc.accepts(&input)) {
            // A peer that fails is dropped at its next poll.
            let _ = peer.rtc.handle_input(input);
        }
    }

    /// Sends what every peer has to send and handles their events; answers the next timeout.
    /// A viewer that fails or disconnects is dropped; the master doing so ends the session.
    async fn drive(&mut self, socket: &UdpSocket) -> Result<Instant, Ended> {
        let mut next = self.mono.now() + Duration::from_secs(1);
        let mut i = 0;
        while i < self.peers.len() {
            let mut media = Vec::new();
            let mut gone = false;
            let mut wants_keyframe = false;
            loop {
                let happened = match self.peers[i].rtc.poll_output() {
                    Ok(Output::Timeout(deadline)) => {
                        next = next.min(deadline);
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        // A lost datagram is what UDP allows; ICE and RTP recover.
                        let _ = socket.send_to(&t.contents, t.destination).await;
                        continue;
                    }
                    Ok(Output::Event(event)) => self.on_event(i, event),
                    Err(e) if i == 0 => return Err(Ended::Failed(e.to_string())),
                    Err(_) => Happened::Gone,
                };
                match happened {
                    Happened::Nothing => {}
                    Happened::Gone => {
                        gone = true;
                        break;
                    }
                    Happened::Media(m) => media.push(m),
                    Happened::WantsKeyframe => wants_keyframe = true,
                }
            }
            if gone {
                if i == 0 {
                    return Err(Ended::Disconnected);
                }
                let peer = self.peers.remove(i);
                tracing::info!(channel = %self.spec.channel_name, viewer = ?peer.viewer, "storage session viewer left");
                continue;
            }
            for m in media {
                self.on_master_media(*m).await;
            }
            if wants_keyframe {
                self.last_keyframe_request = None;
                self.request_keyframe(true);
            }
            i += 1;
        }
        Ok(next)
    }

    fn on_event(&mut self, i: usize, event: Event) -> Happened {
        let peer = &self.peers[i];
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => Happened::Gone,
            Event::Connected => {
                tracing::info!(channel = %self.spec.channel_name, viewer = ?peer.viewer, "storage session peer connected");
                match peer.is_master() {
                    true => {
                        self.last_media = self.spec.clock.elapsed();
                        Happened::Nothing
                    }
                    false => Happened::WantsKeyframe,
                }
            }
            Event::MediaData(media) if peer.is_master() => Happened::Media(Box::new(media)),
            Event::KeyframeRequest(_) if !peer.is_master() => Happened::WantsKeyframe,
            Event::MediaAdded(added) if peer.is_master() && added.mid == peer.video => {
                self.request_keyframe(false);
                Happened::Nothing
            }
            _ => Happened::Nothing,
        }
    }

    /// Records the master's video and forwards its media to the viewers.
    async fn on_master_media(&mut self, media: MediaData) {
        self.last_media = self.spec.clock.elapsed();
        let (video, audio) = (self.peers[0].video, self.peers[0].audio);
        for viewer in &mut self.peers[1..] {
            let mid = match media.mid {
                m if m == video => viewer.video,
                m if m == audio => viewer.audio,
                _ => continue,
            };
            if let Some(writer) = viewer.rtc.writer(mid)
                && let Some(pt) = writer.match_params(media.params)
            {
                // A viewer that cannot take it is dropped at its next poll.
                let _ = writer.write(pt, media.network_time, media.time, media.data.clone());
            }
        }
        if media.mid != video {
            return;
        }
        if !media.contiguous
            && let Some(done) = self.recorder.gap()
        {
            let _ = self.writes.send(done).await;
        }
        let unit = AccessUnit {
            rtp_time: media.time.numer(),
            data: &media.data,
        };
        if let Some(done) = self.recorder.push(unit) {
            let _ = self.writes.send(done).await;
        }
        self.request_keyframe(false);
    }

    /// Asks the master for a key frame when a fragment is long enough to end (or `anyway`, for
    /// a viewer that needs one to start decoding), at most every `KEYFRAME_REQUEST_EVERY`.
    fn request_keyframe(&mut self, anyway: bool) {
        let now = self.spec.clock.elapsed();
        let due = self
            .last_keyframe_request
            .is_none_or(|at| now.saturating_sub(at) >= KEYFRAME_REQUEST_EVERY);
        if !due || !(anyway || self.recorder.wants_keyframe()) {
            return;
        }
        let master = &mut self.peers[0];
        if let Some(mut writer) = master.rtc.writer(master.video)
            && writer
                .request_keyframe(None, KeyframeRequestKind::Pli)
                .is_ok()
        {
            self.last_keyframe_request = Some(now);
        }
    }

    /// A viewer joins: its own peer, whose offer reaches it as from the master.
    fn add_viewer(&mut self, id: String) {
        // A newer join of the same viewer replaces its connection.
        self.peers
            .retain(|p| p.viewer.as_deref() != Some(id.as_str()));
        match Peer::new(Some(id.clone()), self.mono.now(), self.addr) {
            Ok((peer, offer)) => {
                self.hub.send_to_viewer(
                    &self.spec.channel,
                    &self.spec.client_id,
                    &id,
                    Action::SdpOffer,
                    offer,
                );
                self.peers.push(peer);
            }
            Err(error) => {
                tracing::warn!(channel = %self.spec.channel_name, viewer = %id, %error, "storage session cannot offer a viewer");
            }
        }
    }

    /// A message for the session: from the master (no sender) or a viewer it serves.
    fn on_signal(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        let Some(payload) = message["messagePayload"]
            .as_str()
            .and_then(|p| BASE64.decode(p).ok())
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        else {
            return;
        };
        let sender = message["senderClientId"].as_str();
        let Some(peer) = self
            .peers
            .iter_mut()
            .find(|p| p.viewer.as_deref() == sender)
        else {
            return;
        };
        let kind = message["messageType"].as_str().unwrap_or_default();
        if let Err(error) = peer.on_signal(kind, &payload) {
            tracing::info!(channel = %self.spec.channel_name, viewer = ?sender, %error, "storage session refused an answer");
        }
    }

    /// Relays a message from the session to the master.
    fn signal_master(&self, action: Action, payload: String) {
        if let Err(error) = self.hub.relay(
            &self.spec.channel,
            Some(&self.spec.client_id),
            action,
            payload,
            None,
        ) {
            tracing::info!(channel = %self.spec.channel_name, %error, "storage session cannot signal the master");
        }
    }
}

/// An SDP offer as KVS signaling carries it: base64 of the RTCSessionDescription's JSON.
fn offer_payload(sdp: &str) -> String {
    BASE64.encode(serde_json::json!({ "type": "offer", "sdp": sdp }).to_string())
}
