"""The scheduling service's units of work: its repositories over one connection, in
one transaction (the transaction handling, the outbox and run_once are the runtime's:
phs_runtime.unit_of_work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine

from phs_runtime import unit_of_work as runtime
from phs_scheduling.adapters.appointments import AppointmentRepository, is_overlap
from phs_scheduling.adapters.availability import AvailabilityRepository, SlotContext
from phs_scheduling.adapters.clients import ClientRepository
from phs_scheduling.adapters.feeds import CalendarFeedRepository
from phs_scheduling.adapters.psychologists import PsychologistRepository
from phs_scheduling.adapters.series import SeriesRepository
from phs_scheduling.adapters.session_types import SessionTypeRepository
from phs_scheduling.domain.errors import NotFound, SlotConflict
from phs_scheduling.names import session_type_name
from phs_scheduling.tables import idempotency_keys, outbox

M = TypeVar("M", bound=Message)


class _Repositories:
    """Every aggregate's repository over the unit's connection (bound on entry)."""

    connection: Connection
    psychologists: PsychologistRepository
    clients: ClientRepository
    session_types: SessionTypeRepository
    appointments: AppointmentRepository
    availability: AvailabilityRepository
    series: SeriesRepository
    calendar_feeds: CalendarFeedRepository

    def _bind(self, conn: Connection) -> None:
        self.connection = conn  # as the runtime's units of work do; then the repositories
        self.psychologists = PsychologistRepository(conn)
        self.clients = ClientRepository(conn)
        self.session_types = SessionTypeRepository(conn)
        self.appointments = AppointmentRepository(conn)
        self.availability = AvailabilityRepository(conn)
        self.series = SeriesRepository(conn)
        self.calendar_feeds = CalendarFeedRepository(conn)

    def slot_context(
        self, psychologist_id: str, session_type_code: str, start: dt.datetime, end: dt.datetime
    ) -> SlotContext:
        """Everything slot search needs about [start, end), read in this unit's transaction."""
        psychologist = self.psychologists.get(psychologist_id)
        session_type = self.session_types.find(session_type_code)
        if session_type is None:
            raise NotFound("SessionType", session_type_name(session_type_code))
        spec = self.availability.spec(psychologist_id)
        blocks = self.appointments.busy_blocks(psychologist_id, start, end)
        return SlotContext(psychologist, session_type, spec or b"", blocks)


class UnitOfWork(_Repositories, runtime.UnitOfWork):
    """One write transaction: `with UnitOfWork(engine) as uow: uow.clients.add(...)`.
    Commits at the end of the block; rolls back everything if it raises."""

    OUTBOX = outbox


class ReadOnlyUnitOfWork(_Repositories, runtime.ReadOnlyUnitOfWork):
    """Reads in one read-only transaction (no write lock on SQLite); `reader` is
    db.reader(engine). Nothing is committed: the block's end rolls back."""


def run_once(
    engine: Engine,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    write: Callable[[UnitOfWork, dt.datetime], M],
) -> M:
    """`write` in a unit of work with its AIP-155 record and its audit entry
    (phs_runtime.unit_of_work.run_once); an overlap becomes SlotConflict."""
    return runtime.run_once(
        UnitOfWork(engine),
        idempotency_keys,
        method,
        request_id,
        request_hash,
        response_type,
        write,
        translate=lambda exc: SlotConflict() if is_overlap(exc) else None,
    )
