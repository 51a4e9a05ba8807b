"""The reports service's access policy (see phs_runtime.policy).

- admin: every report, across the practice.
- psychologist: reports about themselves only (their caseload, their
  appointments' export), and only the jobs they created.
- client: none.
The worker applies the same scope again to the requester carried in the job's
Kafka message (phs_reports.worker). ListReports is admitted with a Scope
(phs_runtime.decision) that its handler applies.
"""

from __future__ import annotations

from typing import Any

from phs.reports.v1 import resources_pb2 as r
from phs_reports.store import Store
from phs_runtime.audit import DELETE, EXECUTE, READ
from phs_runtime.auth import ADMIN, PSYCHOLOGIST, Principal
from phs_runtime.decision import Scope
from phs_runtime.errors import ApiError, invalid_argument, not_found, permission_denied
from phs_runtime.policy import Check, Rule, rule
from phs_runtime.resources import parse_name

PREFIX = "/phs.reports.v1.ReportService/"


def scope_error(params: r.Report, requester: Principal) -> ApiError | None:
    """Why `requester` may not have this report computed, or None. Shared by the API
    (at CreateReport) and the worker (before computing)."""
    if requester.role == ADMIN:
        return None
    if requester.role != PSYCHOLOGIST:
        return permission_denied("ROLE_NOT_ALLOWED", f"the {requester.role} role may not run reports")
    which = params.WhichOneof("params")
    about = getattr(params, which).psychologist if which in ("caseload_params", "export_params") else ""
    if about != requester.subject:
        return permission_denied(
            "REPORT_OUT_OF_SCOPE",
            "psychologists may only run reports about themselves",
            {"kind": which or ""},
        )
    return None


def create_report(request: Any, p: Principal) -> None:
    error = scope_error(request.report, p) if request.report.WhichOneof("params") else None
    if error is not None:
        raise error


def own_job(store: Store) -> Check:
    """The job was created by the caller; another's answers NOT_FOUND."""

    def check(request: Any, p: Principal) -> None:
        job_id = parse_name(request.name, "reports")
        if job_id is None:
            raise invalid_argument([("name", "must look like reports/{id}")])
        if store.get(job_id).requester != p.subject:
            raise not_found("Report", request.name)

    return check


def list_reports(request: Any, p: Principal) -> Scope:
    if request.requester and request.requester != p.subject:
        raise permission_denied("NOT_YOURSELF", "psychologists list their own report jobs only")
    return Scope(only={"requester": p.subject})  # the handler lists the caller's jobs


def build(store: Store) -> dict[str, Rule]:
    mine = own_job(store)
    rules = {
        "CreateReport": rule(ADMIN, PSYCHOLOGIST, action=EXECUTE, check=create_report),
        "GetReport": rule(ADMIN, PSYCHOLOGIST, check=mine, target=["name"]),
        "GetReportContent": rule(ADMIN, PSYCHOLOGIST, check=mine, target=["name"]),
        "CancelReport": rule(ADMIN, PSYCHOLOGIST, action=DELETE, check=mine, target=["name"]),
        "WatchReport": rule(ADMIN, PSYCHOLOGIST, check=mine, target=["name"]),
        "ListReports": rule(ADMIN, PSYCHOLOGIST, check=list_reports, target=["requester"]),
        "ListAuditEvents": rule(ADMIN, action=READ, target=["parent", "subject", "entity"]),
    }
    return {PREFIX + name: x for name, x in rules.items()}
