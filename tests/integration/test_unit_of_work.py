"""The scheduling unit of work (phs_scheduling.adapters.unit_of_work) on real SQLite and
PostgreSQL: a change, its request id's record, its audit entry and its outbox event
commit together, and a failure anywhere inside leaves none of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, Table, func, select

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime import audit
from phs_runtime.audit import AuditLog, Entry
from phs_runtime.outbox import OutboxMessage
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.mapping import appointment_pb
from phs_scheduling.store import Store
from phs_scheduling.tables import appointments, audit_events, idempotency_keys, outbox

T0 = dt.datetime(2031, 3, 10, 14, 0, tzinfo=dt.UTC)
METHOD = "CreateAppointment"
TABLES = (appointments, idempotency_keys, audit_events, outbox)


class Boom(Exception):
    pass


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'uow.db'}"
    else:
        factory: Callable[[], str] = request.getfixturevalue("pg_database")
        url = factory()
    s = Store.open(url)
    yield s
    s.close()


@pytest.fixture
def ids(store: Store) -> tuple[str, str]:
    """A psychologist and a client to book for."""
    with store.unit_of_work() as uow:
        now = dt.datetime.now(dt.UTC)
        pid = uow.psychologists.add(now, "Dr P", "Europe/Paris", True)["id"]
        cid = uow.clients.add(now, "Client C", "", "", None)["id"]
    return pid, cid


@pytest.fixture
def audited(store: Store) -> Iterator[None]:
    """An RPC in progress whose audit entry the change writes (as the interceptor sets it)."""
    log = AuditLog(store.engine, audit_events, "scheduling")
    token = audit.begin(
        log, Entry("C", grpc.StatusCode.UNKNOWN, "psychologists/p", "psychologist", METHOD, [], "r-1")
    )
    try:
        yield
    finally:
        audit.end(token)
        log.close()


def _counts(engine: Engine) -> dict[str, int]:
    """Each table's rows as another connection sees them (committed rows only)."""
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def _in(uow: UnitOfWork, table: Table) -> int:
    return int(uow.connection.execute(select(func.count()).select_from(table)).scalar_one())


def _book(ids: tuple[str, str]) -> Callable[[UnitOfWork, dt.datetime], r.Appointment]:
    pid, cid = ids

    def write(uow: UnitOfWork, now: dt.datetime) -> r.Appointment:
        created = appointment_pb(
            SimpleNamespace(**uow.appointments.add(now, pid, cid, "90834", T0, "BOOKED"))
        )
        uow.enqueue(OutboxMessage(topic="t", key=created.name, payload=b"event", headers={}), now)
        return created

    return write


def _after_the_audit_row(monkeypatch: pytest.MonkeyPatch, then: Callable[[Any], None]) -> None:
    """Run `then(connection)` inside the change's transaction once every row of it is
    written: the audit entry is the last (idempotency.run_once)."""
    stage = audit.stage

    def staged(conn: Any, response: Any) -> Any:
        pending = stage(conn, response)
        then(conn)
        return pending

    monkeypatch.setattr(audit, "stage", staged)


def test_a_failure_after_every_row_is_written_rolls_back_all_of_them(
    store: Store, ids: tuple[str, str], audited: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(store.engine)
    seen: dict[str, int] = {}

    def fail(conn: Any) -> None:
        for t in TABLES:
            seen[t.name] = conn.execute(select(func.count()).select_from(t)).scalar_one()
        raise Boom()

    _after_the_audit_row(monkeypatch, fail)
    with pytest.raises(Boom):
        store.run_once(METHOD, "r-1", "h-1", r.Appointment, _book(ids))
    # Written inside the transaction: the appointment, its record, its audit row, its event ...
    assert seen == {t.name: before[t.name] + 1 for t in TABLES}
    # ... and none of them kept.
    assert _counts(store.engine) == before
    pending = audit.current()
    assert pending is not None and not pending.written  # the interceptor records the failure itself


def test_a_commit_makes_every_row_visible_together(
    store: Store, ids: tuple[str, str], audited: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(store.engine)
    outside: list[dict[str, int]] = []
    _after_the_audit_row(monkeypatch, lambda _conn: outside.append(_counts(store.reader)))
    created = store.run_once(METHOD, "r-1", "h-1", r.Appointment, _book(ids))
    assert outside == [before]  # nothing visible to others before the commit
    assert _counts(store.engine) == {t.name: before[t.name] + 1 for t in TABLES}
    pending = audit.current()
    assert pending is not None and pending.written
    # The record answers a retry with the first response, without writing.
    assert store.run_once(METHOD, "r-1", "h-1", r.Appointment, _must_not_write) == created
    assert _counts(store.engine) == {t.name: before[t.name] + 1 for t in TABLES}


def _must_not_write(_uow: UnitOfWork, _now: dt.datetime) -> r.Appointment:
    raise AssertionError("a replay must not write")


def test_a_unit_of_work_commits_at_the_end_of_its_block_and_rolls_back_if_it_raises(
    store: Store, ids: tuple[str, str]
) -> None:
    pid, cid = ids
    before = _counts(store.engine)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(Boom), store.unit_of_work() as uow:
        uow.appointments.add(now, pid, cid, "90834", T0, "BOOKED")
        uow.enqueue(OutboxMessage(topic="t", key="k", payload=b"event", headers={}), now)
        assert _in(uow, appointments) == before["appointments"] + 1
        assert _in(uow, outbox) == before["outbox"] + 1
        raise Boom()
    assert _counts(store.engine) == before
    with store.unit_of_work() as uow:
        row = uow.appointments.add(now, pid, cid, "90834", T0, "BOOKED")
        uow.enqueue(OutboxMessage(topic="t", key="k", payload=b"event", headers={}), now)
    after = _counts(store.engine)
    assert (after["appointments"], after["outbox"]) == (before["appointments"] + 1, before["outbox"] + 1)
    with store.read() as reading:
        assert reading.appointments.get(pid, row["id"]).state == "BOOKED"


def test_a_unit_of_work_is_one_transaction_at_a_time(store: Store, ids: tuple[str, str]) -> None:
    uow = store.unit_of_work()
    with uow, pytest.raises(RuntimeError, match="already in progress"), uow:
        pass
    with uow:  # and can run again once the first has ended (a retry does)
        assert uow.psychologists.get(ids[0]).display_name == "Dr P"
