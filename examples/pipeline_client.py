"""Image → video in one workflow: an Imagen 4 still animated by Kling V3 — the reference client, extended.

The workflow has two steps. ``still`` (imageGen) makes the image; ``clip`` (videoGen, kling-v3
``image-to-video``) takes its ``sourceImage`` from the still's output through a reference,
``{"$ref": "still", "path": "output.images[0].url"}``, so the orchestrator runs it only once the
still succeeded (and cancels it if the still fails). The prompt is given once, as a workflow
argument both steps read with ``{"$ref": "$arguments", "path": "prompt"}``.

Everything that makes the reference client correct still holds (``wait=0``, the 10 → 30 → 60 s
polling cadence, backoff, fresh URLs on 403); the result is read from the step named ``clip``,
and the reason reported is the job reason of the first step that did not succeed.

    client = PipelineClient(httpx.Client(base_url=..., headers={"Authorization": f"Bearer {token}"}))
    result = client.generate("a red fox running through snow")
    if result.video: Path("fox.mp4").write_bytes(result.video)
"""

from __future__ import annotations

from typing import Any

from examples.reference_client import KlingClient, Result

STILL, CLIP = "still", "clip"


def pipeline_body(prompt: str, image_input: dict[str, Any] | None = None,
                  video_input: dict[str, Any] | None = None, **workflow_fields: Any) -> dict[str, Any]:
    """The SubmitWorkflow body: an Imagen 4 still, then Kling V3 image-to-video from it."""
    from_arguments = {"$ref": "$arguments", "path": "prompt"}
    still = {"engine": "google", "model": "imagen4", "prompt": from_arguments, "aspectRatio": "16:9",
             **(image_input or {})}
    clip = {"engine": "kling-v3", "operation": "image-to-video", "prompt": from_arguments, "duration": 5,
            "sourceImage": {"$ref": STILL, "path": "output.images[0].url"}, **(video_input or {})}
    return {"arguments": {"prompt": prompt}, **workflow_fields,
            "steps": [{"$type": "imageGen", "name": STILL, "input": still},
                      {"$type": "videoGen", "name": CLIP, "input": clip}]}


class PipelineClient(KlingClient):
    """Submit the image → video pipeline, wait for it, download the clip."""

    def submit_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a multi-step body with ``wait=0`` (its Kling step outlasts any held request)."""
        return self._request("POST", "/v2/consumer/workflows", params={"wait": 0}, json=body).json()

    def generate(self, prompt: str, image_input: dict[str, Any] | None = None,  # type: ignore[override]
                 video_input: dict[str, Any] | None = None, **workflow_fields: Any) -> Result:
        """Submit, wait, download the ``clip`` step's video: the whole pipeline as the client reports it."""
        body = pipeline_body(prompt, image_input, video_input, **workflow_fields)
        workflow = self.wait(self.submit_pipeline(body)["id"])
        steps = {step["name"]: step for step in workflow["steps"]}
        broken = next((steps[name] for name in (STILL, CLIP) if steps[name]["status"] != "succeeded"), None)
        job = ((broken or {}).get("jobs") or [{}])[-1]
        video = self.download(workflow, CLIP) if workflow["status"] == "succeeded" else None
        return Result(workflow["id"], workflow["status"], job.get("reason"), job.get("blockedReason"), video)
