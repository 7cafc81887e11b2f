"""Property tests over the contract: valid inputs always accepted, invalid always rejected at their
path, and every enum or range defined in exactly one place."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings

from civitai_mock import civitai_fake
from civitai_mock.contracts import kling
from civitai_mock.contracts.strategies import (
    Invalid,
    invalid_inputs,
    video_inputs,
    workflow_templates,
)
from civitai_mock.contracts.validation import ContractViolation, validate_submission

ROOT = Path(__file__).resolve().parents[1]


@given(workflow_templates())
def test_valid_templates_are_accepted(body: dict) -> None:
    validate_submission(body)


@given(invalid_inputs())
def test_invalid_inputs_are_rejected_at_their_path(invalid: Invalid) -> None:
    try:
        validate_submission(invalid.body)
    except ContractViolation as violation:
        assert invalid.path in violation.errors, violation.errors
        assert any(invalid.message in m for m in violation.errors[invalid.path]), violation.errors
    else:
        raise AssertionError(f"accepted: {invalid.body}")


def test_a_thousand_valid_inputs_are_accepted_by_the_fake() -> None:
    with civitai_fake() as mock:
        mock.set_balances(blue=10**9)

        @settings(max_examples=1000, deadline=None, database=None)
        @given(video_inputs())
        def accepted(video_input: dict) -> None:
            body = {"steps": [{"$type": "videoGen", "input": video_input}]}
            answer = mock.client.post("/v2/consumer/workflows", params={"whatif": "true"}, json=body)
            assert answer.status_code == 200, answer.text

        accepted()


def test_invalid_inputs_are_rejected_by_the_fake_with_the_paired_path() -> None:
    with civitai_fake() as mock:
        @settings(max_examples=300, deadline=None, database=None)
        @given(invalid_inputs())
        def rejected(invalid: Invalid) -> None:
            answer = mock.client.post("/v2/consumer/workflows", params={"whatif": "true"}, json=invalid.body)
            assert answer.status_code == 400 and invalid.path in answer.json()["errors"], answer.text

        rejected()


def _string_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_kling_enum_value_is_defined_twice() -> None:
    sources = [p for folder in ("contracts", "mock_server") for p in (ROOT / folder).rglob("*.py")]
    values = (*kling.KLING_MODELS, *kling.ASPECT_RATIOS, *kling.OPERATIONS, *kling.MODES, *kling.ENGINES)
    where: dict[str, list[str]] = {v: [] for v in values}
    for source in sources:
        for literal in _string_literals(source):
            if literal in where:
                where[literal].append(str(source.relative_to(ROOT)))
    assert {v: places for v, places in where.items() if places != ["contracts/kling.py"]} == {}
