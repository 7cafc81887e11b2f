"""References inside step inputs: ``{"$ref": "<source>", "path": "<dotted path>"}`` (guide: Dependencies).

A source is another step (its name, or ``$0``, ``$1``, … / ``0``, ``1``, … for unnamed steps) or
``$arguments``, the workflow's ``arguments``. Pure functions: finding references anywhere in an
input, parsing and following paths, what each step type's output holds (to refuse paths that can
never resolve), and stand-in values used to validate an input before its references resolve.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from civitai_mock.contracts.template import IMAGE_GEN, VIDEO_GEN

REF_KEY, PATH_KEY = "$ref", "path"
#: The source name that reads the workflow's ``arguments``.
ARGUMENTS = "$arguments"
Loc = tuple[str | int, ...]
Token = str | int

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Reference:
    """One reference: where it sits in the input (``loc``), its source and its path."""

    loc: Loc
    source: str
    path: str

    def to_json(self) -> dict[str, str]:
        """The reference object as submitted."""
        return {REF_KEY: self.source, PATH_KEY: self.path}


class BadReference(ValueError):
    """A reference object that is not ``{"$ref": string, "path": string}``, or a path that cannot be parsed."""


def is_reference(value: Any) -> bool:
    """True for an object carrying ``$ref`` (well formed or not)."""
    return isinstance(value, dict) and REF_KEY in value


def has_reference(value: Any) -> bool:
    """True when ``value`` holds a reference object anywhere (a cheap check before locating them)."""
    stack = [value]
    while stack:  # loops, not generators: every submitted step is checked
        item = stack.pop()
        if isinstance(item, dict):
            if REF_KEY in item:
                return True
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append(child)
    return False


def find(value: Any, loc: Loc = ()) -> list[tuple[Loc, Any]]:
    """Every reference object in ``value`` (objects and arrays, any depth) with its location."""
    if is_reference(value):
        return [(loc, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in find(item, (*loc, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in find(item, (*loc, index))]
    return []


def reference_at(loc: Loc, value: Any) -> Reference:
    """The ``Reference`` a reference object stands for; ``BadReference`` when it is malformed."""
    source, path = value.get(REF_KEY), value.get(PATH_KEY)
    if not isinstance(source, str) or not source or not isinstance(path, str):
        raise BadReference('a reference is an object {"$ref": "<step name or $arguments>", "path": "<dotted path>"}')
    parse_path(path)
    return Reference(loc, source, path)


def parse_path(path: str) -> tuple[Token, ...]:
    """``output.images[0].url`` -> ``('output', 'images', 0, 'url')``; ``BadReference`` when malformed."""
    tokens: list[Token] = []
    for segment in path.split(".") if path else []:
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise BadReference(f"path '{_shown(path)}' is not a dotted path such as output.images[0].url")
        tokens.append(match.group(1))
        tokens += [int(index) for index in _INDEX.findall(match.group(2))]
    if not tokens:
        raise BadReference("path must not be empty")
    return tuple(tokens)


def follow(data: Any, path: str) -> Any:
    """The value at ``path`` inside ``data``; ``KeyError`` naming the first missing part."""
    current = data
    for token in parse_path(path):
        if isinstance(token, int):
            if not isinstance(current, list) or token >= len(current):
                raise KeyError(f"[{token}]")
            current = current[token]
        else:
            if not isinstance(current, dict) or token not in current:
                raise KeyError(token)
            current = current[token]
    return current


def replaced(value: Any, substitute: Callable[[Loc, dict[str, Any]], Any], loc: Loc = ()) -> Any:
    """A copy of ``value`` with each reference object replaced by ``substitute(loc, reference)``."""
    if is_reference(value):
        return substitute(loc, value)
    if isinstance(value, dict):
        return {key: replaced(item, substitute, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [replaced(item, substitute, (*loc, index)) for index, item in enumerate(value)]
    return value


def put(data: dict[str, Any], loc: Loc, value: Any) -> None:
    """Set ``data`` at ``loc`` (missing objects on the way are created; list items must exist)."""
    current: Any = data
    for key, following in itertools.pairwise((*loc, None)):
        if isinstance(current, list) and isinstance(key, int) and key >= len(current):
            current.extend([None] * (key + 1 - len(current)))
        if following is None:
            current[key] = copy.deepcopy(value)
        elif isinstance(current, dict) and not isinstance(current.get(key), (dict, list)) or \
                isinstance(current, list) and not isinstance(current[key], (dict, list)):
            current[key] = [] if isinstance(following, int) else {}
        current = current[key]


def join_path(prefix: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """``('steps', 0, 'input')`` under ``''`` -> ``steps[0].input``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "$"


