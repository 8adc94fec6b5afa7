"""Kinesis Video Streams media: PutMedia ingest, ListFragments, GetMedia, GetMediaForFragmentList,
HLS (fragmented MP4 and MPEG-TS), DASH and GetClip, checked with boto3 and ffprobe/ffmpeg.

Test media is 20 s of ffmpeg `testsrc` at 25 fps with a key frame (and a Cluster) every 2 s:
10 fragments of 50 frames. Playback must give back every frame with monotonic timestamps.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from freshet_e2e import BROWSER_DIR, assert_error, needs_browser
from video_helpers import (FPS, FRAGMENT_S, PutMedia, clusters, ffprobe, frame_times, make_media,
                           needs_ffmpeg, put_media, tag_values, unknown_size_clusters)

pytestmark = needs_ffmpeg

SECONDS = 20
FRAGMENTS = SECONDS // FRAGMENT_S
FRAMES = SECONDS * FPS


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    path = make_media(tmp_path_factory.mktemp("media") / "testsrc.mkv", SECONDS)
    return path.read_bytes()


@pytest.fixture(scope="module")
def clients(server):
    return {svc: server.client(service=svc) for svc in
            ("kinesisvideo", "kinesis-video-media", "kinesis-video-archived-media")}


@pytest.fixture
def kvs(clients):
    return clients["kinesisvideo"]


@pytest.fixture
def media_client(clients):
    return clients["kinesis-video-media"]


@pytest.fixture
def archive(clients):
    return clients["kinesis-video-archived-media"]


def new_stream(kvs, retention=24) -> str:
    name = f"cam-{uuid.uuid4().hex[:10]}"
    kvs.create_stream(StreamName=name, DataRetentionInHours=retention)
    return name


@pytest.fixture(scope="module")
def recorded(server, clients, media):
    """One stream holding the 20-s media, pushed with unknown-size clusters (as live producers
    send them): (name, producer start time, the PutMedia)."""
    name = new_stream(clients["kinesisvideo"])
    # Whole seconds: botocore sends request timestamps as whole epoch seconds.
    start = float(int(time.time() - 60))
    pm = put_media(server.endpoint, name, unknown_size_clusters(media), start=start)
    assert pm.status == 200, pm.body
    return name, start, pm


def all_fragments(archive, name, **kw):
    out, token = [], None
    while True:
        page = archive.list_fragments(StreamName=name, **({"NextToken": token} if token else {}), **kw)
        out += page["Fragments"]
        token = page.get("NextToken")
        if not token:
            return sorted(out, key=lambda f: int(f["FragmentNumber"]))


# -- PutMedia and ListFragments


def test_put_media_acknowledges_every_fragment_in_order(recorded, server):
    name, _, pm = recorded
    kinds = [a["EventType"] for _, a in pm.acks]
    assert kinds == ["BUFFERING", "RECEIVED", "PERSISTED"] * FRAGMENTS, kinds
    persisted = pm.events("PERSISTED")
    assert [a["FragmentTimecode"] for a in persisted] == [i * FRAGMENT_S * 1000 for i in range(FRAGMENTS)]
    numbers = [int(a["FragmentNumber"]) for a in persisted]
    assert numbers == sorted(set(numbers))
    # The number announced at BUFFERING is the one the fragment is persisted under.
    assert [a["FragmentNumber"] for a in pm.events("BUFFERING")] == [a["FragmentNumber"] for a in persisted]
    assert pm.headers["content-type"] == "application/json"
    # Counted in the stream's CloudWatch metrics.
    metrics = urllib.request.urlopen(server.endpoint + "/metrics").read().decode()
    label = f'{{StreamName="{name}"}}'
    for line in (f"kinesisvideo_PutMedia_Requests_total{label} 1", f"kinesisvideo_PutMedia_Success_total{label} 1",
                 f"kinesisvideo_PutMedia_IncomingFragments_total{label} {FRAGMENTS}",
                 f"kinesisvideo_PutMedia_ErrorAckCount_total{label} 0",
                 f"kinesisvideo_PutMedia_FragmentPersistLatency_count{label} {FRAGMENTS}"):
        assert line + "\n" in metrics, line


def test_list_fragments_returns_every_fragment_with_timestamps(archive, recorded):
    name, start, pm = recorded
    frags = all_fragments(archive, name)
    assert [f["FragmentNumber"] for f in frags] == [a["FragmentNumber"] for a in pm.events("PERSISTED")]
    for i, f in enumerate(frags):
        assert f["FragmentLengthInMilliseconds"] == FRAGMENT_S * 1000
        assert f["ProducerTimestamp"].timestamp() == pytest.approx(start + i * FRAGMENT_S, abs=0.002)
        assert f["FragmentSizeInBytes"] > 1000
        assert abs(f["ServerTimestamp"].timestamp() - time.time()) < 600


def test_list_fragments_pages_and_selects_by_timestamp(archive, recorded):
    name, start, _ = recorded
    page = archive.list_fragments(StreamName=name, MaxResults=3)
    assert len(page["Fragments"]) == 3 and page["NextToken"]
    assert len(all_fragments(archive, name, MaxResults=3)) == FRAGMENTS
    sel = {"FragmentSelectorType": "PRODUCER_TIMESTAMP",
           "TimestampRange": {"StartTimestamp": start + 4, "EndTimestamp": start + 9.5}}
    got = all_fragments(archive, name, FragmentSelector=sel)
    assert [round(f["ProducerTimestamp"].timestamp() - start) for f in got] == [4, 6, 8]
    future = {"FragmentSelectorType": "SERVER_TIMESTAMP",
              "TimestampRange": {"StartTimestamp": time.time() + 3600, "EndTimestamp": time.time() + 7200}}
    assert archive.list_fragments(StreamName=name, FragmentSelector=future)["Fragments"] == []


def test_list_fragments_bad_input(archive, recorded, server):
    name, _, _ = recorded
    with pytest.raises(Exception) as e:
        archive.list_fragments(StreamName="no-such-video-stream")
    assert_error(e, "ResourceNotFoundException", status=404)
    with pytest.raises(Exception) as e:
        archive.list_fragments(StreamName=name, NextToken="bm9wZQ==")
    assert_error(e, "InvalidArgumentException", "NextToken is not valid.")
    with pytest.raises(Exception) as e:
        archive.list_fragments(StreamName=name, FragmentSelector={
            "FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": 10, "EndTimestamp": 5}})
    assert_error(e, "InvalidArgumentException", "StartTimestamp must not be after EndTimestamp.")
    nv = server.client(service="kinesis-video-archived-media", validate=False)
    with pytest.raises(Exception) as e:
        nv.list_fragments(StreamName=name, MaxResults=0)
    assert_error(e, "InvalidArgumentException")


def test_known_size_clusters_and_tiny_pieces_give_the_same_fragments(server, kvs, archive, media):
    """ffmpeg's own known-size clusters, fed 997 bytes at a time (elements split anywhere)."""
    name = new_stream(kvs)
    pm = put_media(server.endpoint, name, media, piece=997)
    assert len(pm.events("PERSISTED")) == FRAGMENTS, pm.acks
    assert len(all_fragments(archive, name)) == FRAGMENTS


