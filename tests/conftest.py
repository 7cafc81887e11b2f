"""Shared test configuration (Hypothesis profiles and the slow marker live in the top-level conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

#: The shared reference folder beside the repository (CI has it); tests that need it skip without it.
REFERENCE = Path(os.environ.get("CIVITAI_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"))
