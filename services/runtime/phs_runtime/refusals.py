"""Refusals raised below the gRPC layer (storage, domain rules), said without gRPC: a
reason for ErrorInfo, a message and metadata (never health information).
The runtime's own kinds get their status from phs_runtime.errors.api_error; a
service's domain refusals (subclasses of this base), from the service's table
(phs_runtime.error_table). The interceptor sends it."""

from __future__ import annotations

from collections.abc import Mapping


class Refused(Exception):
    """A request the rules refuse. `reason` is the ErrorInfo reason (UPPER_SNAKE_CASE)."""

    def __init__(self, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})


class PreconditionFailed(Refused):
    """The request cannot be carried out as it stands, whatever the caller retries
    (FAILED_PRECONDITION)."""
