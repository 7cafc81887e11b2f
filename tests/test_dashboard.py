"""The dashboard in a real browser (Playwright driving Debian's Chromium): two workflows (one succeeds,
one fails), a webhook to a local receiver, the clock advanced with the page's button; the page shows
both final statuses, plays the video, lists the webhook attempts, marks a lint violation, and shows a
``<script>`` prompt as text. It takes the screenshot README shows: ``CIVITAI_MOCK_SCREENSHOT=1`` (or a
missing docs/dashboard.png) writes it there, otherwise it stays in the test's temporary folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening_helpers import SUBMIT, Receiver, Served, video_body

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)
#: The flags a root CI container needs to start Chromium without reaching for the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def _browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (make test installs it with the dev extra)")
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium when it can)")
    return sync_playwright


def test_the_dashboard_shows_what_the_app_did(tmp_path: Path) -> None:
    sync_playwright = _browser()
    with Receiver() as receiver, Served("--clock", "virtual") as fake, fake.client("dev-app") as http:
        hook = [{"url": receiver.url, "type": ["workflow:*"]}]
        ok = http.post(SUBMIT, params={"wait": 0},
                       json=video_body("[mock:runtime=40] <script>alert('x')</script> a fox", hook)).json()
        bad = http.post(SUBMIT, params={"wait": 20},  # wait=20 on a Kling submit: a lint violation
                        json=video_body("[mock:fail=no_provider_available] a lighthouse")).json()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                dialogs: list[str] = []
                page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
                page.goto(f"{fake.url}/_mock/ui?workflow={ok['id']}")
                page.wait_for_selector("body[data-ready=true]")
                for _ in range(60):  # ten minutes of virtual time, with the page's own button
                    page.click("button[data-advance='10']")
                page.click("button[data-advance='600']")
                page.wait_for_function(
                    "() => document.querySelector('#workflow-status').textContent === 'succeeded'", timeout=15_000)
                rows = page.locator("#workflows tbody tr")
                statuses = {rows.nth(i).get_attribute("data-id"): rows.nth(i).locator(".status").inner_text()
                            for i in range(rows.count())}
                assert statuses == {ok["id"]: "succeeded", bad["id"]: "failed"}
                # the video plays: the element has loaded the served MP4 and knows its length
                page.wait_for_function("() => { const v = document.querySelector('#videos video');"
                                       " return v && v.readyState >= 1 && v.duration > 4.5; }", timeout=15_000)
                duration = page.evaluate("document.querySelector('#videos video').duration")
                assert 4.5 < duration < 5.5
                attempts = page.locator("#attempts tbody tr")
                assert attempts.count() == len([e for e in receiver.snapshot() if e.get("workflowId") == ok["id"]]) == 5
                assert "workflow:succeeded" in page.locator("#attempts").inner_text()
                marked = page.locator("#requests tbody tr[data-rules]")
                assert marked.count() >= 1 and "kling-wait-zero" in marked.first.inner_text()
                # the prompt is text, not markup: no dialog opened, the words are visible
                assert not dialogs and "<script>alert('x')</script>" in page.locator("#workflows").inner_text()
                assert page.locator("#workflows script").count() == 0
                page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=False)
                assert (tmp_path / "dashboard.png").stat().st_size > 10_000
                if os.environ.get("CIVITAI_MOCK_SCREENSHOT") == "1" or not SCREENSHOT.exists():
                    SCREENSHOT.parent.mkdir(exist_ok=True)
                    shutil.copyfile(tmp_path / "dashboard.png", SCREENSHOT)
            finally:
                browser.close()
        assert httpx.get(f"{fake.url}/_mock/ui/state").status_code == 200


def test_the_dashboard_state_says_which_step_waited_on_which() -> None:
    """The data behind the page (no browser needed): a two-step workflow's dependency is shown."""
    from civitai_mock import civitai_fake

    body = {"steps": [
        {"$type": "imageGen", "name": "still", "input": {"engine": "google", "model": "imagen4", "prompt": "a cat"}},
        {"$type": "videoGen", "name": "clip", "input": {
            "engine": "kling-v3", "operation": "image-to-video", "prompt": "the cat yawns",
            "sourceImage": {"$ref": "still", "path": "output.images[0].url"}}}]}
    with civitai_fake() as mock:
        workflow = mock.client.post(SUBMIT, json=body).json()
        state = mock.client.get("/_mock/ui/state", params={"workflow": workflow["id"]}).json()
        assert state["workflow"]["dependsOn"] == {"clip": ["still"]}


def test_the_dashboard_lints_the_whole_log_like_mock_lint() -> None:
    """A violation older than the 100 requests the page lists still shows in its lint, as /_mock/lint has it."""
    from civitai_mock import civitai_fake

    with civitai_fake(token="dash") as mock:
        for _ in range(2):  # the same 404 again, unchanged: no-retry-after-4xx
            mock.client.get(f"{SUBMIT}/no-such-workflow")
        for _ in range(120):
            mock.client.get(SUBMIT)
        served = mock.client.get("/_mock/lint", params={"token": "dash"}).json()
        state = mock.client.get("/_mock/ui/state").json()
    assert served["conforms"] is False
    assert state["lint"]["conforms"] is False
    assert [g["rule"] for g in state["lint"]["rules"]] == [g["rule"] for g in served["rules"]]
    assert len(state["requests"]) == 100 and state["requests"][-1]["path"] == SUBMIT
