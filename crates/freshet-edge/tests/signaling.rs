//! KVS WebRTC signaling through the edge: channels made with the control plane's rest-json
//! operations, then real WebSocket connections (a listener on 127.0.0.1, tokio-tungstenite
//! clients) exchanging offers, answers and candidates by AWS's rules.

use std::time::Duration;

use axum::body::Body;
use freshet_catalog::Catalog;
use freshet_edge::{EdgeBuilder, Scope, VideoApi};
use freshet_iam::Iam;
use freshet_log::{Log, LogConfig};
use freshet_video::{VideoConfig, VideoService};
use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// A UDP socket for a TURN client (the crate takes a `Conn`, which tokio's socket is).
struct UdpSocket;

impl UdpSocket {
    fn std_bind() -> tokio::net::UdpSocket {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        tokio::net::UdpSocket::from_std(socket).unwrap()
    }
}
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use tower::ServiceExt;
use webrtc_util::Conn as _;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    app: axum::Router,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

async fn server(max_viewers: usize) -> Server {
    server_with(max_viewers, None).await
}

async fn server_with(max_viewers: usize, turn_listen: Option<std::net::SocketAddr>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let video = VideoService::open(
        VideoConfig {
            max_viewers,
            max_signaling_connections: 8,
            turn_listen,
            keys: None,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            data_endpoint: format!("http://{addr}"),
            create_delay: Duration::ZERO,
            clock: freshet_runtime::SharedClock::system(),
        },
        catalog,
        Log::open(LogConfig::new(dir.path().join("video-log"))).unwrap(),
    )
    .await
    .unwrap();
    let app = EdgeBuilder::new(
        std::sync::Arc::new(
            Iam::open(&dir.path().join("iam"), "000000000000", None, None).unwrap(),
        ),
        freshet_runtime::SharedClock::system(),
        Scope {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        },
    )
    .api(VideoApi::new(video))
    .router();
    let serving = app.clone();
    tokio::spawn(async move { axum::serve(listener, serving).await });
    Server {
        app,
        addr,
        _dir: dir,
    }
}

impl Server {
    /// A rest-json call: `op` is the operation's path without its leading `/`.
    async fn call(&self, op: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(format!("/{op}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let error = resp
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
        if let Some(error) = error {
            value["__type"] = json!(error);
        }
        (status, value)
    }

    async fn channel(&self, name: &str, extra: Value) -> String {
        let mut body = json!({ "ChannelName": name });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, out) = self.call("createSignalingChannel", body).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        out["ChannelARN"].as_str().unwrap().to_string()
    }

    fn url(&self, arn: &str, client: Option<&str>) -> String {
        let mut url = format!("ws://{}/?X-Amz-ChannelARN={arn}", self.addr);
        if let Some(id) = client {
            url.push_str(&format!("&X-Amz-ClientId={id}"));
        }
        url
    }

    async fn connect(&self, arn: &str, client: Option<&str>) -> Socket {
        connect_async(self.url(arn, client)).await.unwrap().0
    }

    /// The HTTP status a refused connection gets.
    async fn refused(&self, url: String) -> u16 {
        match connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            other => panic!("expected an HTTP refusal, got {:?}", other.map(|_| ())),
        }
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text frame as JSON, or a close frame's reason as `{"closed": reason}`.
async fn next(socket: &mut Socket) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a frame within 5 s")
        .expect("the socket is open")
        .unwrap();
    match frame {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        Message::Close(close) => json!({ "closed": close.map(|c| c.reason.to_string()) }),
        other => panic!("unexpected frame {other:?}"),
    }
}

/// Waits until the server has handled every frame sent before: a refused message with a
/// correlationId is answered in order.
async fn sync(socket: &mut Socket) {
    send(
        socket,
        json!({ "action": "SYNC", "messagePayload": "eA==", "correlationId": "sync" }),
    )
    .await;
    assert_eq!(
        next(socket).await["statusResponse"]["correlationId"],
        "sync"
    );
}

async fn nothing(socket: &mut Socket) {
    assert!(
        tokio::time::timeout(Duration::from_millis(300), socket.next())
            .await
            .is_err(),
        "no frame expected"
    );
}

fn offer(payload: &str) -> Value {
    json!({ "action": "SDP_OFFER", "messagePayload": payload })
}

#[tokio::test]
async fn channels_are_created_described_listed_updated_tagged_and_deleted() {
    let s = server(10).await;
    let arn = s
        .channel(
            "door",
            json!({ "SingleMasterConfiguration": { "MessageTtlSeconds": 30 }, "Tags": [{ "Key": "k", "Value": "v" }] }),
        )
        .await;
    assert!(arn.starts_with("arn:aws:kinesisvideo:us-east-1:000000000000:channel/door/"));
    let (status, out) = s
        .call("createSignalingChannel", json!({ "ChannelName": "door" }))
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ResourceInUseException"))
    );
    let (_, out) = s
        .call("describeSignalingChannel", json!({ "ChannelName": "door" }))
        .await;
    let info = &out["ChannelInfo"];
    assert_eq!(info["ChannelType"], "SINGLE_MASTER");
    assert_eq!(info["ChannelStatus"], "ACTIVE");
    assert_eq!(info["SingleMasterConfiguration"]["MessageTtlSeconds"], 30);
    let version = info["Version"].as_str().unwrap().to_string();

