//! WebRTC ingestion: a signaling channel's media storage configuration maps it to a video
//! stream (UpdateMediaStorageConfiguration), and JoinStorageSession has Freshet join the
//! channel as a peer that records the master's video into that stream as fragments, which play
//! back like PutMedia's (`peer`, `recorder`).
//!
//! One session per channel: a newer JoinStorageSession stops the running one first ("the most
//! recent client request takes precedence"). A session holds its stream's ingest slot, so a
//! PutMedia to the same stream is refused while it records, as a second producer would be.
//! JoinStorageSessionAsViewer adds a viewer to the channel's session (starting one if none
//! runs): the session offers it the master's media, forwarded as received.

pub mod model;
mod peer;
pub mod recorder;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Result, VideoError};
use crate::model::Empty;
use crate::service::{Target, VideoService, find as find_stream};
use crate::signaling::channel::ChannelType;
use crate::signaling::message::valid_client_id;
use crate::signaling::model::ChannelRefInput;
use model::*;

/// What DescribeMappedResourceConfiguration calls a stream's signaling channel (AWS documents
/// the member but not its values).
const MAPPED_CHANNEL_TYPE: &str = "SIGNALING_CHANNEL";
/// How long a newer JoinStorageSession waits for the session it replaces to store its last
/// fragment and let go of the stream.
const REPLACE_WAIT: Duration = Duration::from_secs(10);
/// The session's ClientId in the channel's signaling room, numbered per session.
const SESSION_CLIENT_ID: &str = "freshet-storage-session";

struct Running {
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
    commands: mpsc::Sender<peer::Command>,
}

/// Viewer joins queued for a session at once.
const COMMAND_QUEUE: usize = 64;

/// The running storage sessions, by channel.
#[derive(Default)]
pub(crate) struct Sessions {
    running: Mutex<HashMap<u64, Running>>,
    next: AtomicU64,
}

impl Sessions {
    /// Stops the channel's session, if one runs, and waits for it to end.
    async fn stop(&self, channel_uid: u64) {
        let running = self.running.lock().remove(&channel_uid);
        if let Some(running) = running {
            let _ = running.stop.send(());
            let _ = tokio::time::timeout(REPLACE_WAIT, running.done).await;
        }
    }

    /// Stops every session (shutdown), each storing its last fragment.
    pub(crate) async fn stop_all(&self) {
        let all: Vec<Running> = self.running.lock().drain().map(|(_, r)| r).collect();
        for running in all {
            let _ = running.stop.send(());
            let _ = tokio::time::timeout(REPLACE_WAIT, running.done).await;
        }
    }
}

impl VideoService {
    pub async fn update_media_storage_configuration(
        &self,
        input: UpdateMediaStorageConfigurationInput,
    ) -> Result<Empty> {
        let config = input.media_storage_configuration;
        let stream_arn = match (config.enabled(), &config.stream_arn) {
            (true, None) => {
                return Err(VideoError::invalid(
                    "StreamARN is required when the media storage Status is ENABLED.",
                ));
            }
            (true, Some(arn)) => {
                let streams = self.inner.streams.lock().await;
                let stream = find_stream(&streams, Target::Arn(arn))?;
                if stream.retention_hours == 0 {
                    return Err(VideoError::NoDataRetention(format!(
                        "The stream {} has no data retention; WebRTC ingestion needs it.",
                        stream.name
                    )));
                }
                Some(arn.clone())
            }
            (false, _) => None,
        };
        let channels = self.inner.channels.lock().await;
        let channel = crate::signaling::find(&channels, &ChannelRefInput::arn(&input.channel_arn))?;
        if channel.channel_type != ChannelType::SingleMaster {
            return Err(VideoError::invalid(
                "Media storage is supported for SINGLE_MASTER channels only.",
            ));
        }
        if let Some(arn) = &stream_arn
            && let Some(other) = channels.values().find(|c| {
                c.uid != channel.uid
                    && c.media_storage
                        .as_ref()
                        .is_some_and(|m| m.enabled() && m.stream_arn.as_ref() == Some(arn))
            })
        {
            return Err(VideoError::ResourceInUse(format!(
                "The stream {arn} already stores the media of signaling channel {}.",
                other.name
            )));
        }
        let uid = channel.uid;
        drop(channels);
        let next = MediaStorageConfiguration {
            stream_arn,
            status: config.status,
        };
        let disabled = !next.enabled();
        self.modify_channel(&input.channel_arn, |c| {
            c.media_storage = Some(next);
            Ok(())
        })
        .await?;
        if disabled {
            self.inner.storage_sessions.stop(uid).await;
        }
        Ok(Empty {})
    }

    pub async fn describe_media_storage_configuration(
        &self,
        input: ChannelRefInput,
    ) -> Result<DescribeMediaStorageConfigurationOutput> {
        let channels = self.inner.channels.lock().await;
        let channel = crate::signaling::find(&channels, &input)?;
        Ok(DescribeMediaStorageConfigurationOutput {
            media_storage_configuration: channel.media_storage.clone().unwrap_or(
                MediaStorageConfiguration {
                    stream_arn: None,
                    status: "DISABLED".into(),
                },
            ),
        })
    }