# -- GetMedia and GetMediaForFragmentList


def test_get_media_earliest_has_every_frame_and_the_aws_tags(media_client, recorded, tmp_path):
    name, start, pm = recorded
    out = media_client.get_media(StreamName=name, StartSelector={"StartSelectorType": "EARLIEST"})
    assert out["ContentType"] == "video/webm"
    data = out["Payload"].read()
    numbers = [a["FragmentNumber"] for a in pm.events("PERSISTED")]
    assert tag_values(data, "AWS_KINESISVIDEO_FRAGMENT_NUMBER") == numbers
    producer = [float(v) for v in tag_values(data, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")]
    assert producer == pytest.approx([start + i * FRAGMENT_S for i in range(FRAGMENTS)], abs=0.002)
    assert len(tag_values(data, "AWS_KINESISVIDEO_SERVER_TIMESTAMP")) == FRAGMENTS
    tokens = tag_values(data, "AWS_KINESISVIDEO_CONTINUATION_TOKEN")
    assert tokens[:-1] == numbers[1:]
    assert all(int(v) >= 0 for v in tag_values(data, "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"))
    path = tmp_path / "getmedia.mkv"
    path.write_bytes(data)
    probe = ffprobe(str(path), "stream=codec_name,nb_read_frames")
    assert probe["streams"][0]["codec_name"] == "h264"
    assert int(probe["streams"][0]["nb_read_frames"]) == FRAMES


def test_get_media_selectors(media_client, recorded):
    name, start, pm = recorded
    numbers = [a["FragmentNumber"] for a in pm.events("PERSISTED")]

    def fragments(**selector):
        data = media_client.get_media(StreamName=name, StartSelector=selector)["Payload"].read()
        return tag_values(data, "AWS_KINESISVIDEO_FRAGMENT_NUMBER")

    assert fragments(StartSelectorType="FRAGMENT_NUMBER", AfterFragmentNumber=numbers[7]) == numbers[7:]
    assert fragments(StartSelectorType="CONTINUATION_TOKEN", ContinuationToken=numbers[8]) == numbers[8:]
    assert fragments(StartSelectorType="PRODUCER_TIMESTAMP", StartTimestamp=start + 15) == numbers[8:]
    assert fragments(StartSelectorType="SERVER_TIMESTAMP", StartTimestamp=time.time() + 3600) == []


def test_get_media_bad_input(media_client, recorded, server):
    name, _, _ = recorded
    with pytest.raises(Exception) as e:
        media_client.get_media(StreamName=name, StartSelector={"StartSelectorType": "FRAGMENT_NUMBER",
                                                               "AfterFragmentNumber": "123"})
    assert_error(e, "InvalidArgumentException", "Fragment number 123 is not valid.")
    with pytest.raises(Exception) as e:
        media_client.get_media(StreamName=name, StartSelector={"StartSelectorType": "PRODUCER_TIMESTAMP"})
    assert_error(e, "InvalidArgumentException", "StartTimestamp is required for PRODUCER_TIMESTAMP.")
    with pytest.raises(Exception) as e:
        media_client.get_media(StreamName="no-such-video-stream", StartSelector={"StartSelectorType": "NOW"})
    assert_error(e, "ResourceNotFoundException", status=404)
    nv = server.client(service="kinesis-video-media", validate=False)
    with pytest.raises(Exception) as e:
        nv.get_media(StreamName=name, StartSelector={"StartSelectorType": "SOMETIMES"})
    assert_error(e, "InvalidArgumentException")


def test_get_media_now_tails_live_fragments(server, kvs, media_client, media):
    name = new_stream(kvs)
    got = {}

    def reader():
        out = media_client.get_media(StreamName=name, StartSelector={"StartSelectorType": "NOW"})
        got["data"] = out["Payload"].read()

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.5)
    pm = put_media(server.endpoint, name, media[: clusters(media)[2][1]])  # 3 fragments
    t.join(30)
    assert not t.is_alive()
    assert tag_values(got["data"], "AWS_KINESISVIDEO_FRAGMENT_NUMBER") == [
        a["FragmentNumber"] for a in pm.events("PERSISTED")]
    assert len(pm.events("PERSISTED")) == 3


def test_get_media_for_fragment_list(archive, recorded, tmp_path):
    name, _, pm = recorded
    numbers = [a["FragmentNumber"] for a in pm.events("PERSISTED")]
    wanted = [numbers[5], numbers[2]]
    out = archive.get_media_for_fragment_list(StreamName=name, Fragments=wanted)
    data = out["Payload"].read()
    assert tag_values(data, "AWS_KINESISVIDEO_FRAGMENT_NUMBER") == wanted
    assert len(tag_values(data, "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP")) == 2
    path = tmp_path / "gffl.mkv"
    path.write_bytes(data)
    assert int(ffprobe(str(path), "stream=nb_read_frames")["streams"][0]["nb_read_frames"]) == 2 * FRAGMENT_S * FPS
    with pytest.raises(Exception) as e:
        archive.get_media_for_fragment_list(StreamName=name, Fragments=["42"])
    assert_error(e, "InvalidArgumentException", "Fragment number 42 is not valid.")


# -- PutMedia refusals


def test_put_media_header_and_stream_errors(server, kvs):
    name = new_stream(kvs)
    cases = [
        (dict(stream="no-such-video-stream"), 404, "ResourceNotFoundException"),
        (dict(stream=name, timecode_type=None), 400, "InvalidArgumentException"),
        (dict(stream=name, timecode_type="SIDEWAYS"), 400, "InvalidArgumentException"),
        (dict(stream=name, extra_headers={"x-amzn-producer-start-timestamp": "yesterday"}), 400,
         "InvalidArgumentException"),
    ]
    for kwargs, status, code in cases:
        pm = PutMedia(server.endpoint, **kwargs)
        pm.finish()
        pm.wait()
        assert pm.status == status, (kwargs, pm.status, pm.body)
        assert pm.headers.get("x-amzn-errortype") == code, (kwargs, pm.headers)


def test_put_media_checks_sigv4_when_keys_are_configured(server_factory, media):
    from freshet_e2e import AUTH_ACCESS_KEY, AUTH_SECRET_KEY

    srv = server_factory(access_key_id=AUTH_ACCESS_KEY, secret_access_key=AUTH_SECRET_KEY)
    srv.client(service="kinesisvideo", access_key=AUTH_ACCESS_KEY,
               secret_key=AUTH_SECRET_KEY).create_stream(StreamName="signed", DataRetentionInHours=1)
    one = media[: clusters(media)[0][1]]
    # The same answers as every other API on this edge.
    for credentials, status, code in ((None, 400, "MissingAuthenticationTokenException"),
                                      ((AUTH_ACCESS_KEY, "wrong-secret"), 400, "InvalidSignatureException")):
        pm = put_media(srv.endpoint, "signed", one, credentials=credentials)
        assert (pm.status, pm.headers.get("x-amzn-errortype")) == (status, code), pm.body
        assert pm.acks == []
    pm = put_media(srv.endpoint, "signed", one, credentials=(AUTH_ACCESS_KEY, AUTH_SECRET_KEY))
    assert pm.status == 200 and len(pm.events("PERSISTED")) == 1, pm.body


def test_idle_acks_while_the_producer_sends_nothing(server, kvs, media):
    name = new_stream(kvs)
    pm = PutMedia(server.endpoint, name)
    pm.send(media[: clusters(media)[0][0]])  # the header only
    time.sleep(3.5)
    pm.send(media[clusters(media)[0][0]: clusters(media)[0][1]])
    pm.finish()
    pm.wait()
    assert [a["EventType"] for _, a in pm.acks] == ["IDLE", "BUFFERING", "RECEIVED", "PERSISTED"]


def test_one_put_media_per_stream(server, kvs, media):
    name = new_stream(kvs)
    first = PutMedia(server.endpoint, name)
    first.send(media[:2000])
    time.sleep(0.3)
    second = PutMedia(server.endpoint, name)
    second.finish()
    second.wait()
    assert second.status == 400
    assert second.headers.get("x-amzn-errortype") == "ConnectionLimitExceededException"
    first.send(media[2000:])
    first.finish()
    first.wait()
    assert len(first.events("PERSISTED")) == FRAGMENTS
    # The slot is free again once the first request ended.
    third = put_media(server.endpoint, name, media[: clusters(media)[0][1]])
    assert len(third.events("PERSISTED")) == 1


def test_corrupt_mkv_gets_an_error_ack_and_keeps_earlier_fragments(server, kvs, archive, media):
    name = new_stream(kvs)
    good_end = clusters(media)[4][0]  # 4 whole fragments, then the 5th cluster's header
    bad = media[:good_end] + b"\x1f\x43\xb6\x75\x88" + b"\x00" * 64
    pm = put_media(server.endpoint, name, bad)
    assert len(pm.events("PERSISTED")) == 4
    errors = pm.events("ERROR")
    assert len(errors) == 1 and errors[0]["ErrorId"] == 4006, pm.acks
    assert errors[0]["ErrorCode"] == "INVALID_MKV_DATA"
    assert [f["FragmentNumber"] for f in all_fragments(archive, name)] == [
        a["FragmentNumber"] for a in pm.events("PERSISTED")]


def test_timecodes_going_backwards_are_refused(server, kvs, media):
    name = new_stream(kvs)
    c = clusters(media)
    head = media[: c[0][0]]
    # Fragments 0..2, then fragment 1 again: its timecode is lower than the previous one's.
    data = head + media[c[0][0]: c[2][1]] + media[c[1][0]: c[1][1]]
    pm = put_media(server.endpoint, name, data)
    assert len(pm.events("PERSISTED")) == 3
    assert [a["ErrorId"] for a in pm.events("ERROR")] == [4004]


def test_no_retention_stream_gets_no_persisted_acks_and_no_hls(server, kvs, archive, media):
    name = new_stream(kvs, retention=0)
    pm = put_media(server.endpoint, name, media[: clusters(media)[1][1]])
    assert [a["EventType"] for _, a in pm.acks] == ["BUFFERING", "RECEIVED"] * 2
    with pytest.raises(Exception) as e:
        archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE")
    assert_error(e, "NoDataRetentionException", f"The stream {name} has no data retention.")


# -- HLS, DASH, clips


def on_demand(start, seconds=SECONDS + 5):
    return {"FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": start - 1, "EndTimestamp": start + seconds}}


