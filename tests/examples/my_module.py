"""Production code as people write it: the real base URL, a token from the environment, a hard-coded sleep."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

BASE_URL = "https://orchestration.civitai.com"
TERMINAL = ("succeeded", "failed", "expired", "canceled")


def generate_video(prompt: str) -> dict[str, Any]:
    """Submit a Kling V3 job with wait=0 and poll it every 10 s until it ends."""
    token = os.environ.get("CIVITAI_TOKEN", "dev-token")
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt, "duration": 5}}]}
    with httpx.Client(base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}) as http:
        workflow = http.post("/v2/consumer/workflows", params={"wait": 0}, json=body).raise_for_status().json()
        while workflow["status"] not in TERMINAL:
            time.sleep(10)
            workflow = http.get(f"/v2/consumer/workflows/{workflow['id']}").raise_for_status().json()
        return workflow