def under(path: str, loc: Loc, prefix: str) -> bool:
    """True when the error path ``path`` is the location ``loc`` (under ``prefix``) or inside it."""
    spot = join_path(prefix, loc)
    return path == spot or path.startswith((spot + ".", spot + "["))


# --- what each step type's output holds --------------------------------------------------------

#: A stand-in blob URL: what a referenced URL looks like before it resolves.
PLACEHOLDER_URL = "https://placeholder.invalid/v2/consumer/blobs/reference"
_BLOB: dict[str, Any] = {
    "type": "image", "id": "reference", "available": True, "url": PLACEHOLDER_URL,
    "urlExpiresAt": "2000-01-01T00:00:00Z", "jobId": "reference", "nsfwLevel": "pg", "blockedReason": "reference",
}
_IMAGE_BLOB = {**_BLOB, "width": 1024, "height": 1024, "previewUrl": PLACEHOLDER_URL,
               "previewUrlExpiresAt": "2000-01-01T00:00:00Z"}
_VIDEO_BLOB = {**_BLOB, "type": "video", "width": 1280, "height": 720, "duration": 5.0}
#: The shape of each simulated step type's ``output`` (one sample item stands for every array item).
OUTPUT_SHAPES: dict[str, dict[str, Any]] = {
    IMAGE_GEN: {"images": [_IMAGE_BLOB]},
    VIDEO_GEN: {"video": _VIDEO_BLOB, "additionalVideos": [_VIDEO_BLOB]},
}


def output_paths(step_type: str) -> list[str]:
    """The readable paths of a step type's output, for messages (``output.images[i].url``, …)."""
    shape = OUTPUT_SHAPES.get(step_type, {})
    paths = []
    for key, value in shape.items():
        item = value[0] if isinstance(value, list) else value
        where = f"output.{key}[i]" if isinstance(value, list) else f"output.{key}"
        paths += [f"{where}.{name}" for name in ("url", "id", "width", "height") if name in item]
    return paths


def placeholder(step_type: Any, path: str) -> Any:
    """A sample of what ``path`` holds in a step type's output (any type's when None); KeyError if nothing."""
    tokens = parse_path(path)
    if tokens[0] != "output":
        raise KeyError(tokens[0])
    shapes = [OUTPUT_SHAPES[step_type]] if step_type in OUTPUT_SHAPES else list(OUTPUT_SHAPES.values())
    for shape in shapes:
        current: Any = shape
        for token in tokens[1:]:
            if isinstance(token, int) and isinstance(current, list):
                current = current[0]
            elif isinstance(token, str) and isinstance(current, dict) and token in current:
                current = current[token]
            else:
                break
        else:
            return copy.deepcopy(current)
    raise KeyError(path)


# --- the references of a submission --------------------------------------------------------------

Errors = dict[str, list[str]]


