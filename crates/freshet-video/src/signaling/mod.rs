//! KVS WebRTC signaling channels: the control plane (`kinesisvideo`'s channel operations, kept in
//! the catalog's `signaling_channels` like streams in `video_streams`) and the relay that the
//! edge's signaling WebSocket feeds (`hub`). Media never passes through here: peers exchange SDP
//! offers, answers and ICE candidates, then connect to each other.

pub mod channel;
pub mod hub;
pub mod ice;
pub mod message;
pub mod model;

use std::collections::BTreeMap;

use freshet_catalog::CatalogError;

use crate::error::{Result, VideoError};
use crate::model::{Empty, ListTagsOutput};
use crate::paging::page_by_name;
use crate::service::VideoService;
use crate::stream::{Status, check_version, new_version, tags_with};
use channel::{Channel, ChannelType, DEFAULT_MESSAGE_TTL_SECONDS, channel_arn, check_ttl};
use hub::ChannelRef;
use model::*;

/// ListSignalingChannels' paging tokens resume after the last name returned.
const LIST_MARKER: &str = "freshet-channels-after:";
const MAX_LIST_RESULTS: usize = 10_000;

fn not_found(what: &str) -> VideoError {
    VideoError::ResourceNotFound(format!("The signaling channel {what} was not found."))
}

impl Channel {
    fn info(&self) -> ChannelInfo {
        ChannelInfo {
            channel_name: self.name.clone(),
            channel_arn: self.arn.clone(),
            channel_type: self.channel_type.as_str(),
            channel_status: self.status.as_str(),
            creation_time: self.created_ms as f64 / 1000.0,
            single_master_configuration: SingleMasterConfiguration {
                message_ttl_seconds: Some(self.message_ttl_seconds),
            },
            version: self.version.clone(),
        }
    }

    fn what(&self) -> String {
        format!("signaling channel {}", self.name)
    }

    /// What the relay needs of it.
    pub fn relay_ref(&self) -> ChannelRef {
        ChannelRef {
            uid: self.uid,
            channel_type: self.channel_type,
            message_ttl_seconds: self.message_ttl_seconds,
        }
    }
}

impl VideoService {
    pub(crate) async fn load_channels(
        catalog: &freshet_catalog::Catalog,
    ) -> Result<BTreeMap<String, Channel>> {
        let mut channels = BTreeMap::new();
        for row in catalog.load_signaling_channels().await? {
            let mut channel: Channel = serde_json::from_str(&row.doc)?;
            channel.uid = row.uid;
            channel.name = row.name;
            channel.created_ms = row.created_ms;
            channels.insert(channel.name.clone(), channel);
        }
        Ok(channels)
    }

    pub async fn create_signaling_channel(
        &self,
        input: CreateSignalingChannelInput,
    ) -> Result<CreateSignalingChannelOutput> {
        let config = &self.inner.config;
        let channel_type = match input.channel_type.as_deref() {
            Some(t) => ChannelType::parse(t)?,
            None => ChannelType::SingleMaster,
        };
        let ttl = match input
            .single_master_configuration
            .and_then(|c| c.message_ttl_seconds)
        {
            Some(ttl) => check_ttl(ttl)?,
            None => DEFAULT_MESSAGE_TTL_SECONDS,
        };
        let mut channels = self.inner.channels.lock().await;
        if channels.contains_key(&input.channel_name) {
            return Err(in_use(&input.channel_name));
        }
        let created_ms = self.now_ms();
        let mut channel = Channel {
            uid: 0,
            name: input.channel_name.clone(),
            created_ms,
            arn: channel_arn(
                &config.region,
                &config.account_id,
                &input.channel_name,
                created_ms,
            ),
            channel_type,
            // Channels need no set-up: ACTIVE at once, as AWS's become within a second.
            status: Status::Active,
            version: new_version(),
            message_ttl_seconds: ttl,
            tags: BTreeMap::new(),
            media_storage: None,
        };
        channel.tags = tags_with(
            &channel.what(),
            &channel.tags,
            input.tags.into_iter().map(|t| (t.key, t.value)),
        )?;
        let doc = serde_json::to_string(&channel)?;
        channel.uid = match self
            .inner
            .catalog
            .create_signaling_channel(&channel.name, created_ms, &doc)
            .await
        {
            Ok(uid) => uid,
            Err(CatalogError::NameTaken(name)) => return Err(in_use(&name)),
            Err(e) => return Err(e.into()),
        };
        let arn = channel.arn.clone();
        channels.insert(channel.name.clone(), channel);
        tracing::info!(channel = %input.channel_name, "signaling channel created");
        Ok(CreateSignalingChannelOutput { channel_arn: arn })
    }

    pub async fn describe_signaling_channel(
        &self,
        input: ChannelRefInput,
    ) -> Result<DescribeSignalingChannelOutput> {
        let channels = self.inner.channels.lock().await;
        let channel = find(&channels, &input)?;
        Ok(DescribeSignalingChannelOutput {
            channel_info: channel.info(),
        })
    }

