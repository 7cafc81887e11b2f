"""Hypothesis strategies built from the contract's own constants (nothing restated here).

- ``video_inputs()`` / ``kling_inputs()`` / ``kling_v3_inputs(operation)``: valid step inputs.
- ``invalid_inputs()``: ``Invalid(body, path, message)`` — a broken submission and the error it must get.
- ``workflow_templates()``: whole SubmitWorkflow bodies (callbacks, tags, metadata, externalId).
- ``image_inputs()``: valid imageGen inputs (engine ``google``, model ``imagen4``).
- ``pipeline_templates()``: multi-step bodies: image steps feeding Kling image-to-video steps through
  ``$ref``, prompts passed through ``arguments``, steps in any array order.
- ``invalid_pipelines()``: ``Invalid`` multi-step bodies (cycles, unknown or own steps, impossible
  paths, missing arguments, step types the fake does not simulate) with the expected path and words.
What the service answers (``workflow_responses``, ``webhook_events``) is rendered by the fake's own
engine, so those strategies live in the kit: ``civitai_mock.kit.responses``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from civitai_mock.contracts import image, kling
from civitai_mock.contracts.references import ARGUMENTS, PATH_KEY, REF_KEY
from civitai_mock.contracts.template import IMAGE_GEN, KNOWN_STEP_TYPES, STEP_TYPES, VIDEO_GEN
from civitai_mock.contracts.workflow import (
    CALLBACK_EVENT_TYPES,
    EXTERNAL_ID_MAX,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)

#: The Kling V3 operation that animates one source image (the one that needs ``sourceImage``).
IMAGE_TO_VIDEO = next(op for op, needs in kling.REQUIRED_BY_OPERATION.items() if needs == ("sourceImage",))
_SAFE_TEXT = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="[]")


def prompts() -> st.SearchStrategy[str]:
    """Prompt text (without ``[mock:…]`` directives)."""
    return st.text(_SAFE_TEXT, min_size=1, max_size=60)


def https_urls(extension: str = "jpeg") -> st.SearchStrategy[str]:
    """https URLs of public-looking files."""
    return st.builds(lambda host, name: f"https://{host}.example.com/{name}.{extension}",
                     st.from_regex(r"[a-z]{1,12}", fullmatch=True), st.from_regex(r"[a-z0-9_-]{1,16}", fullmatch=True))


def source_images() -> st.SearchStrategy[str]:
    """What the schema calls a source image: a URL, a data URL or a Base64 string."""
    raw = st.binary(min_size=1, max_size=48).map(lambda b: base64.b64encode(b).decode())
    return st.one_of(https_urls(), raw.map(lambda b: f"data:image/png;base64,{b}"), raw)


def _modes() -> st.SearchStrategy[str]:
    return st.sampled_from(kling.MODES + kling.DOCUMENTED_MODE_SPELLINGS)


def kling_inputs() -> st.SearchStrategy[dict[str, Any]]:
    """Valid inputs of the original ``kling`` engine."""
    axis = st.one_of(st.none(), st.floats(kling.CAMERA_AXIS_MIN, kling.CAMERA_AXIS_MAX, allow_nan=False))
    camera = st.fixed_dictionaries({}, optional={a: axis for a in kling.CAMERA_AXES}).map(lambda c: {"config": c})
    return st.fixed_dictionaries(
        {"engine": st.just(kling.KLING), "model": st.sampled_from(kling.KLING_MODELS), "prompt": prompts()},
        optional={
            "negativePrompt": prompts(), "mode": _modes(), "aspectRatio": st.sampled_from(kling.ASPECT_RATIOS),
            "duration": st.sampled_from(kling.KLING_DURATIONS),
            "cfgScale": st.floats(kling.CFG_SCALE_MIN, kling.CFG_SCALE_MAX, allow_nan=False),
            "sourceImage": source_images(), "cameraControl": camera,
        },
    )


def kling_v3_inputs(operation: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ``kling-v3`` inputs (of one operation, or any), with what that operation requires."""
    operations = st.just(operation) if operation else st.sampled_from(kling.OPERATIONS)
    required = {"sourceImage": source_images(), "images": st.lists(source_images(), min_size=1, max_size=3),
                "videoUrl": https_urls("mp4")}

    def build(op: str) -> st.SearchStrategy[dict[str, Any]]:
        fields = {"engine": st.just(kling.KLING_V3), "operation": st.just(op), "prompt": prompts(),
                  **{name: required[name] for name in kling.REQUIRED_BY_OPERATION[op]}}
        multi = st.lists(st.fixed_dictionaries({"prompt": prompts()},
                                               optional={"duration": st.integers(1, kling.V3_DURATION_MAX)}),
                         min_size=1, max_size=3)
        return st.fixed_dictionaries(fields, optional={
            "mode": _modes(), "duration": st.sampled_from(kling.V3_DURATIONS),
            "aspectRatio": st.sampled_from(kling.ASPECT_RATIOS), "endImage": source_images(),
            "generateAudio": st.booleans(), "keepAudio": st.booleans(),
            "voiceIds": st.lists(st.from_regex(r"voice_[a-z0-9]{3,8}", fullmatch=True), max_size=2),
            "multiPrompt": multi,
        })

    return operations.flatmap(build)


