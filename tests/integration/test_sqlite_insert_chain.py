"""db.insert_chain on SQLite runs its INSERTs as the SQL and parameters SQLAlchemy
would send, compiled once: the rows read back are those `conn.execute` writes, a
statement that needs a value SQLAlchemy computes still gets it, and the database's
refusals are SQLAlchemy's exceptions as before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from phs_runtime import db

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("at", db.UtcDateTime, nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("blob", LargeBinary, nullable=True),
    Column("note", String(40), nullable=True),
    Column("n", Integer, nullable=False),
)
notes = Table(
    "notes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("thing_id", String(40), nullable=False),
    Column("kind", String(20), nullable=False, default=lambda: "computed"),  # a default SQLAlchemy computes
)
# An INSERT ... SELECT whose SELECT may yield no row, as bookings use.
THING_IF_NEW = insert(things).from_select(
    [c.name for c in things.c],
    select(*[bindparam(c.name, type_=c.type) for c in things.c]).where(
        ~select(things.c.id).where(things.c.id == bindparam("id", type_=String)).exists()
    ),
)
AT = dt.datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = db.make_engine(f"sqlite:///{tmp_path / 'chain.db'}")
    metadata.create_all(e)
    yield e
    db.dispose(e)


def _thing(i: str, **over: Any) -> dict[str, Any]:
    return {"id": i, "at": AT, "flag": True, "blob": b"\x00\xff", "note": None, "n": 7, **over}


def _rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


def test_rows_are_those_sqlalchemy_writes(engine: Engine) -> None:
    with db.write_transaction(engine) as conn:
        assert (
            db.insert_chain(conn, THING_IF_NEW, _thing("a"), [(things, _thing("b", flag=False, note="x"))])
            == 1
        )
        conn.execute(insert(things), [_thing("c"), _thing("d", flag=False, note="x")])
    got = _rows(engine, things)
    assert got[0][1:] == got[2][1:] and got[1][1:] == got[3][1:]
    assert got[0][1] == AT and got[0][1].tzinfo == dt.UTC  # read back as the same instant, in UTC
    assert got[1][2] is False and got[1][3] == b"\x00\xff" and got[1][4] == "x"


def test_a_precondition_that_fails_writes_nothing(engine: Engine) -> None:
    with db.write_transaction(engine) as conn:
        db.insert_chain(conn, THING_IF_NEW, _thing("a"), [])
    with db.write_transaction(engine) as conn:
        assert db.insert_chain(conn, THING_IF_NEW, _thing("a", n=8), [(things, _thing("z"))]) == 0
    assert [r[0] for r in _rows(engine, things)] == ["a"]


def test_a_default_sqlalchemy_computes_is_still_computed(engine: Engine) -> None:
    with db.write_transaction(engine) as conn:
        db.insert_chain(conn, THING_IF_NEW, _thing("a"), [(notes, {"id": "n1", "thing_id": "a"})])
    assert _rows(engine, notes) == [("n1", "a", "computed")]


def test_a_refused_row_is_sqlalchemys_integrity_error(engine: Engine) -> None:
    with db.write_transaction(engine) as conn:
        db.insert_chain(conn, THING_IF_NEW, _thing("a"), [])
    with pytest.raises(IntegrityError), db.write_transaction(engine) as conn:
        db.insert_chain(conn, THING_IF_NEW, _thing("b"), [(things, _thing("a"))])
    assert [r[0] for r in _rows(engine, things)] == ["a"]  # the whole transaction rolled back


def test_write_chain_commits_the_rows_sqlalchemy_would_write(engine: Engine) -> None:
    assert (
        db.write_chain(engine, THING_IF_NEW, _thing("a"), [(things, _thing("b", flag=False, note="x"))]) == 1
    )
    with db.write_transaction(engine) as conn:
        conn.execute(insert(things), [_thing("c"), _thing("d", flag=False, note="x")])
    got = _rows(engine, things)
    assert got[0][1:] == got[2][1:] and got[1][1:] == got[3][1:]
    assert db.write_chain(engine, THING_IF_NEW, _thing("a", n=8), [(things, _thing("z"))]) == 0
    assert [r[0] for r in _rows(engine, things)] == ["a", "b", "c", "d"]


def test_write_chain_refused_rolls_back_and_leaves_the_writers_connection_usable(engine: Engine) -> None:
    db.write_chain(engine, THING_IF_NEW, _thing("a"), [])
    with pytest.raises(IntegrityError) as refused:
        db.write_chain(engine, THING_IF_NEW, _thing("b"), [(things, _thing("a", note="private"))])
    assert "private" not in str(refused.value)  # the values stay out of the message
    assert [r[0] for r in _rows(engine, things)] == ["a"]
    assert db.write_chain(engine, THING_IF_NEW, _thing("c"), []) == 1  # no transaction left open
    with db.write_transaction(engine) as conn:
        conn.execute(insert(things), [_thing("d")])
    assert [r[0] for r in _rows(engine, things)] == ["a", "c", "d"]


def test_write_chain_with_a_default_sqlalchemy_computes(engine: Engine) -> None:
    assert db.write_chain(engine, THING_IF_NEW, _thing("a"), [(notes, {"id": "n1", "thing_id": "a"})]) == 1
    assert _rows(engine, notes) == [("n1", "a", "computed")]


class _Interrupting:
    """A value whose adaptation fails with something other than a database error."""

    def __conform__(self, _protocol: object) -> object:
        raise RuntimeError("interrupted")


def test_write_chain_interrupted_between_inserts_rolls_back(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        db.write_chain(engine, THING_IF_NEW, _thing("a"), [(things, _thing("b", note=_Interrupting()))])
    assert _rows(engine, things) == []  # the first insert went with the rest
    assert db.write_chain(engine, THING_IF_NEW, _thing("c"), []) == 1  # no transaction left open


# db.write_statements: UPDATEs and DELETEs (the outbox relay's), expanding IN lists
# included, computed before the write slot and run under it on sqlite3 directly.
MARK = (
    things.update()
    .where(things.c.id.in_(bindparam("ids", expanding=True)))
    .values(at=bindparam("b_at", type_=db.UtcDateTime), n=bindparam("b_n", type_=Integer))
)


def _seed(engine: Engine, ids: str) -> None:
    with db.write_transaction(engine) as conn:
        conn.execute(insert(things), [_thing(i, n=0) for i in ids])


def test_write_statements_writes_what_sqlalchemy_writes(engine: Engine) -> None:
    _seed(engine, "abcdefgh")
    later = AT + dt.timedelta(microseconds=1)
    changed = db.write_statements(
        engine,
        [
            (MARK, {"ids": ["a", "b", "c"], "b_at": later, "b_n": 1}),
            (MARK, {"ids": ["d"], "b_at": later, "b_n": 2}),
        ],
    )
    with db.write_transaction(engine) as conn:  # the same through SQLAlchemy's own execute
        conn.execute(MARK, {"ids": ["e", "f", "g"], "b_at": later, "b_n": 1})
        conn.execute(MARK, {"ids": ["h"], "b_at": later, "b_n": 2})
    assert changed == 4
    got = {r[0]: r[1:] for r in _rows(engine, things)}
    assert got["a"] == got["b"] == got["c"] == got["e"] == got["f"] == got["g"]
    assert got["d"] == got["h"] and got["d"][-1] == 2
    assert got["a"][0] == later and got["a"][0].tzinfo == dt.UTC  # the fraction kept, read back in UTC
    with engine.connect() as conn:  # stored in the same text form, so text comparisons agree
        stored = conn.exec_driver_sql("SELECT DISTINCT at FROM things WHERE n > 0").all()
    assert len(stored) == 1


def test_write_statements_holds_the_slot_for_the_statements_alone(engine: Engine) -> None:
    _seed(engine, "ab")
    writers = db._writer_lock(engine)
    with writers.held():
        shared = writers.connection(engine)
    assert shared is not None
    raw = db._sqlite3(shared)
    traced: list[str] = []
    raw.set_trace_callback(traced.append)
    try:
        db.write_statements(
            engine,
            [(MARK, {"ids": ["a"], "b_at": AT, "b_n": 1}), (things.delete().where(things.c.id == "b"), {})],
        )
    finally:
        raw.set_trace_callback(None)
    assert [" ".join(q.split()[:2]) for q in traced] == [
        "BEGIN IMMEDIATE",
        "UPDATE things",
        "DELETE FROM",
        "COMMIT",
    ]
    assert [r[0] for r in _rows(engine, things)] == ["a"]


def test_write_statements_refused_rolls_back_all_of_them(engine: Engine) -> None:
    _seed(engine, "ab")
    rename = (
        things.update().where(things.c.id == bindparam("b_from", type_=String)).values(id=bindparam("b_to"))
    )
    with pytest.raises(IntegrityError) as refused:
        db.write_statements(
            engine,
            [(MARK, {"ids": ["a", "b"], "b_at": AT, "b_n": 5}), (rename, {"b_from": "a", "b_to": "b"})],
        )
    assert "'b'" not in str(refused.value)  # the values stay out of the message
    assert [r[-1] for r in _rows(engine, things)] == [0, 0]  # the first statement went too
    assert db.write_statements(engine, [(MARK, {"ids": ["a"], "b_at": AT, "b_n": 3})]) == 1  # usable after
    assert db.write_statements(engine, []) == 0
