"""The reports sweeper on its own, on SQLite and PostgreSQL: stuck jobs are published
again and hopeless ones dead-lettered. With real processes (lost messages, killed
workers): tests/e2e/test_report_recovery.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from phs.reports.v1 import jobs_pb2
from phs.reports.v1 import resources_pb2 as rr
from phs_reports.messages import job_message
from phs_reports.resources import report_pb
from phs_reports.store import Store
from phs_reports.sweeper import Sweeper, SweeperConfig
from phs_reports.tables import outbox, reports
from phs_runtime import outbox as outbox_mod
from phs_runtime.config import KafkaConfig


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def _job(store: Store, job_id: str, attempts: int, state: str, age: dt.timedelta) -> None:
    def write(conn: Any, now: dt.datetime) -> rr.Report:
        row = Store.insert_job(
            conn, now, job_id, "caseload", b"", "rid-1", job_message("jobs", job_id, 1, "rid-1")
        )
        return report_pb(SimpleNamespace(**row))

    store.create_job("", "", rr.Report, write)
    old = dt.datetime.now(dt.UTC) - age
    with store.engine.begin() as conn:
        conn.execute(
            update(reports)
            .where(reports.c.id == job_id)
            .values(attempts=attempts, state=state, update_time=old)
        )


def test_sweeper_republishes_stuck_jobs_and_dead_letters_hopeless_ones(store: Store) -> None:
    cfg = SweeperConfig(
        interval_s=1,
        queued_timeout=dt.timedelta(minutes=2),
        running_timeout=dt.timedelta(minutes=15),
        max_attempts=3,
    )
    _job(store, "lost", 0, "QUEUED", dt.timedelta(minutes=5))  # its message was lost
    _job(store, "orphan", 1, "RUNNING", dt.timedelta(minutes=20))  # its worker died
    _job(store, "busy", 1, "RUNNING", dt.timedelta(minutes=1))  # still in time
    _job(store, "hopeless", 3, "RUNNING", dt.timedelta(minutes=20))  # out of attempts
    outbox_mod.mark_published(
        store.engine, outbox, [m.id for m in outbox_mod.pending(store.engine, outbox, 99)]
    )
    woken: list[bool] = []
    sweeper = Sweeper(store, KafkaConfig.from_env(), cfg, lambda: woken.append(True))
    assert sweeper.sweep() == 3 and woken == [True]
    assert sweeper.sweep() == 0  # nothing is stuck any more

    assert store.get("lost").state == "QUEUED" and store.get("lost").publications == 2
    assert store.get("orphan").state == "QUEUED"
    assert store.get("busy").state == "RUNNING" and store.get("busy").publications == 1
    hopeless = store.get("hopeless")
    assert hopeless.state == "FAILED" and report_pb(hopeless).error.details[0].value  # reason attached
    messages = {(m.topic, m.key): m for m in outbox_mod.pending(store.engine, outbox, 99)}
    kafka = KafkaConfig.from_env()
    assert set(messages) == {
        (kafka.report_jobs_topic, "lost"),
        (kafka.report_jobs_topic, "orphan"),
        (kafka.report_dead_letter_topic, "hopeless"),
    }
    again = jobs_pb2.ReportJobMessage.FromString(messages[(kafka.report_jobs_topic, "lost")].payload)
    assert (again.report, again.publication) == ("reports/lost", 2)
    assert messages[(kafka.report_jobs_topic, "lost")].headers["x-request-id"] == "rid-1"
