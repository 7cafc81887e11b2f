"""JSON text as the service's reader takes it: well-formed UTF-8, numbers it can hold, at most 64 levels deep.

System.Text.Json refuses ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON) and numbers too large for a
double (``1e999``); Python's reader takes them all (as nan / inf), so they are refused here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

#: Deepest JSON nesting accepted (System.Text.Json's default maximum depth, which the service uses).
MAX_JSON_DEPTH = 64


class JsonTextError(ValueError):
    """JSON the service would refuse; the message says why in words a client developer can act on."""


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def text_depth(text: str, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deeply JSON text nests, counted on the text itself (C-speed regex passes, one per level);
    counting stops past ``stop_after``."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    depth = 0
    while brackets and depth <= stop_after:
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            break
        depth += 1
    return depth


def _finite(text: str) -> float:
    """A JSON number as a double; JsonTextError when it is too large for one (``1e999``)."""
    value = float(text)
    if math.isinf(value):
        raise JsonTextError(f"The body holds the number {text[:40]}, too large for the API to read.")
    return value


def _not_json(name: str) -> Any:
    raise JsonTextError(f"The body is not valid JSON: {name} is not a JSON number (the API refuses it).")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_not_json)
#: Every ASCII digit byte as "9", every other byte as ",": 19 digits in a row, an integer orjson may read
#: as a float (past 64 bits), become 19 nines, and the stdlib reads the text (a table lookup per byte is
#: several times faster than a regular expression's search).
_DIGITS_AS_NINES = bytes(0x39 if 0x30 <= byte <= 0x39 else 0x2C for byte in range(256))
_LONG_DIGITS = b"9" * 19
_TOO_DEEP = f"The JSON is nested deeper than the {MAX_JSON_DEPTH} levels allowed."


def loads(raw: bytes | str) -> Any:
    """Parse JSON text; ``JsonTextError`` for malformed text, unreadable numbers or nesting deeper than 64.

    orjson reads the text when it can give what the stdlib reader gives (``tests/test_json_reader.py``
    checks they agree): whatever orjson refuses, and any text with an integer that may pass 64 bits, is
    read by ``read_with_stdlib``, whose answer (a value or the error) stands.
    """
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    # at most 64 openers cannot nest past the limit; orjson checks the UTF-8 itself
    if data.count(b"{") + data.count(b"[") <= MAX_JSON_DEPTH and _LONG_DIGITS not in data.translate(_DIGITS_AS_NINES):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # refused by orjson: the stdlib reader says whether (and why) the service refuses it
    return read_with_stdlib(checked_text(raw))


def checked_text(raw: bytes | str) -> str:
    """The text of a body; ``JsonTextError`` when it is not UTF-8 or nests deeper than 64."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JsonTextError("The body is not valid UTF-8 JSON.") from None
    openers = text.count("{") + text.count("[")  # fewer openers than the limit cannot nest past it
    if openers > MAX_JSON_DEPTH and text_depth(text) > MAX_JSON_DEPTH:
        raise JsonTextError(_TOO_DEEP)
    return text


def read_with_stdlib(text: str) -> Any:
    """``loads`` of a ``checked_text``, by Python's own reader."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"The body is not valid JSON (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise JsonTextError(_TOO_DEEP) from None
    except JsonTextError:
        raise
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise JsonTextError(f"The body holds a value the API cannot read: {exc}.") from None
