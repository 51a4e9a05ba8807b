"""Scheduling storage on SQLite and PostgreSQL: the overlap rule is the
database's, not only Python's; request ids are recorded atomically."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import String, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.db import make_engine
from phs_runtime.idempotency import RequestIdReused
from phs_scheduling.mapping import appointment_pb
from phs_scheduling.store import (
    MIGRATIONS,
    VERSION_TABLE,
    AppointmentFilter,
    SessionShape,
    SlotConflict,
    Store,
)
from phs_scheduling.tables import appointments

T0 = dt.datetime(2031, 3, 10, 14, 0, tzinfo=dt.UTC)
SHAPE_90834 = SessionShape(45, 0, 15)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def _setup(store: Store) -> tuple[str, str]:
    with store.engine.begin() as conn:
        now = dt.datetime.now(dt.UTC)
        p = Store.insert_psychologist(conn, now, "Dr P", "America/Toronto", True)
        c = Store.insert_client(conn, now, "Client C", "", "", None)
    return p["id"], c["id"]


def _book(
    store: Store,
    pid: str,
    cid: str,
    start: dt.datetime,
    code: str = "90834",
    request_id: str = "",
    request_hash: str = "h",
) -> r.Appointment:
    def write(conn: Any, now: dt.datetime) -> r.Appointment:
        row = Store.insert_appointment(conn, now, pid, cid, code, start, "BOOKED")
        return appointment_pb(SimpleNamespace(**row))

    return store.idempotent_write("CreateAppointment", request_id, request_hash, r.Appointment, write)


def test_overlap_is_refused_by_the_database_itself(store: Store) -> None:
    pid, cid = _setup(store)
    _book(store, pid, cid, T0)
    # Bypass all Python checks: a raw INSERT of an overlapping active row must fail.
    row = {
        "id": "raw-1",
        "psychologist_id": pid,
        "client_id": cid,
        "session_type_code": "90834",
        "start_time": T0 + dt.timedelta(minutes=30),
        "end_time": T0 + dt.timedelta(minutes=75),
        "block_start": T0 + dt.timedelta(minutes=30),
        "block_end": T0 + dt.timedelta(minutes=90),
        "state": "PENDING",
        "version": 1,
        "create_time": T0,
        "update_time": T0,
    }
    with pytest.raises(IntegrityError, match="appointments_no_overlap"), store.engine.begin() as conn:
        conn.execute(insert(appointments).values(**row))


def test_buffers_are_part_of_the_block(store: Store) -> None:
    pid, cid = _setup(store)
    _book(store, pid, cid, T0)  # 45 min + 15 min buffer after: blocks 14:00-15:00
    with pytest.raises(SlotConflict):
        _book(store, pid, cid, T0 + dt.timedelta(minutes=45))
    nxt = _book(store, pid, cid, T0 + dt.timedelta(minutes=60))
    assert nxt.start_time.ToDatetime(tzinfo=dt.UTC) == T0 + dt.timedelta(minutes=60)
    # The block before: a 60-minute session ending with its buffer exactly at T0 fits.
    prev = _book(store, pid, cid, T0 - dt.timedelta(minutes=75), code="90837")
    assert prev.end_time.ToDatetime(tzinfo=dt.UTC) == T0 - dt.timedelta(minutes=15)


def test_other_psychologists_and_inactive_states_do_not_block(store: Store) -> None:
    pid, cid = _setup(store)
    pid2, _ = _setup(store)
    first = _book(store, pid, cid, T0)
    _book(store, pid2, cid, T0)  # another psychologist: fine
    with store.engine.begin() as conn:
        conn.execute(
            update(appointments)
            .where(appointments.c.id == first.name.rsplit("/", 1)[1])
            .values(state="CANCELLED")
        )
    again = _book(store, pid, cid, T0)
    assert again.name != first.name


def test_moving_an_appointment_into_another_is_refused(store: Store) -> None:
    pid, cid = _setup(store)
    _book(store, pid, cid, T0)
    later = _book(store, pid, cid, T0 + dt.timedelta(hours=3))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            update(appointments)
            .where(appointments.c.id == later.name.rsplit("/", 1)[1])
            .values(block_start=T0, block_end=T0 + dt.timedelta(minutes=45))
        )


def test_concurrent_bookings_for_one_slot_exactly_one_wins(store: Store) -> None:
    pid, cid = _setup(store)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            # Different starts that all overlap the first one's block.
            _book(store, pid, cid, T0 + dt.timedelta(minutes=(i % 3) * 5))
            result = "ok"
        except SlotConflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 11 + ["ok"]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appointments")).scalar_one() == 1


def test_request_id_replays_the_first_result_and_refuses_a_changed_request(store: Store) -> None:
    pid, cid = _setup(store)
    first = _book(store, pid, cid, T0, request_id="key-1", request_hash="body-a")
    replay = _book(store, pid, cid, T0, request_id="key-1", request_hash="body-a")
    assert replay == first
    with pytest.raises(RequestIdReused) as err:
        _book(store, pid, cid, T0 + dt.timedelta(hours=2), request_id="key-1", request_hash="body-b")
    assert err.value.reason == "IDEMPOTENCY_KEY_REUSED"
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appointments")).scalar_one() == 1


def test_concurrent_retries_with_one_request_id_create_one_appointment(store: Store) -> None:
    pid, cid = _setup(store)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        results.append(_book(store, pid, cid, T0, request_id="same", request_hash="same").name)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appointments")).scalar_one() == 1


def test_listing_pages_through_everything_once_in_start_order(store: Store) -> None:
    pid, cid = _setup(store)
    booked = [_book(store, pid, cid, T0 + dt.timedelta(hours=2 * i)).name for i in range(7)]
    f = AppointmentFilter(pid, None, T0, T0 + dt.timedelta(days=2), ())
    seen: list[str] = []
    after = None
    while True:
        rows = store.list_appointments(f, after, 3)
        page = rows[:3]
        seen += [f"psychologists/{x.psychologist_id}/appointments/{x.id}" for x in page]
        if len(rows) <= 3:
            break
        after = [page[-1].start_time.isoformat(), page[-1].id]
    assert seen == booked


def test_timestamps_round_trip_as_utc(store: Store) -> None:
    pid, cid = _setup(store)
    local = dt.datetime(2031, 7, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    a = _book(store, pid, cid, local)
    row = store.get_appointment(pid, a.name.rsplit("/", 1)[1])
    assert row.start_time == local
    assert row.start_time.tzinfo is not None and row.start_time.utcoffset() == dt.timedelta(0)


def test_migrating_again_is_a_no_op(db_url: str) -> None:
    Store.open(db_url).close()
    s = Store.open(db_url)
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version_scheduling")).scalar_one() == "0009"
        assert conn.execute(text("SELECT count(*) FROM session_types")).scalar_one() == 4
    s.close()


def test_blocks_longer_than_a_day_are_refused_by_the_database(store: Store) -> None:
    pid, cid = _setup(store)
    row = {
        "id": "long-1",
        "psychologist_id": pid,
        "client_id": cid,
        "session_type_code": "90834",
        "start_time": T0,
        "end_time": T0 + dt.timedelta(minutes=45),
        "block_start": T0,
        "block_end": T0 + dt.timedelta(hours=25),
        "state": "CANCELLED",
        "version": 1,
        "create_time": T0,
        "update_time": T0,
    }
    with pytest.raises(IntegrityError, match="block_under_a_day"), store.engine.begin() as conn:
        conn.execute(insert(appointments).values(**row))


def test_overlap_is_found_across_midnight_and_long_history(store: Store) -> None:
    pid, cid = _setup(store)
    late = dt.datetime(2031, 3, 10, 23, 30, tzinfo=dt.UTC)
    _book(store, pid, cid, late, code="90837")  # 23:30 to 00:45 the next day with its buffer
    with pytest.raises(SlotConflict):
        _book(store, pid, cid, late + dt.timedelta(minutes=60))  # 00:30 next day
    _book(store, pid, cid, late + dt.timedelta(minutes=75))


def test_the_fast_export_path_builds_exactly_the_resource(store: Store) -> None:
    from phs_scheduling.mapping import appointment_pb, export_pb

    pid, cid = _setup(store)
    a = _book(store, pid, cid, T0)
    b = _book(store, pid, cid, T0 + dt.timedelta(hours=3))
    with store.engine.begin() as conn:
        conn.execute(
            update(appointments)
            .where(appointments.c.id == b.name.rsplit("/", 1)[1])
            .values(
                state="CANCELLED",
                cancel_reason="CLIENT_ILLNESS",
                cancelled_by="CLIENT",
                cancel_late=True,
                cancel_time=T0 - dt.timedelta(hours=2, microseconds=5),
                series_id="s-1",
                original_start_time=T0 + dt.timedelta(hours=2),
                rescheduled_from_id="x-1",
            )
        )
    exported = [
        export_pb(row)
        for row in store.stream_appointments(pid, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))
    ]
    expected = [appointment_pb(store.get_appointment(pid, x.name.rsplit("/", 1)[1])) for x in (a, b)]
    assert exported == expected
    assert exported[1].cancellation.late and exported[1].series.endswith("/series/s-1")


def test_0009_gives_instants_written_without_a_fraction_the_long_form(tmp_path: Path) -> None:
    """SQLite only (PostgreSQL stores timestamptz): sessions the fast path wrote in the
    short "HH:MM:SS" form before 0009, back to back with each other and with sessions in
    the long form, as they can be found in a database."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["version_table"] = VERSION_TABLE
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.commit()
    engine.dispose()

    old = Store.open(url, migrate=False)
    pid, cid = _setup(old)
    with old.engine.begin() as conn:
        # 14:00 and 15:00 short, 16:00 and 17:00 long; each block (45 min + 15) ends
        # where the next starts. (A long block ending where a short one starts could not
        # be written: that was the fault.)
        for hour in (16, 17):
            Store.insert_appointment(conn, T0, pid, cid, "90834", T0.replace(hour=hour), "BOOKED")
        for hour in (14, 15):
            row = Store.appointment_row(T0, pid, cid, "90834", T0.replace(hour=hour), "BOOKED", SHAPE_90834)
            values = {
                k: v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, dt.datetime) else v
                for k, v in row.items()
            }
            columns, marks = ", ".join(values), ", ".join("?" for _ in values)
            sql = f"INSERT INTO appointments ({columns}) VALUES ({marks})"  # noqa: S608 - column names
            conn.exec_driver_sql(sql, tuple(values.values()))
    old.close()

    store = Store.open(url)  # to head
    try:
        with store.engine.connect() as conn:
            assert (
                conn.execute(text("SELECT version_num FROM alembic_version_scheduling")).scalar_one()
                == "0009"
            )
            names = ("start_time", "end_time", "block_start", "block_end", "create_time", "update_time")
            instants = conn.execute(select(*(appointments.c[n].cast(String) for n in names))).all()
            assert len(instants) == 4
            assert {len(value) for row in instants for value in row} == {26}, instants
            at_15 = AppointmentFilter(pid, None, T0.replace(hour=15), None, ())
            assert len(store.list_appointments(at_15, None, 10)) == 3
    finally:
        store.close()
