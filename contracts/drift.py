"""Drift check: probe a server (the fake, or the real API) with ``whatif=true`` only — never spends Buzz.

Every documented validation error and every price-table cell becomes a probe; each answer is
compared with the contract (status, error path, the documented words of the message, cost).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from civitai_mock.contracts import kling
from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.paths import WORKFLOWS
from civitai_mock.contracts.template import VIDEO_GEN
from civitai_mock.contracts.validation import validate_video_input

PROMPT = "drift probe: a lighthouse in a storm"
IMAGE, VIDEO = "https://example.com/start.jpeg", "https://example.com/input.mp4"


@dataclass
class Probe:
    """One request and what the contract says the answer must be."""

    name: str
    input: dict[str, Any]
    status: int
    path: str | None = None
    words: str | None = None
    cost: int | None = None


@dataclass
class Outcome:
    """A probe's result: ``drift`` lists every difference (empty = conforms)."""

    probe: Probe
    status: int | None
    drift: list[str] = field(default_factory=list)


def _v3(operation: str, **extra: Any) -> dict[str, Any]:
    needs = {"sourceImage": IMAGE, "images": [IMAGE], "videoUrl": VIDEO}
    return {"engine": kling.KLING_V3, "operation": operation, "prompt": PROMPT,
            **{name: needs[name] for name in kling.REQUIRED_BY_OPERATION[operation]}, **extra}


def cost_probes() -> list[Probe]:
    """One probe per cell of both price tables (kling-v3 at every allowed duration)."""
    probes = []
    for model, mode, duration in itertools.product(kling.KLING_MODELS, kling.MODES, kling.KLING_DURATIONS):
        body = {"engine": kling.KLING, "model": model, "prompt": PROMPT, "mode": mode, "duration": duration}
        probes.append(Probe(f"cost kling {model} {mode} {duration}s", body, 200,
                            cost=step_cost(validate_video_input(body))))
    for operation, mode, audio, duration in itertools.product(kling.OPERATIONS, kling.MODES, (False, True),
                                                              kling.V3_DURATIONS):
        body = _v3(operation, mode=mode, generateAudio=audio, duration=duration)
        probes.append(Probe(f"cost kling-v3 {operation} {mode}{' audio' if audio else ''} {duration}s", body, 200,
                            cost=step_cost(validate_video_input(body))))
    return probes


def validation_probes() -> list[Probe]:
    """The recipe's troubleshooting cases and the other documented rules, as probes."""
    at = "steps[0].input."
    base = {"engine": kling.KLING, "model": kling.KLING_MODELS[-1], "prompt": PROMPT}
    probes = [
        Probe("kling integer duration", {**base, "duration": 5}, 400, at + "duration", "duration must be one of"),
        Probe("kling without model", {k: v for k, v in base.items() if k != "model"}, 400, at + "model",
              "model is required"),
        Probe("kling unknown model", {**base, "model": "v9"}, 400, at + "model"),
        Probe("kling cfgScale above 1", {**base, "cfgScale": 1.5}, 400, at + "cfgScale"),
        Probe("kling camera axis above 10", {**base, "cameraControl": {"config": {"zoom": 11}}}, 400,
              at + "cameraControl.config.zoom"),
        Probe("kling bad sourceImage", {**base, "sourceImage": "not an image"}, 400, at + "sourceImage"),
        Probe("kling-v3 duration above range", _v3(kling.DEFAULT_OPERATION, duration=kling.V3_DURATION_MAX + 1), 400,
              at + "duration"),
        Probe("kling-v3 string duration", _v3(kling.DEFAULT_OPERATION, duration="5"), 400, at + "duration"),
        Probe("unknown aspect ratio", {**base, "aspectRatio": "4:3"}, 400, at + "aspectRatio"),
        Probe("Standard mode spelled as documented", {**base, "mode": kling.DOCUMENTED_MODE_SPELLINGS[0]}, 200),
    ]
    for operation, fields in kling.REQUIRED_BY_OPERATION.items():
        for name in fields:
            body = {k: v for k, v in _v3(operation).items() if k != name}
            probes.append(Probe(f"kling-v3 {operation} without {name}", body, 400, at + name, f"{name} is required"))
    return probes


def all_probes() -> list[Probe]:
    """Every probe: validation first, then costs."""
    return validation_probes() + cost_probes()


def run_probe(http: httpx.Client, probe: Probe) -> Outcome:
    """Send one probe (``whatif=true``) and compare the answer with the contract."""
    body = {"steps": [{"$type": VIDEO_GEN, "input": probe.input}]}
    try:
        response = http.post(WORKFLOWS, params={"whatif": "true"}, json=body)
    except httpx.HTTPError as exc:
        return Outcome(probe, None, [f"request failed: {exc}"])
    outcome = Outcome(probe, response.status_code)
    if response.status_code != probe.status:
        outcome.drift.append(f"status {response.status_code}, contract says {probe.status}")
        return outcome
    try:
        data = response.json()
    except ValueError:
        outcome.drift.append("body is not JSON")
        return outcome
    if probe.path is not None:
        errors = data.get("errors") or {}
        if probe.path not in errors:
            outcome.drift.append(f"no error at {probe.path} (errors at: {', '.join(errors) or 'none'})")
        elif probe.words and not any(probe.words in m for m in errors[probe.path]):
            outcome.drift.append(f"message at {probe.path} lacks {probe.words!r}: {errors[probe.path]}")
    if probe.cost is not None:
        total = (data.get("cost") or {}).get("total")
        if total != probe.cost:
            outcome.drift.append(f"cost {total}, contract says {probe.cost}")
    return outcome


def verify(http: httpx.Client, progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Run every probe against the server behind ``http`` (base URL and token already set)."""
    probes = all_probes()
    results = []
    for index, probe in enumerate(probes, 1):
        results.append(run_probe(http, probe))
        if progress:
            progress(index, len(probes))
    return results


def table(results: list[Outcome], show_all: bool = False) -> str:
    """The conformance table: one line per drifting probe (or all), then the score."""
    lines = []
    for result in results:
        if result.drift or show_all:
            mark = "DRIFT" if result.drift else "ok"
            lines.append(f"{mark:5}  {result.probe.name:55}  {'; '.join(result.drift)}")
    passed = sum(1 for r in results if not r.drift)
    lines.append(f"conformance: {passed}/{len(results)} probes ({100 * passed / max(len(results), 1):.1f} %)")
    return "\n".join(lines)
