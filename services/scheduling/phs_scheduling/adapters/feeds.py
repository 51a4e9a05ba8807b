"""Calendar feeds in storage: one row per psychologist who ever made one (the hash of
the current secret, NULL once revoked), and the reads that fill a feed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, insert, select, update

from phs_scheduling.domain.calendar_feed import ClientDetail
from phs_scheduling.tables import (
    appointments,
    calendar_feeds,
    clients,
    session_types,
)


class CalendarFeedRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, psychologist_id: str) -> Row[Any] | None:
        """The psychologist's feed row (None: never made one)."""
        return self.connection.execute(
            select(calendar_feeds).where(calendar_feeds.c.psychologist_id == psychologist_id)
        ).first()

    def find(self, secret_hash: bytes) -> Row[Any] | None:
        """The active feed whose secret has this hash."""
        return self.connection.execute(
            select(calendar_feeds).where(calendar_feeds.c.secret_hash == secret_hash)
        ).first()

    def save(self, psychologist_id: str, now: dt.datetime, **values: Any) -> Row[Any]:
        """Change the feed's row (made with the defaults if there is none); the row after."""
        done = self.connection.execute(
            update(calendar_feeds)
            .where(calendar_feeds.c.psychologist_id == psychologist_id)
            .values(update_time=now, **values)
        )
        if done.rowcount == 0:
            row = {
                "psychologist_id": psychologist_id,
                "secret_hash": None,
                "client_detail": ClientDetail.INITIALS.value,
                "rotate_time": None,
                "update_time": now,
                **values,
            }
            self.connection.execute(insert(calendar_feeds), row)
        saved = self.get(psychologist_id)
        assert saved is not None
        return saved

    def appointments(self, psychologist_id: str, start: dt.datetime, end: dt.datetime) -> Sequence[Row[Any]]:
        """Appointments starting in [start, end), in start order, with the client's and
        the session type's display names."""
        a = appointments.c
        q: Select[Any] = (
            select(
                a.id,
                a.start_time,
                a.end_time,
                a.state,
                a.version,
                a.update_time,
                a.cancel_time,
                clients.c.display_name.label("client_name"),
                session_types.c.display_name.label("session_type_name"),
            )
            .join(clients, clients.c.id == a.client_id)
            .join(session_types, session_types.c.code == a.session_type_code)
            .where(a.psychologist_id == psychologist_id, a.start_time >= start, a.start_time < end)
            .order_by(a.start_time, a.id)
        )
        return self.connection.execute(q).all()
