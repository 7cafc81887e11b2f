"""Request bodies read by orjson where it can: every text reads exactly as Python's own reader reads it
(the same values, of the same types, keys in the same order), or is refused with the same words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civitai_mock.contracts.jsontext import JsonTextError, checked_text, loads, read_with_stdlib

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)
#: Numbers as clients may write them: long mantissas, exponents, negative zero, past a double's range.
NUMBER_TEXTS = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?\Z")
ESCAPES = st.sampled_from(['"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '"\\/"', '"\\u00e9"', '"\u00e9"', "\ufeff{}"])


def outcome(read: Any, text: str) -> tuple[str, Any]:
    """What reading ``text`` gives: ("value", a typed copy telling 1 from 1.0 and -0.0 from 0.0) or ("error", why)."""
    try:
        return "value", typed(read(text))
    except JsonTextError as refused:
        return "error", str(refused)


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [typed(item) for item in value])
    return (type(value).__name__, repr(value))


def by_stdlib(text: str) -> Any:
    return read_with_stdlib(checked_text(text))


def assert_same_reading(text: str) -> None:
    assert outcome(loads, text) == outcome(by_stdlib, text)
    assert outcome(loads, text.encode("utf-8", "surrogatepass")) == outcome(by_stdlib, text)


@given(JSON_VALUES, st.booleans())
def test_any_json_document_reads_as_the_stdlib_reads_it(value: Any, ascii_only: bool) -> None:
    assert_same_reading(json.dumps(value, ensure_ascii=ascii_only))


@given(st.lists(NUMBER_TEXTS, min_size=1, max_size=5))
def test_numbers_read_as_the_stdlib_reads_them(numbers: list[str]) -> None:
    assert_same_reading("[" + ",".join(numbers) + "]")
    assert_same_reading('{"n": ' + numbers[0] + "}")


@given(st.lists(ESCAPES | st.text(max_size=6).map(json.dumps), min_size=1, max_size=4))
def test_escapes_and_odd_characters_read_as_the_stdlib_reads_them(parts: list[str]) -> None:
    assert_same_reading("[" + ",".join(parts) + "]")


@given(st.text(max_size=40))
def test_any_text_at_all_reads_or_is_refused_as_with_the_stdlib(text: str) -> None:
    assert_same_reading(text)


@pytest.mark.parametrize("text", [
    "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890", "[1e999]", "-1E400",
    "NaN", "[Infinity]", '{"a": 1, "b": 2, "a": 3}', "1e-400", "-0", "-0.0", '"\\ud800"', "\ufeff{}",
    "[1.7976931348623157e308]", "0.1000000000000000055511151231257827", "9007199254740993",
])
def test_the_cases_where_json_readers_differ_read_as_the_stdlib_reads_them(text: str) -> None:
    assert_same_reading(text)


def test_a_huge_integer_keeps_every_digit() -> None:
    assert loads(b'{"seed": 123456789012345678901234567890}') == {"seed": 123456789012345678901234567890}