    pub async fn list_signaling_channels(
        &self,
        input: ListSignalingChannelsInput,
    ) -> Result<ListSignalingChannelsOutput> {
        let prefix = input
            .channel_name_condition
            .and_then(|c| c.comparison_value)
            .unwrap_or_default();
        let channels = self.inner.channels.lock().await;
        let (page, next_token) = page_by_name(
            LIST_MARKER,
            channels.iter(),
            input.next_token.as_deref(),
            &prefix,
            input.max_results.unwrap_or(MAX_LIST_RESULTS),
            Channel::info,
        )?;
        Ok(ListSignalingChannelsOutput {
            channel_info_list: page,
            next_token,
        })
    }

    pub async fn update_signaling_channel(
        &self,
        input: UpdateSignalingChannelInput,
    ) -> Result<Empty> {
        let ttl = input
            .single_master_configuration
            .and_then(|c| c.message_ttl_seconds)
            .map(check_ttl)
            .transpose()?;
        self.modify_channel(&input.channel_arn, |c| {
            check_version(&c.what(), &input.current_version, &c.version)?;
            if let Some(ttl) = ttl {
                c.message_ttl_seconds = ttl;
            }
            c.version = new_version();
            Ok(())
        })
        .await
        .map(|()| Empty {})
    }

    pub async fn delete_signaling_channel(
        &self,
        input: DeleteSignalingChannelInput,
    ) -> Result<Empty> {
        let mut channels = self.inner.channels.lock().await;
        let channel = find(&channels, &ChannelRefInput::arn(&input.channel_arn))?;
        if let Some(version) = &input.current_version {
            check_version(&channel.what(), version, &channel.version)?;
        }
        let (uid, name) = (channel.uid, channel.name.clone());
        self.inner.catalog.delete_signaling_channel(uid).await?;
        channels.remove(&name);
        self.inner.hub.close_channel(uid);
        tracing::info!(channel = %name, "signaling channel deleted");
        Ok(Empty {})
    }

