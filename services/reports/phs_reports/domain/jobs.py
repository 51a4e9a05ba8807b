"""A report job: its kinds, its states, and what each state allows."""

from __future__ import annotations

from phs_reports.domain.errors import AlreadyFinished, NoFile, NotReady, ResultExpired

KIND_CASELOAD = "caseload"
KIND_PRACTICE = "practice_summary"
KIND_EXPORT = "export"

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)


def export_file(kind: str, state: str, content: bytes | None) -> bytes:
    """The file a job offers for download, or why it offers none."""
    if kind != KIND_EXPORT:
        raise NoFile()
    if state != SUCCEEDED:
        raise NotReady(state)
    if content is None:
        raise ResultExpired()
    return content


def check_cancelled(state: str) -> None:
    """After a cancel (which changes only a QUEUED or RUNNING job): the job's state
    must be CANCELLED, or it had already finished."""
    if state != CANCELLED:
        raise AlreadyFinished(state)
