"""Signed, expiring blob URLs: HMAC over (blob id, expiry, tenant), checked without a bearer token."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from civitai_mock.contracts.paths import BLOBS, SIGNATURE_PARAM

#: Default lifetime of a signed blob URL, seconds (the guide: URLs "403 after a few minutes").
DEFAULT_URL_TTL = 600.0


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

    def __init__(self, secret: bytes, ttl: float = DEFAULT_URL_TTL):
        if ttl <= 0:
            raise ValueError("url ttl must be positive")
        self._secret = secret
        self.ttl = ttl
        self._expire_next = 0

    def expire_next(self, count: int) -> None:
        """Make the next ``count`` signed URLs expire the moment they are issued (timeline testing)."""
        self._expire_next = max(0, count)

    def _signature(self, blob_id: str, expires: int, tenant: str) -> str:
        message = f"{blob_id}\n{expires}\n{tenant}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, blob_id: str, tenant: str, now: float) -> SignedUrl:
        """A fresh URL for ``blob_id`` that works until ``now + ttl``."""
        expires = int(now + self.ttl)
        if self._expire_next > 0:
            self._expire_next -= 1
            expires = int(now)
        key = tenant_key(tenant)
        query = urlencode({"tenant": key, "expires": expires, SIGNATURE_PARAM: self._signature(blob_id, expires, key)})
        return SignedUrl(f"{base_url.rstrip('/')}{BLOBS}/{blob_id}?{query}", float(expires))

    def check(self, blob_id: str, tenant_hash: str, expires: str, signature: str, now: float) -> str | None:
        """None when the URL is valid now; otherwise why not (shown in the 403 problem)."""
        try:
            expiry = int(expires)
        except ValueError:
            return "The signed URL is malformed."
        expected = self._signature(blob_id, expiry, tenant_hash)
        if not hmac.compare_digest(expected, signature):
            return "The URL signature does not match."
        if now >= expiry:
            stamp = datetime.fromtimestamp(expiry, timezone.utc).isoformat().replace("+00:00", "Z")
            return f"The signed URL expired at {stamp}; refetch the workflow or call GetBlob for a fresh URL."
        return None
