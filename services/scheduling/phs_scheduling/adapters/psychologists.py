"""The psychologists' directory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from phs_runtime.resources import new_id
from phs_scheduling.adapters.rows import by_creation, update_one
from phs_scheduling.domain.errors import NotFound
from phs_scheduling.names import psychologist_name
from phs_scheduling.tables import psychologists


def require_psychologist(conn: Connection, psychologist_id: str) -> None:
    """NotFound unless the psychologist exists (other aggregates' checks use it too)."""
    if conn.execute(select(psychologists.c.id).where(psychologists.c.id == psychologist_id)).first() is None:
        raise NotFound("Psychologist", psychologist_name(psychologist_id))


class PsychologistRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, now: dt.datetime, display_name: str, time_zone: str, active: bool) -> dict[str, Any]:
        row = {
            "id": new_id(),
            "display_name": display_name,
            "time_zone": time_zone,
            "active": active,
            "create_time": now,
            "update_time": now,
        }
        self.connection.execute(insert(psychologists), row)
        return row

    def get(self, psychologist_id: str) -> Row[Any]:
        row = self.connection.execute(
            select(psychologists).where(psychologists.c.id == psychologist_id)
        ).first()
        if row is None:
            raise NotFound("Psychologist", psychologist_name(psychologist_id))
        return row

    def require(self, psychologist_id: str) -> None:
        require_psychologist(self.connection, psychologist_id)

    def list(self, after: list[Any] | None, limit: int) -> Sequence[Row[Any]]:
        return by_creation(self.connection, psychologists, after, limit)

    def update(self, psychologist_id: str, now: dt.datetime, values: dict[str, Any]) -> Row[Any]:
        name = psychologist_name(psychologist_id)
        return update_one(
            self.connection,
            psychologists,
            "Psychologist",
            name,
            psychologist_id,
            {**values, "update_time": now},
        )