    /// The signaling channel whose media the stream stores, if any (at most one: AWS's list
    /// holds one item, and MaxResults is fixed at 1).
    pub async fn describe_mapped_resource_configuration(
        &self,
        input: DescribeMappedResourceConfigurationInput,
    ) -> Result<DescribeMappedResourceConfigurationOutput> {
        if input.max_results.is_some_and(|m| m != 1) {
            return Err(VideoError::invalid("MaxResults must be 1."));
        }
        let arn = {
            let streams = self.inner.streams.lock().await;
            find_stream(&streams, Target::Stream(&input.stream))?
                .arn
                .clone()
        };
        let channels = self.inner.channels.lock().await;
        let list = channels
            .values()
            .filter(|c| {
                c.media_storage
                    .as_ref()
                    .is_some_and(|m| m.enabled() && m.stream_arn.as_deref() == Some(&arn))
            })
            .map(|c| MappedResource {
                kind: MAPPED_CHANNEL_TYPE,
                arn: c.arn.clone(),
            })
            .collect();
        Ok(DescribeMappedResourceConfigurationOutput {
            mapped_resource_configuration_list: list,
            next_token: None,
        })
    }

    /// Starts a storage session on the channel: its offer goes to the master (now, or when the
    /// master connects within the channel's message TTL), and what the master sends is recorded.
    pub async fn join_storage_session(&self, input: JoinStorageSessionInput) -> Result<Empty> {
        self.start_storage_session(&input.channel_arn)
            .await
            .map(|_| Empty {})
    }

    /// Replaces the channel's session with a new one; answers the way to reach it.
    async fn start_storage_session(
        &self,
        channel_arn: &str,
    ) -> Result<mpsc::Sender<peer::Command>> {
        let channel = self.signaling_channel(channel_arn).await?;
        let storage = channel
            .media_storage
            .as_ref()
            .filter(|m| m.enabled())
            .and_then(|m| m.stream_arn.clone())
            .ok_or_else(|| {
                VideoError::invalid(format!(
                    "The signaling channel {} has no media storage configuration ENABLED.",
                    channel.name
                ))
            })?;
        let stream = {
            let streams = self.inner.streams.lock().await;
            find_stream(&streams, Target::Arn(&storage))?.uid
        };
        let sessions = &self.inner.storage_sessions;
        sessions.stop(channel.uid).await;
        let slot = self.take_ingest_slot(stream).ok_or_else(|| {
            VideoError::ClientLimitExceeded(format!(
                "The stream {storage} has a producer already (a PutMedia in progress)."
            ))
        })?;
        let n = sessions.next.fetch_add(1, Ordering::Relaxed);
        let spec = peer::SessionSpec {
            channel: channel.relay_ref(),
            channel_name: channel.name.clone(),
            client_id: format!("{SESSION_CLIENT_ID}-{n}"),
            bind: self.media_address().await?,
            stream,
            store: self.inner.store.clone(),
            slot,
            clock: self.inner.config.clock.clone(),
        };
        let (stop, stopped) = oneshot::channel();
        let (commands, received) = mpsc::channel(COMMAND_QUEUE);
        let done = tokio::spawn(peer::run(spec, self.clone(), stopped, received));
        sessions.running.lock().insert(
            channel.uid,
            Running {
                stop,
                done,
                commands: commands.clone(),
            },
        );
        tracing::info!(channel = %channel.name, "storage session started");
        Ok(commands)
    }

    /// Adds a viewer to the channel's storage session (started if none runs): the session
    /// offers the viewer, as from the master, the master's media as it receives it. The viewer's
    /// own messages go to the session from then on.
    pub async fn join_storage_session_as_viewer(
        &self,
        input: JoinStorageSessionAsViewerInput,
    ) -> Result<Empty> {
        if !valid_client_id(&input.client_id) {
            return Err(VideoError::invalid(format!(
                "clientId {} is not valid.",
                input.client_id
            )));
        }
        let channel = self.signaling_channel(&input.channel_arn).await?;
        let running = self
            .inner
            .storage_sessions
            .running
            .lock()
            .get(&channel.uid)
            .filter(|r| !r.done.is_finished())
            .map(|r| r.commands.clone());
        let commands = match running {
            Some(commands) => commands,
            None => self.start_storage_session(&input.channel_arn).await?,
        };
        commands
            .send(peer::Command::AddViewer(input.client_id))
            .await
            .map_err(|_| {
                VideoError::ClientLimitExceeded(format!(
                    "The storage session of signaling channel {} ended; join again.",
                    channel.name
                ))
            })
            .map(|()| Empty {})
    }

    /// The address a session's UDP socket binds: the host of this server's data endpoint.
    async fn media_address(&self) -> Result<IpAddr> {
        let host = self.public_host();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(ip);
        }
        tokio::net::lookup_host((host.as_str(), 0))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(|a| a.ip())
            .ok_or_else(|| VideoError::Internal(format!("cannot resolve the media host {host}")))
    }
}