    let (status, out) = s
        .call("createSignalingChannel", json!({ "ChannelName": "bad", "SingleMasterConfiguration": { "MessageTtlSeconds": 121 } }))
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidArgumentException"))
    );

    s.channel("doorbell", json!({})).await;
    s.channel("garden", json!({ "ChannelType": "FULL_MESH" }))
        .await;
    let (_, out) = s
        .call("listSignalingChannels", json!({ "MaxResults": 1, "ChannelNameCondition": { "ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "door" } }))
        .await;
    assert_eq!(out["ChannelInfoList"][0]["ChannelName"], "door");
    let token = out["NextToken"].as_str().unwrap().to_string();
    let (_, out) = s
        .call("listSignalingChannels", json!({ "NextToken": token, "ChannelNameCondition": { "ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "door" } }))
        .await;
    let names: Vec<&str> = out["ChannelInfoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ChannelName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["doorbell"]);
    assert!(out.get("NextToken").is_none());

    let (status, out) = s
        .call("updateSignalingChannel", json!({ "ChannelARN": arn, "CurrentVersion": "stale", "SingleMasterConfiguration": { "MessageTtlSeconds": 10 } }))
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VersionMismatchException"))
    );
    let (status, _) = s
        .call("updateSignalingChannel", json!({ "ChannelARN": arn, "CurrentVersion": version, "SingleMasterConfiguration": { "MessageTtlSeconds": 10 } }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, out) = s
        .call("describeSignalingChannel", json!({ "ChannelARN": arn }))
        .await;
    assert_eq!(
        out["ChannelInfo"]["SingleMasterConfiguration"]["MessageTtlSeconds"],
        10
    );
    assert_ne!(out["ChannelInfo"]["Version"], json!(version));

    s.call(
        "TagResource",
        json!({ "ResourceARN": arn, "Tags": [{ "Key": "a", "Value": "1" }] }),
    )
    .await;
    s.call(
        "UntagResource",
        json!({ "ResourceARN": arn, "TagKeyList": ["k"] }),
    )
    .await;
    let (_, out) = s
        .call("ListTagsForResource", json!({ "ResourceARN": arn }))
        .await;
    assert_eq!(out["Tags"], json!({ "a": "1" }));

    let (_, out) = s
        .call("getSignalingChannelEndpoint", json!({ "ChannelARN": arn, "SingleMasterChannelEndpointConfiguration": { "Protocols": ["WSS", "HTTPS"], "Role": "MASTER" } }))
        .await;
    assert_eq!(
        out["ResourceEndpointList"],
        json!([
            { "Protocol": "WSS", "ResourceEndpoint": format!("ws://{}", s.addr) },
            { "Protocol": "HTTPS", "ResourceEndpoint": format!("http://{}", s.addr) },
        ])
    );

    let (status, _) = s
        .call("deleteSignalingChannel", json!({ "ChannelARN": arn }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, out) = s
        .call("describeSignalingChannel", json!({ "ChannelARN": arn }))
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFoundException"))
    );
}

#[tokio::test]
async fn master_and_viewers_exchange_offers_answers_and_candidates() {
    let s = server(10).await;
    let arn = s.channel("cam", json!({})).await;
    let mut master = s.connect(&arn, None).await;
    let mut viewer = s.connect(&arn, Some("viewer-1")).await;
    // A viewer's message goes to the master, whatever it names, with the viewer's id.
    send(&mut viewer, json!({ "action": "SDP_OFFER", "recipientClientId": "someone", "messagePayload": "b2ZmZXI=" })).await;
    let got = next(&mut master).await;
    assert_eq!(
        got,
        json!({ "senderClientId": "viewer-1", "messageType": "SDP_OFFER", "messagePayload": "b2ZmZXI=" })
    );
    // The master names its viewer; its messages carry no sender id.
    send(&mut master, json!({ "action": "SDP_ANSWER", "recipientClientId": "viewer-1", "messagePayload": "YW5zd2Vy" })).await;
    assert_eq!(
        next(&mut viewer).await,
        json!({ "messageType": "SDP_ANSWER", "messagePayload": "YW5zd2Vy" })
    );
    send(&mut master, json!({ "action": "ICE_CANDIDATE", "recipientClientId": "viewer-1", "messagePayload": "Yw==" })).await;
    assert_eq!(next(&mut viewer).await["messageType"], "ICE_CANDIDATE");
    // Nothing goes back to the sender.
    nothing(&mut master).await;
}

#[tokio::test]
async fn refused_messages_answer_status_only_with_a_correlation_id() {
    let s = server(10).await;
    let arn = s.channel("cam", json!({})).await;
    let mut master = s.connect(&arn, None).await;
    send(
        &mut master,
        json!({ "action": "SDP_ANSWER", "messagePayload": "eA==", "correlationId": "c-1" }),
    )
    .await;
    assert_eq!(
        next(&mut master).await,
        json!({ "messageType": "STATUS_RESPONSE", "statusResponse": { "correlationId": "c-1", "errorType": "InvalidArgumentException", "statusCode": "400", "description": "recipientClientId is required." } })
    );
    // Without a correlationId a refused message is dropped silently.
    send(
        &mut master,
        json!({ "action": "SDP_ANSWER", "messagePayload": "eA==" }),
    )
    .await;
    send(
        &mut master,
        json!({ "action": "HELLO", "messagePayload": "eA==" }),
    )
    .await;
    nothing(&mut master).await;
    let big = "a".repeat(10 * 1024 + 1);
    send(&mut master, json!({ "action": "SDP_ANSWER", "recipientClientId": "v", "messagePayload": big, "correlationId": "c-2" })).await;
    let got = next(&mut master).await;
    assert_eq!(got["statusResponse"]["correlationId"], "c-2");
    assert_eq!(
        got["statusResponse"]["errorType"],
        "InvalidArgumentException"
    );
    // A message too large for any signaling payload (over 64 KiB) is not buffered: the server
    // closes the connection (1009, message too big), and a new one works.
    let huge = "a".repeat(100 * 1024);
    send(
        &mut master,
        json!({ "action": "SDP_ANSWER", "recipientClientId": "v", "messagePayload": huge }),
    )
    .await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match master.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the server closes within 5 s");
    assert!(matches!(closed, None | Some(1009)), "{closed:?}");
    let mut again = s.connect(&arn, None).await;
    sync(&mut again).await;
}

#[tokio::test]
async fn offers_wait_for_a_master_and_newer_connections_replace_older_ones() {
    let s = server(10).await;
    let arn = s.channel("cam", json!({})).await;
    let mut viewer = s.connect(&arn, Some("v1")).await;
    send(&mut viewer, offer("b2xk")).await;
    send(&mut viewer, offer("bmV3")).await;
    sync(&mut viewer).await;
    // The master connects after the offers: it gets the newest one.
    let mut master = s.connect(&arn, None).await;
    assert_eq!(next(&mut master).await["messagePayload"], "bmV3");
    nothing(&mut master).await;
    // A second master replaces the first, which is closed.
    let mut second = s.connect(&arn, None).await;
    assert_eq!(
        next(&mut master).await["closed"],
        "replaced by a newer connection"
    );
    send(&mut viewer, offer("dGhpcmQ=")).await;
    assert_eq!(next(&mut second).await["messagePayload"], "dGhpcmQ=");
    // The same viewer id again replaces that viewer.
    let _again = s.connect(&arn, Some("v1")).await;
    assert_eq!(
        next(&mut viewer).await["closed"],
        "replaced by a newer connection"
    );
}

#[tokio::test]
async fn connections_are_checked_before_the_upgrade() {
    let s = server(1).await;
    let arn = s.channel("cam", json!({})).await;
    let missing = arn.replace("/cam/", "/nope/");
    assert_eq!(s.refused(s.url(&missing, None)).await, 404);
    assert_eq!(s.refused(s.url(&arn, Some("AWS_reserved"))).await, 400);
    assert_eq!(s.refused(format!("ws://{}/", s.addr)).await, 400);
    let _viewer = s.connect(&arn, Some("one")).await;
    // The viewer cap (1 here).
    assert_eq!(s.refused(s.url(&arn, Some("two"))).await, 400);
    let mesh = s
        .channel("mesh", json!({ "ChannelType": "FULL_MESH" }))
        .await;
    assert_eq!(s.refused(s.url(&mesh, None)).await, 400);
    // Deleting a channel closes its connections.
    let mut master = s.connect(&arn, None).await;
    sync(&mut master).await;
    s.call("deleteSignalingChannel", json!({ "ChannelARN": arn }))
        .await;
    assert_eq!(next(&mut master).await["closed"], "the channel was deleted");
    // The server-wide cap (8 here): the ninth connection is refused at the handshake, and the
    // API still answers.
    let mut held = Vec::new();
    for i in 0..8 {
        let cam = s.channel(&format!("cap-{i}"), json!({})).await;
        held.push(s.connect(&cam, None).await);
    }
    let ninth = s.channel("cap-8", json!({})).await;
    assert_eq!(s.refused(s.url(&ninth, None)).await, 400);
    let (status, _) = s
        .call("describeSignalingChannel", json!({ "ChannelARN": ninth }))
        .await;
    assert_eq!(status, StatusCode::OK);
    drop(held.pop());
    // The closed connection's place is free once the server has seen it go.
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = connect_async(s.url(&ninth, None)).await {
            reconnected = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sync(
        reconnected
            .as_mut()
            .expect("a place frees when a connection closes"),
    )
    .await;
}

#[tokio::test]
async fn ice_servers_are_the_embedded_turn_server_and_it_relays_with_their_credentials() {
    let s = server_with(10, Some("127.0.0.1:0".parse().unwrap())).await;
    let arn = s.channel("cam", json!({})).await;
    let (status, out) = s
        .call(
            "v1/get-ice-server-config",
            json!({ "ChannelARN": arn, "ClientId": "viewer-1", "Service": "TURN" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let server = &out["IceServerList"][0];
    assert_eq!(server["Ttl"], 300);
    let uri = server["Uris"][0].as_str().unwrap();
    let addr = uri
        .strip_prefix("turn:")
        .and_then(|u| u.strip_suffix("?transport=udp"))
        .unwrap_or_else(|| panic!("a UDP TURN URI: {uri}"))
        .to_string();
    let username = server["Username"].as_str().unwrap().to_string();
    assert!(
        username.split_once(':').unwrap().0.parse::<u64>().is_ok(),
        "{username}"
    );

    // A TURN client allocates a relay with those credentials; a peer's datagram to the relayed
    // address reaches the client, and the client's reaches the peer.
    let relayed = |password: &str| turn::client::ClientConfig {
        stun_serv_addr: addr.clone(),
        turn_serv_addr: addr.clone(),
        username: username.clone(),
        password: password.to_string(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn: std::sync::Arc::new(UdpSocket::std_bind()),
        vnet: None,
    };
    let client = turn::client::Client::new(relayed(server["Password"].as_str().unwrap()))
        .await
        .unwrap();
    client.listen().await.unwrap();
    let relay = client.allocate().await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    // The client's first send opens the permission for the peer.
    relay.send_to(b"hello peer", peer_addr).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"hello peer");
    assert_eq!(from, relay.local_addr().unwrap());
    peer.send_to(b"hello client", from).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), relay.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"hello client");
    client.close().await.unwrap();

    // A wrong password gets no allocation.
    let wrong = turn::client::Client::new(relayed("d3Jvbmc="))
        .await
        .unwrap();
    wrong.listen().await.unwrap();
    assert!(wrong.allocate().await.is_err());

    // Bad input.
    let (status, out) = s
        .call(
            "v1/get-ice-server-config",
            json!({ "ChannelARN": arn, "Service": "STUN" }),
        )
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidArgumentException"))
    );
    let (status, out) = s
        .call(
            "v1/get-ice-server-config",
            json!({ "ChannelARN": arn.replace("/cam/", "/nope/") }),
        )
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFoundException"))
    );
}

#[tokio::test]
async fn without_a_turn_server_no_ice_servers_are_offered() {
    let s = server(10).await;
    let arn = s.channel("cam", json!({})).await;
    let (status, out) = s
        .call("v1/get-ice-server-config", json!({ "ChannelARN": arn }))
        .await;
    assert_eq!(
        (status, out),
        (StatusCode::OK, json!({ "IceServerList": [] }))
    );
}

#[tokio::test]
async fn an_alexa_offer_is_answered_by_the_master() {
    let s = server(10).await;
    let arn = s
        .channel(
            "cam",
            json!({ "SingleMasterConfiguration": { "MessageTtlSeconds": 5 } }),
        )
        .await;
    let mut master = s.connect(&arn, None).await;
    let answering = async {
        let offer = next(&mut master).await;
        assert_eq!(offer["senderClientId"], "alexa-1");
        assert_eq!(offer["messagePayload"], "b2ZmZXI=");
        send(&mut master, json!({ "action": "SDP_ANSWER", "recipientClientId": "alexa-1", "messagePayload": "YW5zd2Vy" })).await;
    };
    let asking = s.call(
        "v1/send-alexa-offer-to-master",
        json!({ "ChannelARN": arn, "SenderClientId": "alexa-1", "MessagePayload": "b2ZmZXI=" }),
    );
    let ((status, out), ()) = tokio::join!(asking, answering);
    assert_eq!(
        (status, out),
        (StatusCode::OK, json!({ "Answer": "YW5zd2Vy" }))
    );
    drop(master);
    // No master: the offer waits the channel's TTL, then ResourceNotFoundException.
    let (status, out) = s
        .call(
            "v1/send-alexa-offer-to-master",
            json!({ "ChannelARN": arn, "SenderClientId": "alexa-2", "MessagePayload": "b2ZmZXI=" }),
        )
        .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFoundException"))
    );
}
