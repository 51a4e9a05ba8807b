"""Rich gRPC errors (AIP-193): every failure carries a google.rpc.Status with an
ErrorInfo (machine-readable reason) and, for bad input, a BadRequest listing each
field violation. Handlers raise ApiError; code below gRPC raises a
phs_runtime.refusals exception instead, which `api_error` maps. The server interceptor
turns either into the status, which Envoy renders as a 4xx JSON body.

Messages must never contain client names or other health information, and never
echo unbounded input: a request value goes into a message, a metadata value or a
ResourceInfo only through `excerpt`. Every status is bounded as a whole too
(`to_status`): it travels in the gRPC trailers, and a trailer over the peer's metadata
limit breaks the HTTP/2 connection it shares with other callers' requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from phs_runtime.refusals import PreconditionFailed, Refused

ERROR_DOMAIN = "phs.health"

# How much of a request value an error may quote (characters, before escaping).
EXCERPT_CHARS = 40
# Resource names are quoted whole up to the longest a request may carry.
NAME_CHARS = 200
# Bounds of one status: the trailers stay a few KiB whatever the handler put in.
MAX_MESSAGE_CHARS = 512
MAX_METADATA_ENTRIES = 8
MAX_METADATA_KEY_CHARS = 64
MAX_STATUS_BYTES = 4096
MAX_VIOLATIONS = 10


def excerpt(value: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of a request value, fit for an error message or
    detail: anything but printable ASCII escaped (\\x00, \\u202e ...), so the result
    is one line of plain ASCII; "…" when cut."""
    head = value[:limit]
    if not (head.isascii() and head.isprintable()):
        head = ascii(head)[1:-1]
    return head + ("…" if len(value) > limit else "")


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(Exception):
    """An expected failure with a status code and structured details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        metadata: Mapping[str, str] | None = None,
        details: Sequence[Message] = (),
    ) -> None:
        message = _bounded(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = {
            _bounded(k, MAX_METADATA_KEY_CHARS): _bounded(v, NAME_CHARS)
            for k, v in list((metadata or {}).items())[:MAX_METADATA_ENTRIES]
        }
        self.extra_details = list(details)

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status, at most MAX_STATUS_BYTES: extra details that do not
        fit are left out (ErrorInfo says how many), then metadata that does not."""
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        status = status_pb2.Status(code=getattr(code_pb2, self.code.name), message=self.message)
        # Room for the omitted_details entry and each detail's framing.
        room = MAX_STATUS_BYTES - status.ByteSize() - _pack(info).ByteSize() - 64
        kept = []
        for packed in (_pack(d) for d in self.extra_details):
            if packed.ByteSize() + 8 <= room:
                kept.append(packed)
                room -= packed.ByteSize() + 8
        if len(kept) < len(self.extra_details):
            info.metadata["omitted_details"] = str(len(self.extra_details) - len(kept))
        for key in sorted(info.metadata, reverse=True):
            if room >= 0:
                break
            room += _pack(info).ByteSize()
            del info.metadata[key]
            room -= _pack(info).ByteSize()
        status.details.extend([_pack(info), *kept])
        return status


def _pack(detail: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


FieldViolation = tuple[str, str]


def invalid_argument(violations: Sequence[FieldViolation], reason: str = "INVALID_ARGUMENT") -> ApiError:
    """INVALID_ARGUMENT with one BadRequest.FieldViolation per (field path, description),
    the first MAX_VIOLATIONS of them."""
    violations = violations[:MAX_VIOLATIONS]
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=_bounded(f, NAME_CHARS), description=_bounded(d, NAME_CHARS)
            )
            for f, d in violations
        ]
    )
    summary = "; ".join(f"{f}: {d}" for f, d in violations)
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", reason, details=[bad])


def not_found(resource_type: str, name: str) -> ApiError:
    quoted = excerpt(name, NAME_CHARS)
    info = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=quoted)
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"{resource_type} {quoted} not found",
        "RESOURCE_NOT_FOUND",
        {"resource": quoted},
        [info],
    )


def failed_precondition(reason: str, message: str, metadata: Mapping[str, str] | None = None) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata)


def already_exists(
    reason: str, message: str, metadata: Mapping[str, str] | None = None, details: Sequence[Message] = ()
) -> ApiError:
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, message, reason, metadata, details)


def aborted(reason: str, message: str, metadata: Mapping[str, str] | None = None) -> ApiError:
    """A concurrency conflict the caller can resolve by reading again and retrying (HTTP 409)."""
    return ApiError(grpc.StatusCode.ABORTED, message, reason, metadata)


def unavailable(reason: str, message: str) -> ApiError:
    return ApiError(grpc.StatusCode.UNAVAILABLE, message, reason)


def resource_exhausted(reason: str, message: str) -> ApiError:
    """A server-side capacity limit (HTTP 429)."""
    return ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, reason)


def unauthenticated(message: str) -> ApiError:
    """No acceptable credentials (HTTP 401). The message says what is wrong with the
    token, never the token itself."""
    return ApiError(grpc.StatusCode.UNAUTHENTICATED, message, "UNAUTHENTICATED")


def permission_denied(reason: str, message: str, metadata: Mapping[str, str] | None = None) -> ApiError:
    """Authenticated but not allowed (HTTP 403)."""
    return ApiError(grpc.StatusCode.PERMISSION_DENIED, message, reason, metadata)


def internal() -> ApiError:
    return ApiError(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")


# The status of each kind of refusal raised below gRPC (phs_runtime.refusals).
_REFUSAL_CODES: dict[type[Refused], grpc.StatusCode] = {
    PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
}


def api_error(exc: BaseException) -> ApiError | None:
    """The ApiError an exception ends its RPC with: itself, or the status of a refusal
    of a mapped kind; None for anything else (a fault, not the caller's)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Refused):
        for kind, code in _REFUSAL_CODES.items():
            if isinstance(exc, kind):
                return ApiError(code, exc.message, exc.reason, exc.metadata)
    return None


class Violations:
    """Collects field violations so a request reports all its problems at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)
