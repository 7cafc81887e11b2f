"""Blob endpoints: GetBlob (308 to a fresh signed URL), HeadBlob, RefreshBlob, and the signed content."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from contracts.workflow import NSFW_LEVELS
from mock_server.engine.blobs import CONTENT_PATH
from mock_server.engine.service import NotFound
from mock_server.engine.updates import find_blob
from mock_server.http_io import JSONResponse, HttpProblem, fake_of, query_bool, query_choice, tenant
from mock_server.media import CONTENT_TYPE, video_bytes
from mock_server.routes import resource
from mock_server.routes.workflows import base_url

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f\"\\]")


def safe_filename(name: str) -> str:
    """A filename with path components and control characters stripped."""
    return _UNSAFE_FILENAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip() or "video.mp4"


async def get_blob(request: Request) -> Response:
    """GetBlob: 308 to a freshly signed content URL (``filename`` / ``download`` set Content-Disposition)."""
    token = tenant(request)
    fake = fake_of(request)
    record, step = find_blob(fake.engine, token, request.path_params["blobId"])
    workflow_id = request.query_params.get("workflowId")
    if workflow_id and workflow_id != record.id:
        raise NotFound(f"Blob '{step.blob_id}' does not belong to workflow '{workflow_id}'.")
    max_level = query_choice(request, "nsfwLevel", NSFW_LEVELS, "")
    if max_level and NSFW_LEVELS.index(step.nsfw_level) > NSFW_LEVELS.index(max_level):
        raise HttpProblem(403, f"The blob's NSFW level ({step.nsfw_level}) exceeds the requested maximum ({max_level}).")
    signed = fake.engine.signer.sign(base_url(request), step.blob_id, token, fake.engine.now())
    extra = {}
    if request.query_params.get("filename"):
        extra["filename"] = safe_filename(request.query_params["filename"])
    if query_bool(request, "download"):
        extra["download"] = "true"
    url = signed.url + ("&" + urlencode(extra) if extra else "")
    return RedirectResponse(url, status_code=308)


async def head_blob(request: Request) -> Response:
    """HeadBlob: 204 when the blob exists and is available to this tenant, 404 otherwise."""
    token = tenant(request)
    find_blob(fake_of(request).engine, token, request.path_params["blobId"])
    return Response(status_code=204)


async def refresh_blob(request: Request) -> Response:
    """RefreshBlob: the Blob with a fresh signed URL."""
    token = tenant(request)
    fake = fake_of(request)
    record, step = find_blob(fake.engine, token, request.path_params["blobId"])
    return JSONResponse(fake.engine.render.blob(record, step, fake.engine.now(), base_url(request)))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single ``Range: bytes=…`` header; None for the whole body."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        raise HttpProblem(416, "Only a single byte range (bytes=start-end) is supported.",
                          {"Content-Range": f"bytes */{size}"}, title="Range Not Satisfiable")
    if not match[1]:
        start, end = max(0, size - int(match[2])), size - 1
    else:
        start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
    if start >= size or start > end:
        raise HttpProblem(416, f"The range is outside the {size}-byte blob.", {"Content-Range": f"bytes */{size}"},
                          title="Range Not Satisfiable")
    return start, end


async def blob_content(request: Request) -> Response:
    """The video bytes behind a signed URL: no bearer token, 403 when expired or tampered, Range supported."""
    fake = fake_of(request)
    blob_id = request.path_params["blobId"]
    params = request.query_params
    reason = fake.engine.signer.check(blob_id, params.get("tenant", ""), params.get("expires", ""),
                                      params.get("signature", ""), fake.engine.now())
    if reason is not None:
        raise HttpProblem(403, reason)
    owner = fake.engine.store.blob_owner(blob_id)
    record = fake.engine.store.get(*owner) if owner else None
    step = next((s for s in record.steps if s.blob_id == blob_id), None) if record else None
    if step is None:
        raise NotFound(f"Blob '{blob_id}' was not found.")
    data = video_bytes(step.aspect_ratio, step.seconds, step.audio)
    disposition = "attachment" if params.get("download") == "true" else "inline"
    filename = safe_filename(params.get("filename") or blob_id)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60",
               "Content-Disposition": f"{disposition}; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"}
    span = _byte_range(request.headers.get("range"), len(data))
    if span is None:
        return Response(data if request.method == "GET" else b"", media_type=CONTENT_TYPE,
                        headers={**headers, "Content-Length": str(len(data))})
    start, end = span
    chunk = data[start:end + 1]
    headers.update({"Content-Range": f"bytes {start}-{end}/{len(data)}", "Content-Length": str(len(chunk))})
    return Response(chunk if request.method == "GET" else b"", status_code=206, media_type=CONTENT_TYPE, headers=headers)


routes = [
    resource("/v2/consumer/blobs/{blobId}", GET=get_blob, HEAD=head_blob),
    resource("/v2/consumer/blobs/{blobId}/refresh", POST=refresh_blob),
    resource(CONTENT_PATH + "/{blobId}", GET=blob_content, HEAD=blob_content),
]
