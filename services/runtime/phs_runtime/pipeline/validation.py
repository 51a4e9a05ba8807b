"""Request step: the lenient deserializer and the declared field limits
(phs_runtime.limits).

A request that is not a valid message of its method's type (bad wire format, a
string that is not UTF-8) parses to UNDECODABLE: gRPC would answer a
deserializer's exception with INTERNAL, a server fault; it is the caller's.

A unary request is inspected before authentication (nothing else reads it first)
and refused after it: an unauthenticated call is refused as such whatever its
input, and an authenticated one breaking a limit is refused before its policy
check, which may read the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from phs_runtime import limits
from phs_runtime.errors import ApiError, invalid_argument
from phs_runtime.pipeline.call import Call

UNDECODABLE = object()


def lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # noqa: BLE001 - DecodeError, UnicodeDecodeError ...: all the caller's
            return UNDECODABLE

    return parse


def undecodable() -> ApiError:
    message = "the request is not a valid message of its type"
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message, "MALFORMED_REQUEST")


def inspect(call: Call, request: Any) -> None:
    """Whether the request may be read (call.checked) and, if not, why (call.refusal).
    A streamed request (None here) is checked message by message (`check_message`)."""
    if request is UNDECODABLE:
        call.refusal = undecodable()
        return
    violations = limits.violations(request) if isinstance(request, Message) else []
    call.checked = not violations
    if violations:
        call.refusal = invalid_argument(violations)


def refuse(call: Call) -> None:
    if call.refusal is not None:
        raise call.refusal


def check_message(msg: Any) -> None:
    """One message of a request stream."""
    if msg is UNDECODABLE:
        raise undecodable()
    limits.check(msg)
