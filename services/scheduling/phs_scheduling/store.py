"""Data access for the scheduling service. Every write runs in one transaction
together with its idempotency record; overlap is enforced by the database.

Refusals are the domain's exceptions (phs_scheduling.domain.errors): NotFound,
Precondition, Conflict, StaleEtag, ConcurrentModification, SlotConflict; the service
maps them to statuses (phs_scheduling.errors)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message
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
from phs_scheduling.domain import lifecycle
from phs_scheduling.domain.errors import (
    ConcurrentModification,
    Conflict,
    NotFound,
    Precondition,
    SlotConflict,
    StaleEtag,
)
from phs_scheduling.mapping import etag_of, late_cancel_of
from phs_scheduling.tables import (
    ACTIVE_STATES,
    appointments,
    availability,
    clients,
    idempotency_keys,
    psychologists,
    series,
    session_types,
)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_scheduling"
OVERLAP_CONSTRAINT = "appointments_no_overlap"

M = TypeVar("M", bound=Message)


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


@dataclass(frozen=True)
class SessionShape:
    """What a booking needs of its session type to compute its times."""

    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int


# A new appointment inserted only if its booking's preconditions hold when the
# statement runs: the psychologist is active and the session type still has the
# shape (`shape_*`) the row's times were computed with. The client is checked by
# its foreign key, overlap by the exclusion constraint. See Store.book_at_once.
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


def _require_psychologist(conn: Connection, psychologist_id: str) -> None:
    """NotFound unless the psychologist exists."""
    if conn.execute(select(psychologists.c.id).where(psychologists.c.id == psychologist_id)).first() is None:
        raise NotFound("Psychologist", f"psychologists/{psychologist_id}")


__all__ = ["AppointmentFilter", "SessionShape", "SlotConflict", "SlotContext", "Store", "etag_of"]


def _is_overlap(exc: IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23P01":  # PostgreSQL exclusion_violation
        return True
    return OVERLAP_CONSTRAINT in str(orig)


@dataclass(frozen=True)
class SlotContext:
    psychologist: Row[Any]
    session_type: Row[Any]
    availability_spec: bytes
    busy_blocks: list[tuple[dt.datetime, dt.datetime]]


@dataclass(frozen=True)
class AppointmentFilter:
    psychologist_id: str | None
    client_id: str | None
    start_from: dt.datetime | None
    start_before: dt.datetime | None
    states: tuple[str, ...]


class Store(db.BaseStore):
    MIGRATIONS = MIGRATIONS
    VERSION_TABLE = VERSION_TABLE

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Session type shapes seen by this process. A stale one is harmless: the
        # booking (book_at_once) checks the shape it used and inserts nothing if it
        # changed (then the caller books the long way and the entry is refreshed).
        self._shapes: dict[str, SessionShape] = {}

    def idempotent_write(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[Connection, dt.datetime], M],
    ) -> M:
        """One transaction with its AIP-155 record; an overlap becomes SlotConflict."""
        return idempotency.run_once(
            self.engine,
            idempotency_keys,
            method,
            request_id,
            request_hash,
            response_type,
            write,
            translate=lambda exc: SlotConflict() if _is_overlap(exc) else None,
        )

    # -- psychologists -------------------------------------------------------

    @staticmethod
    def insert_psychologist(
        conn: Connection, now: dt.datetime, display_name: str, time_zone: str, active: bool
    ) -> dict[str, Any]:
        row = {
            "id": new_id(),
            "display_name": display_name,
            "time_zone": time_zone,
            "active": active,
            "create_time": now,
            "update_time": now,
        }
        conn.execute(insert(psychologists), row)
        return row

    def get_psychologist(self, pid: str) -> Row[Any]:
        with self.reader.connect() as conn:
            row = conn.execute(select(psychologists).where(psychologists.c.id == pid)).first()
        if row is None:
            raise NotFound("Psychologist", f"psychologists/{pid}")
        return row

    def list_psychologists(self, after: list[Any] | None, limit: int) -> Sequence[Row[Any]]:
        return self._list_by_creation(psychologists, after, limit)

    # -- clients ---------------------------------------------------------------

    @staticmethod
    def insert_client(
        conn: Connection,
        now: dt.datetime,
        display_name: str,
        email: str,
        phone: str,
        psychologist_id: str | None,
    ) -> dict[str, Any]:
        if psychologist_id is not None:
            _require_psychologist(conn, psychologist_id)
        row = {
            "id": new_id(),
            "display_name": display_name,
            "email": email,
            "phone": phone,
            "psychologist_id": psychologist_id,
            "create_time": now,
            "update_time": now,
        }
        conn.execute(insert(clients), row)
        return row

    def get_client(self, cid: str) -> Row[Any]:
        with self.reader.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.id == cid)).first()
        if row is None:
            raise NotFound("Client", f"clients/{cid}")
        return row

    def list_clients(
        self, after: list[Any] | None, limit: int, psychologist_id: str | None = None
    ) -> Sequence[Row[Any]]:
        where = [clients.c.psychologist_id == psychologist_id] if psychologist_id else []
        return self._list_by_creation(clients, after, limit, where)

    def _list_by_creation(
        self, table: Any, after: list[Any] | None, limit: int, where: Sequence[Any] = ()
    ) -> Sequence[Row[Any]]:
        q = select(table).where(*where).order_by(table.c.create_time, table.c.id).limit(limit + 1)
        if after:
            t, i = dt.datetime.fromisoformat(after[0]), after[1]
            q = q.where(or_(table.c.create_time > t, and_(table.c.create_time == t, table.c.id > i)))
        with self.reader.connect() as conn:
            return conn.execute(q).all()

    # -- session types -----------------------------------------------------------

    def list_session_types(self, after: list[Any] | None, limit: int) -> Sequence[Row[Any]]:
        q = select(session_types).order_by(session_types.c.code).limit(limit + 1)
        if after:
            q = q.where(session_types.c.code > after[0])
        with self.reader.connect() as conn:
            return conn.execute(q).all()

    # -- appointments --------------------------------------------------------------

    @staticmethod
    def insert_appointment(
        conn: Connection,
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
        # One round trip, one cached statement, for every reference the booking needs.
        refs = conn.execute(
            _BOOKING_REFS, {"pid": psychologist_id, "cid": client_id, "code": session_type_code}
        ).first()
        if refs is None:
            raise NotFound("Psychologist", f"psychologists/{psychologist_id}")
        if not refs.active:
            raise Precondition(
                "PSYCHOLOGIST_INACTIVE",
                "the psychologist does not accept bookings",
                {"psychologist": f"psychologists/{psychologist_id}"},
            )
        if not refs.client_exists:
            raise NotFound("Client", f"clients/{client_id}")
        if refs.code is None:
            raise NotFound("SessionType", f"sessionTypes/{session_type_code}")
        shape = SessionShape(refs.duration_minutes, refs.buffer_before_minutes, refs.buffer_after_minutes)
        row = Store.appointment_row(
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
        conn.execute(db.insert_into(appointments), row)
        return row

    @staticmethod
    def appointment_row(
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
        end = start + dt.timedelta(minutes=shape.duration_minutes)
        return {
            "id": new_id(),
            "psychologist_id": psychologist_id,
            "client_id": client_id,
            "session_type_code": session_type_code,
            "start_time": start,
            "end_time": end,
            "block_start": start - dt.timedelta(minutes=shape.buffer_before_minutes),
            "block_end": end + dt.timedelta(minutes=shape.buffer_after_minutes),
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

    def session_shape(self, code: str) -> SessionShape | None:
        """The session type's shape as this process last saw it (None: no such type)."""
        shape = self._shapes.get(code)
        if shape is None:
            st = session_types.c
            with self.reader.connect() as conn:
                found = conn.execute(
                    select(st.duration_minutes, st.buffer_before_minutes, st.buffer_after_minutes).where(
                        st.code == code
                    )
                ).first()
            if found is None:
                return None
            shape = self._shapes[code] = SessionShape(*found)
        return shape

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
        """Insert the appointment `row` (computed with `shape`), the rows that go with
        it, its request id's record and its audit entry, all computed beforehand
        (idempotency.insert_at_once): on PostgreSQL one statement, a booking's one
        round trip; on SQLite a write transaction of inserts only.

        Raises SlotConflict for an overlap with no request id involved. False when
        nothing was written for any other reason (inactive psychologist, unknown
        client or session type, a changed shape, a request id already used, a
        deadlock): the caller then books with `idempotent_write`, which answers each
        precisely (and runs a deadlock's victim again)."""
        now = row["create_time"]
        params = {
            **row,
            "shape_duration": shape.duration_minutes,
            "shape_before": shape.buffer_before_minutes,
            "shape_after": shape.buffer_after_minutes,
        }
        try:
            inserted = idempotency.insert_at_once(
                self.engine,
                idempotency_keys,
                method,
                request_id,
                request_hash,
                response,
                _APPOINTMENT_IF_BOOKABLE,
                params,
                then,
                now,
            )
        except IntegrityError as exc:
            if not request_id and _is_overlap(exc):
                raise SlotConflict() from None
            return False  # with a request id, an overlap may be this request's replay
        except DBAPIError as exc:
            if db.is_retryable(exc):
                return False  # a deadlock's victim: the long way runs it again
            raise
        if not inserted:
            self.forget_session_shape(row["session_type_code"])  # perhaps stale: read it again next time
        return inserted

    def forget_session_shape(self, code: str) -> None:
        self._shapes.pop(code, None)

    @staticmethod
    def transition(
        conn: Connection,
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
        before = conn.execute(
            select(appointments).where(a.id == appointment_id, a.psychologist_id == psychologist_id)
        ).first()
        name = f"psychologists/{psychologist_id}/appointments/{appointment_id}"
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

    def late_cancel_windows(self, psychologist_ids: Iterable[str]) -> dict[str, dt.timedelta]:
        """Each psychologist's late-cancel window (the policy default when none is set)."""
        ids = sorted(set(psychologist_ids))
        if not ids:
            return {}
        with self.reader.connect() as conn:
            query = select(availability.c.psychologist_id, availability.c.spec).where(
                availability.c.psychologist_id.in_(ids)
            )
            specs = {row.psychologist_id: row.spec for row in conn.execute(query)}
        return {pid: late_cancel_of(specs.get(pid)) for pid in ids}

    @staticmethod
    def late_cancel_window(conn: Connection, psychologist_id: str) -> dt.timedelta:
        """The psychologist's late-cancel window (the policy default when none is set)."""
        spec = conn.execute(
            select(availability.c.spec).where(availability.c.psychologist_id == psychologist_id)
        ).scalar()
        return late_cancel_of(spec)

    @staticmethod
    def link_reschedule(conn: Connection, old_id: str, new_id: str) -> None:
        conn.execute(update(appointments).where(appointments.c.id == old_id).values(rescheduled_to_id=new_id))

    def session_type_of(self, psychologist_id: str, appointment_id: str) -> str:
        with self.reader.connect() as conn:
            code = conn.execute(
                select(appointments.c.session_type_code).where(
                    appointments.c.id == appointment_id, appointments.c.psychologist_id == psychologist_id
                )
            ).scalar()
        if code is None:
            raise NotFound("Appointment", f"psychologists/{psychologist_id}/appointments/{appointment_id}")
        return str(code)

    def conflicting_appointment(
        self, psychologist_id: str, session_type_code: str, start: dt.datetime
    ) -> str | None:
        """The id of an active appointment that blocks this start (for error details)."""
        with self.reader.connect() as conn:
            st = conn.execute(select(session_types).where(session_types.c.code == session_type_code)).first()
            if st is None:
                return None
            end = start + dt.timedelta(minutes=st.duration_minutes)
            block_start = start - dt.timedelta(minutes=st.buffer_before_minutes)
            block_end = end + dt.timedelta(minutes=st.buffer_after_minutes)
            row = conn.execute(
                select(appointments.c.id)
                .where(
                    appointments.c.psychologist_id == psychologist_id,
                    appointments.c.state.in_(ACTIVE_STATES),
                    appointments.c.block_start < block_end,
                    appointments.c.block_end > block_start,
                )
                .limit(1)
            ).first()
        return None if row is None else str(row.id)

    # -- updates ------------------------------------------------------------------------------------

    @staticmethod
    def update_row(
        conn: Connection, table: Any, resource_type: str, name: str, key: str, values: dict[str, Any]
    ) -> Row[Any]:
        """Apply `values` to one row (by primary key) and return it; NOT_FOUND if absent."""
        pk = next(iter(table.primary_key.columns))
        if values:
            res = conn.execute(update(table).where(pk == key).values(**values))
            if res.rowcount != 1:
                raise NotFound(resource_type, name)
        row = conn.execute(select(table).where(pk == key)).first()
        if row is None:
            raise NotFound(resource_type, name)
        return row

    @staticmethod
    def insert_session_type(conn: Connection, row: dict[str, Any]) -> None:
        if conn.execute(select(session_types.c.code).where(session_types.c.code == row["code"])).first():
            raise Conflict(
                "SESSION_TYPE_EXISTS",
                "a session type with that code exists",
                {"session_type": f"sessionTypes/{row['code']}"},
            )
        conn.execute(insert(session_types), row)

    # -- availability and slot search -------------------------------------------------------------

    def slot_context(
        self, psychologist_id: str, session_type_code: str, start: dt.datetime, end: dt.datetime
    ) -> SlotContext:
        """Everything slot search needs, read in one transaction."""
        a = appointments.c
        with self.reader.connect() as conn:
            psych = conn.execute(select(psychologists).where(psychologists.c.id == psychologist_id)).first()
            if psych is None:
                raise NotFound("Psychologist", f"psychologists/{psychologist_id}")
            st = conn.execute(select(session_types).where(session_types.c.code == session_type_code)).first()
            if st is None:
                raise NotFound("SessionType", f"sessionTypes/{session_type_code}")
            spec = conn.execute(
                select(availability.c.spec).where(availability.c.psychologist_id == psychologist_id)
            ).scalar()
            # Blocks are at most a day long: bounding start_time keeps the index range tight.
            blocks = conn.execute(
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
        return SlotContext(psych, st, spec or b"", [(b.block_start, b.block_end) for b in blocks])

    def get_availability(self, psychologist_id: str) -> tuple[bytes, dt.datetime | None]:
        with self.reader.connect() as conn:
            _require_psychologist(conn, psychologist_id)
            row = conn.execute(
                select(availability).where(availability.c.psychologist_id == psychologist_id)
            ).first()
        return (row.spec, row.update_time) if row else (b"", None)

    @staticmethod
    def put_availability(conn: Connection, now: dt.datetime, psychologist_id: str, spec: bytes) -> None:
        _require_psychologist(conn, psychologist_id)
        res = conn.execute(
            update(availability)
            .where(availability.c.psychologist_id == psychologist_id)
            .values(spec=spec, version=availability.c.version + 1, update_time=now)
        )
        if res.rowcount == 0:
            conn.execute(
                insert(availability).values(
                    psychologist_id=psychologist_id, spec=spec, version=1, update_time=now
                )
            )

    # -- series ------------------------------------------------------------------------------------

    @staticmethod
    def insert_series(conn: Connection, row: dict[str, Any]) -> None:
        conn.execute(insert(series), row)

    @staticmethod
    def series_row(conn: Connection, psychologist_id: str, series_id: str) -> Row[Any]:
        row = conn.execute(
            select(series).where(series.c.id == series_id, series.c.psychologist_id == psychologist_id)
        ).first()
        if row is None:
            raise NotFound("Series", f"psychologists/{psychologist_id}/series/{series_id}")
        return row

    @staticmethod
    def occurrences(conn: Connection, series_id: str) -> Sequence[Row[Any]]:
        a = appointments.c
        return conn.execute(select(appointments).where(a.series_id == series_id).order_by(a.start_time)).all()

    def read_series(self, psychologist_id: str, series_id: str) -> tuple[Row[Any], Sequence[Row[Any]]]:
        with self.reader.connect() as conn:
            return self.series_row(conn, psychologist_id, series_id), self.occurrences(conn, series_id)

    def conflicting_starts(
        self, psychologist_id: str, blocks: Sequence[tuple[dt.datetime, dt.datetime, dt.datetime]]
    ) -> list[dt.datetime]:
        """Of (start, block_start, block_end) triples, the starts whose block meets an active appointment."""
        a = appointments.c
        out = []
        with self.reader.connect() as conn:
            for start, bs, be in blocks:
                hit = conn.execute(
                    select(a.id)
                    .where(
                        a.psychologist_id == psychologist_id,
                        a.state.in_(ACTIVE_STATES),
                        a.block_start < be,
                        a.block_end > bs,
                    )
                    .limit(1)
                ).first()
                if hit is not None:
                    out.append(start)
        return out

    def stream_appointments(
        self, psychologist_id: str | None, start: dt.datetime, end: dt.datetime, batch: int = 1000
    ) -> Iterator[Row[Any]]:
        """Every appointment starting in [start, end), in start order, fetched in
        batches through a server-side cursor: memory does not grow with the range."""
        a = appointments.c
        # Timestamps come back as the driver delivers them (text on SQLite, datetime on
        # PostgreSQL; see service.export_pb): the generic type processing would cost
        # more than the rest of the row at a million rows.
        columns = [type_coerce(c, String) if isinstance(c.type, UtcDateTime) else c for c in appointments.c]
        q = select(*columns).where(a.start_time >= start, a.start_time < end).order_by(a.start_time, a.id)
        with self.reader.connect() as conn:
            if psychologist_id is not None:
                _require_psychologist(conn, psychologist_id)
                q = q.where(a.psychologist_id == psychologist_id)
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(q)
            yield from result

    def get_appointment(self, psychologist_id: str, appointment_id: str) -> Row[Any]:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(appointments).where(
                    appointments.c.id == appointment_id,
                    appointments.c.psychologist_id == psychologist_id,
                )
            ).first()
        if row is None:
            raise NotFound("Appointment", f"psychologists/{psychologist_id}/appointments/{appointment_id}")
        return row

    def list_appointments(
        self, f: AppointmentFilter, after: list[Any] | None, limit: int
    ) -> Sequence[Row[Any]]:
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
        with self.reader.connect() as conn:
            if f.psychologist_id:
                _require_psychologist(conn, f.psychologist_id)
            return conn.execute(q).all()