def check_monotonic(times):
    assert all(b > a for a, b in zip(times, times[1:])), "timestamps go backwards"


@pytest.mark.parametrize("container", ["FRAGMENTED_MP4", "MPEG_TS"])
def test_hls_on_demand_plays_every_frame(archive, recorded, container, tmp_path):
    name, start, _ = recorded
    url = archive.get_hls_streaming_session_url(
        StreamName=name, PlaybackMode="ON_DEMAND", ContainerFormat=container,
        HLSFragmentSelector=on_demand(start), DisplayFragmentTimestamp="ALWAYS")["HLSStreamingSessionURL"]
    assert "/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=" in url
    probe = ffprobe(url, "stream=codec_name,width,height,nb_read_frames", "format=duration")
    video = probe["streams"][0]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)
    assert int(video["nb_read_frames"]) == FRAMES
    assert float(probe["format"]["duration"]) == pytest.approx(SECONDS, abs=0.05)
    copy = tmp_path / "copy.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", url, "-c", "copy", str(copy)], check=True,
                   timeout=120)
    times = frame_times(str(copy))
    assert len(times) == FRAMES
    check_monotonic(times)
    master = urllib.request.urlopen(url).read().decode()
    media_url = url.split("getHLSMasterPlaylist")[0] + master.strip().splitlines()[-1]
    playlist = urllib.request.urlopen(media_url).read().decode()
    assert playlist.count("#EXTINF:2.000,") == FRAGMENTS
    assert playlist.count("#EXT-X-PROGRAM-DATE-TIME:") == FRAGMENTS
    assert "#EXT-X-ENDLIST" in playlist and "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
    assert ("#EXT-X-MAP:" in playlist) == (container == "FRAGMENTED_MP4")
    assert re.search(r'CODECS="avc1\.42[0-9a-f]{4}"', master), master


