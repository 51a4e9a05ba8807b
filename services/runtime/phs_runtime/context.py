"""Per-request context that crosses threads, gRPC, Kafka and logs: the request id."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
# A caller's request id flows into logs, audit entries and Kafka headers: only a short
# token of safe characters is taken as it is.
_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

log = logging.getLogger(__name__)

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# Fields a handler adds to its RPC's one "rpc finished" log line (resource names, states;
# never health information).
_annotations: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "annotations", default=None
)


def new_request_id() -> str:
    return str(uuid.uuid4())


def sanitize_request_id(value: str | None) -> str | None:
    """A caller's request id if it is 1-128 letters, digits, '.', '_', ':' or '-'; else None."""
    if not value or _VALID.fullmatch(value) is None:
        return None
    return value


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def request_context(request_id: str | None) -> Iterator[str]:
    given = sanitize_request_id(request_id)
    rid = given or new_request_id()
    token = request_id_var.set(rid)
    notes = _annotations.set({})
    if given is None and request_id:
        # The line carries the new id; the refused one is never logged.
        log.warning("request id refused, a new one generated", extra={"refused_length": len(request_id)})
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
