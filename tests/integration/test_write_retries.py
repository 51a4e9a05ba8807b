"""A write that PostgreSQL aborts as a deadlock's victim runs again instead of failing
the call. Two bookings of one slot can deadlock for real: each checks the exclusion
constraint against the other's uncommitted row and waits for the other. This test
makes a deadlock happen on purpose, with row locks taken in opposite orders."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from google.protobuf.empty_pb2 import Empty
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from phs_runtime import db, idempotency
from phs_runtime.idempotency import store as idempotency_store
from phs_scheduling.store import Store
from phs_scheduling.tables import idempotency_keys


@pytest.fixture
def store(pg_database: Callable[[], str]) -> Iterator[Store]:
    s = Store.open(pg_database())
    with s.engine.begin() as conn:
        conn.execute(text("CREATE TABLE pair (id int PRIMARY KEY, v int NOT NULL)"))
        conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    yield s
    s.close()


def _bump(conn: Connection, row: int) -> None:
    conn.execute(text("UPDATE pair SET v = v + 1 WHERE id = :id"), {"id": row})


class _Crossing:
    """Our write locks row 1, then row 2; another transaction, in a thread, locks row 2,
    then row 1. The other starts waiting after ours does, so PostgreSQL (which looks
    for a deadlock after deadlock_timeout of waiting) finds the cycle from our side and
    aborts ours. Only the first attempt of our write takes part in the dance."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ours_has_1, self.other_has_2 = threading.Event(), threading.Event()
        self.attempts = 0
        self.thread = threading.Thread(target=self._other)

    def _other(self) -> None:
        with self.store.engine.begin() as conn:
            _bump(conn, 2)
            self.other_has_2.set()
            assert self.ours_has_1.wait(10)
            time.sleep(0.3)
            _bump(conn, 1)

    def write(self, conn: Connection, _now: dt.datetime) -> Empty:
        self.attempts += 1
        _bump(conn, 1)
        if self.attempts == 1:
            assert self.other_has_2.wait(10)
            self.ours_has_1.set()
        _bump(conn, 2)  # the first time: waits for the other, which waits for us
        return Empty()

    def run(self) -> Empty:
        self.thread.start()
        try:
            engine = self.store.engine
            return idempotency.run_once(engine, idempotency_keys, "Bump", "", "", Empty, self.write)
        finally:
            self.thread.join(15)


def test_a_deadlock_victim_runs_again(store: Store) -> None:
    crossing = _Crossing(store)
    assert crossing.run() == Empty()
    assert crossing.attempts == 2  # aborted once as the victim, then run again
    with store.engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, v FROM pair")).all()) == {1: 2, 2: 2}


def test_the_deadlock_is_real_without_the_retry(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: with no retries left the victim's error reaches the caller, and it is
    one db.is_retryable recognises."""
    monkeypatch.setattr(idempotency_store, "RETRIES", 0)
    with pytest.raises(OperationalError) as caught:
        _Crossing(store).run()
    assert db.is_retryable(caught.value)
