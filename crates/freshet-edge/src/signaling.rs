//! The KVS WebRTC signaling WebSocket, at the root of the endpoint GetSignalingChannelEndpoint
//! answers for WSS: `GET /?X-Amz-ChannelARN=<arn>[&X-Amz-ClientId=<id>]` upgraded to a WebSocket,
//! SigV4-presigned in the query (checked when credentials are configured). Without a ClientId
//! the connection is a SINGLE_MASTER channel's master. Text frames carry the JSON messages the
//! relay (`freshet_video::signaling`) routes; a message it refuses is answered with a
//! STATUS_RESPONSE when the client gave a correlationId, and nothing otherwise, as AWS does.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use freshet_video::VideoService;
use freshet_video::signaling::hub::{ChannelRef, JoinError, Joined, Outgoing};
use freshet_video::signaling::message::{self, ServerMessage, valid_client_id};
use futures_util::{SinkExt, StreamExt};

use crate::Auth;
use crate::codec::Format;
use crate::error::ApiError;

/// Leaves the relay when the connection ends, or when the upgrade never happens.
struct Membership {
    svc: VideoService,
    channel: u64,
    conn: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.svc.signaling_hub().leave(self.channel, self.conn);
    }
}

/// Whether a request at the root is a signaling connection: a GET naming a channel or asking
/// for a WebSocket (anything else there is a call without an `X-Amz-Target`).
pub(crate) fn is_connect(req: &Request) -> bool {
    req.method() == http::Method::GET
        && (req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-ChannelARN"))
            || req
                .headers()
                .get(http::header::UPGRADE)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")))
}

/// What one read of a signaling socket takes at most (a message may span reads).
const READ_BUFFER: usize = 4 * 1024;
/// The largest WebSocket message a client may send: a 10 KiB payload, base64 and JSON around it.
const MAX_MESSAGE: usize = 64 * 1024;

/// Answers a signaling connection request: the upgrade, or AWS's error for it.
pub(crate) async fn connect(svc: VideoService, auth: Arc<Auth>, req: Request) -> Response {
    match accept(svc, auth, req).await {
        Ok(response) => response,
        Err(e) => crate::error_response(e, Format::Json),
    }
}

async fn accept(svc: VideoService, auth: Arc<Auth>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let caller = auth.check(&parts, None)?;
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let invalid = |m: String| ApiError::client("InvalidArgumentException", m);
    let arn =
        param("X-Amz-ChannelARN").ok_or_else(|| invalid("X-Amz-ChannelARN is required.".into()))?;
    let client_id = param("X-Amz-ClientId");
    // A master connects without a client id, a viewer with one.
    let action = match client_id {
        None => "kinesisvideo:ConnectAsMaster",
        Some(_) => "kinesisvideo:ConnectAsViewer",
    };
    caller
        .authorize(action, &arn, None)
        .map_err(crate::video::video_access_denied)?;
    if let Some(id) = &client_id
        && !valid_client_id(id)
    {
        return Err(invalid(format!(
            "X-Amz-ClientId {id} must be 1 to 256 characters of [a-zA-Z0-9_.-] and not start with AWS_."
        )));
    }
    let channel = svc.signaling_channel(&arn).await?;
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            invalid(format!(
                "The signaling endpoint takes WebSocket connections: {e}"
            ))
        })?
        // Signaling messages are a few KiB (payloads at most 10 KiB): small buffers keep an idle
        // connection's memory small (tungstenite reserves 128 KiB by default), and the message
        // limit keeps one client from making the server buffer megabytes.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE);
    let relay = channel.relay_ref();
    let joined = svc
        .signaling_hub()
        .join(&relay, client_id.as_deref())
        .map_err(|e| match e {
            JoinError::InvalidArgument(m) => invalid(m),
            JoinError::ClientLimitExceeded(m) => {
                ApiError::client("ClientLimitExceededException", m)
            }
        })?;
    let membership = Membership {
        svc: svc.clone(),
        channel: relay.uid,
        conn: joined.conn,
    };
    Ok(ws.on_upgrade(move |socket| session(socket, svc, relay, client_id, joined, membership)))
}

async fn session(
    socket: WebSocket,
    svc: VideoService,
    channel: ChannelRef,
    sender: Option<String>,
    mut joined: Joined,
    _membership: Membership,
) {
    let (mut out, mut incoming) = socket.split();
    loop {
        tokio::select! {
            frame = joined.frames.recv() => match frame {
                Some(Outgoing::Text(text)) => {
                    if out.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(Outgoing::Close(why)) => {
                    let close = CloseFrame { code: 1000, reason: why.into() };
                    let _ = out.send(Message::Close(Some(close))).await;
                    return;
                }
                None => return,
            },
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let refused = match message::parse(&text) {
                        Ok((message, action, payload)) => svc
                            .signaling_hub()
                            .relay(
                                &channel,
                                sender.as_deref(),
                                action,
                                payload,
                                message.recipient_client_id.as_deref(),
                            )
                            .err()
                            .map(|e| (message.correlation_id, e)),
                        Err(refusal) => Some(refusal),
                    };
                    if let Some((Some(correlation_id), error)) = refused {
                        let status = ServerMessage::status(correlation_id, &error).to_json();
                        if out.send(Message::Text(status.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // Pings are answered by the WebSocket layer; binary frames are not signaling.
                Some(Ok(_)) => {}
            },
        }
    }
}
