"""pytest plugin (entry point ``pytest11``): fixtures and the ``civitai_mock`` marker. Thin by design.

Fixtures:
- ``civitai_mock``: a handle on a session-scoped in-process fake, reset for every test.
- ``civitai_mock_server``: the same fake served over HTTP on a free 127.0.0.1 port (``.url``).
Marker: ``@pytest.mark.civitai_mock(seed=…, url_ttl=…, balances={…}, speed=…, token=…, lint_ignore=[…])``
(``lint_ignore``: rule ids that ``lint()`` / ``assert_client_conforms()`` skip in this test).
For Hypothesis (no per-test fixtures): ``with civitai_fake(seed=…) as mock:`` per example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from civitai_mock.kit.handle import CivitaiMock
    from civitai_mock.kit.live import LiveServer

MARKER = ("civitai_mock(seed=0, url_ttl=600, balances=None, speed=None, token='test-token', lint_ignore=()): "
          "configure the fake")
_OPTIONS = ("seed", "url_ttl", "balances", "speed", "token", "lint_ignore")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line("markers", MARKER)


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("civitai_mock")
    options = dict(marker.kwargs) if marker else {}
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise pytest.UsageError(f"unknown civitai_mock marker options: {', '.join(sorted(unknown))}")
    if "lint_ignore" in options:
        from civitai_mock.contracts.rules import check_rule_ids

        ignore = options["lint_ignore"]
        try:
            options["lint_ignore"] = check_rule_ids([ignore] if isinstance(ignore, str) else ignore)
        except ValueError as error:
            raise pytest.UsageError(f"civitai_mock marker: {error}") from None
    return options


@pytest.fixture(scope="session")
def civitai_mock_session() -> Iterator["CivitaiMock"]:
    """The session's shared fake (use ``civitai_mock`` in tests: it is reset for each)."""
    from civitai_mock.kit.handle import CivitaiMock
    from civitai_mock.mock_server.server.fake import Fake

    mock = CivitaiMock(Fake())
    yield mock
    mock.close()


def _prepared(mock: "CivitaiMock", options: dict[str, Any]) -> "CivitaiMock":
    from civitai_mock.kit.handle import DEFAULT_TOKEN
    from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL

    mock.configure(seed=options.get("seed", 0), url_ttl=options.get("url_ttl", DEFAULT_URL_TTL),
                   balances=options.get("balances") or mock.engine.accounts.defaults_initial)
    mock.use_token(options.get("token", DEFAULT_TOKEN))
    mock.lint_ignore = options.get("lint_ignore", ())
    mock.reset()
    return mock


@pytest.fixture
def civitai_mock(request: pytest.FixtureRequest, civitai_mock_session: "CivitaiMock") -> Iterator["CivitaiMock"]:
    """A reset, configured in-process fake for this test."""
    from civitai_mock.kit.handle import civitai_fake

    options = _options(request)
    if options.get("speed") is not None:
        with civitai_fake(**{k: v for k, v in options.items() if k != "lint_ignore"}) as mock:
            mock.lint_ignore = options.get("lint_ignore", ())
            mock.fake.start()
            yield mock
        return
    yield _prepared(civitai_mock_session, options)


@pytest.fixture(scope="session")
def civitai_mock_live(civitai_mock_session: "CivitaiMock") -> Iterator["LiveServer"]:
    """The session's fake served on a free port (use ``civitai_mock_server`` in tests)."""
    from civitai_mock.kit.live import LiveServer

    server = LiveServer(civitai_mock_session).start()
    civitai_mock_session.url = server.url
    yield server
    server.stop()


@pytest.fixture
def civitai_mock_server(request: pytest.FixtureRequest, civitai_mock_session: "CivitaiMock",
                        civitai_mock_live: "LiveServer") -> "CivitaiMock":
    """The shared fake, reset and served over HTTP: ``civitai_mock_server.url`` is its base URL."""
    options = _options(request)
    if options.get("speed") is not None:
        raise pytest.UsageError("civitai_mock_server runs on a virtual clock; use civitai_mock for speed=…")
    mock = _prepared(civitai_mock_session, options)
    mock.url = civitai_mock_live.url
    return mock
