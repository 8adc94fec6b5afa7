//! A storage session's peer: Freshet joins the channel's signaling room like a viewer, sends the
//! master an SDP offer to receive H.264 video and Opus audio (what AWS requires of a master),
//! takes its answer and ICE candidates, and records the video it then receives into the mapped
//! stream. WebRTC itself is str0m's, driven here over one UDP socket.
//!
//! The session ends when the master does not answer within the channel's message TTL, when
//! ICE disconnects, when the master sends no media for `MAX_IDLE`, when its room place is taken
//! or the channel deleted, or when it is stopped (a newer JoinStorageSession, shutdown). The
//! fragment in progress is stored then.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use freshet_runtime::SharedClock;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
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

/// Runs a session to its end; `stop` ends it early.
pub(crate) async fn run(spec: SessionSpec, svc: VideoService, stop: oneshot::Receiver<()>) {
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
        Ok(session) => session.run(&socket, joined.frames, stop).await,
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

struct Session<'a> {
    spec: &'a SessionSpec,
    hub: &'a Hub,
    rtc: Rtc,
    mono: Mono,
    pending: Option<SdpPendingOffer>,
    video: Mid,
    recorder: Recorder,
    writes: mpsc::Sender<Recorded>,
    last_media: Duration,
    last_keyframe_request: Option<Duration>,
}

