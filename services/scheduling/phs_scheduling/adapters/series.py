"""Weekly series (their occurrences are appointments: AppointmentRepository.of_series)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select

from phs_scheduling.domain.errors import NotFound
from phs_scheduling.names import series_name
from phs_scheduling.tables import series


class SeriesRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, row: dict[str, Any]) -> None:
        self.connection.execute(insert(series), row)

    def get(self, psychologist_id: str, series_id: str) -> Row[Any]:
        row = self.connection.execute(
            select(series).where(series.c.id == series_id, series.c.psychologist_id == psychologist_id)
        ).first()
        if row is None:
            raise NotFound("Series", series_name(psychologist_id, series_id))
        return row
