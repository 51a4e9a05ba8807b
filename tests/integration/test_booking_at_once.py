"""A new appointment is written with every row computed beforehand
(Store.book_at_once): the appointment, its event, its request id's record and its
audit entry, in one statement and one round trip on PostgreSQL, in a transaction of
inserts only on SQLite. It must write exactly what the long way writes, and nothing
at all whenever the long way would refuse, so that the long way can answer
precisely. Every test runs on both databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from sqlalchemy import Connection, String, event, func, select, update

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime import audit, db
from phs_runtime.audit import AuditLog, Entry
from phs_runtime.outbox import OutboxMessage, message_row
from phs_scheduling.mapping import appointment_pb
from phs_scheduling.store import SessionShape, SlotConflict, Store
from phs_scheduling.tables import appointments, audit_events, idempotency_keys, outbox, session_types

T0 = dt.datetime(2031, 3, 10, 14, 0, tzinfo=dt.UTC)
METHOD = "CreateAppointment"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def _setup(store: Store, active: bool = True) -> tuple[str, str]:
    with store.engine.begin() as conn:
        now = dt.datetime.now(dt.UTC)
        p = Store.insert_psychologist(conn, now, "Dr P", "Europe/Paris", active)
        c = Store.insert_client(conn, now, "Client C", "", "", None)
    return p["id"], c["id"]


class Plan(SimpleNamespace):
    row: dict[str, Any]
    shape: SessionShape
    created: r.Appointment
    then: list[Any]


def _plan(store: Store, pid: str, cid: str, start: dt.datetime, shape: SessionShape | None = None) -> Plan:
    shape = shape or store.session_shape("90834")
    assert shape is not None
    now = dt.datetime.now(dt.UTC)
    row = Store.appointment_row(now, pid, cid, "90834", start, "BOOKED", shape)
    created = appointment_pb(SimpleNamespace(**row))
    msg = OutboxMessage("appointments", created.name, created.SerializeToString(), {"x-request-id": "r-1"})
    return Plan(row=row, shape=shape, created=created, then=[(outbox, message_row(msg, now))])


def _book(store: Store, plan: Plan, request_id: str = "", request_hash: str = "") -> bool:
    return store.book_at_once(METHOD, request_id, request_hash, plan.row, plan.shape, plan.created, plan.then)


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (appointments, outbox, idempotency_keys, audit_events)
        }


def test_one_statement_writes_the_appointment_its_event_its_record_and_its_audit_entry(
    store: Store,
) -> None:
    pid, cid = _setup(store)
    plan = _plan(store, pid, cid, T0)
    log = AuditLog(store.engine, audit_events, "scheduling")
    token = audit.begin(
        log, Entry("C", grpc.StatusCode.UNKNOWN, f"psychologists/{pid}", "psychologist", METHOD, [], "r-1")
    )
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sqlite = store.engine.dialect.name == "sqlite"
    event.listen(store.engine, "before_cursor_execute", count)
    if sqlite:  # the writers' shared connection runs them on sqlite3 itself
        writers = db._writer_lock(store.engine)
        with writers.held():
            shared = writers.connection(store.engine)
        assert shared is not None
        raw = db._sqlite3(shared)
        raw.set_trace_callback(statements.append)
    try:
        assert _book(store, plan, request_id="r-1", request_hash="h-1")
        pending = audit.current()
        assert pending is not None and pending.written  # the interceptor will not write it again
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
        if sqlite:
            raw.set_trace_callback(None)
        audit.end(token)
        log.close()
    if not sqlite:
        assert len(statements) == 1, statements
    else:  # the write lock is held for the inserts alone: nothing is read under it
        # (sqlite3's trace repeats a statement once for each trigger it fires)
        steps = [
            " ".join(q.split()[:3]) for i, q in enumerate(statements) if i == 0 or q != statements[i - 1]
        ]
        assert steps == [
            "BEGIN IMMEDIATE",
            "INSERT INTO appointments",
            "INSERT INTO outbox",
            "INSERT INTO idempotency_keys",
            "INSERT INTO audit_events",
            "COMMIT",
        ]

    with store.engine.connect() as conn:
        stored = conn.execute(select(appointments).where(appointments.c.id == plan.row["id"])).one()
        assert stored._asdict() == plan.row
        event_row = conn.execute(select(outbox)).one()
        assert event_row.key == plan.created.name and event_row.published_time is None
        assert r.Appointment.FromString(event_row.payload) == plan.created
        entry = conn.execute(select(audit_events)).one()
        assert entry.status_code == "OK" and plan.created.name in entry.entities
        assert entry.request_id == "r-1" and entry.method == METHOD
    # The record answers a retry with the first response, the long way.
    replay = store.idempotent_write(METHOD, "r-1", "h-1", r.Appointment, _must_not_write)
    assert replay == plan.created
    assert _counts(store) == {"appointments": 1, "outbox": 1, "idempotency_keys": 1, "audit_events": 1}


def _must_not_write(_conn: Connection, _now: dt.datetime) -> r.Appointment:
    raise AssertionError("a replay must not write")


def test_a_session_type_changed_by_another_process_writes_nothing_and_is_read_again(
    store: Store, db_url: str
) -> None:
    pid, cid = _setup(store)
    stale = store.session_shape("90834")
    assert stale == SessionShape(45, 0, 15)
    other = Store.open(db_url, migrate=False)  # another replica changes the session type
    try:
        with other.engine.begin() as conn:
            st = session_types.c
            conn.execute(update(session_types).where(st.code == "90834").values(duration_minutes=50))
    finally:
        other.close()
    before = _counts(store)
    assert not _book(store, _plan(store, pid, cid, T0, shape=stale))
    assert _counts(store) == before
    assert store.session_shape("90834") == SessionShape(50, 0, 15)  # read again
    plan = _plan(store, pid, cid, T0)
    assert _book(store, plan)
    assert plan.created.end_time.ToDatetime(dt.UTC) == T0 + dt.timedelta(minutes=50)


@pytest.mark.parametrize(
    "case", ["inactive psychologist", "unknown client", "overlap with a request id", "request id used"]
)
def test_what_the_long_way_refuses_writes_nothing(store: Store, case: str) -> None:
    pid, cid = _setup(store, active=case != "inactive psychologist")
    if case == "unknown client":
        cid = "no-such-client"
    if case in ("overlap with a request id", "request id used"):
        assert _book(store, _plan(store, pid, cid, T0), request_id="r-1", request_hash="h-1")
    before = _counts(store)
    start = T0 + dt.timedelta(hours=3) if case == "request id used" else T0
    assert not _book(store, _plan(store, pid, cid, start), request_id="r-1", request_hash="h-1")
    assert _counts(store) == before


def test_an_overlap_without_a_request_id_is_a_slot_conflict(store: Store) -> None:
    pid, cid = _setup(store)
    assert _book(store, _plan(store, pid, cid, T0))
    before = _counts(store)
    with pytest.raises(SlotConflict):
        _book(store, _plan(store, pid, cid, T0 + dt.timedelta(minutes=30)))
    assert _counts(store) == before


# How SQLAlchemy writes a UTC instant into SQLite: the text every comparison there
# relies on (the overlap triggers, range filters), fractional seconds included.
SQLITE_INSTANT = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$"


def test_instants_are_stored_as_the_long_way_stores_them(store: Store) -> None:
    pid, cid = _setup(store)
    plan = _plan(store, pid, cid, T0)
    assert _book(store, plan, request_id="r-1", request_hash="h-1")
    if store.engine.dialect.name != "sqlite":
        return  # timestamptz: no text to compare
    columns = {
        appointments: ("start_time", "end_time", "block_start", "block_end", "create_time"),
        outbox: ("create_time",),
        idempotency_keys: ("create_time",),
    }
    with store.engine.connect() as conn:
        for table, names in columns.items():
            for name in names:
                text = conn.execute(select(table.c[name].cast(String))).scalar_one()
                assert re.match(SQLITE_INSTANT, text), (table.name, name, text)
        at_start = select(func.count()).where(appointments.c.start_time >= T0)
        assert conn.execute(at_start.select_from(appointments)).scalar_one() == 1


@pytest.mark.parametrize("first_way", ["long", "at once"])
def test_back_to_back_sessions_do_not_overlap_whichever_way_each_was_booked(
    store: Store, first_way: str
) -> None:
    pid, cid = _setup(store)
    if first_way == "long":
        with store.engine.begin() as conn:
            Store.insert_appointment(conn, dt.datetime.now(dt.UTC), pid, cid, "90834", T0, "BOOKED")
        next_start = T0 + dt.timedelta(hours=1)  # 45 minutes and a 15-minute buffer
        assert _book(store, _plan(store, pid, cid, next_start))
    else:
        assert _book(store, _plan(store, pid, cid, T0 + dt.timedelta(hours=1)))
        with store.engine.begin() as conn:
            Store.insert_appointment(conn, dt.datetime.now(dt.UTC), pid, cid, "90834", T0, "BOOKED")
    assert _counts(store)["appointments"] == 2
