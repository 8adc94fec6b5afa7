//! The signaling relay: who is connected to each channel and where a message goes. A
//! SINGLE_MASTER channel has one master (connected without a ClientId) and viewers by ClientId;
//! a viewer's messages go to the master, the master's to the viewer it names. A FULL_MESH
//! channel's clients all have ClientIds and name their recipient. A newer connection in the same
//! place (the master, or a ClientId) replaces the older one, which is closed. A message for a
//! client that is not connected waits up to the channel's MessageTtlSeconds and is delivered
//! when it connects; a newer offer from the same sender replaces a waiting one.
//!
//! No I/O here: each connection is a queue of frames the edge writes to its WebSocket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use freshet_runtime::SharedClock;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::channel::ChannelType;
use super::message::{Action, ServerMessage, SignalError};

/// Frames queued per connection before the relay drops messages for it (a client that does
/// not read); signaling is a handful of messages per call.
const QUEUE: usize = 256;
/// Messages waiting per recipient, at most.
const MAX_PENDING: usize = 64;

/// What the edge writes to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    /// Close the WebSocket: a newer connection took this one's place, or the channel is gone.
    Close(&'static str),
}

/// The channel a connection joins, as the relay needs it.
#[derive(Debug, Clone)]
pub struct ChannelRef {
    pub uid: u64,
    pub channel_type: ChannelType,
    pub message_ttl_seconds: u32,
}

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    ClientLimitExceeded(String),
}

/// A joined connection: its id and the frames to write to it.
pub struct Joined {
    pub conn: u64,
    pub frames: mpsc::Receiver<Outgoing>,
}

struct Member {
    conn: u64,
    queue: mpsc::Sender<Outgoing>,
}

impl Member {
    fn send(&self, frame: Outgoing) {
        if self.queue.try_send(frame).is_err() {
            tracing::debug!(
                conn = self.conn,
                "signaling connection not reading; message dropped"
            );
        }
    }
}

/// Where a message goes: the master, or a ClientId.
type Place = Option<String>;

struct Waiting {
    expires_ms: i64,
    sender: Place,
    action: Action,
    frame: String,
}

#[derive(Default)]
struct Room {
    members: HashMap<Place, Member>,
    waiting: HashMap<Place, Vec<Waiting>>,
    /// Viewers whose messages go to a storage session's place instead of the master
    /// (JoinStorageSessionAsViewer), by ClientId.
    routes: HashMap<String, Place>,
}

impl Room {
    /// Drops expired messages, so messages for clients that never come stay bounded by what
    /// the TTL lets through, and an empty room can go.
    fn expire(&mut self, now: i64) {
        self.waiting.retain(|_, list| {
            list.retain(|w| w.expires_ms >= now);
            !list.is_empty()
        });
    }
}

pub struct Hub {
    rooms: Mutex<HashMap<u64, Room>>,
    next_conn: AtomicU64,
    /// Members over every room (changed under the rooms' lock).
    connected: AtomicUsize,
    max_viewers: usize,
    max_connections: usize,
    clock: SharedClock,
}

