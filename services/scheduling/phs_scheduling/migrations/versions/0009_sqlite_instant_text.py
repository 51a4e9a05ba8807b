"""SQLite: instants that the booking's fast path wrote as "YYYY-MM-DD HH:MM:SS" get the
fraction SQLAlchemy writes (".000000"). Text comparison is time order only within one
form: the overlap trigger took a session starting where another, written the other way,
ended for an overlap, and a range starting at a booking's exact start missed it.
PostgreSQL stores timestamptz and has nothing to change.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The instants the fast path inserted (phs_runtime.db.insert_chain on SQLite), as of
# 0008, in a snapshot of their tables. audit_events is append-only (its triggers refuse
# UPDATE) and its times carry microseconds: one in a million was written without one.
APPOINTMENT_INSTANTS = ("start_time", "end_time", "block_start", "block_end", "create_time", "update_time")
appointments = sa.table("appointments", sa.column("id"), *(sa.column(c) for c in APPOINTMENT_INSTANTS))
OTHERS = [sa.table(name, sa.column("create_time")) for name in ("outbox", "idempotency_keys")]


def _short(column: sa.ColumnClause[Any]) -> sa.ColumnElement[bool]:
    return sa.func.length(column) == 19


def _lengthened(column: sa.ColumnClause[Any]) -> sa.ColumnElement[Any]:
    return sa.case((_short(column), column + ".000000"), else_=column)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in OTHERS:
        op.execute(sa.update(table).values(create_time=_lengthened(table.c.create_time)))
    # One appointment at a time, latest first: the overlap trigger checks each updated
    # row against its neighbours, and a session whose block ends where a later one in
    # the short form starts would read as overlapping it until that one is done.
    c = appointments.c
    short = sa.or_(*(_short(c[name]) for name in APPOINTMENT_INSTANTS))
    ids = bind.execute(sa.select(c.id).where(short).order_by(c.block_start.desc())).scalars().all()
    lengthen = sa.update(appointments).where(c.id == sa.bindparam("row_id"))
    lengthen = lengthen.values({name: _lengthened(c[name]) for name in APPOINTMENT_INSTANTS})
    for appointment_id in ids:
        bind.execute(lengthen, {"row_id": appointment_id})


def downgrade() -> None:
    """Nothing to undo: both forms read back as the same instants."""
