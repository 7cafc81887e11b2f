"""Secrets out of logs: tokens and signatures in query strings and URLs are replaced before printing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters whose values are secrets (callback ``?token=…``, blob ``sig``).
SECRET_PARAMS = ("token", "sig", "signature", "key", "secret", "password")


def redacted_query(query: str) -> str:
    """A query string with secret values replaced by ``***``."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if any(s in k.lower() for s in SECRET_PARAMS) else v) for k, v in pairs],
                     safe="*:")


def redacted_url(url: str) -> str:
    """A URL with secret query values and any userinfo password replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, query=redacted_query(parts.query)))
