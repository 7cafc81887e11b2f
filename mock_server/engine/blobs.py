"""Signed, expiring blob URLs: HMAC over (blob id, expiry, tenant), checked without a bearer token."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlencode

from civitai_mock.contracts.paths import BLOBS, SIGNATURE_PARAM
from civitai_mock.mock_server.engine.countdown import Countdowns

#: Default lifetime of a signed blob URL, seconds (the guide: URLs "403 after a few minutes").
DEFAULT_URL_TTL = 600.0


@lru_cache(maxsize=4096)
def tenant_key(token: str) -> str:
    """A short, stable, non-secret name for a tenant (the token itself never appears in URLs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SignedUrl:
    """A signed URL and when it stops working (epoch seconds)."""

    url: str
    expires: float


class BlobSigner:
    """Signs and checks blob URLs with one secret and one time-to-live."""

    def __init__(self, secret: bytes, ttl: float = DEFAULT_URL_TTL, scale: float = 1.0):
        if ttl <= 0:
            raise ValueError("url ttl must be positive")
        self._secret = secret
        self.ttl = ttl
        self.scale = scale
        self._expire_next = Countdowns()

    def expire_next(self, count: int, tenant: str | None = None) -> None:
        """Make the next ``count`` signed URLs (of ``tenant``, or anyone's) expire the moment they are issued."""
        self._expire_next.set(count, tenant)

    def clear(self) -> None:
        """Forget every pending expiry."""
        self._expire_next.clear()

    def _signature(self, blob_id: str, exp: str, tenant: str) -> str:
        message = f"{blob_id}\n{exp}\n{tenant}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, blob_id: str, tenant: str, now: float, quiet: bool = False) -> SignedUrl:
        """A fresh URL for ``blob_id`` that works until ``now + ttl`` (``exp``, ISO 8601, as real URLs carry).

        ``quiet``: a URL the fake uses itself (a step reference resolving), never one of ``expire_next``'s.
        """
        expires = int(now + max(1.0, self.ttl * self.scale))
        if not quiet and self._expire_next.take(tenant):
            expires = int(now)
        key = tenant_key(tenant)
        exp = _stamp(expires)
        query = urlencode({"tenant": key, "exp": exp, SIGNATURE_PARAM: self._signature(blob_id, exp, key)})
        return SignedUrl(f"{base_url.rstrip('/')}{BLOBS}/{blob_id}?{query}", float(expires))

    def check(self, blob_id: str, tenant_hash: str, exp: str, signature: str, now: float) -> str | None:
        """None when the URL is valid now; otherwise why not (shown in the 403 problem)."""
        expected = self._signature(blob_id, exp, tenant_hash)
        if not hmac.compare_digest(expected, signature):
            return "The URL signature does not match."
        try:
            expiry = datetime.fromisoformat(exp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return "The signed URL is malformed."
        if now >= expiry:
            return f"The signed URL expired at {exp}; refetch the workflow or call GetBlob for a fresh URL."
        return None


def _stamp(moment: int) -> str:
    """``2026-01-01T00:10:00Z``: an expiry as the ``exp`` query parameter carries it."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
