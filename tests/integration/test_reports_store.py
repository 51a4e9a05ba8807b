"""Reports storage on SQLite and PostgreSQL: a job and its Kafka message are
written together or not at all; a job takes effect once however often it is
delivered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from google.rpc import status_pb2
from sqlalchemy import text

from phs.reports.v1 import resources_pb2 as r
from phs_reports.resources import report_pb
from phs_reports.store import Store
from phs_reports.tables import outbox
from phs_runtime import outbox as outbox_mod
from phs_runtime.outbox import OutboxMessage


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def _create(store: Store, job_id: str, fail_after_insert: bool = False, key: str = "") -> r.Report:
    def write(conn: Any, now: dt.datetime) -> r.Report:
        msg = OutboxMessage("jobs", job_id, b"payload", {"x-request-id": "rid"})
        row = Store.insert_job(conn, now, job_id, "caseload", b"", "rid", msg)
        if fail_after_insert:
            raise RuntimeError("crash before commit")
        return report_pb(SimpleNamespace(**row))

    return store.create_job(key, "hash", r.Report, write)


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_job_and_outbox_message_commit_together(store: Store) -> None:
    _create(store, "job-1")
    assert _count(store, "reports") == 1 and _count(store, "outbox") == 1
    with pytest.raises(RuntimeError):
        _create(store, "job-2", fail_after_insert=True)
    assert _count(store, "reports") == 1 and _count(store, "outbox") == 1
    pending = outbox_mod.pending(store.engine, outbox, 10)
    assert [(m.key, m.headers) for m in pending] == [("job-1", {"x-request-id": "rid"})]
    outbox_mod.mark_published(store.engine, outbox, [m.id for m in pending])
    assert outbox_mod.pending(store.engine, outbox, 10) == []
    assert outbox_mod.backlog(store.engine, outbox) == 0


def test_a_job_takes_effect_once_however_often_it_is_delivered(store: Store) -> None:
    _create(store, "job-1")
    first = store.claim("job-1")
    assert first is not None and first.state == "RUNNING" and first.attempts == 1
    again = store.claim("job-1")  # a duplicate delivery while running: attempt counted, same job
    assert again is not None and again.attempts == 2
    assert store.succeed("job-1", b"result-a") is True
    assert store.succeed("job-1", b"result-b") is False  # the slower duplicate changes nothing
    assert store.fail("job-1", status_pb2.Status(code=13)) is False
    assert store.claim("job-1") is None  # final: later deliveries are skipped
    row = store.get("job-1")
    assert row.state == "SUCCEEDED" and row.result == b"result-a" and row.error is None


def test_release_puts_a_running_job_back_in_the_queue(store: Store) -> None:
    _create(store, "job-1")
    store.claim("job-1")
    store.release("job-1")
    assert store.get("job-1").state == "QUEUED"


def test_same_request_id_returns_the_same_job(store: Store) -> None:
    a = _create(store, "job-1", key="k")
    b = _create(store, "job-2", key="k")
    assert a == b and _count(store, "reports") == 1 and _count(store, "outbox") == 1