impl<'a> Session<'a> {
    /// The peer, its socket's address a host candidate in the offer it sends the master.
    fn new(
        spec: &'a SessionSpec,
        hub: &'a Hub,
        socket: &UdpSocket,
        writes: mpsc::Sender<Recorded>,
    ) -> Result<Session<'a>, String> {
        let mono = Mono::new(spec.clock.clone());
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(mono.now());
        let addr = socket.local_addr().map_err(|e| e.to_string())?;
        let candidate = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let pending = api.apply();
        let mut session = Session {
            spec,
            hub,
            rtc,
            mono,
            pending: None,
            video,
            recorder: Recorder::new(spec.clock.now_ms()),
            writes,
            last_media: spec.clock.elapsed(),
            last_keyframe_request: None,
        };
        if let Some((offer, pending)) = pending {
            session.pending = Some(pending);
            session.signal(Action::SdpOffer, offer_payload(&offer.to_sdp_string()));
        }
        Ok(session)
    }

    async fn run(
        mut self,
        socket: &UdpSocket,
        mut frames: mpsc::Receiver<Outgoing>,
        mut stop: oneshot::Receiver<()>,
    ) -> Ended {
        let local = match socket.local_addr() {
            Ok(local) => local,
            Err(e) => return Ended::Failed(e.to_string()),
        };
        let answer_by = self.spec.clock.elapsed()
            + Duration::from_secs(self.spec.channel.message_ttl_seconds.into());
        let mut buf = vec![0u8; 2048];
        let ended = loop {
            let deadline = match self.drive(socket).await {
                Ok(deadline) => deadline,
                Err(ended) => break ended,
            };
            let now = self.spec.clock.elapsed();
            if self.pending.is_some() && now >= answer_by {
                break Ended::NoAnswer;
            }
            if self.pending.is_none() && now.saturating_sub(self.last_media) >= MAX_IDLE {
                break Ended::Idle;
            }
            // Wake for the earliest of str0m's timeout and the session's own deadlines.
            let wait = deadline
                .saturating_duration_since(self.mono.now())
                .min(Duration::from_secs(1));
            let input = tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => Some((n, source)),
                    Err(e) => break Ended::Failed(e.to_string()),
                },
                frame = frames.recv() => match frame {
                    Some(Outgoing::Text(text)) => {
                        self.on_signal(&text);
                        continue;
                    }
                    Some(Outgoing::Close(why)) => break Ended::Left(why),
                    None => break Ended::Left("the room closed"),
                },
                _ = self.spec.clock.sleep(wait) => None,
                _ = &mut stop => break Ended::Stopped,
            };
            let result = match input {
                Some((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => self.rtc.handle_input(Input::Receive(
                        self.mono.now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: local,
                            contents,
                        },
                    )),
                    // Not STUN, DTLS or RTP: nothing for this peer.
                    Err(_) => Ok(()),
                },
                None => self.rtc.handle_input(Input::Timeout(self.mono.now())),
            };
            if let Err(e) = result {
                break Ended::Failed(e.to_string());
            }
        };
        if let Some(last) = self.recorder.finish() {
            let _ = self.writes.send(last).await;
        }
        self.rtc.disconnect();
        ended
    }

    /// Sends what str0m has to send and handles its events; answers its next timeout.
    async fn drive(&mut self, socket: &UdpSocket) -> Result<Instant, Ended> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(deadline)) => return Ok(deadline),
                Ok(Output::Transmit(t)) => {
                    // A lost datagram is what UDP allows; ICE and RTP recover.
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(event)) => self.on_event(event).await?,
                Err(e) => return Err(Ended::Failed(e.to_string())),
            }
        }
    }

    async fn on_event(&mut self, event: Event) -> Result<(), Ended> {
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err(Ended::Disconnected);
            }
            Event::Connected => {
                tracing::info!(channel = %self.spec.channel_name, "storage session connected to the master");
                self.last_media = self.spec.clock.elapsed();
            }
            Event::MediaData(media) if media.mid == self.video => {
                self.last_media = self.spec.clock.elapsed();
                if !media.contiguous
                    && let Some(done) = self.recorder.gap()
                {
                    self.store(done).await;
                }
                let unit = AccessUnit {
                    rtp_time: media.time.numer(),
                    data: media.data.to_vec(),
                };
                if let Some(done) = self.recorder.push(&unit) {
                    self.store(done).await;
                }
                self.request_keyframe_if_due();
            }
            Event::MediaData(_) => self.last_media = self.spec.clock.elapsed(),
            Event::MediaAdded(added) if added.mid == self.video => self.request_keyframe_if_due(),
            _ => {}
        }
        Ok(())
    }

    async fn store(&self, fragment: Recorded) {
        let _ = self.writes.send(fragment).await;
    }

    fn request_keyframe_if_due(&mut self) {
        let now = self.spec.clock.elapsed();
        let due = self
            .last_keyframe_request
            .is_none_or(|at| now.saturating_sub(at) >= KEYFRAME_REQUEST_EVERY);
        if !due || !self.recorder.wants_keyframe() {
            return;
        }
        if let Some(mut writer) = self.rtc.writer(self.video)
            && writer
                .request_keyframe(None, KeyframeRequestKind::Pli)
                .is_ok()
        {
            self.last_keyframe_request = Some(now);
        }
    }

    /// A message the master sent the session: its answer, or an ICE candidate.
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
        match message["messageType"].as_str() {
            Some("SDP_ANSWER") => {
                let (Some(pending), Some(sdp)) = (self.pending.take(), payload["sdp"].as_str())
                else {
                    return;
                };
                let accepted = SdpAnswer::from_sdp_string(sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|answer| {
                        self.rtc
                            .sdp_api()
                            .accept_answer(pending, answer)
                            .map_err(|e| e.to_string())
                    });
                if let Err(error) = accepted {
                    tracing::info!(channel = %self.spec.channel_name, %error, "storage session refused the master's answer");
                }
            }
            Some("ICE_CANDIDATE") => {
                // Candidates the session cannot use (mDNS names, TCP) are skipped; ICE goes on
                // with the others and with peer-reflexive ones.
                if let Some(line) = payload["candidate"].as_str().filter(|l| !l.is_empty())
                    && let Ok(candidate) = Candidate::from_sdp_string(line)
                {
                    self.rtc.add_remote_candidate(candidate);
                }
            }
            _ => {}
        }
    }

    /// Relays a message from the session to the master.
    fn signal(&self, action: Action, payload: String) {
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