def test_hls_live_shows_the_newest_fragments(archive, recorded):
    name, _, pm = recorded
    url = archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE",
                                                MaxMediaPlaylistFragmentResults=3)["HLSStreamingSessionURL"]
    master = urllib.request.urlopen(url).read().decode()
    playlist = urllib.request.urlopen(url.split("getHLSMasterPlaylist")[0] + master.strip().splitlines()[-1]
                                      ).read().decode()
    numbers = re.findall(r"FragmentNumber=(\d+)", playlist)
    assert numbers == [a["FragmentNumber"] for a in pm.events("PERSISTED")][-3:]
    assert "#EXT-X-ENDLIST" not in playlist
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist).group(1))
    assert sequence == FRAGMENTS - 3
    # DiscontinuityMode ALWAYS: the window's first fragment is preceded by 7 tags in the
    # stream's history (one between each pair of fragments).
    assert f"#EXT-X-DISCONTINUITY-SEQUENCE:{FRAGMENTS - 3}" in playlist


def test_hls_session_errors_and_tokens(archive, recorded, server, kvs):
    name, start, _ = recorded
    with pytest.raises(Exception) as e:
        archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="ON_DEMAND")
    assert_error(e, "InvalidArgumentException",
                 "StartTimestamp and EndTimestamp are required for the ON_DEMAND playback mode.")
    with pytest.raises(Exception) as e:
        archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE",
                                              HLSFragmentSelector=on_demand(start))
    assert_error(e, "InvalidArgumentException", "TimestampRange must not be specified for the LIVE playback mode.")
    empty = new_stream(kvs)
    with pytest.raises(Exception) as e:
        archive.get_hls_streaming_session_url(StreamName=empty, PlaybackMode="LIVE")
    assert_error(e, "ResourceNotFoundException", "No fragments found in the stream for the streaming request.",
                 status=404)
    nv = server.client(service="kinesis-video-archived-media", validate=False)
    with pytest.raises(Exception) as e:
        nv.get_hls_streaming_session_url(StreamName=name, Expires=10)
    assert_error(e, "InvalidArgumentException")
    url = archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE")["HLSStreamingSessionURL"]
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(forged)
    assert e.value.code == 401
    assert e.value.headers["x-amzn-errortype"] == "NotAuthorizedException"


