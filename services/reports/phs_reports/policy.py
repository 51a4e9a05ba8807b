"""The reports service's access policy (see phs_runtime.policy).

- admin: every report, across the practice.
- psychologist: reports about themselves only (their caseload, their
  appointments' export; phs_reports.domain.scope), and only the jobs they created.
- client: none.
The worker applies the same scope again to the requester carried in the job's
Kafka message (phs_reports.worker). ListReports is admitted with a Scope
(phs_runtime.decision) that its handler applies.
"""

from __future__ import annotations

from typing import Any

from phs_reports.domain.scope import out_of_scope
from phs_reports.errors import to_api_error, translated
from phs_reports.store import Store
from phs_runtime.audit import DELETE, EXECUTE, READ
from phs_runtime.auth import ADMIN, PSYCHOLOGIST, Principal
from phs_runtime.decision import Scope
from phs_runtime.errors import invalid_argument, not_found, permission_denied
from phs_runtime.policy import Check, Rule, rule
from phs_runtime.resources import parse_name

PREFIX = "/phs.reports.v1.ReportService/"


def create_report(request: Any, p: Principal) -> None:
    error = out_of_scope(request.report, (p.subject, p.role)) if request.report.WhichOneof("params") else None
    if error is not None:
        raise to_api_error(error)


def own_job(store: Store) -> Check:
    """The job was created by the caller; another's answers NOT_FOUND."""

    def check(request: Any, p: Principal) -> None:
        job_id = parse_name(request.name, "reports")
        if job_id is None:
            raise invalid_argument([("name", "must look like reports/{id}")])
        with translated():  # NOT_FOUND for a missing job
            owner = store.get(job_id).requester
        if owner != p.subject:
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
