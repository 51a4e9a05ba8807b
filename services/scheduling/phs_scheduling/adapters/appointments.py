"""Appointments: booking (the long way, `AppointmentRepository.add`, and the fast path,
`book_at_once`), lifecycle transitions, reads, lists and the export stream. Overlap is
enforced by the database (an exclusion constraint on PostgreSQL, triggers on SQLite)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    String,
    Table,
    and_,
    bindparam,
    exists,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime import db, idempotency
from phs_runtime.db import UtcDateTime
from phs_runtime.resources import new_id
from phs_scheduling.adapters.psychologists import require_psychologist
from phs_scheduling.adapters.session_types import SessionShape, SessionTypeRepository
from phs_scheduling.domain import lifecycle
from phs_scheduling.domain.errors import (
    ConcurrentModification,
    NotFound,
    Precondition,
    SlotConflict,
    StaleEtag,
)
from phs_scheduling.mapping import etag_of
from phs_scheduling.names import appointment_name, client_name, psychologist_name, session_type_name
from phs_scheduling.tables import (
    ACTIVE_STATES,
    appointments,
    clients,
    idempotency_keys,
    psychologists,
    session_types,
)

OVERLAP_CONSTRAINT = "appointments_no_overlap"


def is_overlap(exc: IntegrityError) -> bool:
    """Whether the database refused a row for overlapping an active appointment."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23P01":  # PostgreSQL exclusion_violation
        return True
    return OVERLAP_CONSTRAINT in str(orig)


@dataclass(frozen=True)
class AppointmentFilter:
    psychologist_id: str | None
    client_id: str | None
    start_from: dt.datetime | None
    start_before: dt.datetime | None
    states: tuple[str, ...]


def new_row(
    now: dt.datetime,
    psychologist_id: str,
    client_id: str,
    session_type_code: str,
    start: dt.datetime,
    state: str,
    shape: SessionShape,
    rescheduled_from_id: str | None = None,
    series_id: str | None = None,
    original_start_time: dt.datetime | None = None,
) -> dict[str, Any]:
    """A new appointment's row, its times from the session type's shape."""
    end, block_start, block_end = shape.block(start)
    return {
        "id": new_id(),
        "psychologist_id": psychologist_id,
        "client_id": client_id,
        "session_type_code": session_type_code,
        "start_time": start,
        "end_time": end,
        "block_start": block_start,
        "block_end": block_end,
        "state": state,
        "version": 1,
        "create_time": now,
        "update_time": now,
        "cancel_reason": None,
        "cancelled_by": None,
        "cancel_late": None,
        "cancel_time": None,
        "cancel_explanation": None,
        "rescheduled_from_id": rescheduled_from_id,
        "rescheduled_to_id": None,
        "series_id": series_id,
        "original_start_time": original_start_time,
    }


# Every reference a booking needs, in one round trip and one cached statement.
_BOOKING_REFS = (
    select(
        psychologists.c.active,
        exists(select(clients.c.id).where(clients.c.id == bindparam("cid"))).label("client_exists"),
        session_types,
    )
    .select_from(psychologists)
    .outerjoin(session_types, session_types.c.code == bindparam("code"))
    .where(psychologists.c.id == bindparam("pid"))
)


