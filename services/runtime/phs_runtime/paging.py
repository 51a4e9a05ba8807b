"""AIP-158 pagination: opaque page tokens bound to the query that made them.

A token carries the sort key of the last item returned and a fingerprint of the
request's filters; a token reused with different filters, or tampered with, is
INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from phs_runtime.errors import invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int, field: str = "page_size") -> int:
    if requested < 0:
        raise invalid_argument([(field, "must not be negative")])
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _fingerprint(filters: Any) -> str:
    raw = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode_token(last_key: list[Any], filters: Any) -> str:
    body = json.dumps({"k": last_key, "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_token(token: str, filters: Any, field: str = "page_token") -> list[Any] | None:
    """The last key of the previous page, or None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, fp = body["k"], body["f"]
        if not isinstance(key, list):
            raise ValueError("bad key")
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_argument([(field, "is not a token this API issued")]) from exc
    if fp != _fingerprint(filters):
        raise invalid_argument([(field, "was issued for a request with different filters")])
    return key