impl Hub {
    pub fn new(max_viewers: usize, max_connections: usize, clock: SharedClock) -> Hub {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            max_viewers,
            max_connections,
            clock,
        }
    }

    /// Connects a client: `client_id` None is a SINGLE_MASTER channel's master.
    pub fn join(&self, channel: &ChannelRef, client_id: Option<&str>) -> Result<Joined, JoinError> {
        if channel.channel_type == ChannelType::FullMesh && client_id.is_none() {
            return Err(JoinError::InvalidArgument(
                "X-Amz-ClientId is required on a FULL_MESH channel.".into(),
            ));
        }
        let place: Place = client_id.map(str::to_string);
        let (queue, frames) = mpsc::channel(QUEUE);
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_ms();
        let mut rooms = self.rooms.lock();
        let room = rooms.entry(channel.uid).or_default();
        let replaces = room.members.contains_key(&place);
        let viewers = room.members.keys().filter(|p| p.is_some()).count();
        if place.is_some() && !replaces && viewers >= self.max_viewers {
            return Err(JoinError::ClientLimitExceeded(format!(
                "The channel has {viewers} viewers connected, the most it allows."
            )));
        }
        let connected = self.connected.load(Ordering::Relaxed);
        if !replaces && connected >= self.max_connections {
            if room.members.is_empty() && room.waiting.is_empty() {
                rooms.remove(&channel.uid);
            }
            return Err(JoinError::ClientLimitExceeded(format!(
                "The server holds {connected} signaling connections, the most it allows."
            )));
        }
        let member = Member { conn, queue };
        for waiting in room.waiting.remove(&place).unwrap_or_default() {
            if waiting.expires_ms >= now {
                member.send(Outgoing::Text(waiting.frame));
            }
        }
        match room.members.insert(place, member) {
            Some(old) => old.send(Outgoing::Close("replaced by a newer connection")),
            None => {
                self.connected.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Joined { conn, frames })
    }

    /// A connection closed.
    pub fn leave(&self, channel_uid: u64, conn: u64) {
        let now = self.clock.now_ms();
        let mut rooms = self.rooms.lock();
        if let Some(room) = rooms.get_mut(&channel_uid) {
            let before = room.members.len();
            let mut gone = Vec::new();
            room.members.retain(|place, m| {
                let stays = m.conn != conn;
                if !stays {
                    gone.push(place.clone());
                }
                stays
            });
            self.connected
                .fetch_sub(before - room.members.len(), Ordering::Relaxed);
            room.routes.retain(|_, to| !gone.contains(to));
            room.expire(now);
            if room.members.is_empty() && room.waiting.is_empty() {
                rooms.remove(&channel_uid);
            }
        }
    }

    /// Relays a message from `sender` (None: the master) to its recipient.
    pub fn relay(
        &self,
        channel: &ChannelRef,
        sender: Option<&str>,
        action: Action,
        payload: String,
        recipient: Option<&str>,
    ) -> Result<(), SignalError> {
        let named = || {
            recipient
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    SignalError::InvalidArgument("recipientClientId is required.".into())
                })
        };
        let mut rooms = self.rooms.lock();
        let room = rooms.entry(channel.uid).or_default();
        let to: Place = match (channel.channel_type, sender) {
            // A viewer reaches only the master (or the storage session it joined); what it
            // names is ignored, as on AWS.
            (ChannelType::SingleMaster, Some(viewer)) => room.routes.get(viewer).cloned().flatten(),
            (_, _) => Some(named()?),
        };
        self.deliver(room, channel, sender, to, action, payload);
        Ok(())
    }

    /// A storage session's message to a viewer it serves, which arrives as from the master;
    /// the viewer's own messages go to the session from now on.
    pub fn send_to_viewer(
        &self,
        channel: &ChannelRef,
        session: &str,
        viewer: &str,
        action: Action,
        payload: String,
    ) {
        let mut rooms = self.rooms.lock();
        let room = rooms.entry(channel.uid).or_default();
        room.routes
            .insert(viewer.to_string(), Some(session.to_string()));
        self.deliver(
            room,
            channel,
            None,
            Some(viewer.to_string()),
            action,
            payload,
        );
    }

    /// Hands a message to its recipient, or keeps it for the channel's TTL.
    fn deliver(
        &self,
        room: &mut Room,
        channel: &ChannelRef,
        sender: Option<&str>,
        to: Place,
        action: Action,
        payload: String,
    ) {
        let frame = ServerMessage::relayed(sender, action, payload).to_json();
        let now = self.clock.now_ms();
        if let Some(member) = room.members.get(&to) {
            member.send(Outgoing::Text(frame));
            return;
        }
        let from: Place = sender.map(str::to_string);
        room.expire(now);
        let waiting = room.waiting.entry(to).or_default();
        waiting.retain(|w| !(action == Action::SdpOffer && w.action == action && w.sender == from));
        if waiting.len() >= MAX_PENDING {
            waiting.remove(0);
        }
        waiting.push(Waiting {
            expires_ms: now + channel.message_ttl_seconds as i64 * 1000,
            sender: from,
            action,
            frame,
        });
    }

    /// Sends `notice` (GO_AWAY, RECONNECT_ICE_SERVER) to every connection.
    pub fn notify_all(&self, notice: &'static str) {
        let frame = ServerMessage::notice(notice).to_json();
        for room in self.rooms.lock().values() {
            for member in room.members.values() {
                member.send(Outgoing::Text(frame.clone()));
            }
        }
    }

    /// The channel is deleted: its connections close, its waiting messages go.
    pub fn close_channel(&self, channel_uid: u64) {
        if let Some(room) = self.rooms.lock().remove(&channel_uid) {
            self.connected
                .fetch_sub(room.members.len(), Ordering::Relaxed);
            for member in room.members.values() {
                member.send(Outgoing::Close("the channel was deleted"));
            }
        }
    }

    /// Connections open now, over every channel.
    pub fn connections(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use freshet_runtime::ManualClock;

    use super::*;

    fn channel(channel_type: ChannelType) -> ChannelRef {
        ChannelRef {
            uid: 1,
            channel_type,
            message_ttl_seconds: 5,
        }
    }

    fn text(frames: &mut mpsc::Receiver<Outgoing>) -> Option<serde_json::Value> {
        match frames.try_recv().ok()? {
            Outgoing::Text(t) => serde_json::from_str(&t).ok(),
            Outgoing::Close(why) => Some(serde_json::json!({ "closed": why })),
        }
    }

    #[test]
    fn a_storage_session_serves_viewers_as_the_master_until_it_leaves() {
        let (clock, _) = ManualClock::shared(0);
        let hub = Hub::new(10, 1_000, clock);
        let ch = channel(ChannelType::SingleMaster);
        let mut master = hub.join(&ch, None).unwrap();
        let mut session = hub.join(&ch, Some("session")).unwrap();
        let mut viewer = hub.join(&ch, Some("v1")).unwrap();
        hub.send_to_viewer(&ch, "session", "v1", Action::SdpOffer, "b2Zm".into());
        let offer = text(&mut viewer.frames).unwrap();
        assert_eq!(offer["messageType"], "SDP_OFFER");
        assert!(offer.get("senderClientId").is_none(), "{offer}");
        // The viewer's answer goes to the session, not the master.
        hub.relay(&ch, Some("v1"), Action::SdpAnswer, "YW5z".into(), None)
            .unwrap();
        let answer = text(&mut session.frames).unwrap();
        assert_eq!(
            (
                answer["senderClientId"].as_str(),
                answer["messagePayload"].as_str()
            ),
            (Some("v1"), Some("YW5z"))
        );
        assert!(text(&mut master.frames).is_none());
        // Once the session leaves, the viewer reaches the master again.
        hub.leave(ch.uid, session.conn);
        hub.relay(&ch, Some("v1"), Action::SdpOffer, "b2Zm".into(), None)
            .unwrap();
        assert_eq!(text(&mut master.frames).unwrap()["senderClientId"], "v1");
    }

    #[test]
    fn viewers_reach_the_master_and_the_master_names_its_viewer() {
        let (clock, _) = ManualClock::shared(0);
        let hub = Hub::new(10, 1_000, clock);
        let ch = channel(ChannelType::SingleMaster);
        let mut master = hub.join(&ch, None).unwrap();
        let mut viewer = hub.join(&ch, Some("v1")).unwrap();
        hub.relay(
            &ch,
            Some("v1"),
            Action::SdpOffer,
            "b2ZmZXI=".into(),
            Some("ignored"),
        )
        .unwrap();
        let got = text(&mut master.frames).unwrap();
        assert_eq!(got["senderClientId"], "v1");
        assert_eq!(got["messageType"], "SDP_OFFER");
        hub.relay(&ch, None, Action::SdpAnswer, "YW5zd2Vy".into(), Some("v1"))
            .unwrap();
        let got = text(&mut viewer.frames).unwrap();
        assert_eq!(got["messageType"], "SDP_ANSWER");
        assert!(got.get("senderClientId").is_none());
        // The master must name its recipient.
        assert!(matches!(
            hub.relay(&ch, None, Action::IceCandidate, "eA==".into(), None),
            Err(SignalError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_newer_connection_replaces_the_older_and_the_cap_counts_viewers() {
        let (clock, _) = ManualClock::shared(0);
        let hub = Hub::new(2, 1_000, clock);
        let ch = channel(ChannelType::SingleMaster);
        let mut first = hub.join(&ch, None).unwrap();
        let _second = hub.join(&ch, None).unwrap();
        assert_eq!(
            text(&mut first.frames).unwrap()["closed"],
            "replaced by a newer connection"
        );
        let _a = hub.join(&ch, Some("a")).unwrap();
        let _b = hub.join(&ch, Some("b")).unwrap();
        assert!(matches!(
            hub.join(&ch, Some("c")),
            Err(JoinError::ClientLimitExceeded(_))
        ));
        // The same ClientId again replaces, within the cap.
        assert!(hub.join(&ch, Some("b")).is_ok());
        hub.leave(ch.uid, first.conn);
        assert_eq!(hub.connections(), 3);
    }

    #[test]
    fn the_server_wide_cap_refuses_new_places_and_frees_them_on_leave() {
        let (clock, _) = ManualClock::shared(0);
        let hub = Hub::new(10, 3, clock);
        let (one, two) = (
            channel(ChannelType::SingleMaster),
            ChannelRef {
                uid: 2,
                ..channel(ChannelType::SingleMaster)
            },
        );
        let master = hub.join(&one, None).unwrap();
        let _viewer = hub.join(&one, Some("v")).unwrap();
        let _other = hub.join(&two, None).unwrap();
        assert_eq!(hub.connections(), 3);
        let refused = hub.join(&two, Some("v"));
        assert!(
            matches!(refused, Err(JoinError::ClientLimitExceeded(m)) if m.contains("3 signaling connections"))
        );
        // Replacing a place takes no new one.
        let master = hub.join(&one, None).map(|j| (master, j)).unwrap();
        assert_eq!(hub.connections(), 3);
        // The replaced connection's leave frees nothing; the current one's does.
        hub.leave(one.uid, master.0.conn);
        assert_eq!(hub.connections(), 3);
        hub.leave(one.uid, master.1.conn);
        assert_eq!(hub.connections(), 2);
        assert!(hub.join(&two, Some("v")).is_ok());
        hub.close_channel(two.uid);
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn messages_wait_for_their_recipient_until_the_ttl() {
        let (clock, manual) = ManualClock::shared(0);
        let hub = Hub::new(10, 1_000, clock);
        let ch = channel(ChannelType::SingleMaster);
        hub.relay(&ch, Some("v1"), Action::SdpOffer, "b2xk".into(), None)
            .unwrap();
        hub.relay(&ch, Some("v1"), Action::SdpOffer, "bmV3".into(), None)
            .unwrap();
        hub.relay(&ch, Some("v1"), Action::IceCandidate, "Yw==".into(), None)
            .unwrap();
        let mut master = hub.join(&ch, None).unwrap();
        // The newer offer replaced the older one; the candidate follows it.
        assert_eq!(text(&mut master.frames).unwrap()["messagePayload"], "bmV3");
        assert_eq!(text(&mut master.frames).unwrap()["messagePayload"], "Yw==");
        assert!(text(&mut master.frames).is_none());
        // For a viewer not connected: kept 5 s, then dropped.
        hub.relay(&ch, None, Action::SdpAnswer, "YQ==".into(), Some("late"))
            .unwrap();
        manual.advance(Duration::from_millis(5_001));
        let mut late = hub.join(&ch, Some("late")).unwrap();
        assert!(text(&mut late.frames).is_none());
        // Once everyone left and what waited expired, nothing of the channel is kept.
        hub.relay(&ch, None, Action::SdpAnswer, "YQ==".into(), Some("never"))
            .unwrap();
        hub.leave(ch.uid, master.conn);
        manual.advance(Duration::from_millis(5_001));
        hub.leave(ch.uid, late.conn);
        assert!(hub.rooms.lock().is_empty());
    }

    #[test]
    fn full_mesh_clients_need_ids_and_name_each_other() {
        let (clock, _) = ManualClock::shared(0);
        let hub = Hub::new(10, 1_000, clock);
        let ch = channel(ChannelType::FullMesh);
        assert!(matches!(
            hub.join(&ch, None),
            Err(JoinError::InvalidArgument(_))
        ));
        let _a = hub.join(&ch, Some("a")).unwrap();
        let mut b = hub.join(&ch, Some("b")).unwrap();
        hub.relay(&ch, Some("a"), Action::SdpOffer, "eA==".into(), Some("b"))
            .unwrap();
        assert_eq!(text(&mut b.frames).unwrap()["senderClientId"], "a");
        hub.notify_all("GO_AWAY");
        assert_eq!(text(&mut b.frames).unwrap()["messageType"], "GO_AWAY");
        hub.close_channel(ch.uid);
        assert_eq!(
            text(&mut b.frames).unwrap()["closed"],
            "the channel was deleted"
        );
        assert_eq!(hub.connections(), 0);
    }
}
