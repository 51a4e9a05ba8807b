"""The scheduling database as a process holds it: the engine (migrated on open), its
reader, the health ping, the session shapes this process has seen, and the units of
work (phs_scheduling.adapters) that everything else reads and writes through.

Refusals are the domain's exceptions (phs_scheduling.domain.errors): NotFound,
Precondition, Conflict, StaleEtag, ConcurrentModification, SlotConflict; the service
maps them to statuses (phs_scheduling.errors)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Row, Table

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime import db
from phs_scheduling.adapters import appointments as appointment_store
from phs_scheduling.adapters import unit_of_work
from phs_scheduling.adapters.appointments import AppointmentFilter, new_row
from phs_scheduling.adapters.availability import AvailabilityRepository, SlotContext
from phs_scheduling.adapters.clients import ClientRepository
from phs_scheduling.adapters.psychologists import PsychologistRepository
from phs_scheduling.adapters.session_types import SessionShape
from phs_scheduling.adapters.unit_of_work import ReadOnlyUnitOfWork, UnitOfWork
from phs_scheduling.domain.errors import SlotConflict
from phs_scheduling.mapping import etag_of

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_scheduling"

M = TypeVar("M", bound=Message)

__all__ = [
    "AppointmentFilter",
    "SessionShape",
    "SlotConflict",
    "SlotContext",
    "Store",
    "etag_of",
]


class Store(db.BaseStore):
    MIGRATIONS = MIGRATIONS
    VERSION_TABLE = VERSION_TABLE

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Session type shapes seen by this process. A stale one is harmless: the
        # booking (book_at_once) checks the shape it used and inserts nothing if it
        # changed (then the caller books the long way and the entry is refreshed).
        self._shapes: dict[str, SessionShape] = {}

    # -- units of work ------------------------------------------------------------------

    def unit_of_work(self) -> UnitOfWork:
        """A write transaction over the repositories (`with store.unit_of_work() as uow`)."""
        return UnitOfWork(self.engine)

    def read(self) -> ReadOnlyUnitOfWork:
        """A read-only transaction over the repositories (`with store.read() as uow`)."""
        return ReadOnlyUnitOfWork(self.reader)

    def run_once(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[UnitOfWork, dt.datetime], M],
    ) -> M:
        """`write` in a unit of work with its AIP-155 record and audit entry; an overlap
        becomes SlotConflict (adapters.unit_of_work.run_once)."""
        return unit_of_work.run_once(self.engine, method, request_id, request_hash, response_type, write)

    # -- the booking fast path -----------------------------------------------------------

    def session_shape(self, code: str) -> SessionShape | None:
        """The session type's shape as this process last saw it (None: no such type)."""
        shape = self._shapes.get(code)
        if shape is None:
            with self.read() as uow:
                shape = uow.session_types.shape(code)
            if shape is None:
                return None
            self._shapes[code] = shape
        return shape

    def forget_session_shape(self, code: str) -> None:
        self._shapes.pop(code, None)

    def book_at_once(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        row: dict[str, Any],
        shape: SessionShape,
        response: r.Appointment,
        then: Sequence[tuple[Table, dict[str, Any]]],
    ) -> bool:
        """adapters.appointments.book_at_once; a shape that may be stale is read again next time."""
        inserted = appointment_store.book_at_once(
            self.engine, method, request_id, request_hash, row, shape, response, then
        )
        if not inserted:
            self.forget_session_shape(row["session_type_code"])
        return inserted

    # -- for scripts and tests: one repository call each -----------------------------------

    def idempotent_write(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[Connection, dt.datetime], M],
    ) -> M:
        """`run_once` for a write given as a function of the connection."""
        return self.run_once(
            method, request_id, request_hash, response_type, lambda uow, now: write(uow.connection, now)
        )

    @staticmethod
    def insert_psychologist(
        conn: Connection, now: dt.datetime, display_name: str, time_zone: str, active: bool
    ) -> dict[str, Any]:
        return PsychologistRepository(conn).add(now, display_name, time_zone, active)

    @staticmethod
    def insert_client(
        conn: Connection,
        now: dt.datetime,
        display_name: str,
        email: str,
        phone: str,
        psychologist_id: str | None,
    ) -> dict[str, Any]:
        return ClientRepository(conn).add(now, display_name, email, phone, psychologist_id)

    @staticmethod
    def insert_appointment(
        conn: Connection,
        now: dt.datetime,
        psychologist_id: str,
        client_id: str,
        session_type_code: str,
        start: dt.datetime,
        state: str,
        series_id: str | None = None,
    ) -> dict[str, Any]:
        return appointment_store.AppointmentRepository(conn).add(
            now, psychologist_id, client_id, session_type_code, start, state, series_id=series_id
        )

    appointment_row = staticmethod(new_row)

    @staticmethod
    def put_availability(conn: Connection, now: dt.datetime, psychologist_id: str, spec: bytes) -> None:
        AvailabilityRepository(conn).put(now, psychologist_id, spec)

    def get_client(self, client_id: str) -> Row[Any]:
        with self.read() as uow:
            return uow.clients.get(client_id)

    def get_appointment(self, psychologist_id: str, appointment_id: str) -> Row[Any]:
        with self.read() as uow:
            return uow.appointments.get(psychologist_id, appointment_id)

    def list_appointments(
        self, f: AppointmentFilter, after: list[Any] | None, limit: int
    ) -> Sequence[Row[Any]]:
        with self.read() as uow:
            return uow.appointments.list(f, after, limit)

    def stream_appointments(
        self, psychologist_id: str | None, start: dt.datetime, end: dt.datetime, batch: int = 1000
    ) -> Iterator[Row[Any]]:
        with self.read() as uow:
            yield from uow.appointments.stream(psychologist_id, start, end, batch)
