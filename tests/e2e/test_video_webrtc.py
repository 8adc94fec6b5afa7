"""KVS WebRTC signaling with the official JS SDK (amazon-kinesis-video-streams-webrtc, its browser
bundle): a master and a viewer in two headless Chromium processes with fake cameras meet through a
Freshet signaling channel and video flows between them.

The SDK accepts only wss:// endpoints, so the server serves TLS (self-signed) and
GetSignalingChannelEndpoint answers wss://. The server has credentials configured, so the SDK's
SigV4-presigned WebSocket URL is checked as AWS would. tests/browser/webrtc.mjs drives the
browsers and reports one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from freshet_e2e import REGION

BROWSER_DIR = Path(__file__).resolve().parent.parent / "browser"
# The same condition as tests/e2e/test_video_media.py's browser tests.
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not Path("/usr/bin/chromium").exists()
    or not (BROWSER_DIR / "node_modules" / "playwright-core").exists(),
    reason="node, /usr/bin/chromium and tests/browser/node_modules (scripts/test.sh installs them)")

ACCESS_KEY = "AKIDWEBRTCTEST"
SECRET_KEY = "webrtc-test-secret"


@pytest.fixture
def tls_server(server_factory):
    return server_factory(extra_args=["--tls-self-signed"],
                          access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


@pytest.fixture
def kvs(tls_server):
    return boto3.session.Session().client(
        "kinesisvideo", endpoint_url=f"https://{tls_server.address}", region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        verify=False,  # the server's certificate is self-signed
        config=Config(retries={"max_attempts": 0}))


@pytest.fixture
def channel(kvs, tls_server):
    """A SINGLE_MASTER channel: (ARN, the master's WSS endpoint, the viewer's WSS endpoint)."""
    arn = kvs.create_signaling_channel(ChannelName=f"webrtc-{uuid.uuid4().hex[:10]}")["ChannelARN"]
    endpoints = {}
    for role in ("MASTER", "VIEWER"):
        listed = kvs.get_signaling_channel_endpoint(
            ChannelARN=arn,
            SingleMasterChannelEndpointConfiguration={"Protocols": ["WSS", "HTTPS"], "Role": role},
        )["ResourceEndpointList"]
        wss = [e["ResourceEndpoint"] for e in listed if e["Protocol"] == "WSS"]
        assert wss == [f"wss://{tls_server.address}"], listed
        endpoints[role] = wss[0]
    return arn, endpoints["MASTER"], endpoints["VIEWER"]


def run_peers(server, channel, *extra: str, secret_key: str = SECRET_KEY, seconds: int = 40) -> dict:
    arn, master, viewer = channel
    started = time.monotonic()
    out = subprocess.run(
        ["node", str(BROWSER_DIR / "webrtc.mjs"), "--arn", arn, "--master-endpoint", master,
         "--viewer-endpoint", viewer, "--region", REGION, "--access-key-id", ACCESS_KEY,
         "--secret-access-key", secret_key, "--seconds", str(seconds), *extra],
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
