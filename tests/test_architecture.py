"""The house rules, checked: four layers with arrows pointing down only (import-linter, lazy imports
included), route modules independent, and an installed layout that cannot collide with user packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def installed_layout(target: Path) -> Path:
    """Copy the sources into the layout an installed wheel has (``package-dir`` from pyproject)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in config["package-dir"].items():
        destination = target.joinpath(*package.split("."))
        source = ROOT / folder
        for path in source.rglob("*.py"):
            relative = path.relative_to(source)
            if any(part in ("node_modules", "__pycache__") for part in relative.parts):
                continue
            if relative.parts[0] != relative.name and (source / relative.parts[0]).is_dir() and \
                    ".".join((package, relative.parts[0])) in config["package-dir"]:
                continue  # mapped elsewhere
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination / relative)
    return target


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is installed by `make test` (dev extra)")
def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    staged = installed_layout(tmp_path / "site")
    run = subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={"PYTHONPATH": str(staged), "PATH": str(LINT_IMPORTS.parent)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_a_broken_arrow_is_caught(tmp_path: Path) -> None:
    """The check is real: an engine module importing the server layer breaks it."""
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is installed by `make test` (dev extra)")
    staged = installed_layout(tmp_path / "site")
    offender = staged / "civitai_mock" / "mock_server" / "engine" / "ids.py"
    offender.write_text(offender.read_text() + "\n\ndef _late():\n    from civitai_mock.mock_server.server import app\n")
    run = subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={"PYTHONPATH": str(staged), "PATH": str(LINT_IMPORTS.parent)})
    assert run.returncode != 0 and "civitai_mock.mock_server.engine.ids" in run.stdout