    /// This server's own endpoints: `wss://` (or `ws://` without TLS) for the WebSocket and
    /// `https://` for the HTTPS API; WEBRTC (the storage session API) is the HTTPS endpoint.
    pub async fn get_signaling_channel_endpoint(
        &self,
        input: GetSignalingChannelEndpointInput,
    ) -> Result<GetSignalingChannelEndpointOutput> {
        find(
            &*self.inner.channels.lock().await,
            &ChannelRefInput::arn(&input.channel_arn),
        )?;
        let config = input.single_master_channel_endpoint_configuration;
        let protocols = config
            .as_ref()
            .and_then(|c| c.protocols.clone())
            .unwrap_or_else(|| vec!["WSS".into(), "HTTPS".into()]);
        let https = self.inner.config.data_endpoint.clone();
        let wss = match https.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => https.clone(),
        };
        let mut list = Vec::new();
        for protocol in protocols {
            let endpoint = match protocol.as_str() {
                "WSS" => wss.clone(),
                "HTTPS" | "WEBRTC" => https.clone(),
                other => {
                    return Err(VideoError::invalid(format!(
                        "Protocol {other} is not one of WSS, HTTPS, WEBRTC."
                    )));
                }
            };
            list.push(ResourceEndpoint {
                protocol,
                resource_endpoint: endpoint,
            });
        }
        Ok(GetSignalingChannelEndpointOutput {
            resource_endpoint_list: list,
        })
    }

    /// The channel a signaling connection names.
    pub async fn signaling_channel(&self, arn: &str) -> Result<Channel> {
        let channels = self.inner.channels.lock().await;
        find(&channels, &ChannelRefInput::arn(arn)).cloned()
    }

    pub fn signaling_hub(&self) -> &hub::Hub {
        &self.inner.hub
    }

    /// The embedded TURN server with credentials for this channel's clients (none when no
    /// TURN server runs: `[video] turn_listen` unset).
    pub async fn get_ice_server_config(
        &self,
        input: GetIceServerConfigInput,
    ) -> Result<GetIceServerConfigOutput> {
        if let Some(service) = input.service.as_deref()
            && service != "TURN"
        {
            return Err(VideoError::invalid(format!(
                "Service {service} is not supported; TURN is the only valid value."
            )));
        }
        if let Some(id) = input.client_id.as_deref()
            && !message::valid_client_id(id)
        {
            return Err(VideoError::invalid(format!("ClientId {id} is not valid.")));
        }
        let channel = self.signaling_channel(&input.channel_arn).await?;
        let list = match &self.inner.turn {
            Some(turn) => {
                let host = match turn.addr().ip() {
                    ip if ip.is_unspecified() => self.public_host(),
                    ip => ip.to_string(),
                };
                let (username, password) = self.inner.ice_credentials.issue(&channel.arn);
                vec![ice::IceServer {
                    uris: vec![format!("turn:{host}:{}?transport=udp", turn.addr().port())],
                    username,
                    password,
                    ttl: ice::CREDENTIAL_TTL_SECONDS,
                }]
            }
            None => Vec::new(),
        };
        Ok(GetIceServerConfigOutput {
            ice_server_list: list,
        })
    }

    /// The host clients reach this server by, from its data endpoint.
    pub(crate) fn public_host(&self) -> String {
        let endpoint = &self.inner.config.data_endpoint;
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, a)| a);
        match authority.rsplit_once(':') {
            Some((host, _)) => host.trim_matches(['[', ']']).to_string(),
            None => authority.to_string(),
        }
    }

    /// Alexa's offer, relayed to the master as from `SenderClientId`; answers the master's SDP
    /// answer, waiting for it (and for the master to connect) up to the channel's message TTL.
    pub async fn send_alexa_offer_to_master(
        &self,
        input: SendAlexaOfferToMasterInput,
    ) -> Result<SendAlexaOfferToMasterOutput> {
        if !message::valid_client_id(&input.sender_client_id) {
            return Err(VideoError::invalid(format!(
                "SenderClientId {} is not valid.",
                input.sender_client_id
            )));
        }
        let channel = self.signaling_channel(&input.channel_arn).await?;
        if channel.channel_type != ChannelType::SingleMaster {
            return Err(VideoError::invalid(
                "SendAlexaOfferToMaster needs a SINGLE_MASTER channel.",
            ));
        }
        let relay = channel.relay_ref();
        let hub = &self.inner.hub;
        let mut joined = hub
            .join(&relay, Some(&input.sender_client_id))
            .map_err(|e| VideoError::ClientLimitExceeded(e.to_string()))?;
        let sent = hub.relay(
            &relay,
            Some(&input.sender_client_id),
            message::Action::SdpOffer,
            input.message_payload,
            None,
        );
        let answer = async {
            sent.map_err(|e| VideoError::invalid(e.to_string()))?;
            while let Some(frame) = joined.frames.recv().await {
                if let hub::Outgoing::Text(text) = frame
                    && let Ok(reply) = serde_json::from_str::<serde_json::Value>(&text)
                    && reply["messageType"] == "SDP_ANSWER"
                    && let Some(answer) = reply["messagePayload"].as_str()
                {
                    return Ok(answer.to_string());
                }
            }
            Err(VideoError::ResourceNotFound(
                "The connection for the offer was replaced before the master answered.".into(),
            ))
        };
        let ttl = std::time::Duration::from_secs(relay.message_ttl_seconds.into());
        let outcome = tokio::select! {
            answer = answer => answer,
            _ = self.inner.config.clock.sleep(ttl) => Err(VideoError::ResourceNotFound(format!(
                "The master of signaling channel {} did not answer within {} seconds.",
                channel.name, relay.message_ttl_seconds
            ))),
        };
        hub.leave(relay.uid, joined.conn);
        outcome.map(|answer| SendAlexaOfferToMasterOutput { answer })
    }

    pub(crate) async fn tag_channel(
        &self,
        arn: &str,
        tags: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Empty> {
        self.modify_channel(arn, |c| {
            c.tags = tags_with(&c.what(), &c.tags, tags)?;
            Ok(())
        })
        .await
        .map(|()| Empty {})
    }

    pub(crate) async fn untag_channel(&self, arn: &str, keys: &[String]) -> Result<Empty> {
        self.modify_channel(arn, |c| {
            for key in keys {
                c.tags.remove(key);
            }
            Ok(())
        })
        .await
        .map(|()| Empty {})
    }

    pub(crate) async fn channel_tags(&self, arn: &str) -> Result<ListTagsOutput> {
        let channels = self.inner.channels.lock().await;
        Ok(ListTagsOutput {
            tags: find(&channels, &ChannelRefInput::arn(arn))?.tags.clone(),
        })
    }

    /// Applies `change` to a copy of the channel, writes it, then makes it visible.
    pub(crate) async fn modify_channel(
        &self,
        arn: &str,
        change: impl FnOnce(&mut Channel) -> Result<()>,
    ) -> Result<()> {
        let mut channels = self.inner.channels.lock().await;
        let current = find(&channels, &ChannelRefInput::arn(arn))?;
        let mut next = current.clone();
        change(&mut next)?;
        self.inner
            .catalog
            .update_signaling_channel(next.uid, &serde_json::to_string(&next)?)
            .await?;
        channels.insert(next.name.clone(), next);
        Ok(())
    }
}

impl ChannelRefInput {
    pub(crate) fn arn(arn: &str) -> ChannelRefInput {
        ChannelRefInput {
            name: None,
            arn: Some(arn.to_string()),
        }
    }
}

fn in_use(name: &str) -> VideoError {
    VideoError::ResourceInUse(format!("The signaling channel {name} already exists."))
}

/// The channel named by name or ARN (exactly one of them).
pub(crate) fn find<'a>(
    channels: &'a BTreeMap<String, Channel>,
    by: &ChannelRefInput,
) -> Result<&'a Channel> {
    match (&by.name, &by.arn) {
        (Some(name), None) => channels.get(name).ok_or_else(|| not_found(name)),
        (None, Some(arn)) => channels
            .values()
            .find(|c| &c.arn == arn)
            .ok_or_else(|| not_found(arn)),
        _ => Err(VideoError::invalid(
            "Specify either ChannelName or ChannelARN, but not both.",
        )),
    }
}
