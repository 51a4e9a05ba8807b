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


class DomainError(Refused):
    """A service's domain refusal with a machine-readable reason (ErrorInfo.reason), by
    default its class's `reason`; each service maps its kinds to statuses in its table."""

    reason: str = "DOMAIN_ERROR"

    def __init__(self, message: str = "", metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(self.reason, message, metadata)


class NotFound(DomainError):
    """No such resource (or one the caller may not see)."""

    reason = "RESOURCE_NOT_FOUND"

    def __init__(self, resource_type: str, name: str) -> None:
        super().__init__(f"{resource_type} {name} not found")
        self.resource_type = resource_type
        self.name = name


class PreconditionFailed(Refused):
    """The request cannot be carried out as it stands, whatever the caller retries
    (FAILED_PRECONDITION)."""
