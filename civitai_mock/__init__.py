"""civitai-mock: an offline fake of Civitai's orchestration API (videoGen, Kling) and a contract-testing kit.

What a user imports::

    from civitai_mock import CivitaiMock, civitai_fake, check, play, timelines, lint

The pytest fixtures (``civitai_mock``, ``civitai_mock_server``) need no import: the package's
``pytest11`` entry point provides them. Everything is loaded on first use, so importing one part of
the package (say ``civitai_mock.contracts.kling``) does not start the server layer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from civitai_mock.contracts.rules import Violation, lint
    from civitai_mock.contracts.strategies import (
        image_inputs,
        invalid_inputs,
        invalid_pipelines,
        kling_inputs,
        kling_v3_inputs,
        pipeline_templates,
        video_inputs,
        workflow_templates,
    )
    from civitai_mock.contracts.timelines import PipelineTimeline, Timeline, pipeline_timelines, timelines
    from civitai_mock.kit.handle import CivitaiMock, civitai_fake
    from civitai_mock.kit.play import check, play
    from civitai_mock.kit.responses import webhook_events, workflow_responses
    from civitai_mock.mock_server import __version__

__all__ = [
    "CivitaiMock", "PipelineTimeline", "Timeline", "Violation", "__version__", "check", "civitai_fake", "image_inputs",
    "invalid_inputs", "invalid_pipelines", "kling_inputs", "kling_v3_inputs", "lint", "pipeline_templates",
    "pipeline_timelines", "play", "timelines", "video_inputs", "webhook_events", "workflow_responses",
    "workflow_templates",
]
_WHERE = {
    "CivitaiMock": "civitai_mock.kit.handle", "civitai_fake": "civitai_mock.kit.handle",
    "play": "civitai_mock.kit.play", "check": "civitai_mock.kit.play",
    "workflow_responses": "civitai_mock.kit.responses", "webhook_events": "civitai_mock.kit.responses",
    "Timeline": "civitai_mock.contracts.timelines", "timelines": "civitai_mock.contracts.timelines",
    "lint": "civitai_mock.contracts.rules", "Violation": "civitai_mock.contracts.rules",
    "video_inputs": "civitai_mock.contracts.strategies", "kling_inputs": "civitai_mock.contracts.strategies",
    "kling_v3_inputs": "civitai_mock.contracts.strategies", "invalid_inputs": "civitai_mock.contracts.strategies",
    "workflow_templates": "civitai_mock.contracts.strategies", "__version__": "civitai_mock.mock_server",
    "image_inputs": "civitai_mock.contracts.strategies", "pipeline_templates": "civitai_mock.contracts.strategies",
    "invalid_pipelines": "civitai_mock.contracts.strategies",
    "PipelineTimeline": "civitai_mock.contracts.timelines", "pipeline_timelines": "civitai_mock.contracts.timelines",
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'civitai_mock' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
