"""Installed next to anyone's code: a project with its own ``contracts`` and ``mock_server`` packages
installs the kit from a wheel (not editable) and both its own imports and the fixtures work."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USERS_TEST = '''
from contracts.something import ANSWER
from mock_server.app import NAME


def test_my_own_packages_win():
    assert ANSWER == 42 and NAME == "the user's own server"


def test_the_kit_fixture_works(civitai_mock):
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x"}}]}
    created = civitai_mock.client.post("/v2/consumer/workflows", json=body)
    assert created.status_code == 202
    civitai_mock.advance(3600)
    assert civitai_mock.client.get(f"/v2/consumer/workflows/{created.json()['id']}").json()["status"] == "succeeded"


def test_the_public_face():
    import civitai_mock
    from civitai_mock import CivitaiMock, civitai_fake, lint, play, timelines
    assert set(civitai_mock.__all__) >= {"CivitaiMock", "civitai_fake", "lint", "play", "timelines"}
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stdout}\n{build.stderr}")
    return next(out.glob("civitai_mock-*.whl"))


def test_wheel_installs_one_namespace_only(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    top_level = sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin")
    assert top_level == ["civitai_mock"]
    assert (site / "civitai_mock" / "media" / "128x72_5s_silent.mp4").is_file()
    assert (site / "civitai_mock" / "py.typed").is_file()


def test_a_project_with_its_own_contracts_and_mock_server_packages(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    project = tmp_path / "their_project"
    for package, module, text in (("contracts", "something", "ANSWER = 42\n"),
                                  ("mock_server", "app", "NAME = \"the user's own server\"\n")):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("")
        (project / package / f"{module}.py").write_text(text)
    (project / "tests").mkdir()
    (project / "tests" / "test_theirs.py").write_text(textwrap.dedent(USERS_TEST))
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = [\".\"]\n")
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project,
                         capture_output=True, text=True, timeout=180, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    loaded = subprocess.run([sys.executable, "-c", "import civitai_mock; print(civitai_mock.__file__)"],
                            capture_output=True, text=True, env=env, cwd=project, timeout=60)
    assert loaded.stdout.strip().startswith(str(site))  # the wheel's copy, not the checkout's