def _shown(text: Any, limit: int = 60) -> str:
    """A user-supplied name or path as messages quote it (long ones cut short)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def step_index(source: str, names: list[str]) -> int | None:
    """The step a reference names: its name, or ``$N`` / ``N`` for the unnamed step N."""
    if source in names:
        return names.index(source)
    digits = source.removeprefix("$")
    if 0 < len(digits) < 10 and digits.isascii() and digits.isdigit() and int(digits) < len(names) \
            and names[int(digits)] == f"${int(digits)}":
        return int(digits)
    return None


def with_arguments(raw: Any, arguments: dict[str, Any] | None, prefix: str, errors: Errors) -> Any:
    """``raw`` with each ``$arguments`` reference replaced by that argument; a missing one is an error at its place."""
    def substitute(loc: Loc, value: dict[str, Any]) -> Any:
        if value.get(REF_KEY) != ARGUMENTS:
            return value
        try:
            return copy.deepcopy(follow(arguments or {}, reference_at(loc, value).path))
        except BadReference as exc:
            errors.setdefault(join_path(prefix, loc), []).append(str(exc))
        except KeyError:
            known = ", ".join(arguments or {}) or "none"
            errors.setdefault(join_path(prefix, loc), []).append(
                f"argument '{_shown(value.get(PATH_KEY))}' is not in the workflow's arguments (arguments: {_shown(known)})")
        return value

    return replaced(raw, substitute)


def step_references(raw: Any, prefix: str, index: int, names: list[str], kinds: list[Any],
                    errors: Errors) -> list[tuple[Reference, int]]:
    """Each step reference of one input with the index of the step it names; errors for malformed
    references, unknown steps, the step itself, and paths its source step's output cannot have."""
    found: list[tuple[Reference, int]] = []
    for loc, value in find(raw):
        at = join_path(prefix, loc)
        if value.get(REF_KEY) == ARGUMENTS:
            continue  # a missing argument: ``with_arguments`` said so
        try:
            ref = reference_at(loc, value)
        except BadReference as exc:
            errors.setdefault(at, []).append(str(exc))
            continue
        target = step_index(ref.source, names)
        if target is None:
            errors.setdefault(at, []).append(
                f"$ref '{_shown(ref.source)}' names no step of this workflow "
                f"(steps: {_shown(', '.join(names), 200)}; or {ARGUMENTS})")
        elif target == index:
            errors.setdefault(at, []).append(f"$ref '{_shown(ref.source)}' is this step itself: a step cannot use its own output")
        elif isinstance(kinds[target], str) and kinds[target] in OUTPUT_SHAPES and not _has(kinds[target], ref.path):
            errors.setdefault(at, []).append(
                f"step '{_shown(names[target])}' ($type {kinds[target]}): its output has no '{_shown(ref.path)}' "
                f"(it has {', '.join(output_paths(kinds[target]))})")
        else:
            found.append((ref, target))
    return found


def _has(kind: str, path: str) -> bool:
    try:
        placeholder(kind, path)
    except KeyError:
        return False
    return True


def _route(edges: dict[int, list[int]], start: int, goal: int) -> list[int] | None:
    """The steps from ``start`` to ``goal`` following ``edges`` (breadth first), or None."""
    parents: dict[int, int] = {start: start}
    queue = [start]
    for current in queue:
        if current == goal:
            route = [goal]
            while route[-1] != start:
                route.append(parents[route[-1]])
            return route[::-1]
        for following in edges.get(current, []):
            if following not in parents:
                parents[following] = current
                queue.append(following)
    return None


def cycle_errors(references: dict[int, list[tuple[Reference, int]]], names: list[str]) -> Errors:
    """An error at every reference that closes a cycle of steps waiting on each other."""
    edges = {step: [target for _, target in found] for step, found in references.items()}
    errors: Errors = {}
    for step, found in references.items():
        for ref, target in found:
            route = _route(edges, target, step)
            if route is not None:
                cycle = " -> ".join(_shown(names[i], 30) for i in [step, *route])
                errors.setdefault(join_path(f"steps[{step}].input", ref.loc), []).append(
                    f"$ref '{_shown(ref.source)}' makes the steps wait on each other in a cycle ({cycle})")
    return errors


def topological(depends: list[list[int]]) -> list[int]:
    """Step indices, each after every step it depends on (``depends`` must hold no cycle)."""
    done: list[int] = []
    seen: set[int] = set()

    def visit(step: int) -> None:
        if step in seen:
            return
        seen.add(step)
        for target in depends[step]:
            visit(target)
        done.append(step)

    for step in range(len(depends)):
        visit(step)
    return done
