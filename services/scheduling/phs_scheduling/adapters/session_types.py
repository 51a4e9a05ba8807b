"""The session type catalogue, and the shape of a session (duration and buffers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from phs_scheduling.adapters.rows import update_one
from phs_scheduling.domain.errors import Conflict
from phs_scheduling.names import session_type_name
from phs_scheduling.tables import session_types


@dataclass(frozen=True)
class SessionShape:
    """What a booking needs of its session type to compute its times."""

    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int

    def block(self, start: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        """(end, block_start, block_end) of a session starting at `start`: the time it
        keeps the psychologist, buffers included."""
        end = start + dt.timedelta(minutes=self.duration_minutes)
        return (
            end,
            start - dt.timedelta(minutes=self.buffer_before_minutes),
            end + dt.timedelta(minutes=self.buffer_after_minutes),
        )


class SessionTypeRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, row: dict[str, Any]) -> None:
        """Conflict if the code is taken."""
        code = row["code"]
        if self.connection.execute(select(session_types.c.code).where(session_types.c.code == code)).first():
            raise Conflict(
                "SESSION_TYPE_EXISTS",
                "a session type with that code exists",
                {"session_type": session_type_name(code)},
            )
        self.connection.execute(insert(session_types), row)

    def find(self, code: str) -> Row[Any] | None:
        return self.connection.execute(select(session_types).where(session_types.c.code == code)).first()

    def shape(self, code: str) -> SessionShape | None:
        """The session type's shape (None: no such type)."""
        st = session_types.c
        found = self.connection.execute(
            select(st.duration_minutes, st.buffer_before_minutes, st.buffer_after_minutes).where(
                st.code == code
            )
        ).first()
        return None if found is None else SessionShape(*found)

    def list(self, after: list[Any] | None, limit: int) -> Sequence[Row[Any]]:
        q = select(session_types).order_by(session_types.c.code).limit(limit + 1)
        if after:
            q = q.where(session_types.c.code > after[0])
        return self.connection.execute(q).all()

    def update(self, code: str, values: dict[str, Any]) -> Row[Any]:
        return update_one(
            self.connection, session_types, "SessionType", session_type_name(code), code, values
        )
