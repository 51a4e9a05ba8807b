"""What the report rules, the store and the worker refuse or give up on, as plain
exceptions with the reason codes the API reports (raised to a caller, or kept as a
job's error). Nothing here knows about gRPC: phs_reports.errors turns each into
its google.rpc.Status (AIP-193) in one place."""

from __future__ import annotations

from collections.abc import Mapping

# The runtime's base and not-found refusal, named here for this service's rules.
from phs_runtime.refusals import DomainError as DomainError
from phs_runtime.refusals import NotFound as NotFound


class Precondition(DomainError):
    """The job is not in a state that allows this (FAILED_PRECONDITION)."""

    def __init__(self, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata)
        self.reason = reason


class AlreadyFinished(Precondition):
    """Cancelling a job that has already ended."""

    def __init__(self, state: str) -> None:
        super().__init__("ALREADY_FINISHED", f"the job is already {state}", {"state": state})


class NoFile(Precondition):
    """Downloading a report that is not an export."""

    def __init__(self) -> None:
        super().__init__("NO_FILE", "only exports have a file to download; see GetReport")


class NotReady(Precondition):
    """Downloading an export that has not succeeded (yet)."""

    def __init__(self, state: str) -> None:
        super().__init__("NOT_READY", f"the export is {state}", {"state": state})


class ResultExpired(Precondition):
    """Downloading an export whose file was deleted after its retention."""

    def __init__(self) -> None:
        super().__init__("RESULT_EXPIRED", "the file has expired; create the export again")


class OutOfScope(DomainError):
    """The requester may not have this report computed (PERMISSION_DENIED)."""

    def __init__(self, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata)
        self.reason = reason


class TooManyAttempts(DomainError):
    """The sweeper gave up on a job that kept getting stuck (a job's error: ABORTED)."""

    reason = "MAX_ATTEMPTS_EXCEEDED"

    def __init__(self, attempts: int) -> None:
        super().__init__("gave up after too many attempts", {"attempts": str(attempts)})


class DataUnavailable(DomainError):
    """The scheduling data could not be read (a job's error). `code` is the canonical
    code (google.rpc.Code name) the scheduling service answered, and the job's
    status too; a transient one is reported as DEPENDENCY_UNAVAILABLE once the
    attempts are spent."""

    def __init__(self, code: str, transient: bool) -> None:
        super().__init__(f"scheduling data unavailable: {code}")
        self.code = code
        self.reason = "DEPENDENCY_UNAVAILABLE" if transient else code
