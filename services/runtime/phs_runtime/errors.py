"""Rich gRPC errors (AIP-193): every failure carries a google.rpc.Status with an
ErrorInfo (machine-readable reason) and, for bad input, a BadRequest listing each
field violation. Handlers raise ApiError; the server interceptor turns it into the
status, which Envoy renders as a 4xx JSON body.

Messages must never contain client names or other health information.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "phs.health"


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
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.extra_details = list(details)

    def to_status(self) -> status_pb2.Status:
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata)
        details = []
        for d in [info, *self.extra_details]:
            packed = any_pb2.Any()
            packed.Pack(d)
            details.append(packed)
        return status_pb2.Status(
            code=getattr(code_pb2, self.code.name), message=self.message, details=details
        )


FieldViolation = tuple[str, str]


def invalid_argument(violations: Sequence[FieldViolation], reason: str = "INVALID_ARGUMENT") -> ApiError:
    """INVALID_ARGUMENT with one BadRequest.FieldViolation per (field path, description)."""
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
        ]
    )
    summary = "; ".join(f"{f}: {d}" for f, d in violations)
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", reason, details=[bad])


def not_found(resource_type: str, name: str) -> ApiError:
    info = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name)
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"{resource_type} {name} not found",
        "RESOURCE_NOT_FOUND",
        {"resource": name},
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


def unauthenticated(message: str) -> ApiError:
    """No acceptable credentials (HTTP 401). The message says what is wrong with the
    token, never the token itself."""
    return ApiError(grpc.StatusCode.UNAUTHENTICATED, message, "UNAUTHENTICATED")


def permission_denied(reason: str, message: str, metadata: Mapping[str, str] | None = None) -> ApiError:
    """Authenticated but not allowed (HTTP 403)."""
    return ApiError(grpc.StatusCode.PERMISSION_DENIED, message, reason, metadata)


def internal() -> ApiError:
    return ApiError(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")


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
