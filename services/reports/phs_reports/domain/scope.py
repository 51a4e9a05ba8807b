"""Whose reports a requester may have computed, checked by the API (at CreateReport)
and again by the worker, before computing, for the requester a job's message names.

- admin: every report, across the practice.
- psychologist: reports about themselves only (their caseload, their appointments'
  export).
- anyone else: none."""

from __future__ import annotations

from phs.reports.v1 import resources_pb2 as r
from phs_reports.domain.errors import OutOfScope
from phs_runtime.claims import ADMIN, PSYCHOLOGIST

# (subject, role) of a token: who asks, or who created a job.
Requester = tuple[str, str]


def out_of_scope(report: r.Report, requester: Requester) -> OutOfScope | None:
    """Why `requester` may not have this report computed, or None."""
    subject, role = requester
    if role == ADMIN:
        return None
    if role != PSYCHOLOGIST:
        return OutOfScope("ROLE_NOT_ALLOWED", f"the {role} role may not run reports")
    which = report.WhichOneof("params")
    about = getattr(report, which).psychologist if which in ("caseload_params", "export_params") else ""
    if about != subject:
        message = "psychologists may only run reports about themselves"
        return OutOfScope("REPORT_OUT_OF_SCOPE", message, {"kind": which or ""})
    return None


def job_refusal(report: r.Report, creator: Requester, named: Requester | None) -> OutOfScope | None:
    """Why a job must not be computed for the requester its message names: the message
    must name the job's creator, and the creator must be allowed the report."""
    if named is None or not named[0]:
        return OutOfScope("REQUESTER_MISSING", "the job message names no requester")
    if named != creator:
        return OutOfScope("REQUESTER_MISMATCH", "the job message's requester did not create the job")
    return out_of_scope(report, named)
