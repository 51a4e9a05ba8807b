"""The worker applies the requester's scope itself: a job is computed only for the
requester its Kafka message names, only if that requester created it, and only
within what that requester may see (the same rule the API applies). End to end, through
Kafka: tests/e2e/test_report_scope_e2e.py."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from google.rpc import status_pb2

from phs.reports.v1 import jobs_pb2
from phs.reports.v1 import resources_pb2 as rr
from phs_reports.messages import job_message
from phs_reports.resources import report_pb
from phs_reports.settings import WorkerConfig
from phs_reports.store import Store
from phs_reports.worker import Worker
from phs_runtime.config import KafkaConfig


@pytest.fixture
def worker(db_url: str) -> Iterator[tuple[Worker, Store]]:
    store = Store.open(db_url)
    cfg = WorkerConfig(
        group_id="unused",
        scheduling_target="127.0.0.1:9",  # never reached: every job here is refused first
        max_attempts=1,
        retry_backoff_s=0,
        rpc_timeout_s=1,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=100,
        retention=dt.timedelta(days=1),
        progress_every=1000,
    )
    w = Worker(store, KafkaConfig.from_env(), cfg, threading.Event())
    yield w, store
    w.channel.close()
    store.close()


def _job(store: Store, params: rr.Report, requester: tuple[str, str]) -> str:
    which = params.WhichOneof("params")
    assert which is not None
    kind = {
        "caseload_params": "caseload",
        "practice_summary_params": "practice_summary",
        "export_params": "export",
    }
    job_id = uuid.uuid4().hex

    def write(conn: object, now: dt.datetime) -> rr.Report:
        row = Store.insert_job(
            conn,  # type: ignore[arg-type]
            now,
            job_id,
            kind[which],
            getattr(params, which).SerializeToString(),
            "rid",
            job_message("jobs", job_id, 1, "rid", requester),
            None,
            requester,
        )
        return report_pb(SimpleNamespace(**row))

    store.create_job("", "", rr.Report, write)
    return f"reports/{job_id}"


def _error(store: Store, name: str) -> status_pb2.Status:
    row = store.get(name.split("/")[1])
    assert row.state == "FAILED"
    return status_pb2.Status.FromString(row.error)


P1, P2 = "psychologists/p1", "psychologists/p2"


def test_a_psychologist_job_about_someone_else_is_refused(worker: tuple[Worker, Store]) -> None:
    w, store = worker
    about_p2 = rr.Report(caseload_params=rr.CaseloadParams(psychologist=P2))
    name = _job(store, about_p2, (P1, "psychologist"))
    assert w.handle(name, jobs_pb2.Requester(subject=P1, role="psychologist")) == "refused"
    error = _error(store, name)
    assert error.code == 7 and "themselves" in error.message  # PERMISSION_DENIED

    practice = rr.Report(practice_summary_params=rr.PracticeSummaryParams())
    name = _job(store, practice, (P2, "psychologist"))
    assert w.handle(name, jobs_pb2.Requester(subject=P2, role="psychologist")) == "refused"
    assert _error(store, name).code == 7


def test_a_message_must_name_the_jobs_creator(worker: tuple[Worker, Store]) -> None:
    w, store = worker
    mine = rr.Report(export_params=rr.AppointmentExportParams(psychologist=P1))
    forged = _job(store, mine, (P1, "psychologist"))
    # A message that claims an admin asked for a psychologist's job gains nothing.
    assert w.handle(forged, jobs_pb2.Requester(subject="staff/mallory", role="admin")) == "refused"
    assert "did not create" in _error(store, forged).message
    bare = _job(
        store, rr.Report(export_params=rr.AppointmentExportParams(psychologist=P2)), (P2, "psychologist")
    )
    assert w.handle(bare, None) == "refused"
    assert "no requester" in _error(store, bare).message
