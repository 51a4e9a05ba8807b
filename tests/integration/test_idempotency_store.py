"""A request id's record belongs to the caller who sent it, in storage, on SQLite and
PostgreSQL: the record's key is (caller, method, request id), so another caller with the
same id makes a request of their own, and concurrent retries of one caller still write
once. End to end through Envoy and over gRPC: tests/e2e/test_idempotency_scope.py."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from phs.scheduling.v1 import resources_pb2 as sr
from phs_runtime.auth import Principal, reset_principal, set_principal
from phs_scheduling.store import Store
from phs_scheduling.tables import idempotency_keys, psychologists

ADMIN_A, ADMIN_B = "staff/idem-a", "staff/idem-b"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def _create_as(store: Store, subject: str, key: str, name: str = "Dr Same") -> sr.Psychologist:
    """CreatePsychologist's write, run the way the service runs it: under the
    principal the interceptor authenticated."""

    def write(conn: Connection, now: dt.datetime) -> sr.Psychologist:
        row = Store.insert_psychologist(conn, now, name, "UTC", True)
        return sr.Psychologist(name=f"psychologists/{row['id']}", display_name=name)

    token = set_principal(Principal(subject, "admin"))
    try:
        return store.idempotent_write("CreatePsychologist", key, f"hash-{name}", sr.Psychologist, write)
    finally:
        reset_principal(token)


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_two_callers_with_one_key_get_two_results_each_replayed_to_its_owner(store: Store) -> None:
    a = _create_as(store, ADMIN_A, "shared-key")
    b = _create_as(store, ADMIN_B, "shared-key")
    assert a.name != b.name  # B's request ran: it was not answered with A's result
    assert _create_as(store, ADMIN_A, "shared-key") == a
    assert _create_as(store, ADMIN_B, "shared-key") == b
    assert _count(store, psychologists) == 2
    with store.engine.connect() as conn:
        owners = conn.execute(
            select(idempotency_keys.c.principal).order_by(idempotency_keys.c.principal)
        ).all()
    assert [o.principal for o in owners] == [ADMIN_A, ADMIN_B]


def test_concurrent_retries_write_once_per_caller(store: Store) -> None:
    callers = [ADMIN_A, ADMIN_B, "psychologists/idem-c"]
    start = threading.Barrier(len(callers) * 4)

    def attempt(subject: str) -> tuple[str, str]:
        start.wait()
        return subject, _create_as(store, subject, "raced-key").name

    with ThreadPoolExecutor(len(callers) * 4) as pool:
        results = list(pool.map(attempt, [c for c in callers for _ in range(4)]))
    names = {subject: {name for s, name in results if s == subject} for subject in callers}
    assert all(len(n) == 1 for n in names.values()), names  # each caller: one result, replayed
    assert len({n for ns in names.values() for n in ns}) == len(callers)  # callers: one each
    assert _count(store, psychologists) == len(callers)
