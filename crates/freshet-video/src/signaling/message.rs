//! The signaling WebSocket's messages, as KVS WebRTC defines them: what a client sends
//! (`action`, `recipientClientId`, `messagePayload`, `correlationId`) and what the server sends
//! (`senderClientId`, `messageType`, `messagePayload`, `statusResponse`).

use serde::{Deserialize, Serialize};

/// The largest `messagePayload` a client may send (base64 text, as AWS limits it).
pub const MAX_PAYLOAD: usize = 10 * 1024;

/// ClientIds: 1–256 of `[a-zA-Z0-9_.-]`, not starting with `AWS_` (reserved).
pub fn valid_client_id(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.starts_with("AWS_")
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientMessage {
    pub action: String,
    #[serde(default)]
    pub recipient_client_id: Option<String>,
    #[serde(default)]
    pub message_payload: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// What a message is, for the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SdpOffer,
    SdpAnswer,
    IceCandidate,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "SDP_OFFER" => Some(Action::SdpOffer),
            "SDP_ANSWER" => Some(Action::SdpAnswer),
            "ICE_CANDIDATE" => Some(Action::IceCandidate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SdpOffer => "SDP_OFFER",
            Action::SdpAnswer => "SDP_ANSWER",
            Action::IceCandidate => "ICE_CANDIDATE",
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub correlation_id: String,
    pub error_type: String,
    pub status_code: String,
    pub description: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServerMessage {
    /// The sender's ClientId; absent for a SINGLE_MASTER channel's master.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_client_id: Option<String>,
    pub message_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_response: Option<StatusResponse>,
}

impl ServerMessage {
    pub fn relayed(sender: Option<&str>, action: Action, payload: String) -> ServerMessage {
        ServerMessage {
            sender_client_id: sender.map(str::to_string),
            message_type: action.as_str(),
            message_payload: Some(payload),
            status_response: None,
        }
    }

    /// A notice with no payload: GO_AWAY (the server closes this connection soon; reconnect),
    /// RECONNECT_ICE_SERVER (fetch the ICE servers again).
    pub fn notice(message_type: &'static str) -> ServerMessage {
        ServerMessage {
            sender_client_id: None,
            message_type,
            message_payload: None,
            status_response: None,
        }
    }

    pub fn status(correlation_id: String, error: &SignalError) -> ServerMessage {
        ServerMessage {
            sender_client_id: None,
            message_type: "STATUS_RESPONSE",
            message_payload: None,
            status_response: Some(StatusResponse {
                correlation_id,
                error_type: error.error_type().into(),
                status_code: error.status_code().to_string(),
                description: error.to_string(),
            }),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a client's message was not relayed, as a STATUS_RESPONSE says.
/// (A message for a client that is not connected is not an error: it waits for it.)
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SignalError {
    #[error("{0}")]
    InvalidArgument(String),
}

impl SignalError {
    pub fn error_type(&self) -> &'static str {
        match self {
            SignalError::InvalidArgument(_) => "InvalidArgumentException",
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            SignalError::InvalidArgument(_) => 400,
        }
    }
}

/// Parses and checks a client's text frame: its action and payload.
pub fn parse(text: &str) -> Result<(ClientMessage, Action, String), (Option<String>, SignalError)> {
    let message: ClientMessage = serde_json::from_str(text).map_err(|e| {
        (
            None,
            SignalError::InvalidArgument(format!("The message is not valid JSON: {e}")),
        )
    })?;
    let fail = |why: String| {
        (
            message.correlation_id.clone(),
            SignalError::InvalidArgument(why),
        )
    };
    let action = Action::parse(&message.action).ok_or_else(|| {
        fail(format!(
            "action {} is not one of SDP_OFFER, SDP_ANSWER, ICE_CANDIDATE.",
            message.action
        ))
    })?;
    let payload = message
        .message_payload
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| fail("messagePayload is required.".into()))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(fail(format!(
            "messagePayload is {} characters; the limit is {MAX_PAYLOAD}.",
            payload.len()
        )));
    }
    Ok((message, action, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_aws_rules() {
        assert!(valid_client_id("viewer-1.a_b"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("AWS_viewer"));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id(&"a".repeat(257)));
    }

    #[test]
    fn server_messages_have_aws_field_names() {
        let relayed = ServerMessage::relayed(Some("v1"), Action::SdpOffer, "e30=".into());
        assert_eq!(
            relayed.to_json(),
            r#"{"senderClientId":"v1","messageType":"SDP_OFFER","messagePayload":"e30="}"#
        );
        let status = ServerMessage::status(
            "c1".into(),
            &SignalError::InvalidArgument("recipientClientId is required.".into()),
        );
        assert_eq!(
            status.to_json(),
            r#"{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c1","errorType":"InvalidArgumentException","statusCode":"400","description":"recipientClientId is required."}}"#
        );
        assert_eq!(
            ServerMessage::notice("GO_AWAY").to_json(),
            r#"{"messageType":"GO_AWAY"}"#
        );
    }

    #[test]
    fn bad_messages_keep_their_correlation_id() {
        let (_, action, payload) =
            parse(r#"{"action":"ICE_CANDIDATE","messagePayload":"eA=="}"#).expect("valid");
        assert_eq!((action, payload.as_str()), (Action::IceCandidate, "eA=="));
        let (id, e) = parse(r#"{"action":"HELLO","messagePayload":"eA==","correlationId":"7"}"#)
            .expect_err("bad action");
        assert_eq!(id.as_deref(), Some("7"));
        assert!(matches!(e, SignalError::InvalidArgument(_)));
        let big = format!(
            r#"{{"action":"SDP_OFFER","messagePayload":"{}"}}"#,
            "a".repeat(MAX_PAYLOAD + 1)
        );
        assert!(parse(&big).is_err());
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"action":"SDP_OFFER"}"#).is_err());
    }
}
