"""Enums read the way the service reads them: in any letter case, answered in their canonical spelling."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator


def any_case(literal: Any) -> Any:
    """``Literal[...]`` that also accepts its values in any letter case (``"High"`` -> ``"high"``)."""
    canonical = {value.lower(): value for value in get_args(literal) if isinstance(value, str)}

    def canonicalize(value: Any) -> Any:
        return canonical.get(value.lower(), value) if isinstance(value, str) else value

    return Annotated[literal, BeforeValidator(canonicalize)]
