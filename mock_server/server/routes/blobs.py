"""Blob endpoints: GetBlob (308 to a fresh signed URL), HeadBlob, RefreshBlob, and the signed content.

Signed URLs live on the same path as GetBlob, as the real ones do (``/v2/consumer/blobs/{blobId}``):
with a ``sig`` query parameter the request is a content fetch (no bearer token; 403 when expired or
tampered); without one it is the authenticated GetBlob.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from civitai_mock.contracts import paths
from civitai_mock.contracts.workflow import NSFW_LEVELS
from civitai_mock.mock_server.engine.blob_access import above_nsfw_ceiling
from civitai_mock.mock_server.engine.media import media_bytes
from civitai_mock.mock_server.engine.service import NotFound
from civitai_mock.mock_server.server.http_io import (
    HttpProblem,
    JSONResponse,
    base_url,
    fake_of,
    query_bool,
    query_choice,
    tenant,
)
from civitai_mock.mock_server.server.routes import resource

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f\"\\]")


def safe_filename(name: str) -> str:
    """A filename with path components and control characters stripped."""
    return _UNSAFE_FILENAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip() or "video.mp4"


async def blob(request: Request) -> Response:
    """A signed content fetch (``sig`` present) or GetBlob / HeadBlob (bearer token)."""
    if paths.SIGNATURE_PARAM in request.query_params:
        return await blob_content(request)
    if request.method == "HEAD":
        return await head_blob(request)
    return await get_blob(request)


async def get_blob(request: Request) -> Response:
    """GetBlob: 308 to a freshly signed content URL (``filename`` / ``download`` set Content-Disposition)."""
    token = tenant(request)
    engine = fake_of(request).engine
    info = engine.blob(token, request.path_params["blobId"])
    wanted = request.query_params.get("workflowId")
    if wanted and wanted != info.workflow_id:
        raise NotFound(f"Blob '{info.blob_id}' does not belong to workflow '{wanted}'.")
    max_level = query_choice(request, "nsfwLevel", NSFW_LEVELS, "")
    if max_level and above_nsfw_ceiling(info.nsfw_level, max_level):
        raise HttpProblem(403, f"The blob's NSFW level ({info.nsfw_level}) exceeds the requested maximum ({max_level}).")
    url = engine.sign_blob(token, info.blob_id, base_url(request))
    extra = {}
    if request.query_params.get("filename"):
        extra["filename"] = safe_filename(request.query_params["filename"])
    if query_bool(request, "download"):
        extra["download"] = "true"
    return RedirectResponse(url + ("&" + urlencode(extra) if extra else ""), status_code=308)


async def head_blob(request: Request) -> Response:
    """HeadBlob: 204 when the blob exists and is available to this tenant, 404 otherwise."""
    fake_of(request).engine.blob(tenant(request), request.path_params["blobId"])
    return Response(status_code=204)


async def refresh_blob(request: Request) -> Response:
    """RefreshBlob: the Blob with a fresh signed URL."""
    token = tenant(request)
    return JSONResponse(fake_of(request).engine.blob_view(token, request.path_params["blobId"], base_url(request)))


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
    """The media behind a signed URL (video or image): no bearer token, 403 when expired or tampered, Range supported."""
    blob_id = request.path_params["blobId"]
    params = request.query_params
    info = fake_of(request).engine.signed_content(blob_id, params.get("tenant", ""), params.get("exp", ""),
                                                  params.get(paths.SIGNATURE_PARAM, ""))
    data = media_bytes(info.media)
    disposition = "attachment" if params.get("download") == "true" else "inline"
    filename = safe_filename(params.get("filename") or blob_id)
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")  # RFC 6266 fallback
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60",
               "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"}
    span = _byte_range(request.headers.get("range"), len(data))
    if span is None:
        return Response(data if request.method == "GET" else b"", media_type=info.content_type,
                        headers={**headers, "Content-Length": str(len(data))})
    start, end = span
    chunk = data[start:end + 1]
    headers.update({"Content-Range": f"bytes {start}-{end}/{len(data)}", "Content-Length": str(len(chunk))})
    return Response(chunk if request.method == "GET" else b"", status_code=206, media_type=info.content_type,
                    headers=headers)


routes = [
    resource(paths.BLOB, GET=blob),
    resource(paths.BLOB_REFRESH, POST=refresh_blob),
]