def video_inputs() -> st.SearchStrategy[dict[str, Any]]:
    """Valid inputs of either engine."""
    return st.one_of(kling_inputs(), kling_v3_inputs())


def steps(inputs: st.SearchStrategy[dict[str, Any]] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A videoGen step around a valid input."""
    return st.fixed_dictionaries({"$type": st.just(VIDEO_GEN), "input": inputs or video_inputs()})


def image_inputs() -> st.SearchStrategy[dict[str, Any]]:
    """Valid imageGen inputs of engine ``google``, model ``imagen4`` (enums in any documented spelling)."""
    return st.fixed_dictionaries(
        {"engine": st.just(image.GOOGLE), "model": st.sampled_from(image.GOOGLE_MODELS), "prompt": prompts()},
        optional={
            "negativePrompt": prompts(), "aspectRatio": st.sampled_from(image.IMAGE_ASPECT_RATIOS),
            "numImages": st.integers(image.NUM_IMAGES_MIN, image.NUM_IMAGES_MAX),
            "seed": st.one_of(st.none(), st.integers(0, 2**31 - 1)),
            "outputFormat": st.sampled_from(image.OUTPUT_FORMATS + tuple(f.upper() for f in image.OUTPUT_FORMATS)),
        },
    )


def image_steps() -> st.SearchStrategy[dict[str, Any]]:
    """An imageGen step around a valid input."""
    return st.fixed_dictionaries({"$type": st.just(IMAGE_GEN), "input": image_inputs()})


def reference(source: str, path: str) -> dict[str, str]:
    """A reference object: ``{"$ref": source, "path": path}``."""
    return {REF_KEY: source, PATH_KEY: path}


@st.composite
def pipeline_templates(draw: st.DrawFn, max_pairs: int = 2) -> dict[str, Any]:
    """Valid multi-step bodies: each Kling image-to-video step takes its ``sourceImage`` from an image step
    (by name, or ``$N`` when unnamed); prompts may come from ``arguments``; the array order is shuffled."""
    arguments: dict[str, Any] = {}
    if draw(st.booleans()):
        arguments["prompt"] = draw(prompts())
    prompt = (lambda: st.just(reference(ARGUMENTS, "prompt"))) if arguments else prompts
    pairs = draw(st.integers(1, max_pairs))
    order = draw(st.permutations(range(2 * pairs)))  # order[k]: where the k-th step lands in the array
    named = draw(st.lists(st.booleans(), min_size=pairs, max_size=pairs))
    body_steps: list[dict[str, Any]] = [{} for _ in order]
    for pair in range(pairs):
        source_at, video_at = order[2 * pair], order[2 * pair + 1]
        name = f"image-{pair}" if named[pair] else f"${source_at}"
        images = {**draw(image_inputs()), "prompt": draw(prompt())}
        count = images.get("numImages", image.NUM_IMAGES_DEFAULT)
        source = {"$type": IMAGE_GEN, "input": images, **({"name": name} if named[pair] else {})}
        video = draw(kling_v3_inputs(IMAGE_TO_VIDEO))
        video["prompt"] = draw(prompt())
        video["sourceImage"] = reference(name, f"output.images[{draw(st.integers(0, count - 1))}].url")
        body_steps[source_at] = source
        body_steps[video_at] = {"$type": VIDEO_GEN, "name": f"video-{pair}", "input": video}
    return {"steps": body_steps, **({"arguments": arguments} if arguments else {})}


def callbacks() -> st.SearchStrategy[dict[str, Any]]:
    """A webhook registration with a filter drawn from the documented event types."""
    return st.fixed_dictionaries(
        {"url": https_urls("hook").map(lambda u: u.rsplit(".", 1)[0]),
         "type": st.lists(st.sampled_from(CALLBACK_EVENT_TYPES), min_size=1, max_size=4, unique=True)},
        optional={"detailed": st.booleans()},
    )


def workflow_templates() -> st.SearchStrategy[dict[str, Any]]:
    """Valid SubmitWorkflow bodies."""
    tag = st.text(_SAFE_TEXT, min_size=1, max_size=min(MAX_TAG_LENGTH, 30))
    metadata = st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                               st.one_of(st.integers(), st.text(max_size=10), st.booleans()), max_size=3)
    return st.fixed_dictionaries({"steps": st.lists(steps(), min_size=1, max_size=2)}, optional={
        "callbacks": st.lists(callbacks(), max_size=2), "tags": st.lists(tag, max_size=MAX_TAGS, unique=True),
        "metadata": metadata,
        "externalId": st.from_regex(r"[A-Za-z0-9_-]{1,%d}" % min(EXTERNAL_ID_MAX, 40), fullmatch=True),
    })


@dataclass(frozen=True)
class Invalid:
    """A submission that breaks one documented rule, the path of the error and words of its message."""

    body: dict[str, Any]
    path: str
    message: str


def _wrap(video_input: dict[str, Any]) -> dict[str, Any]:
    return {"steps": [{"$type": STEP_TYPES[0], "input": video_input}]}


def invalid_inputs() -> st.SearchStrategy[Invalid]:
    """Submissions with one broken field, paired with the expected error path and message words."""
    at = "steps[0].input."
    v1 = kling_inputs()
    v3 = kling_v3_inputs(kling.DEFAULT_OPERATION)
    outside_v3 = st.integers().filter(lambda d: d not in kling.V3_DURATIONS)
    needs = [op for op, fields in kling.REQUIRED_BY_OPERATION.items() if fields]
    missing = st.sampled_from(needs).flatmap(lambda op: kling_v3_inputs(op).map(
        lambda i: (i, kling.REQUIRED_BY_OPERATION[op][0])))
    bad_ratio = st.text(min_size=1, max_size=5).filter(lambda r: r not in kling.ASPECT_RATIOS)
    return st.one_of(
        st.tuples(v1, st.sampled_from(kling.KLING_DURATIONS)).map(
            lambda t: Invalid(_wrap({**t[0], "duration": int(t[1])}), at + "duration", "duration must be one of")),
        v1.map(lambda i: Invalid(_wrap({k: v for k, v in i.items() if k != "model"}), at + "model", "model is required")),
        st.tuples(v3, outside_v3).map(
            lambda t: Invalid(_wrap({**t[0], "duration": t[1]}), at + "duration", "duration must be")),
        st.tuples(v3, st.sampled_from(kling.V3_DURATIONS)).map(
            lambda t: Invalid(_wrap({**t[0], "duration": str(t[1])}), at + "duration", "duration must be")),
        missing.map(lambda t: Invalid(_wrap({k: v for k, v in t[0].items() if k != t[1]}), at + t[1],
                                      f"{t[1]} is required")),
        st.tuples(video_inputs(), bad_ratio).map(
            lambda t: Invalid(_wrap({**t[0], "aspectRatio": t[1]}), at + "aspectRatio", "aspectRatio must be one of")),
        st.tuples(v1, st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not kling.CFG_SCALE_MIN <= x <= kling.CFG_SCALE_MAX)).map(
            lambda t: Invalid(_wrap({**t[0], "cfgScale": t[1]}), at + "cfgScale", "cfgScale must be")),
        st.tuples(video_inputs(), st.text(min_size=1, max_size=10).filter(lambda e: e not in kling.ENGINES)).map(
            lambda t: Invalid(_wrap({**t[0], "engine": t[1]}), at + "engine", "is not supported")),
    )


def _pipeline(image_input: dict[str, Any], video_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"steps": [{"$type": IMAGE_GEN, "name": "still", "input": image_input},
                      {"$type": VIDEO_GEN, "name": "clip", "input": video_input}], **extra}


def invalid_pipelines() -> st.SearchStrategy[Invalid]:
    """Multi-step bodies that break one rule of references or step types, paired with the path and words."""
    still = image_inputs()
    clip = kling_v3_inputs(IMAGE_TO_VIDEO)
    at = "steps[1].input.sourceImage"
    unknown_name = st.from_regex(r"[a-z]{3,10}", fullmatch=True).filter(lambda n: n not in ("still", "clip"))
    not_image_paths = st.sampled_from(("output.video.url", "output.image.url", "output.images[0].uri", "input.prompt"))
    other_types = st.sampled_from(tuple(t for t in KNOWN_STEP_TYPES if t not in STEP_TYPES))
    unknown_types = st.from_regex(r"[a-z][A-Za-z]{2,12}", fullmatch=True).filter(lambda t: t not in KNOWN_STEP_TYPES)
    with_source = (lambda source: st.tuples(still, clip).map(
        lambda t: (t[0], {**t[1], "sourceImage": source})))
    return st.one_of(
        st.tuples(still, clip, unknown_name).map(lambda t: Invalid(
            _pipeline(t[0], {**t[1], "sourceImage": reference(t[2], "output.images[0].url")}), at, "names no step")),
        with_source(reference("clip", "output.video.url")).map(lambda t: Invalid(_pipeline(*t), at, "itself")),
        st.tuples(still, clip, not_image_paths).map(lambda t: Invalid(
            _pipeline(t[0], {**t[1], "sourceImage": reference("still", t[2])}), at, "its output has no")),
        st.tuples(still, clip).map(lambda t: Invalid(
            _pipeline({**t[0], "prompt": reference("clip", "output.video.url")},
                      {**t[1], "sourceImage": reference("still", "output.images[0].url")}),
            "steps[0].input.prompt", "cycle")),
        st.tuples(still, clip).map(lambda t: Invalid(
            _pipeline(t[0], {**t[1], "sourceImage": reference("still", "output.images[0].url"),
                             "prompt": reference(ARGUMENTS, "prompt")}, arguments={"seed": 1}),
            "steps[1].input.prompt", "is not in the workflow's arguments")),
        with_source({REF_KEY: "still"}).map(lambda t: Invalid(_pipeline(*t), at, "a reference is an object")),
        st.tuples(still, other_types).map(lambda t: Invalid(
            {"steps": [{"$type": IMAGE_GEN, "input": t[0]}, {"$type": t[1], "input": {}}]},
            "steps[1].$type", "does not simulate")),
        st.tuples(still, unknown_types).map(lambda t: Invalid(
            {"steps": [{"$type": IMAGE_GEN, "input": t[0]}, {"$type": t[1], "input": {}}]},
            "steps[1].$type", "not a known step type")),
    )
