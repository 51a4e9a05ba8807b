"""PostgreSQL connection pool liveness: a pooled connection idle past the threshold is
pinged and, if its server session is gone, replaced before anyone uses it; one used a
moment ago is trusted, and if its session died in between, that one call fails
(UNAVAILABLE to the caller) and the pool is discarded, so the next call works."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from phs_runtime import db


def _kill_pooled_session(engine: Engine, url: str) -> None:
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()


def test_an_idle_connection_whose_session_died_is_replaced_unnoticed(
    pg_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 0.2)
    url = pg_database()
    engine = db.make_engine(url, pool_size=1)
    try:
        _kill_pooled_session(engine, url)
        time.sleep(0.3)  # idle past the threshold: pinged at checkout
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_a_recently_used_connection_is_not_pinged_and_a_dead_one_fails_once(
    pg_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 60.0)
    url = pg_database()
    engine = db.make_engine(url, pool_size=1)
    try:
        _kill_pooled_session(engine, url)
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:  # the pool was discarded: a fresh session
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
