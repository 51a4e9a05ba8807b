"""What the scheduling rules and its storage refuse, as plain exceptions with the
reason codes the API reports. Nothing here knows about gRPC: phs_scheduling.errors
turns each into its google.rpc.Status (AIP-193) in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# The runtime's base and not-found refusal, named here for this service's rules.
from phs_runtime.refusals import DomainError as DomainError
from phs_runtime.refusals import NotFound as NotFound


class InvalidField(DomainError):
    """A request field the rules refuse (INVALID_ARGUMENT with field violations)."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.violations: list[tuple[str, str]] = [(field, description)]


class Precondition(DomainError):
    """The system is not in a state that allows this (FAILED_PRECONDITION)."""

    def __init__(self, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata)
        self.reason = reason


class InvalidTransition(Precondition):
    """The appointment's state does not allow the action."""

    def __init__(self, appointment: str, from_state: str, to_state: str) -> None:
        super().__init__(
            "INVALID_STATE_TRANSITION",
            f"a {from_state} appointment cannot become {to_state}",
            {"appointment": appointment, "from": from_state, "to": to_state},
        )


class NotStarted(Precondition):
    """Closing (completing, marking a no-show) an appointment that has not started."""

    def __init__(self, start_time: str) -> None:
        super().__init__(
            "APPOINTMENT_NOT_STARTED",
            "an appointment can only be closed once it has started",
            {"start_time": start_time},
        )


class Conflict(DomainError):
    """Something already exists or holds the place (ALREADY_EXISTS)."""

    def __init__(
        self,
        reason: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message, metadata)
        self.reason = reason
        # (type, subject) pairs: a PreconditionFailure detail when any.
        self.violations = list(violations)


class Aborted(DomainError):
    """A concurrency conflict the caller resolves by reading again (ABORTED)."""

    def __init__(self, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata)
        self.reason = reason


class StaleEtag(Aborted):
    """The caller's etag is not the appointment's any more."""

    def __init__(self, appointment: str, current_etag: str) -> None:
        super().__init__(
            "ETAG_MISMATCH",
            "the appointment changed since it was read; read it again",
            {"appointment": appointment, "etag": current_etag},
        )


class ConcurrentModification(Aborted):
    """The row changed between this transaction's read and its write."""

    def __init__(self, appointment: str) -> None:
        super().__init__(
            "CONCURRENT_MODIFICATION",
            "the appointment changed concurrently; retry",
            {"appointment": appointment},
        )


class SlotConflict(DomainError):
    """The database refused an appointment that overlaps an active one (the caller
    turns it into SLOT_UNAVAILABLE or SERIES_CONFLICTS with what it knows)."""

    reason = "SLOT_UNAVAILABLE"
