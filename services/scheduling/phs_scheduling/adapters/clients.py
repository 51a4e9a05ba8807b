"""Client records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from phs_runtime.resources import new_id
from phs_scheduling.adapters.psychologists import require_psychologist
from phs_scheduling.adapters.rows import by_creation, update_one
from phs_scheduling.domain.errors import NotFound
from phs_scheduling.names import client_name
from phs_scheduling.tables import clients


class ClientRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self, now: dt.datetime, display_name: str, email: str, phone: str, psychologist_id: str | None
    ) -> dict[str, Any]:
        if psychologist_id is not None:
            require_psychologist(self.connection, psychologist_id)
        row = {
            "id": new_id(),
            "display_name": display_name,
            "email": email,
            "phone": phone,
            "psychologist_id": psychologist_id,
            "create_time": now,
            "update_time": now,
        }
        self.connection.execute(insert(clients), row)
        return row

    def get(self, client_id: str) -> Row[Any]:
        row = self.connection.execute(select(clients).where(clients.c.id == client_id)).first()
        if row is None:
            raise NotFound("Client", client_name(client_id))
        return row

    def list(
        self, after: list[Any] | None, limit: int, psychologist_id: str | None = None
    ) -> Sequence[Row[Any]]:
        where = [clients.c.psychologist_id == psychologist_id] if psychologist_id else []
        return by_creation(self.connection, clients, after, limit, where)

    def update(self, client_id: str, now: dt.datetime, values: dict[str, Any]) -> Row[Any]:
        return update_one(
            self.connection,
            clients,
            "Client",
            client_name(client_id),
            client_id,
            {**values, "update_time": now},
        )
