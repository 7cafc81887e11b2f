"""Values read the way the service reads them: enums in any letter case (answered in their canonical
spelling), and boolean query flags as ASP.NET binds ``bool``."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BeforeValidator


def any_case(literal: Any) -> Any:
    """``Literal[...]`` that also accepts its values in any letter case (``"High"`` -> ``"high"``)."""
    canonical = {value.lower(): value for value in get_args(literal) if isinstance(value, str)}

    def canonicalize(value: Any) -> Any:
        return canonical.get(value.lower(), value) if isinstance(value, str) else value

    return Annotated[literal, BeforeValidator(canonicalize)]


def read_flag(raw: str | None) -> bool | None:
    """A boolean query value as ASP.NET binds ``bool`` (``bool.TryParse``): ``true`` / ``false`` in any letter
    case, white space around ignored; None for anything else (``1``, ``0``, ``yes``: the service answers 400)."""
    word = raw.strip().lower() if isinstance(raw, str) else None
    return {"true": True, "false": False}.get(word) if word is not None else None
