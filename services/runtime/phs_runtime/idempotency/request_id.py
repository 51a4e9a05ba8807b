"""The AIP-155 request id of a gRPC call: its body's field, or the Idempotency-Key
header a REST caller sends through Envoy."""

from __future__ import annotations

import re

import grpc

from phs_runtime.context import IDEMPOTENCY_KEY_HEADER
from phs_runtime.errors import invalid_argument

_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def effective_request_id(request_id: str, context: grpc.ServicerContext, field: str = "request_id") -> str:
    """The body's request_id, else the Idempotency-Key header (REST through Envoy)."""
    value = request_id
    if not value:
        for k, v in context.invocation_metadata() or ():
            if k == IDEMPOTENCY_KEY_HEADER:
                value = v if isinstance(v, str) else v.decode("ascii", "replace")
                field = "Idempotency-Key"
                break
    if value and not _VALID.match(value):
        raise invalid_argument([(field, "must be 1-128 characters of letters, digits, '.', '_', ':', '-'")])
    return value
