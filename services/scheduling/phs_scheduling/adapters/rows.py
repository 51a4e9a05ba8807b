"""What the repositories share: keyset pages by creation time and one-row updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, or_, select, update

from phs_scheduling.domain.errors import NotFound


def by_creation(
    conn: Connection, table: Table, after: list[Any] | None, limit: int, where: Sequence[Any] = ()
) -> Sequence[Row[Any]]:
    """A page of `table` in creation order after the key `after`, one row more than
    `limit` (so the caller knows whether another page follows)."""
    q = select(table).where(*where).order_by(table.c.create_time, table.c.id).limit(limit + 1)
    if after:
        t, i = dt.datetime.fromisoformat(after[0]), after[1]
        q = q.where(or_(table.c.create_time > t, and_(table.c.create_time == t, table.c.id > i)))
    return conn.execute(q).all()


def update_one(
    conn: Connection, table: Table, resource_type: str, name: str, key: str, values: dict[str, Any]
) -> Row[Any]:
    """Apply `values` to one row (by primary key) and return it; NotFound if absent."""
    pk = next(iter(table.primary_key.columns))
    if values:
        res = conn.execute(update(table).where(pk == key).values(**values))
        if res.rowcount != 1:
            raise NotFound(resource_type, name)
    row = conn.execute(select(table).where(pk == key)).first()
    if row is None:
        raise NotFound(resource_type, name)
    return row
