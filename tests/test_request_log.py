"""The request log: bounded by entries and by kept body bytes (oldest dropped first), cleared per tenant,
and read back as entries with every field as it was added."""

from __future__ import annotations

from civitai_mock.mock_server.engine.requestlog import LOGGED_BODY_LIMIT, RequestLog
from civitai_mock.mock_server.engine.state import StateLock


def _add(log: RequestLog, tenant: str, body: bytes, status: int = 200) -> None:
    log.add(1.0, 2.0, tenant, "POST", "/v2/consumer/workflows", {"wait": "0"}, status, body, len(body),
            {"content-type": "application/json"}, ("wf-1", "unassigned"))


def test_entries_read_back_with_every_field_and_their_json() -> None:
    log = RequestLog(StateLock())
    _add(log, "a", b'{"steps": []}', 202)
    (entry,) = log.entries()
    assert (entry.seq, entry.at, entry.wall, entry.tenant, entry.method, entry.path, entry.query, entry.status,
            entry.raw, entry.size) == (1, 1.0, 2.0, "a", "POST", "/v2/consumer/workflows", {"wait": "0"}, 202,
                                       b'{"steps": []}', 13)
    data = entry.to_json()
    assert data["seen"] == {"id": "wf-1", "status": "unassigned"} and data["body"] == {"steps": []}
    assert data["headers"] == {"content-type": "application/json"}


def test_the_oldest_entries_go_first_when_too_many_or_too_many_bytes_are_kept() -> None:
    log = RequestLog(StateLock(), limit=3, max_bytes=10)
    for n in range(5):
        _add(log, f"t{n}", b"")
    assert [e.tenant for e in log.entries()] == ["t2", "t3", "t4"]
    _add(log, "big", b"123456")
    _add(log, "bigger", b"12345")  # 11 bytes kept: the oldest with a body goes, and those before it
    assert [e.tenant for e in log.entries()] == ["bigger"]


def test_clearing_one_tenant_keeps_the_others_and_their_bytes_counted() -> None:
    log = RequestLog(StateLock(), max_bytes=8)
    _add(log, "a", b"1234")
    _add(log, "b", b"1234")
    log.clear("a")
    assert [e.tenant for e in log.entries()] == ["b"] and log.tenants() == ["b"]
    _add(log, "c", b"1234")  # 8 bytes: both fit
    assert [e.tenant for e in log.entries()] == ["b", "c"]


def test_a_body_too_large_to_keep_is_logged_by_its_size() -> None:
    log = RequestLog(StateLock())
    big = b"x" * (LOGGED_BODY_LIMIT + 1)
    _add(log, "a", big)
    (entry,) = log.entries()
    assert entry.raw == b"" and entry.body == {"$size": LOGGED_BODY_LIMIT + 1}