class AppointmentRepository:
    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        now: dt.datetime,
        psychologist_id: str,
        client_id: str,
        session_type_code: str,
        start: dt.datetime,
        state: str,
        rescheduled_from_id: str | None = None,
        series_id: str | None = None,
        original_start_time: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Book: check the references (NotFound, PSYCHOLOGIST_INACTIVE), insert the row
        (an overlap is the database's IntegrityError) and return it."""
        refs = self.connection.execute(
            _BOOKING_REFS, {"pid": psychologist_id, "cid": client_id, "code": session_type_code}
        ).first()
        if refs is None:
            raise NotFound("Psychologist", psychologist_name(psychologist_id))
        if not refs.active:
            raise Precondition(
                "PSYCHOLOGIST_INACTIVE",
                "the psychologist does not accept bookings",
                {"psychologist": psychologist_name(psychologist_id)},
            )
        if not refs.client_exists:
            raise NotFound("Client", client_name(client_id))
        if refs.code is None:
            raise NotFound("SessionType", session_type_name(session_type_code))
        shape = SessionShape(refs.duration_minutes, refs.buffer_before_minutes, refs.buffer_after_minutes)
        row = new_row(
            now,
            psychologist_id,
            client_id,
            session_type_code,
            start,
            state,
            shape,
            rescheduled_from_id=rescheduled_from_id,
            series_id=series_id,
            original_start_time=original_start_time,
        )
        self.connection.execute(db.insert_into(appointments), row)
        return row

    def transition(
        self,
        now: dt.datetime,
        psychologist_id: str,
        appointment_id: str,
        action: lifecycle.Action,
        etag: str,
        values: Callable[[Row[Any]], dict[str, Any]] | None = None,
    ) -> tuple[Row[Any], Row[Any]]:
        """Apply `action` to one appointment if the lifecycle allows it from its state
        and its etag (when given) still matches. `values(before)` returns extra columns
        to set. Returns (before, after)."""
        a = appointments.c
        conn = self.connection
        before = conn.execute(
            select(appointments).where(a.id == appointment_id, a.psychologist_id == psychologist_id)
        ).first()
        name = appointment_name(psychologist_id, appointment_id)
        if before is None:
            raise NotFound("Appointment", name)
        if etag and etag != etag_of(before.version):
            raise StaleEtag(name, etag_of(before.version))
        to_state = lifecycle.next_state(
            action, before.state, start_time=before.start_time, now=now, appointment=name
        )
        extra = values(before) if values is not None else {}
        res = conn.execute(
            update(appointments)
            .where(a.id == appointment_id, a.version == before.version)
            .values(state=to_state.value, version=before.version + 1, update_time=now, **extra)
        )
        if res.rowcount != 1:  # changed between our read and our write
            raise ConcurrentModification(name)
        after: Row[Any] = conn.execute(select(appointments).where(a.id == appointment_id)).one()
        return before, after

    def link_reschedule(self, old_id: str, new_id: str) -> None:
        self.connection.execute(
            update(appointments).where(appointments.c.id == old_id).values(rescheduled_to_id=new_id)
        )

    def get(self, psychologist_id: str, appointment_id: str) -> Row[Any]:
        row = self.connection.execute(
            select(appointments).where(
                appointments.c.id == appointment_id, appointments.c.psychologist_id == psychologist_id
            )
        ).first()
        if row is None:
            raise NotFound("Appointment", appointment_name(psychologist_id, appointment_id))
        return row

    def session_type_of(self, psychologist_id: str, appointment_id: str) -> str:
        code = self.connection.execute(
            select(appointments.c.session_type_code).where(
                appointments.c.id == appointment_id, appointments.c.psychologist_id == psychologist_id
            )
        ).scalar()
        if code is None:
            raise NotFound("Appointment", appointment_name(psychologist_id, appointment_id))
        return str(code)

    def conflicting(self, psychologist_id: str, session_type_code: str, start: dt.datetime) -> str | None:
        """The id of an active appointment that blocks this start (for error details)."""
        shape = SessionTypeRepository(self.connection).shape(session_type_code)
        if shape is None:
            return None
        _end, block_start, block_end = shape.block(start)
        return self._blocking(psychologist_id, block_start, block_end)

    def conflicting_starts(
        self, psychologist_id: str, blocks: Sequence[tuple[dt.datetime, dt.datetime, dt.datetime]]
    ) -> list[dt.datetime]:
        """Of (start, block_start, block_end) triples, the starts whose block meets an active appointment."""
        return [start for start, bs, be in blocks if self._blocking(psychologist_id, bs, be) is not None]

    def _blocking(self, psychologist_id: str, block_start: dt.datetime, block_end: dt.datetime) -> str | None:
        a = appointments.c
        row = self.connection.execute(
            select(a.id)
            .where(
                a.psychologist_id == psychologist_id,
                a.state.in_(ACTIVE_STATES),
                a.block_start < block_end,
                a.block_end > block_start,
            )
            .limit(1)
        ).first()
        return None if row is None else str(row.id)

    def busy_blocks(
        self, psychologist_id: str, start: dt.datetime, end: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """The blocks of active appointments that may meet [start, end), in order."""
        a = appointments.c
        # Blocks are at most a day long: bounding start_time keeps the index range tight.
        blocks = self.connection.execute(
            select(a.block_start, a.block_end)
            .where(
                a.psychologist_id == psychologist_id,
                a.state.in_(ACTIVE_STATES),
                a.start_time >= start - dt.timedelta(days=1),
                a.start_time < end + dt.timedelta(days=1),
                a.block_end > start - dt.timedelta(days=1),
            )
            .order_by(a.block_start)
        ).all()
        return [(b.block_start, b.block_end) for b in blocks]

    def of_series(self, series_id: str) -> Sequence[Row[Any]]:
        """A series' occurrences, in start order."""
        a = appointments.c
        return self.connection.execute(
            select(appointments).where(a.series_id == series_id).order_by(a.start_time)
        ).all()

    def list(self, f: AppointmentFilter, after: list[Any] | None, limit: int) -> Sequence[Row[Any]]:
        a = appointments.c
        q = select(appointments).order_by(a.start_time, a.id).limit(limit + 1)
        if f.psychologist_id:
            q = q.where(a.psychologist_id == f.psychologist_id)
        if f.client_id:
            q = q.where(a.client_id == f.client_id)
        if f.start_from:
            q = q.where(a.start_time >= f.start_from)
        if f.start_before:
            q = q.where(a.start_time < f.start_before)
        if f.states:
            q = q.where(a.state.in_(f.states))
        if after:
            t, i = dt.datetime.fromisoformat(after[0]), after[1]
            q = q.where(or_(a.start_time > t, and_(a.start_time == t, a.id > i)))
        if f.psychologist_id:
            require_psychologist(self.connection, f.psychologist_id)
        return self.connection.execute(q).all()

    def stream(
        self, psychologist_id: str | None, start: dt.datetime, end: dt.datetime, batch: int = 1000
    ) -> Iterator[Row[Any]]:
        """Every appointment starting in [start, end), in start order, fetched in
        batches through a server-side cursor: memory does not grow with the range.
        Lazy: NotFound (unknown psychologist) comes with the first row asked for."""
        a = appointments.c
        # Timestamps come back as the driver delivers them (text on SQLite, datetime on
        # PostgreSQL; see mapping.export_pb): the generic type processing would cost
        # more than the rest of the row at a million rows.
        columns = [type_coerce(c, String) if isinstance(c.type, UtcDateTime) else c for c in appointments.c]
        q = select(*columns).where(a.start_time >= start, a.start_time < end).order_by(a.start_time, a.id)
        if psychologist_id is not None:
            require_psychologist(self.connection, psychologist_id)
            q = q.where(a.psychologist_id == psychologist_id)
        yield from self.connection.execution_options(stream_results=True, yield_per=batch).execute(q)


# A new appointment inserted only if its booking's preconditions hold when the
# statement runs: the psychologist is active and the session type still has the
# shape (`shape_*`) the row's times were computed with. The client is checked by
# its foreign key, overlap by the exclusion constraint. See book_at_once.
_APPOINTMENT_IF_BOOKABLE = insert(appointments).from_select(
    [c.name for c in appointments.c],
    select(
        *[
            psychologists.c.id
            if c.name == "psychologist_id"
            else session_types.c.code
            if c.name == "session_type_code"
            else bindparam(c.name, type_=c.type)
            for c in appointments.c
        ]
    )
    .select_from(
        psychologists.join(
            session_types,
            and_(
                session_types.c.code == bindparam("session_type_code", type_=String),
                session_types.c.duration_minutes == bindparam("shape_duration", type_=Integer),
                session_types.c.buffer_before_minutes == bindparam("shape_before", type_=Integer),
                session_types.c.buffer_after_minutes == bindparam("shape_after", type_=Integer),
            ),
        )
    )
    .where(psychologists.c.id == bindparam("psychologist_id", type_=String), psychologists.c.active),
)


def book_at_once(
    engine: Engine,
    method: str,
    request_id: str,
    request_hash: str,
    row: dict[str, Any],
    shape: SessionShape,
    response: r.Appointment,
    then: Sequence[tuple[Table, dict[str, Any]]],
) -> bool:
    """The booking's fast path: insert the appointment `row` (computed with `shape`),
    the rows that go with it, its request id's record and its audit entry, all computed
    beforehand (idempotency.insert_at_once): on PostgreSQL one statement on an
    autocommit connection, a booking's one round trip; on SQLite a write transaction of
    inserts only. It is a unit of work of its own, so it takes the engine.

    Raises SlotConflict for an overlap with no request id involved. False when nothing
    was written for any other reason (inactive psychologist, unknown client or session
    type, a changed shape, a request id already used, a deadlock): the caller then books
    the long way (AppointmentRepository.add in an idempotent unit of work), which
    answers each precisely (and runs a deadlock's victim again)."""
    params = {
        **row,
        "shape_duration": shape.duration_minutes,
        "shape_before": shape.buffer_before_minutes,
        "shape_after": shape.buffer_after_minutes,
    }
    try:
        return idempotency.insert_at_once(
            engine,
            idempotency_keys,
            method,
            request_id,
            request_hash,
            response,
            _APPOINTMENT_IF_BOOKABLE,
            params,
            then,
            row["create_time"],
        )
    except IntegrityError as exc:
        if not request_id and is_overlap(exc):
            raise SlotConflict() from None
        return False  # with a request id, an overlap may be this request's replay
    except DBAPIError as exc:
        if db.is_retryable(exc):
            return False  # a deadlock's victim: the long way runs it again
        raise
