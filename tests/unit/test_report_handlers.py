"""The reports servicer's own checks, called in-process on a throwaway SQLite database
(tests/unit/servicers.py): what a report request must be, request ids, who a job
belongs to, and which jobs can still be cancelled or downloaded. The same through
Envoy, with the worker computing the jobs: tests/e2e/test_e2e_reports.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from phs.reports.v1 import jobs_pb2
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import resources_pb2 as rr
from phs_reports.api import ReportServicer
from phs_reports.tables import outbox
from phs_runtime.decision import Scope
from tests.helpers import future_slot
from tests.unit.servicers import REPORT_JOBS_TOPIC, acting_as, ctx, fields, refused, report_servicer, resource

S = rr.Report.State


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ReportServicer]:
    with report_servicer(tmp_path) as servicer:
        yield servicer


def _caseload(
    psychologist: str, start: dt.datetime, end: dt.datetime, request_id: str = ""
) -> rs.CreateReportRequest:
    params = rr.CaseloadParams(psychologist=psychologist)
    params.interval.start_time.FromDatetime(start)
    params.interval.end_time.FromDatetime(end)
    return rs.CreateReportRequest(report=rr.Report(caseload_params=params), request_id=request_id)


def _jobs_on_the_outbox(svc: ReportServicer) -> list[jobs_pb2.ReportJobMessage]:
    with svc.store.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.topic, outbox.c.payload)).all()
    assert {r.topic for r in rows} <= {REPORT_JOBS_TOPIC}
    return [jobs_pb2.ReportJobMessage.FromString(r.payload) for r in rows]


def test_invalid_report_requests_are_refused_and_write_nothing(svc: ReportServicer) -> None:
    create = svc.CreateReport
    refused(lambda: create(rs.CreateReportRequest(), ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    refused(
        lambda: create(rs.CreateReportRequest(report=rr.Report()), ctx()), grpc.StatusCode.INVALID_ARGUMENT
    )
    inverted = _caseload("psychologists/abc", future_slot(10), future_slot(1))
    err = refused(lambda: create(inverted, ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(err) == {"report.caseload_params.interval.end_time"}
    too_long = _caseload("psychologists/abc", future_slot(1), future_slot(400))
    refused(lambda: create(too_long, ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    nobody = _caseload("", future_slot(1), future_slot(5))
    assert "report.caseload_params.psychologist" in fields(
        refused(lambda: create(nobody, ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    )
    assert _jobs_on_the_outbox(svc) == []
    missing = refused(
        lambda: svc.GetReport(rs.GetReportRequest(name="reports/does-not-exist"), ctx()),
        grpc.StatusCode.NOT_FOUND,
    )
    assert resource(missing) == "reports/does-not-exist"


def test_a_job_and_its_message_name_the_requester(svc: ReportServicer) -> None:
    with acting_as("psychologists/p1", "psychologist"):
        job = svc.CreateReport(_caseload("psychologists/p1", future_slot(1), future_slot(9)), ctx())
    assert job.state == S.STATE_QUEUED and job.requester == "psychologists/p1"
    (message,) = _jobs_on_the_outbox(svc)
    assert message.report == job.name and message.publication == 1
    assert (message.requester.subject, message.requester.role) == ("psychologists/p1", "psychologist")


def test_a_request_id_returns_the_same_job_and_refuses_other_params(svc: ReportServicer) -> None:
    first = svc.CreateReport(
        _caseload("psychologists/p1", future_slot(1), future_slot(9), request_id="r-1"), ctx()
    )
    again = svc.CreateReport(
        _caseload("psychologists/p1", future_slot(1), future_slot(9), request_id="r-1"), ctx()
    )
    assert again == first
    other = _caseload("psychologists/p1", future_slot(1), future_slot(8), request_id="r-1")
    err = refused(lambda: svc.CreateReport(other, ctx()), grpc.StatusCode.FAILED_PRECONDITION)
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    assert len(_jobs_on_the_outbox(svc)) == 1


def test_a_psychologist_lists_only_their_own_jobs(svc: ReportServicer) -> None:
    for p in ("psychologists/p1", "psychologists/p2"):
        with acting_as(p, "psychologist"):
            svc.CreateReport(_caseload(p, future_slot(1), future_slot(9)), ctx())
    # The policy pins the requester for a psychologist (tests/unit/test_policy_scope.py).
    with acting_as("psychologists/p1", "psychologist", Scope(only={"requester": "psychologists/p1"})):
        own = svc.ListReports(rs.ListReportsRequest(requester=""), ctx()).reports
    assert [r.requester for r in own] == ["psychologists/p1"]
    assert len(svc.ListReports(rs.ListReportsRequest(), ctx()).reports) == 2  # an admin: unscoped


def test_a_queued_job_is_cancelled_and_a_finished_one_cannot_be(svc: ReportServicer) -> None:
    queued = svc.CreateReport(_caseload("psychologists/p1", future_slot(1), future_slot(9)), ctx())
    cancelled = svc.CancelReport(rs.CancelReportRequest(name=queued.name), ctx())
    assert cancelled.state == S.STATE_CANCELLED

    done = svc.CreateReport(_caseload("psychologists/p1", future_slot(1), future_slot(5)), ctx())
    job_id = done.name.split("/")[1]
    assert svc.store.claim(job_id) is not None and svc.store.succeed(job_id, b"")
    late = refused(
        lambda: svc.CancelReport(rs.CancelReportRequest(name=done.name), ctx()),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert late.reason == "ALREADY_FINISHED"
    assert svc.GetReport(rs.GetReportRequest(name=done.name), ctx()).state == S.STATE_SUCCEEDED
    # Only exports have a file to download.
    no_file = refused(
        lambda: svc.GetReportContent(rs.GetReportContentRequest(name=done.name), ctx()),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert no_file.reason == "NO_FILE"
