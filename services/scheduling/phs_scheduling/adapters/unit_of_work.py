"""Units of work: the repositories over one connection, in one transaction.

`UnitOfWork` is a write transaction (db.write_transaction: on SQLite the writer lock
and the shared writer connection): it commits when its block ends and rolls back if
the block raises. `run_once` runs a write in one, together with its AIP-155 record and
its audit entry (idempotency.run_once); a change's outbox events go through `enqueue`,
so the change, its request id's record, its audit row and its events commit together
or not at all. `ReadOnlyUnitOfWork` reads through the reader engine (no write lock)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine

from phs_runtime import db, idempotency
from phs_runtime import outbox as outbox_mod
from phs_runtime.outbox import OutboxMessage
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
        self.connection = conn
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


class UnitOfWork(_Repositories):
    """One write transaction: `with UnitOfWork(engine) as uow: uow.clients.add(...)`.
    Commits at the end of the block; rolls back everything if it raises."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._transaction: contextlib.AbstractContextManager[Connection] | None = None

    def __enter__(self) -> Self:
        if self._transaction is not None:
            raise RuntimeError("this unit of work is already in progress")
        transaction = db.write_transaction(self.engine)
        self._bind(transaction.__enter__())
        self._transaction = transaction
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        transaction, self._transaction = self._transaction, None
        assert transaction is not None
        return transaction.__exit__(kind, exc, tb)

    def enqueue(self, message: OutboxMessage, now: dt.datetime) -> None:
        """An event for the outbox relay, committed with the change (transactional outbox)."""
        outbox_mod.enqueue(self.connection, outbox, message, now)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """This unit as a plain transaction, for runtime routines that want a connection."""
        with self:
            yield self.connection


class ReadOnlyUnitOfWork(_Repositories):
    """Reads in one read-only transaction (no write lock on SQLite); `reader` is
    db.reader(engine). Nothing is committed: the block's end rolls back."""

    def __init__(self, reader: Engine) -> None:
        self.reader = reader

    def __enter__(self) -> Self:
        self._bind(self.reader.connect())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.connection.close()


def run_once(
    engine: Engine,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    write: Callable[[UnitOfWork, dt.datetime], M],
) -> M:
    """`write` in a unit of work with its AIP-155 record and its audit entry
    (idempotency.run_once: a replay answers the first response, a deadlock's victim
    runs again in a new transaction); an overlap becomes SlotConflict."""
    uow = UnitOfWork(engine)
    return idempotency.run_once(
        engine,
        idempotency_keys,
        method,
        request_id,
        request_hash,
        response_type,
        lambda _conn, now: write(uow, now),
        translate=lambda exc: SlotConflict() if is_overlap(exc) else None,
        transaction=uow.transaction,
    )
