"""Hostile and malformed requests never produce a 5xx, and every error is problem+json.

``FUZZ_EXAMPLES`` sets the number of requests (default 10 000; ``make fuzz`` runs 50 000).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civitai_mock import civitai_fake
from civitai_mock.contracts.strategies import invalid_inputs, workflow_templates

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))
IDS = st.sampled_from(["", "x", "%00", "..%2F..", "a" * 300, "20260101000000000-e443df", "$0", "0", "%F0%9F%98%80",
                       "blob.mp4"])
PATHS = st.one_of(
    st.sampled_from(["/v2/consumer/workflows", "/v2/consumer/recipes/videoGen", "/_mock/outcomes", "/_mock/faults",
                     "/_mock/clock/advance", "/openapi.json", "/", "/v2", "/_blobs/x.mp4"]),
    st.builds(lambda i: f"/v2/consumer/workflows/{i}", IDS),
    st.builds(lambda i: f"/v2/consumer/workflows/{i}/tags", IDS),
    st.builds(lambda i, t: f"/v2/consumer/workflows/{i}/tags/{t}", IDS, IDS),
    st.builds(lambda i, s: f"/v2/consumer/workflows/{i}/steps/{s}", IDS, IDS),
    st.builds(lambda i: f"/v2/consumer/blobs/{i}", IDS),
    st.builds(lambda i: f"/v2/consumer/blobs/{i}/refresh", IDS),
    st.builds(lambda i: f"/_mock/accounts/{i}", IDS),
)
QUERY_VALUES = st.one_of(st.sampled_from(["0", "-1", "100", "99999999999999999999", "abc", "true", "TRUE", "",
                                          "completion", "change", "2026-01-01T00:00:00Z", "not-a-date", "\x00"]),
                         st.text(max_size=20))
QUERIES = st.dictionaries(st.sampled_from(["wait", "whatif", "until", "take", "cursor", "tags", "ascending", "fromDate",
                                           "toDate", "excludeFailed", "hideMatureContent", "filename", "download",
                                           "nsfwLevel", "expires", "signature", "tenant"]), QUERY_VALUES, max_size=4)
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                              st.text(max_size=20)),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
BODIES = st.one_of(
    st.none(), st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
    workflow_templates().map(lambda v: json.dumps(v).encode()),
    invalid_inputs().map(lambda v: json.dumps(v.body).encode()),
    st.builds(lambda t, cut: json.dumps(t).encode()[:cut], workflow_templates(), st.integers(0, 80)),
)
CONTENT_TYPES = st.sampled_from([None, "application/json", "application/json-patch+json", "text/plain",
                                 "application/json; charset=utf-8", "multipart/form-data", "application/xml", ""])
AUTH = st.sampled_from([None, "Bearer fuzz", "Bearer other", "Bearer", "Basic Zm9vOmJhcg==", "bearer  fuzz", "Bearer a b"])


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    headers = {}
    if (content_type := draw(CONTENT_TYPES)) is not None:
        headers["Content-Type"] = content_type
    if (auth := draw(AUTH)) is not None:
        headers["Authorization"] = auth
    return {"method": draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])),
            "url": draw(PATHS), "params": draw(QUERIES), "headers": headers, "content": draw(BODIES)}


@pytest.mark.slow
def test_hostile_requests_never_get_a_5xx_and_errors_are_problems() -> None:
    with civitai_fake(token="fuzz", max_body_bytes=50_000) as mock:
        seen: set[int] = set()

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(requests())
        def never_5xx(request: dict[str, Any]) -> None:
            with mock.sync_client() as http:
                http.headers.pop("Authorization")
                response = http.request(**request)
            seen.add(response.status_code)
            assert response.status_code < 500, (request, response.status_code, response.text[:300])
            if response.status_code >= 400 and request["method"] != "HEAD":
                assert response.headers["content-type"] == "application/problem+json", (request, response.text[:200])
                problem = response.json()
                assert problem["status"] == response.status_code and problem["title"]

        never_5xx()
    assert {400, 401, 404, 405} <= seen
