"""Each psychologist's availability (working hours, date overrides, booking policy),
stored as the serialized message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from phs_scheduling.adapters.psychologists import require_psychologist
from phs_scheduling.mapping import late_cancel_of
from phs_scheduling.tables import availability


@dataclass(frozen=True)
class SlotContext:
    """Everything slot search needs (read by the unit of work's `slot_context`)."""

    psychologist: Row[Any]
    session_type: Row[Any]
    availability_spec: bytes
    busy_blocks: list[tuple[dt.datetime, dt.datetime]]


class AvailabilityRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def spec(self, psychologist_id: str) -> bytes | None:
        """The stored availability (None: never set). Does not check the psychologist."""
        spec: bytes | None = self.connection.execute(
            select(availability.c.spec).where(availability.c.psychologist_id == psychologist_id)
        ).scalar()
        return spec

    def get(self, psychologist_id: str) -> tuple[bytes, dt.datetime | None]:
        """The availability and when it changed (b"", None: never set); NotFound for
        an unknown psychologist."""
        require_psychologist(self.connection, psychologist_id)
        row = self.connection.execute(
            select(availability).where(availability.c.psychologist_id == psychologist_id)
        ).first()
        return (row.spec, row.update_time) if row else (b"", None)

    def put(self, now: dt.datetime, psychologist_id: str, spec: bytes) -> None:
        require_psychologist(self.connection, psychologist_id)
        res = self.connection.execute(
            update(availability)
            .where(availability.c.psychologist_id == psychologist_id)
            .values(spec=spec, version=availability.c.version + 1, update_time=now)
        )
        if res.rowcount == 0:
            self.connection.execute(
                insert(availability).values(
                    psychologist_id=psychologist_id, spec=spec, version=1, update_time=now
                )
            )

    def late_cancel_window(self, psychologist_id: str) -> dt.timedelta:
        """The psychologist's late-cancel window (the policy default when none is set)."""
        return late_cancel_of(self.spec(psychologist_id))

    def late_cancel_windows(self, psychologist_ids: Iterable[str]) -> dict[str, dt.timedelta]:
        """Each psychologist's late-cancel window, in one query."""
        ids = sorted(set(psychologist_ids))
        if not ids:
            return {}
        query = select(availability.c.psychologist_id, availability.c.spec).where(
            availability.c.psychologist_id.in_(ids)
        )
        specs = {row.psychologist_id: row.spec for row in self.connection.execute(query)}
        return {pid: late_cancel_of(specs.get(pid)) for pid in ids}
