"""Blobs: signed expiring URLs, GetBlob / HeadBlob / RefreshBlob, and real playable MP4 content."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from civitai_mock.contracts.kling import ASPECT_RATIOS, KLING_DURATIONS, V3_DURATIONS
from tests.mp4info import read

SUBMIT = "/v2/consumer/workflows"
RATIO = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


def finished(mock: Any, video_input: dict, token: str | None = None) -> dict:
    http = mock.sync_client(token) if token else mock.client
    prompt = f"[mock:runtime=20] {video_input.pop('prompt', 'a fox')}"
    body = {"steps": [{"$type": "videoGen", "input": {**video_input, "prompt": prompt}}]}
    workflow = http.post(SUBMIT, params={"wait": 0}, json=body).json()
    mock.advance(600)
    return http.get(f"{SUBMIT}/{workflow['id']}").json()


def video_of(workflow: dict) -> dict:
    return workflow["steps"][0]["output"]["video"]


CASES = [({"engine": "kling", "model": "v2", "duration": d, "aspectRatio": r}, int(d), False)
         for d in KLING_DURATIONS for r in ASPECT_RATIOS]
CASES += [({"engine": "kling-v3", "duration": d, "aspectRatio": r, "generateAudio": a}, d, a)
          for d in V3_DURATIONS for r in ASPECT_RATIOS for a in (False, True)]


def test_content_matches_every_requested_duration_ratio_and_audio(civitai_mock: Any) -> None:
    probe = shutil.which("ffprobe")
    for video_input, seconds, audio in CASES:
        workflow = finished(civitai_mock, dict(video_input))
        blob = video_of(workflow)
        response = civitai_mock.client.get(blob["url"])
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        info = read(response.content)
        video = [t for t in info.tracks if t["handler"] == "vide"][0]
        assert video["codec"] == "avc1" and abs(info.duration - seconds) <= 0.1, (video_input, info)
        assert abs(video["width"] / video["height"] - RATIO[video_input["aspectRatio"]]) < 0.01
        assert (video["width"], video["height"]) == (blob["width"], blob["height"])
        assert any(t["handler"] == "soun" for t in info.tracks) == audio, video_input
        if probe and seconds in (3, 10, 15):
            check_with_ffprobe(probe, response.content, seconds, audio, blob)


def check_with_ffprobe(probe: str, content: bytes, seconds: int, audio: bool, blob: dict) -> None:
    out = subprocess.run([probe, "-v", "error", "-show_streams", "-show_format", "-of", "json", "-"],
                         input=content, capture_output=True, check=True).stdout
    data = json.loads(out)
    streams = {s["codec_type"]: s for s in data["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (blob["width"], blob["height"])
    assert abs(float(data["format"]["duration"]) - seconds) <= 0.1
    assert ("audio" in streams) == audio


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed (apt-get install ffmpeg)")
def test_ffprobe_reads_the_served_files(civitai_mock: Any) -> None:
    workflow = finished(civitai_mock, {"engine": "kling-v3", "duration": 7, "aspectRatio": "9:16",
                                       "generateAudio": True})
    content = civitai_mock.client.get(video_of(workflow)["url"]).content
    check_with_ffprobe(shutil.which("ffprobe"), content, 7, True, video_of(workflow))


def test_video_blob_fields(civitai_mock: Any) -> None:
    workflow = finished(civitai_mock, {"engine": "kling-v3", "aspectRatio": "1:1"})
    blob = video_of(workflow)
    assert blob["type"] == "video" and blob["available"] is True and blob["width"] == blob["height"]
    assert blob["jobId"] == workflow["steps"][0]["jobs"][0]["id"] and blob["nsfwLevel"] == workflow["nsfwLevel"]
    assert blob["urlExpiresAt"] and blob["url"].startswith("https://orchestration.civitai.com/")


def test_urls_expire_and_every_fetch_signs_afresh(civitai_mock: Any) -> None:
    workflow = finished(civitai_mock, {"engine": "kling-v3"})
    url = video_of(workflow)["url"]
    assert civitai_mock.client.get(url).status_code == 200
    civitai_mock.advance(599)
    assert civitai_mock.client.get(url).status_code == 200
    civitai_mock.advance(2)
    expired = civitai_mock.client.get(url)
    assert expired.status_code == 403 and expired.headers["content-type"] == "application/problem+json"
    assert "expired" in expired.json()["detail"]
    again = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    assert video_of(again)["url"] != url and civitai_mock.client.get(video_of(again)["url"]).status_code == 200


def test_get_blob_redirects_to_a_fresh_url_and_refresh_returns_one(civitai_mock: Any) -> None:
    workflow = finished(civitai_mock, {"engine": "kling-v3"})
    blob = video_of(workflow)
    civitai_mock.advance(3600)
    redirect = civitai_mock.client.get(f"/v2/consumer/blobs/{blob['id']}")
    assert redirect.status_code == 308
    assert civitai_mock.client.get(redirect.headers["location"]).status_code == 200
    refreshed = civitai_mock.client.post(f"/v2/consumer/blobs/{blob['id']}/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["id"] == blob["id"]
    assert civitai_mock.client.get(refreshed.json()["url"]).status_code == 200
    assert civitai_mock.client.head(f"/v2/consumer/blobs/{blob['id']}").status_code == 204
    assert civitai_mock.client.head("/v2/consumer/blobs/nope.mp4").status_code == 404


def test_tampered_signature_and_other_tenants(civitai_mock: Any) -> None:
    workflow = finished(civitai_mock, {"engine": "kling-v3"})
    blob = video_of(workflow)
    url = blob["url"]
    index = url.index("sig=") + len("sig=")
    flipped = url[:index] + ("0" if url[index] != "0" else "1") + url[index + 1:]
    assert civitai_mock.client.get(flipped).status_code == 403
    assert civitai_mock.client.get(url.replace("exp=2026", "exp=2099")).status_code == 403  # a later expiry
    other = civitai_mock.sync_client("someone-else")
    assert other.get(f"/v2/consumer/blobs/{blob['id']}").status_code == 404
    assert other.head(f"/v2/consumer/blobs/{blob['id']}").status_code == 404
    assert other.post(f"/v2/consumer/blobs/{blob['id']}/refresh").status_code == 404
    assert civitai_mock.client.get(f"/v2/consumer/blobs/{blob['id']}", headers={"Authorization": ""}).status_code == 401


def test_unfinished_blobs_are_not_found(civitai_mock: Any) -> None:
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json={"steps": [
        {"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x"}}]}).json()
    civitai_mock.advance(3600)
    blob_id = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()["steps"][0]["output"]["video"]["id"]
    civitai_mock.reset()  # the same ids again, but only submitted: not yet available
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json={"steps": [
        {"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x"}}]})
    assert civitai_mock.client.get(f"/v2/consumer/blobs/{blob_id}").status_code == 404


def test_filename_download_and_ranges(civitai_mock: Any) -> None:
    blob = video_of(finished(civitai_mock, {"engine": "kling-v3"}))
    location = civitai_mock.client.get(f"/v2/consumer/blobs/{blob['id']}",
                                       params={"filename": "../../etc/my clip.mp4", "download": "true"})
    response = civitai_mock.client.get(location.headers["location"])
    assert response.headers["content-disposition"].startswith('attachment; filename="my clip.mp4"')
    assert civitai_mock.client.get(blob["url"]).headers["content-disposition"].startswith("inline")
    full = civitai_mock.client.get(blob["url"]).content
    part = civitai_mock.client.get(blob["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == full[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(full)}"
    tail = civitai_mock.client.get(blob["url"], headers={"Range": "bytes=-8"})
    assert tail.content == full[-8:]
    outside = civitai_mock.client.get(blob["url"], headers={"Range": f"bytes={len(full) + 5}-"})
    assert outside.status_code == 416


def test_hide_mature_content_hides_the_url(civitai_mock: Any) -> None:
    civitai_mock.set_balances(blue=0, green=0)  # settled in yellow: mature output may be handed out
    workflow = finished(civitai_mock, {"engine": "kling-v3", "prompt": "[mock:nsfw=x] x"})
    hidden = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}", params={"hideMatureContent": "true"}).json()
    assert "url" not in video_of(hidden) and video_of(hidden)["available"] is False
    assert workflow["nsfwLevel"] == "x" and video_of(workflow)["url"]
    too_mature = civitai_mock.client.get(f"/v2/consumer/blobs/{video_of(workflow)['id']}", params={"nsfwLevel": "r"})
    assert too_mature.status_code == 403


@pytest.mark.civitai_mock(url_ttl=30)
def test_url_ttl_is_configurable(civitai_mock: Any) -> None:
    blob = video_of(finished(civitai_mock, {"engine": "kling-v3"}))
    civitai_mock.advance(31)
    assert civitai_mock.client.get(blob["url"]).status_code == 403


def test_get_blob_nsfw_ceiling_follows_the_rising_order(civitai_mock: Any) -> None:
    """``na`` (not assessed) is outside pg < pg13 < r < x < xxx: no ceiling check either way."""
    civitai_mock.set_balances(blue=0, green=0)  # settled in yellow: mature output may be handed out
    unassessed = video_of(finished(civitai_mock, {"engine": "kling-v3", "prompt": "[mock:nsfw=na] x"}))
    assert civitai_mock.client.get(f"/v2/consumer/blobs/{unassessed['id']}",
                                   params={"nsfwLevel": "pg"}).status_code == 308
    explicit = video_of(finished(civitai_mock, {"engine": "kling-v3", "prompt": "[mock:nsfw=xxx] x"}))
    assert civitai_mock.client.get(f"/v2/consumer/blobs/{explicit['id']}",
                                   params={"nsfwLevel": "na"}).status_code == 308
    assert civitai_mock.client.get(f"/v2/consumer/blobs/{explicit['id']}",
                                   params={"nsfwLevel": "x"}).status_code == 403
