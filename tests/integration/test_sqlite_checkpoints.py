"""SQLite WAL checkpoints run in a thread of their own (db.WalCheckpoints), not in
the commit that happens to cross SQLite's threshold while every other writer waits,
and the WAL file stays bounded while writes go on."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from phs_runtime import db

FRAME = 4096 + 24  # a WAL frame: a page and its header


def _table(engine: Engine) -> None:
    with db.write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)"))


def _write(engine: Engine, n: int) -> None:
    """n transactions of one 2 KB row each: about a page of WAL per commit."""
    for _ in range(n):
        with db.write_transaction(engine) as conn:
            conn.execute(text("INSERT INTO t (blob) VALUES (randomblob(2000))"))


def _wal_pages(path: Path) -> int:
    """Pages in the WAL since it last started over (a checkpoint copies them and does
    not start the file over, so the number is the same after it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        conn.close()


def _checkpoint_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "sqlite-checkpoints")


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "CHECKPOINT_INTERVAL_S", 3600.0)  # the thread never gets to run here
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    background = db.make_engine(f"sqlite:///{a}", background_checkpoints=True)
    plain = db.make_engine(f"sqlite:///{b}")
    try:
        for engine in (background, plain):
            _table(engine)
            _write(engine, 1500)
        with background.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert _wal_pages(a) >= 1500  # no commit copied or started the WAL over
        assert _wal_pages(b) < 1100  # SQLite's default: the commit past 1000 pages does
    finally:
        db.dispose(background)
        plain.dispose()


def test_the_thread_keeps_the_wal_bounded_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "CHECKPOINT_INTERVAL_S", 0.02)
    monkeypatch.setattr(db, "CHECKPOINT_RESTART_PAGES", 200)
    path = tmp_path / "c.db"
    threads = _checkpoint_threads()
    engine = db.make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        assert _checkpoint_threads() == threads + 1
        _table(engine)
        _write(engine, 5000)
        # Without the thread the WAL would hold about 5000 pages (the test above).
        assert Path(f"{path}-wal").stat().st_size < 2500 * FRAME
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 5000
    finally:
        db.dispose(engine)
    assert _checkpoint_threads() == threads  # dispose stops it
    reopened = db.make_engine(f"sqlite:///{path}")
    try:
        with reopened.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 5000
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        reopened.dispose()
