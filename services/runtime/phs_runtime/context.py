"""Per-request context that crosses threads, gRPC, Kafka and logs: the request id."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
_MAX_LEN = 128

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# Fields a handler adds to its RPC's one "rpc finished" log line (resource names, states;
# never health information).
_annotations: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "annotations", default=None
)


def new_request_id() -> str:
    return str(uuid.uuid4())


def sanitize_request_id(value: str | None) -> str | None:
    """Accept a caller's request id only if it is short printable ASCII (it goes into logs)."""
    if not value or len(value) > _MAX_LEN:
        return None
    if not all(33 <= ord(c) < 127 for c in value):
        return None
    return value


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def request_context(request_id: str | None) -> Iterator[str]:
    rid = sanitize_request_id(request_id) or new_request_id()
    token = request_id_var.set(rid)
    notes = _annotations.set({})
    try:
        yield rid
    finally:
        _annotations.reset(notes)
        request_id_var.reset(token)


def annotate(**fields: object) -> None:
    """Add fields to the current request's log line (no-op outside a request)."""
    notes = _annotations.get()
    if notes is not None:
        notes.update(fields)


def current_annotations() -> dict[str, object]:
    return dict(_annotations.get() or {})