def test_dash_on_demand_plays_every_frame(archive, recorded):
    name, start, _ = recorded
    url = archive.get_dash_streaming_session_url(StreamName=name, PlaybackMode="ON_DEMAND",
                                                 DASHFragmentSelector=on_demand(start)
                                                 )["DASHStreamingSessionURL"]
    assert "/dash/v1/getDASHManifest.mpd?SessionToken=" in url
    probe = ffprobe(url, "stream=codec_name,nb_read_frames", "format=duration")
    assert int(probe["streams"][0]["nb_read_frames"]) == FRAMES
    assert float(probe["format"]["duration"]) == pytest.approx(SECONDS, abs=0.05)


def test_get_clip_is_a_progressive_mp4_of_the_range(archive, recorded, tmp_path):
    name, start, _ = recorded
    out = archive.get_clip(StreamName=name, ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": start + 4, "EndTimestamp": start + 11}})
    assert out["ContentType"] == "video/mp4"
    path = tmp_path / "clip.mp4"
    path.write_bytes(out["Payload"].read())
    # Fragments starting at 4, 6, 8 and 10 s: 8 s, 200 frames.
    probe = ffprobe(str(path), "stream=codec_name,nb_read_frames", "format=duration,format_name")
    assert "mp4" in probe["format"]["format_name"]
    assert int(probe["streams"][0]["nb_read_frames"]) == 4 * FRAGMENT_S * FPS
    assert float(probe["format"]["duration"]) == pytest.approx(8, abs=0.05)
    times = frame_times(str(path))
    assert times[0] == pytest.approx(0, abs=0.001)
    check_monotonic(times)
    with pytest.raises(Exception) as e:
        archive.get_clip(StreamName=name, ClipFragmentSelector={
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": start + 3600, "EndTimestamp": start + 3700}})
    assert_error(e, "ResourceNotFoundException", status=404)


def test_audio_and_video_play_through_hls(server, kvs, archive, tmp_path):
    path = make_media(tmp_path / "av.mkv", 6, audio=True)
    name = new_stream(kvs)
    start = round(time.time() - 30, 3)
    pm = put_media(server.endpoint, name, path.read_bytes(), start=start)
    # With audio, ffmpeg starts clusters a little before each key frame: 4 fragments.
    assert len(pm.events("PERSISTED")) >= 3, pm.acks
    url = archive.get_hls_streaming_session_url(StreamName=name, PlaybackMode="ON_DEMAND",
                                                HLSFragmentSelector=on_demand(start, 10))["HLSStreamingSessionURL"]
    probe = ffprobe(url, "stream=codec_name,codec_type,nb_read_frames")
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and int(kinds["video"]["nb_read_frames"]) == 6 * FPS
    assert kinds["audio"]["codec_name"] == "aac" and int(kinds["audio"]["nb_read_frames"]) > 250


# -- crashes


@pytest.mark.parametrize("cycle", range(3))
def test_sigkill_during_put_media_keeps_every_persisted_fragment(server_factory, media, cycle, tmp_path):
    srv = server_factory()
    srv.client(service="kinesisvideo").create_stream(StreamName="crash", DataRetentionInHours=24)
    data = unknown_size_clusters(media)
    pm = PutMedia(srv.endpoint, "crash")
    kill_after = 3 + cycle
    # Paced pieces: the kill lands while a fragment is partly sent.
    for i in range(0, len(data), 4096):
        pm.send(data[i:i + 4096])
        time.sleep(0.002)
        if len(pm.events("PERSISTED")) >= kill_after:
            break
    srv.kill()
    pm.wait(10)
    persisted = [a["FragmentNumber"] for a in pm.events("PERSISTED")]
    assert len(persisted) >= kill_after
    srv.start()
    archive = srv.client(service="kinesis-video-archived-media")
    stored = [f["FragmentNumber"] for f in all_fragments(archive, "crash")]
    assert stored[: len(persisted)] == persisted, (stored, persisted)
    out = srv.client(service="kinesis-video-media").get_media(
        StreamName="crash", StartSelector={"StartSelectorType": "EARLIEST"})["Payload"].read()
    path = tmp_path / "after.mkv"
    path.write_bytes(out)
    frames = int(ffprobe(str(path), "stream=nb_read_frames")["streams"][0]["nb_read_frames"])
    assert frames == len(stored) * FRAGMENT_S * FPS
    # The stream takes new media after the crash, numbered after what survived.
    again = put_media(srv.endpoint, "crash", media[: clusters(media)[0][1]])
    assert int(again.events("PERSISTED")[0]["FragmentNumber"]) > int(stored[-1])


# -- the /video page in a real browser

def play(url: str, seconds: int) -> dict:
    out = subprocess.run(["node", str(BROWSER_DIR / "play.mjs"), url, str(seconds)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_browser
def test_video_page_plays_on_demand_with_hls_js(server, recorded):
    name, start, _ = recorded
    result = play(f"{server.endpoint}/video/{name}?start={start - 1}&end={start + SECONDS + 5}", 6)
    assert result["status"] == 200
    assert result["playback"]["engine"] == "hls.js"
    assert result["playback"]["errors"] == [] and result["pageErrors"] == [], result
    samples = result["samples"]
    assert samples[-1] > 2.0 and samples == sorted(samples), samples
    assert result["size"] == [320, 240]


@needs_browser
def test_video_page_plays_live_while_a_producer_pushes(server, kvs, media):
    name = new_stream(kvs)
    data = media
    bounds = clusters(data)
    pm = PutMedia(server.endpoint, name)
    pm.send(data[: bounds[2][1]])  # 3 fragments to start from, then real time
    deadline = time.monotonic() + 10
    while len(pm.events("PERSISTED")) < 2:
        assert time.monotonic() < deadline, pm.acks
        time.sleep(0.05)
    stop = threading.Event()

    def produce():
        for start, end in bounds[3:]:
            if stop.wait(FRAGMENT_S):
                return
            pm.send(data[start:end])

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        result = play(f"{server.endpoint}/video/{name}", 8)
    finally:
        stop.set()
        producer.join()
        pm.finish()
        pm.wait()
    assert result["playback"]["errors"] == [] and result["pageErrors"] == [], result
    samples = result["samples"]
    assert samples[-1] - samples[0] > 3.0, samples


def test_video_page_for_a_stream_without_media_says_so(server, kvs):
    name = new_stream(kvs)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.endpoint}/video/{name}")
    assert e.value.code == 404
    assert "No fragments found" in e.value.read().decode()


# -- GetImages


def psnr(a: Path, b: Path) -> float:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi", "psnr", "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    m = re.search(r"average:([0-9.]+|inf)", out.stderr)
    assert m, out.stderr
    return float("inf") if m.group(1) == "inf" else float(m.group(1))


def test_get_images_samples_every_interval_and_match_ffmpeg(archive, recorded, media, tmp_path):
    import base64

    name, start, _ = recorded
    source = tmp_path / "source.mkv"
    source.write_bytes(media)
    images, token = [], None
    while True:
        page = archive.get_images(StreamName=name, ImageSelectorType="PRODUCER_TIMESTAMP",
                                  StartTimestamp=start, EndTimestamp=start + SECONDS - 1, SamplingInterval=500,
                                  Format="PNG", MaxResults=25, **({"NextToken": token} if token else {}))
        images += page["Images"]
        token = page.get("NextToken")
        if not token:
            break
    # 0, 0.5, ... 19 s: both ends included.
    assert len(images) == 2 * (SECONDS - 1) + 1
    assert [i.get("Error") for i in images] == [None] * len(images), [i.get("Error") for i in images]
    assert [round(i["TimeStamp"].timestamp() - start, 3) for i in images] == [k * 0.5 for k in range(len(images))]
    for k in (3, 17, 30):  # 1.5 s, 8.5 s, 15 s: mid-GOP and key frames
        ours = tmp_path / f"ours{k}.png"
        ours.write_bytes(base64.b64decode(images[k]["ImageContent"]))
        ref = tmp_path / f"ref{k}.png"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", str(k * 0.5), "-i", str(source),
                        "-frames:v", "1", str(ref)], check=True, timeout=60)
        assert psnr(ours, ref) > 35, k


def test_get_images_sizes_formats_and_gaps(archive, recorded, tmp_path):
    import base64

    name, start, _ = recorded
    out = archive.get_images(StreamName=name, ImageSelectorType="PRODUCER_TIMESTAMP",
                             StartTimestamp=start + 19, EndTimestamp=start + 20.5, SamplingInterval=1000,
                             Format="JPEG", FormatConfig={"JPEGQuality": "60"}, WidthPixels=160)
    first, beyond = out["Images"]
    assert beyond["Error"] == "NO_MEDIA" and "ImageContent" not in beyond
    path = tmp_path / "small.jpg"
    path.write_bytes(base64.b64decode(first["ImageContent"]))
    probe = ffprobe(str(path), "stream=codec_name,width,height", count=False)["streams"][0]
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("mjpeg", 160, 120)
    with pytest.raises(Exception) as e:
        archive.get_images(StreamName=name, ImageSelectorType="PRODUCER_TIMESTAMP", StartTimestamp=start,
                           EndTimestamp=start + 1, SamplingInterval=100, Format="PNG")
    assert_error(e, "InvalidArgumentException", "SamplingInterval must be at least 200 ms.")


def media_playlist(url: str) -> str:
    master = urllib.request.urlopen(url).read().decode()
    return urllib.request.urlopen(url.split("getHLSMasterPlaylist")[0] + master.strip().splitlines()[-1]
                                  ).read().decode()


def test_hls_live_replay_and_discontinuity_modes(archive, recorded):
    name, start, pm = recorded
    numbers = [a["FragmentNumber"] for a in pm.events("PERSISTED")]
    replay = archive.get_hls_streaming_session_url(
        StreamName=name, PlaybackMode="LIVE_REPLAY", MaxMediaPlaylistFragmentResults=4,
        HLSFragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP",
                             "TimestampRange": {"StartTimestamp": start + 6}})["HLSStreamingSessionURL"]
    playlist = media_playlist(replay)
    assert re.findall(r"FragmentNumber=(\d+)", playlist) == numbers[3:7]
    assert "#EXT-X-ENDLIST" not in playlist
    for mode, expected in (("NEVER", 0), ("ON_DISCONTINUITY", 0), ("ALWAYS", FRAGMENTS - 1)):
        url = archive.get_hls_streaming_session_url(
            StreamName=name, PlaybackMode="ON_DEMAND", DiscontinuityMode=mode,
            HLSFragmentSelector=on_demand(start))["HLSStreamingSessionURL"]
        # Tags go between fragments; these are contiguous, so ON_DISCONTINUITY adds none.
        assert media_playlist(url).count("#EXT-X-DISCONTINUITY\n") == expected, mode
