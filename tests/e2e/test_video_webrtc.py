"""KVS WebRTC signaling with the official JS SDK (amazon-kinesis-video-streams-webrtc, its browser
bundle): a master and a viewer in two headless Chromium processes with fake cameras meet through a
Freshet signaling channel and video flows between them.

The SDK accepts only wss:// endpoints, so the server serves TLS (self-signed) and
GetSignalingChannelEndpoint answers wss://. The server has credentials configured, so the SDK's
SigV4-presigned WebSocket URL is checked as AWS would. tests/browser/webrtc.mjs drives the
browsers and reports one JSON line.

The relay tests start the server with its embedded TURN server (`[video] turn_listen`), take each
peer's ICE servers from GetIceServerConfig as an application on AWS does, and run both peers with
`iceTransportPolicy: 'relay'`: the call connects only through that TURN server, and getStats'
selected candidate pair, relay on both ends, proves it did.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from typing import NamedTuple

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from freshet_e2e import BROWSER_DIR, REGION, needs_browser
from video_helpers import ffprobe

pytestmark = needs_browser

ACCESS_KEY = "AKIDWEBRTCTEST"
SECRET_KEY = "webrtc-test-secret"


TURN = "turn"
# What a relay test parametrizes tls_server with.
with_turn = pytest.mark.parametrize("tls_server", [TURN], indirect=True)


@pytest.fixture
def tls_server(server_factory, request):
    """A TLS server with credentials; with the parameter TURN, also its TURN server on a free UDP
    port of 127.0.0.1 (so GetIceServerConfig answers it)."""
    env = {"FRESHET_VIDEO__TURN_LISTEN": "127.0.0.1:0"} if getattr(request, "param", None) == TURN else {}
    return server_factory(extra_args=["--tls-self-signed"], env=env,
                          access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


def aws_client(service: str, endpoint: str):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        verify=False,  # the server's certificate is self-signed
        config=Config(retries={"max_attempts": 0}))


@pytest.fixture
def kvs(tls_server):
    return aws_client("kinesisvideo", f"https://{tls_server.address}")


class Channel(NamedTuple):
    """A SINGLE_MASTER channel and its endpoints, by role ("MASTER", "VIEWER") and protocol."""
    arn: str
    endpoints: dict[str, dict[str, str]]


@pytest.fixture
def channel(kvs, tls_server) -> Channel:
    arn = kvs.create_signaling_channel(ChannelName=f"webrtc-{uuid.uuid4().hex[:10]}")["ChannelARN"]
    endpoints = {}
    for role in ("MASTER", "VIEWER"):
        listed = kvs.get_signaling_channel_endpoint(
            ChannelARN=arn,
            SingleMasterChannelEndpointConfiguration={"Protocols": ["WSS", "HTTPS"], "Role": role},
        )["ResourceEndpointList"]
        endpoints[role] = {e["Protocol"]: e["ResourceEndpoint"] for e in listed}
        assert endpoints[role] == {"WSS": f"wss://{tls_server.address}",
                                   "HTTPS": f"https://{tls_server.address}"}, listed
    return Channel(arn, endpoints)


def get_ice_servers(channel: Channel, role: str, client_id: str | None = None) -> list[dict]:
    """GetIceServerConfig at the role's HTTPS endpoint, as the KVS samples call it: the viewer
    with its ClientId, the master without one (it has none on AWS)."""
    signaling = aws_client("kinesis-video-signaling", channel.endpoints[role]["HTTPS"])
    args = {"ClientId": client_id} if client_id is not None else {}
    return signaling.get_ice_server_config(ChannelARN=channel.arn, Service="TURN", **args)["IceServerList"]


def assert_turn_ice_servers(servers: list[dict], arn: str) -> str:
    """The one TURN server GetIceServerConfig names, with credentials in the TURN REST form
    (`<expiry>:<base64 of the channel ARN>`, as AWS's); returns its URI."""
    assert len(servers) == 1, servers
    server = servers[0]
    assert set(server) == {"Uris", "Username", "Password", "Ttl"}, server
    assert len(server["Uris"]) == 1 and re.fullmatch(r"turn:127\.0\.0\.1:\d+\?transport=udp",
                                                      server["Uris"][0]), server
    expiry, encoded_arn = server["Username"].split(":", 1)
    assert base64.b64decode(encoded_arn, validate=True).decode() == arn, server
    assert server["Ttl"] == 300, server
    # The expiry is now plus the TTL (the slack: this machine's seconds are the server's).
    assert abs(int(expiry) - (time.time() + server["Ttl"])) < 30, server
    assert server["Password"], server
    return server["Uris"][0]


def rtc_ice_servers(servers: Sequence[dict]) -> str:
    """GetIceServerConfig's IceServerList as RTCPeerConnection's iceServers (JSON)."""
    return json.dumps([{"urls": s["Uris"], "username": s["Username"], "credential": s["Password"]}
                       for s in servers])


def run_peers(server, channel: Channel, *extra: str, secret_key: str = SECRET_KEY, seconds: int = 40,
              master_ice: Sequence[dict] = (), viewer_ice: Sequence[dict] = (), relay: bool = False) -> dict:
    """Runs webrtc.mjs: each peer with its ICE servers (IceServerList entries), both with
    `iceTransportPolicy: 'relay'` when `relay`."""
    relay_args = ["--relay"] if relay else []
    started = time.monotonic()
    out = subprocess.run(
        ["node", str(BROWSER_DIR / "webrtc.mjs"), "--arn", channel.arn,
         "--master-endpoint", channel.endpoints["MASTER"]["WSS"],
         "--viewer-endpoint", channel.endpoints["VIEWER"]["WSS"],
         "--region", REGION, "--access-key-id", ACCESS_KEY,
         "--secret-access-key", secret_key, "--seconds", str(seconds),
         "--master-ice-servers", rtc_ice_servers(master_ice),
         "--viewer-ice-servers", rtc_ice_servers(viewer_ice), *relay_args, *extra],
        capture_output=True, text=True, timeout=seconds + 60)
    assert out.returncode == 0, f"{out.stderr}\n{server.log_tail()}"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wallSeconds"] = round(time.monotonic() - started, 1)
    return result


def assert_video_flowed(result: dict, server) -> None:
    context = f"{json.dumps(result, indent=1)}\n{server.log_tail()}"
    assert "error" not in result and "timedOut" not in result, context
    assert result["pageErrors"] == [], context
    for side in ("master", "viewer"):
        peer = result[side]
        assert peer["opened"] and not peer["closed"] and peer["errors"] == [], context
        assert {"connected", "completed"} & set(peer["ice"]), context
    video = result["viewer"]["video"]
    assert video["framesDecoded"] > 0, context
    assert video["width"] > 0 and video["height"] > 0, context
    assert video["element"] == [video["width"], video["height"]], context
    # The master answered exactly the viewer that called, by the ClientId the server named.
    assert len(result["master"]["viewers"]) == 1 and result["master"]["viewers"][0].startswith("viewer-"), context


def test_master_and_viewer_connect_and_video_flows(tls_server, channel):
    result = run_peers(tls_server, channel)
    assert_video_flowed(result, tls_server)


def test_a_second_master_replaces_the_first_which_is_closed(tls_server, channel):
    result = run_peers(tls_server, channel, "--replace-master")
    first = result.get("firstMaster", {})
    assert first.get("opened") and first.get("closed"), result
    assert first["errors"] == [] and first["viewers"] == [], result
    assert_video_flowed(result, tls_server)


def test_a_wrongly_signed_connection_is_refused(tls_server, channel):
    result = run_peers(tls_server, channel, secret_key="not-the-secret", seconds=15)
    for side in ("master", "viewer"):
        peer = result[side]
        assert not peer["opened"] and peer["closed"] and peer["errors"], result
        assert peer["ice"] == [], result
    assert result["viewer"]["video"]["framesDecoded"] == 0, result


def test_without_a_turn_server_get_ice_server_config_answers_no_servers(tls_server, channel):
    assert get_ice_servers(channel, "MASTER") == []
    assert get_ice_servers(channel, "VIEWER", client_id="viewer-1") == []


@with_turn
def test_a_call_relayed_through_the_turn_server_connects_and_video_flows(tls_server, channel):
    master_ice = get_ice_servers(channel, "MASTER")
    viewer_ice = get_ice_servers(channel, "VIEWER", client_id="viewer-relay")
    uri = assert_turn_ice_servers(master_ice, channel.arn)
    assert assert_turn_ice_servers(viewer_ice, channel.arn) == uri
    result = run_peers(tls_server, channel, master_ice=master_ice, viewer_ice=viewer_ice, relay=True)
    assert_video_flowed(result, tls_server)
    context = json.dumps(result, indent=1)
    turn_port = int(uri.split(":")[2].split("?")[0])
    pairs = {}
    for side in ("master", "viewer"):
        peer = result[side]
        # Under the relay policy a peer gathers nothing but relay candidates.
        assert peer["candidates"] and set(peer["candidates"]) == {"relay"}, context
        assert peer["candidateErrors"] == [], context
        pair = pairs[side] = peer["selectedPair"]
        assert pair and pair["state"] == "succeeded", context
        # The proof the call went through the TURN server: relay candidates on both ends, each an
        # allocation on the TURN server's address (a relay port, not its listening port).
        for end in ("local", "remote"):
            assert pair[end]["candidateType"] == "relay", context
            assert pair[end]["address"] == "127.0.0.1" and pair[end]["port"] != turn_port, context
        assert pair["local"]["relayProtocol"] == "udp" and pair["local"]["url"] == uri, context
    # Each side's remote candidate is the other's own allocation.
    for side, other in (("master", "viewer"), ("viewer", "master")):
        assert pairs[side]["remote"]["port"] == pairs[other]["local"]["port"], context


@with_turn
def test_a_viewer_with_a_wrong_turn_password_never_connects_under_the_relay_policy(tls_server, channel):
    master_ice = get_ice_servers(channel, "MASTER")
    viewer_ice = [{**s, "Password": "not-the-password"}
                  for s in get_ice_servers(channel, "VIEWER", client_id="viewer-relay")]
    result = run_peers(tls_server, channel, master_ice=master_ice, viewer_ice=viewer_ice, relay=True,
                       seconds=8)
    context = json.dumps(result, indent=1)
    assert "error" not in result and result.get("timedOut") == "frames decoded", context
    master, viewer = result["master"], result["viewer"]
    # The master's allocation succeeded: the TURN server was there, the password is what failed.
    assert set(master["candidates"]) == {"relay"} and master["candidateErrors"] == [], context
    assert viewer["opened"] and viewer["errors"] == [], context
    assert viewer["candidates"] == [] and viewer["selectedPair"] is None, context
    # Its Allocate was refused, from each of its interfaces. RFC 5389 10.2.2 asks for 401 when
    # MESSAGE-INTEGRITY does not match (coturn answers so); the webrtc-rs `turn` crate (0.17)
    # answers 400 Bad Request, which Chromium reports as is.
    assert viewer["candidateErrors"], context
    for error in viewer["candidateErrors"]:
        assert error["url"] == viewer_ice[0]["Uris"][0] and error["errorCode"] in (400, 401), context
    for side in ("master", "viewer"):
        assert not {"connected", "completed"} & set(result[side]["ice"]), context
    assert viewer["video"]["framesDecoded"] == 0, context


# --- WebRTC ingestion: media storage configuration and storage sessions ---------------------------

def storage_stream(kvs, retention_hours: int = 1) -> str:
    name = f"webrtc-store-{uuid.uuid4().hex[:10]}"
    return kvs.create_stream(StreamName=name, DataRetentionInHours=retention_hours)["StreamARN"]


def client_error(call, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"].get("Message", "")


def test_media_storage_configuration_maps_a_channel_to_a_stream(kvs, channel):
    assert kvs.describe_media_storage_configuration(ChannelARN=channel.arn)["MediaStorageConfiguration"] == {
        "Status": "DISABLED"}
    stream_arn = storage_stream(kvs)
    stream_name = stream_arn.split("/")[1]
    assert kvs.describe_mapped_resource_configuration(StreamARN=stream_arn)["MappedResourceConfigurationList"] == []
    kvs.update_media_storage_configuration(
        ChannelARN=channel.arn, MediaStorageConfiguration={"StreamARN": stream_arn, "Status": "ENABLED"})
    name = channel.arn.split("/")[1]
    for by in ({"ChannelARN": channel.arn}, {"ChannelName": name}):
        assert kvs.describe_media_storage_configuration(**by)["MediaStorageConfiguration"] == {
            "StreamARN": stream_arn, "Status": "ENABLED"}
    for by in ({"StreamARN": stream_arn}, {"StreamName": stream_name}):
        mapped = kvs.describe_mapped_resource_configuration(**by)["MappedResourceConfigurationList"]
        assert [m["ARN"] for m in mapped] == [channel.arn], mapped
    # A second channel cannot store into the same stream.
    other = kvs.create_signaling_channel(ChannelName=f"other-{uuid.uuid4().hex[:8]}")["ChannelARN"]
    code, status, message = client_error(
        kvs.update_media_storage_configuration, ChannelARN=other,
        MediaStorageConfiguration={"StreamARN": stream_arn, "Status": "ENABLED"})
    assert (code, status) == ("ResourceInUseException", 400) and name in message, message
    # DISABLED keeps nothing mapped; the configuration survives a restart of the channel list.
    kvs.update_media_storage_configuration(ChannelARN=channel.arn,
                                           MediaStorageConfiguration={"Status": "DISABLED"})
    assert kvs.describe_media_storage_configuration(ChannelARN=channel.arn)["MediaStorageConfiguration"] == {
        "Status": "DISABLED"}
    assert kvs.describe_mapped_resource_configuration(StreamARN=stream_arn)["MappedResourceConfigurationList"] == []


def test_media_storage_configuration_bad_input(kvs, channel, tls_server):
    stream_arn = storage_stream(kvs)
    missing_channel = channel.arn.replace(channel.arn.split("/")[1], "no-such-channel")
    missing_stream = stream_arn.replace(stream_arn.split("/")[1], "no-such-stream")
    update = kvs.update_media_storage_configuration
    cases = [
        (dict(ChannelARN=missing_channel, MediaStorageConfiguration={"StreamARN": stream_arn, "Status": "ENABLED"}),
         "ResourceNotFoundException", 404),
        (dict(ChannelARN=channel.arn, MediaStorageConfiguration={"StreamARN": missing_stream, "Status": "ENABLED"}),
         "ResourceNotFoundException", 404),
        (dict(ChannelARN=channel.arn, MediaStorageConfiguration={"Status": "ENABLED"}),
         "InvalidArgumentException", 400),
        (dict(ChannelARN=channel.arn, MediaStorageConfiguration={"StreamARN": storage_stream(kvs, 0),
                                                                  "Status": "ENABLED"}),
         "NoDataRetentionException", 400),
    ]
    for kwargs, code, status in cases:
        assert client_error(update, **kwargs)[:2] == (code, status), kwargs
    mesh = kvs.create_signaling_channel(ChannelName=f"mesh-{uuid.uuid4().hex[:8]}",
                                        ChannelType="FULL_MESH")["ChannelARN"]
    assert client_error(update, ChannelARN=mesh, MediaStorageConfiguration={
        "StreamARN": stream_arn, "Status": "ENABLED"})[:2] == ("InvalidArgumentException", 400)
    # Nothing was half-written by the refusals.
    assert kvs.describe_media_storage_configuration(ChannelARN=channel.arn)["MediaStorageConfiguration"] == {
        "Status": "DISABLED"}
    assert client_error(kvs.describe_media_storage_configuration, ChannelARN=missing_channel)[:2] == (
        "ResourceNotFoundException", 404)
    assert client_error(kvs.describe_mapped_resource_configuration, StreamARN=missing_stream)[:2] == (
        "ResourceNotFoundException", 404)
    assert client_error(kvs.describe_mapped_resource_configuration, StreamARN=stream_arn, MaxResults=2)[:2] == (
        "InvalidArgumentException", 400)


def webrtc_storage(kvs, channel_arn: str):
    """The kinesis-video-webrtc-storage client at the channel's WEBRTC endpoint."""
    listed = kvs.get_signaling_channel_endpoint(
        ChannelARN=channel_arn,
        SingleMasterChannelEndpointConfiguration={"Protocols": ["WEBRTC"], "Role": "MASTER"},
    )["ResourceEndpointList"]
    assert [e["Protocol"] for e in listed] == ["WEBRTC"], listed
    return aws_client("kinesis-video-webrtc-storage", listed[0]["ResourceEndpoint"])


def test_join_storage_session_bad_input(kvs, channel):
    storage = webrtc_storage(kvs, channel.arn)
    missing = channel.arn.replace(channel.arn.split("/")[1], "no-such-channel")
    assert client_error(storage.join_storage_session, channelArn=missing)[:2] == ("ResourceNotFoundException", 404)
    # No media storage configuration: nothing to record into.
    code, status, message = client_error(storage.join_storage_session, channelArn=channel.arn)
    assert (code, status) == ("InvalidArgumentException", 400) and "media storage" in message, message
    code, status, message = client_error(storage.join_storage_session_as_viewer, channelArn=channel.arn,
                                         clientId="viewer-1")
    assert (code, status) == ("InvalidArgumentException", 400) and "media storage" in message, message
    assert client_error(storage.join_storage_session_as_viewer, channelArn=channel.arn,
                        clientId="AWS_reserved")[:2] == ("InvalidArgumentException", 400)
    assert client_error(storage.join_storage_session_as_viewer, channelArn=missing,
                        clientId="viewer-1")[:2] == ("ResourceNotFoundException", 404)


def storage_session(kvs, channel: Channel, server, *, viewer: str | None = None) -> tuple[str, dict, float]:
    """Maps the channel to a new stream, runs webrtc.mjs's master (and with `viewer`, a viewer
    with that ClientId) and has the server join them: JoinStorageSession, then
    JoinStorageSessionAsViewer. Answers the stream's name, the run's report, and when it began
    (epoch ms)."""
    stream_arn = storage_stream(kvs)
    kvs.update_media_storage_configuration(
        ChannelARN=channel.arn, MediaStorageConfiguration={"StreamARN": stream_arn, "Status": "ENABLED"})
    started_ms = time.time() * 1000
    viewer_args = ["--storage-viewer", viewer] if viewer else []
    browsers = subprocess.Popen(
        ["node", str(BROWSER_DIR / "webrtc.mjs"), "--arn", channel.arn,
         "--master-endpoint", channel.endpoints["MASTER"]["WSS"],
         "--viewer-endpoint", channel.endpoints["VIEWER"]["WSS"], "--region", REGION,
         "--access-key-id", ACCESS_KEY, "--secret-access-key", SECRET_KEY,
         "--seconds", "40", "--storage", "7", *viewer_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The offers wait in the channel for the master and the viewer to connect (within its
    # message TTL).
    storage = webrtc_storage(kvs, channel.arn)
    storage.join_storage_session(channelArn=channel.arn)
    if viewer:
        storage.join_storage_session_as_viewer(channelArn=channel.arn, clientId=viewer)
    out, err = browsers.communicate(timeout=100)
    assert browsers.returncode == 0, f"{err}\n{server.log_tail()}"
    result = json.loads(out.strip().splitlines()[-1])
    context = f"{json.dumps(result, indent=1)}\n{server.log_tail()}"
    sent = result["master"]["sent"]
    assert "error" not in result and "timedOut" not in result and result["pageErrors"] == [], context
    assert result["master"]["errors"] == [] and len(result["master"]["viewers"]) == 1, context
    assert result["master"]["viewers"][0].startswith("freshet-storage-session"), context
    assert {"connected", "completed"} & set(result["master"]["ice"]), context
    # The master sent H.264 (the only video codec offered) and Opus audio.
    assert sent["codec"] == "video/H264" and sent["framesEncoded"] > 100 and sent["audioPackets"] > 0, context
    return stream_arn.split("/")[1], result, started_ms


def test_a_storage_session_records_the_browser_masters_video_into_the_stream(tls_server, kvs, channel, tmp_path):
    stream_name, result, started_ms = storage_session(kvs, channel, tls_server)
    context = f"{json.dumps(result, indent=1)}\n{tls_server.log_tail()}"
    sent = result["master"]["sent"]
    # The master's page is gone: the session ends on ICE disconnect and stores its last fragment.
    archive = aws_client("kinesis-video-archived-media", f"https://{tls_server.address}")
    deadline = time.monotonic() + 60
    fragments = []
    while time.monotonic() < deadline:
        fragments = sorted(archive.list_fragments(StreamName=stream_name)["Fragments"],
                           key=lambda f: f["ProducerTimestamp"])
        if len(fragments) >= 3 and "storage session ended" in tls_server.log_tail():
            break
        time.sleep(1)
    assert len(fragments) >= 3, f"{fragments}\n{context}"
    # Fragments are about 2 s each (key frames asked for; the last one ends with the session),
    # in order, timed by the server's clock from when the master's media arrived.
    for f in fragments[:-1]:
        assert 1900 <= f["FragmentLengthInMilliseconds"] <= 10_000, fragments
    assert 0 < fragments[-1]["FragmentLengthInMilliseconds"] <= 10_000, fragments
    first_ms = fragments[0]["ProducerTimestamp"].timestamp() * 1000
    assert started_ms - 5000 < first_ms < time.time() * 1000, fragments
    for a, b in zip(fragments, fragments[1:]):
        assert b["ProducerTimestamp"] >= a["ProducerTimestamp"], fragments
    media = archive.get_media_for_fragment_list(
        StreamName=stream_name, Fragments=[f["FragmentNumber"] for f in fragments])["Payload"].read()
    path = tmp_path / "recorded.mkv"
    path.write_bytes(media)
    probe = ffprobe(str(path), "stream=codec_name,width,height,nb_read_frames")["streams"]
    assert len(probe) == 1, probe
    video = probe[0]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", sent["width"], sent["height"]), probe
    recorded_ms = sum(f["FragmentLengthInMilliseconds"] for f in fragments)
    # Every frame decodes: at least 10 a second of what was recorded, and (nearly) every frame
    # the master encoded, only those of its last moments, after its statistics, may differ.
    assert int(video["nb_read_frames"]) >= recorded_ms / 100, (probe, fragments)
    assert int(video["nb_read_frames"]) >= 0.9 * sent["framesEncoded"], (probe, sent)
    # And it plays back through HLS like PutMedia content.
    url = archive.get_hls_streaming_session_url(StreamName=stream_name, PlaybackMode="ON_DEMAND",
                                            HLSFragmentSelector={"FragmentSelectorType": "SERVER_TIMESTAMP",
                                                                 "TimestampRange": {
                                                                     "StartTimestamp": fragments[0]["ServerTimestamp"],
                                                                     "EndTimestamp": fragments[-1]["ServerTimestamp"],
                                                                 }})["HLSStreamingSessionURL"]
    played = ffprobe(url, "stream=codec_name,width,height,nb_read_frames")["streams"]
    assert [(v["codec_name"], v["width"]) for v in played] == [("h264", sent["width"])], played
    assert int(played[0]["nb_read_frames"]) > 0, played


def test_a_viewer_joined_to_the_storage_session_receives_the_masters_video(tls_server, kvs, channel):
    stream_name, result, _ = storage_session(kvs, channel, tls_server, viewer="viewer-storage")
    context = f"{json.dumps(result, indent=1)}\n{tls_server.log_tail()}"
    viewer = result["viewer"]
    # One offer, from the session as from the master (no sender), answered. The master answered
    # only the session (storage_session checks), so these frames came through the session.
    assert viewer["opened"] and not viewer["closed"] and viewer["errors"] == [], context
    assert viewer["offers"] == [None], context
    assert {"connected", "completed"} & set(viewer["ice"]), context
    # The master's video, forwarded by the session: decoded at the size the master sent.
    video = viewer["video"]
    assert video["framesDecoded"] > 30, context
    assert (video["width"], video["height"]) == (result["master"]["sent"]["width"],
                                                 result["master"]["sent"]["height"]), context
    # And the session still recorded meanwhile.
    archive = aws_client("kinesis-video-archived-media", f"https://{tls_server.address}")
    assert archive.list_fragments(StreamName=stream_name)["Fragments"], context
