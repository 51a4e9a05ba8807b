"""The notifications database: the durable schedule of sends and its claims,
processed events, calendar entries and preferences. SQLite by default,
PostgreSQL in production (the same statements on both).

Claims are leases: a conditional UPDATE takes a due row only if nobody holds an
unexpired lease on it, so any number of replicas may poll the same table and each
row is worked on by one of them at a time. Every later step (marking it as handed
to SMTP, recording the outcome) is conditional on still holding the claim.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from phs_notifications.adapters.tables import (
    FAILED,
    OPEN_STATES,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    calendar_entries,
    client_preferences,
    deliveries,
    idempotency_keys,
    processed_events,
    psychologist_preferences,
)
from phs_notifications.domain.model import (
    Appointment,
    CalendarEntry,
    ClientPreferences,
    Kind,
    Method,
    Plan,
    PlannedSend,
    PsychologistPreferences,
    State,
)
from phs_runtime import db, idempotency

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version_notifications"
# The transaction-level advisory lock that orders planning on PostgreSQL (record_event):
# a fixed key, distinct from the migration and outbox locks.
PLANNING_LOCK = zlib.crc32(b"phs.notifications.planning") & 0x7FFFFFFF


@dataclass(frozen=True)
class Delivery:
    """A stored send: the plan plus its bookkeeping."""

    id: str
    send: PlannedSend
    state: str
    attempts: int
    unconfirmed: int
    message_id: str
    request_id: str | None
    outcome: str


def _send_of(row: Row[Any]) -> PlannedSend:
    appointment = Appointment(
        name=row.appointment,
        client=row.client,
        session_type=row.session_type,
        start=row.start_time,
        end=row.end_time,
        state=State(row.appointment_state),
    )
    return PlannedSend(
        kind=Kind(row.kind),
        recipient=row.recipient,
        appointment=appointment,
        due=row.due_time,
        offset=dt.timedelta(seconds=row.offset_s),
        uid=row.uid,
        sequence=row.sequence,
        method=Method(row.method),
        previous_start=row.previous_start_time,
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        send=_send_of(row),
        state=row.state,
        attempts=row.attempts,
        unconfirmed=row.unconfirmed,
        message_id=row.message_id,
        request_id=row.request_id,
        outcome=row.outcome,
    )


M = TypeVar("M", bound=Message)


class Store(db.BaseStore):
    MIGRATIONS = MIGRATIONS
    VERSION_TABLE = VERSION_TABLE

    # -- planning (the consumer) ------------------------------------------------------------

    def _insert_ignoring_duplicates(
        self, conn: Connection, table: Any, rows: Sequence[dict[str, Any]]
    ) -> int:
        if not rows:
            return 0
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        # Without preserve_rowcount SQLAlchemy answers -1 for an INSERT on PostgreSQL
        # (psycopg), and a redelivered event would look new.
        stmt = dialect.insert(table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        return sum(conn.execute(stmt, row).rowcount for row in rows)

    def calendar_entries(self, names: Iterable[str]) -> dict[str, CalendarEntry]:
        """The stored calendar entries of `names` (those that have one)."""
        with self.reader.connect() as conn:
            return _entries(conn, names)

    def record_event(
        self,
        event_id: str,
        request_id: str | None,
        names: Iterable[str],
        planner: Callable[[Mapping[str, CalendarEntry]], Plan],
        now: dt.datetime,
    ) -> Plan | None:
        """Plan an event once: in one transaction, remember its id, read the calendar
        entries of `names` and of the other appointments of their calendar events, store
        what `planner` makes of them. None if the event was planned before (a redelivery)."""
        with db.write_transaction(self.engine) as conn:
            if not self._insert_ignoring_duplicates(
                conn, processed_events, [{"event_id": event_id, "process_time": now}]
            ):
                return None
            if conn.dialect.name == "postgresql":
                # One planner at a time across replicas: two partitions' events about one
                # moved appointment name different rows of one calendar event, so row locks
                # would not order them. (SQLite has one writer anyway.) Planning is a few
                # statements, and events come at the pace of people changing appointments.
                conn.execute(select(func.pg_advisory_xact_lock(PLANNING_LOCK)))
            known = _entries(conn, names)
            uids = sorted({e.uid for e in known.values()})
            if uids:
                c = calendar_entries.c
                for r in conn.execute(select(calendar_entries).where(c.uid.in_(uids))):
                    known.setdefault(r.appointment, _entry(r))
            plan = planner(known)
            if plan.void_reminders_of:
                conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.appointment.in_(plan.void_reminders_of),
                        deliveries.c.kind == Kind.REMINDER.value,
                        deliveries.c.state == PENDING,
                    )
                    .values(state=SKIPPED, outcome="VOIDED", update_time=now)
                )
            rows = [self._row(s, event_id, request_id, now) for s in plan.sends]
            self._insert_ignoring_duplicates(conn, deliveries, rows)
            for name, entry in plan.calendar.items():
                self._put_entry(conn, name, entry, now)
            for entry in set(plan.calendar.values()):
                # Every appointment of the calendar event, named by this event or not,
                # stands for its state now.
                conn.execute(
                    update(calendar_entries)
                    .where(calendar_entries.c.uid == entry.uid)
                    .values(sequence=entry.sequence, change_time=entry.changed, update_time=now)
                )
        return plan

    def _put_entry(self, conn: Connection, name: str, entry: CalendarEntry, now: dt.datetime) -> None:
        row = {
            "appointment": name,
            "uid": entry.uid,
            "sequence": entry.sequence,
            "change_time": entry.changed,
            "update_time": now,
        }
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        ins = dialect.insert(calendar_entries).values(row)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["appointment"], set_={k: v for k, v in row.items() if k != "appointment"}
            )
        )

    def _row(self, s: PlannedSend, event_id: str, request_id: str | None, now: dt.datetime) -> dict[str, Any]:
        delivery_id = uuid.uuid4().hex
        return {
            "id": delivery_id,
            "appointment": s.appointment.name,
            "kind": s.kind.value,
            "offset_s": s.offset_seconds,
            "recipient": s.recipient,
            "due_time": s.due,
            "state": PENDING,
            "outcome": "",
            "attempts": 0,
            "unconfirmed": 0,
            # Set at the first hand-off to SMTP (mark_sending), from the delivery's id and
            # the sender's domain: a resend after a crash carries the same Message-ID, so
            # mail systems and clients can tell it is the same message.
            "message_id": "",
            "client": s.appointment.client,
            "session_type": s.appointment.session_type,
            "appointment_state": s.appointment.state.value,
            "start_time": s.appointment.start,
            "end_time": s.appointment.end,
            "previous_start_time": s.previous_start,
            "uid": s.uid,
            "sequence": s.sequence,
            "method": s.method.value,
            "event_id": event_id,
            "request_id": request_id,
            "create_time": now,
            "update_time": now,
        }

    # -- sending (the dispatcher) -----------------------------------------------------------

    def due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        d = deliveries.c
        stmt = (
            select(deliveries)
            .where(
                d.state.in_(OPEN_STATES),
                d.due_time <= now,
                or_(d.claimed_until.is_(None), d.claimed_until < now),
            )
            .order_by(d.due_time)
            .limit(limit)
        )
        with self.reader.connect() as conn:
            return [_delivery(r) for r in conn.execute(stmt)]

    def claim(self, delivery_id: str, me: str, now: dt.datetime, lease: dt.timedelta) -> Delivery | None:
        """Take the row for `lease` if it is open and nobody holds it; the row as taken."""
        taken = self.claim_all([delivery_id], me, now, lease)
        return taken[0] if taken else None

    def claim_all(
        self, delivery_ids: Sequence[str], me: str, now: dt.datetime, lease: dt.timedelta
    ) -> list[Delivery]:
        """`claim` for each row, in one transaction; the rows taken, as taken, in the
        order given. Each row is taken on its own condition: the ones another replica
        holds are left to it."""
        d = deliveries.c
        taken: list[str] = []
        with db.write_transaction(self.engine) as conn:
            for delivery_id in delivery_ids:
                if conn.execute(
                    update(deliveries)
                    .where(
                        d.id == delivery_id,
                        d.state.in_(OPEN_STATES),
                        or_(d.claimed_until.is_(None), d.claimed_until < now),
                    )
                    .values(
                        claimed_by=me, claimed_until=now + lease, attempts=d.attempts + 1, update_time=now
                    )
                ).rowcount:
                    taken.append(delivery_id)
            if not taken:
                return []
            rows = {r.id: _delivery(r) for r in conn.execute(select(deliveries).where(d.id.in_(taken)))}
        return [rows[i] for i in taken]

    def renew(self, delivery_ids: Sequence[str], me: str, now: dt.datetime, lease: dt.timedelta) -> set[str]:
        """Extend the claims this replica still holds (unexpired) on these rows by
        `lease` from now; the ids still held."""
        d = deliveries.c
        if not delivery_ids:
            return set()
        held = and_(
            d.id.in_(delivery_ids), d.claimed_by == me, d.state.in_(OPEN_STATES), d.claimed_until >= now
        )
        with db.write_transaction(self.engine) as conn:
            conn.execute(update(deliveries).where(held).values(claimed_until=now + lease, update_time=now))
            return set(conn.execute(select(d.id).where(held)).scalars())

    def release(self, delivery_ids: Sequence[str], me: str, now: dt.datetime) -> int:
        """Give back claimed rows this replica did not get to (it is stopping): due again
        at once for any replica, and the claim's attempt not counted. Only for rows not
        handed to SMTP under this claim."""
        d = deliveries.c
        if not delivery_ids:
            return 0
        with db.write_transaction(self.engine) as conn:
            return int(
                conn.execute(
                    update(deliveries)
                    .where(d.id.in_(delivery_ids), d.claimed_by == me, d.state.in_(OPEN_STATES))
                    .values(claimed_until=None, attempts=d.attempts - 1, update_time=now)
                ).rowcount
            )

    def sooner_reminder_due(self, x: Delivery, now: dt.datetime) -> bool:
        """Another reminder of the same appointment with a smaller offset is due too (or
        went out): after an outage only the closest one is worth sending."""
        d = deliveries.c
        stmt = select(func.count()).where(
            d.appointment == x.send.appointment.name,
            d.recipient == x.send.recipient,
            d.kind == Kind.REMINDER.value,
            d.offset_s < x.send.offset_seconds,
            d.due_time <= now,
            d.state.in_((PENDING, SENDING, SENT)),
        )
        with self.reader.connect() as conn:
            return bool(conn.execute(stmt).scalar_one())

    def later_message_sent(self, x: Delivery) -> bool:
        """The recipient has been handed a message about the same calendar event with a
        higher SEQUENCE (or one is on its way to SMTP)."""
        d = deliveries.c
        stmt = select(func.count()).where(
            d.uid == x.send.uid,
            d.recipient == x.send.recipient,
            d.sequence > x.send.sequence,
            d.state.in_((SENDING, SENT)),
        )
        with self.reader.connect() as conn:
            return bool(conn.execute(stmt).scalar_one())

    def _mine(self, delivery_id: str, me: str) -> Any:
        d = deliveries.c
        return and_(d.id == delivery_id, d.claimed_by == me, d.state.in_(OPEN_STATES))

    def mark_sending(
        self, delivery_id: str, me: str, now: dt.datetime, lease: dt.timedelta, message_id: str
    ) -> bool:
        """Record that the message, with this Message-ID, is about to be handed to SMTP
        (before the first byte)."""
        d = deliveries.c
        with db.write_transaction(self.engine) as conn:
            return bool(
                conn.execute(
                    update(deliveries)
                    .where(self._mine(delivery_id, me), d.claimed_until >= now)
                    .values(
                        state=SENDING,
                        message_id=message_id,
                        unconfirmed=d.unconfirmed + 1,
                        claimed_until=now + lease,
                        update_time=now,
                    )
                ).rowcount
            )

    def finish(self, delivery_id: str, me: str, state: str, outcome: str, now: dt.datetime) -> bool:
        """SENT, SKIPPED or FAILED, for good."""
        assert state in (SENT, SKIPPED, FAILED)
        values: dict[str, Any] = {
            "state": state,
            "outcome": outcome,
            "claimed_until": None,
            "update_time": now,
        }
        if state == SENT:
            values["sent_time"] = now
        with db.write_transaction(self.engine) as conn:
            return bool(
                conn.execute(update(deliveries).where(self._mine(delivery_id, me)).values(values)).rowcount
            )

    def retry_later(
        self,
        delivery_id: str,
        me: str,
        at: dt.datetime,
        outcome: str,
        now: dt.datetime,
        *,
        not_sent: bool,
        marked: bool = True,
    ) -> bool:
        """Give the row back until `at`. `not_sent`: SMTP certainly did not take it (a
        refusal, no connection), so this attempt is not counted as unconfirmed; otherwise
        it stays SENDING and the next try counts as a resend. `marked`: this attempt got
        as far as mark_sending; one that did not (a lookup failed first) has no count of
        its own to take back, and leaves the row as it was: SENDING from an earlier
        attempt's unknown outcome stays so, with its count."""
        d = deliveries.c
        values: dict[str, Any] = {
            "due_time": at,
            "claimed_until": None,
            "outcome": outcome,
            "update_time": now,
        }
        with db.write_transaction(self.engine) as conn:
            state = conn.execute(select(d.state).where(d.id == delivery_id)).scalar_one_or_none()
            if not_sent and marked:
                values["state"] = PENDING
                if state == SENDING:  # this attempt counted itself as unconfirmed: it was not
                    values["unconfirmed"] = d.unconfirmed - 1
            return bool(
                conn.execute(update(deliveries).where(self._mine(delivery_id, me)).values(values)).rowcount
            )

    def backlog(self, now: dt.datetime) -> tuple[int, float]:
        """(due and not sent, age in seconds of the oldest of them)."""
        d = deliveries.c
        stmt = select(func.count(), func.min(d.due_time)).where(d.state.in_(OPEN_STATES), d.due_time <= now)
        with self.reader.connect() as conn:
            count, oldest = conn.execute(stmt).one()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        return int(count), (now - oldest).total_seconds() if oldest else 0.0

    def deliveries_of(self, appointment: str) -> list[Delivery]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.appointment == appointment)
                .order_by(deliveries.c.due_time)
            )
            return [_delivery(r) for r in rows]

    # -- preferences ----------------------------------------------------------------------------

    def client_preferences(self, client: str) -> tuple[ClientPreferences, dt.datetime | None]:
        with self.reader.connect() as conn:
            return _client_preferences(conn, client)

    def psychologist_preferences(
        self, psychologist: str
    ) -> tuple[PsychologistPreferences, dt.datetime | None]:
        with self.reader.connect() as conn:
            return _psychologist_preferences(conn, psychologist)

    def update_client_preferences(
        self,
        client: str,
        change: Callable[[ClientPreferences, dt.datetime], tuple[ClientPreferences, M]],
        once: Once[M],
    ) -> M:
        """Read, change and write one client's preferences in one transaction (no
        concurrent update is lost), with the request id's record and the audit entry."""

        def write(conn: Connection, now: dt.datetime) -> M:
            new, response = change(_client_preferences(conn, client)[0], now)
            offsets = (
                None
                if new.reminder_offsets is None
                else json.dumps(sorted(int(o.total_seconds()) for o in new.reminder_offsets))
            )
            row = {
                "client": client,
                "email_enabled": new.email_enabled,
                "reminder_offsets": offsets,
                "time_zone": new.time_zone,
                "update_time": now,
            }
            _upsert(conn, client_preferences, "client", row)
            return response

        return self._once(once, write)

    def update_psychologist_preferences(
        self,
        psychologist: str,
        change: Callable[[PsychologistPreferences, dt.datetime], tuple[PsychologistPreferences, M]],
        once: Once[M],
    ) -> M:
        """As update_client_preferences, for a psychologist's own."""

        def write(conn: Connection, now: dt.datetime) -> M:
            new, response = change(_psychologist_preferences(conn, psychologist)[0], now)
            row = {
                "psychologist": psychologist,
                "new_request_emails": new.new_request_emails,
                "email": new.email,
                "update_time": now,
            }
            _upsert(conn, psychologist_preferences, "psychologist", row)
            return response

        return self._once(once, write)

    def _once(self, once: Once[M], write: Callable[[Connection, dt.datetime], M]) -> M:
        return idempotency.run_once(
            self.engine,
            idempotency_keys,
            once.method,
            once.request_id,
            once.request_hash,
            once.response_type,
            write,
        )


@dataclass(frozen=True)
class Once(Generic[M]):
    """What makes a write idempotent (AIP-155): the method, the caller's request id,
    the request's fingerprint and the response's type (to answer a replay)."""

    method: str
    request_id: str
    request_hash: str
    response_type: type[M]


def _entry(row: Row[Any]) -> CalendarEntry:
    return CalendarEntry(row.uid, row.sequence, row.change_time)


def _entries(conn: Connection, names: Iterable[str]) -> dict[str, CalendarEntry]:
    wanted = sorted(set(names))
    stmt = select(calendar_entries).where(calendar_entries.c.appointment.in_(wanted))
    return {r.appointment: _entry(r) for r in conn.execute(stmt)}


def _client_preferences(conn: Connection, client: str) -> tuple[ClientPreferences, dt.datetime | None]:
    row = conn.execute(select(client_preferences).where(client_preferences.c.client == client)).first()
    if row is None:
        return ClientPreferences(), None
    offsets = (
        None
        if row.reminder_offsets is None
        else tuple(dt.timedelta(seconds=s) for s in json.loads(row.reminder_offsets))
    )
    return ClientPreferences(row.email_enabled, offsets, row.time_zone), row.update_time


def _psychologist_preferences(
    conn: Connection, psychologist: str
) -> tuple[PsychologistPreferences, dt.datetime | None]:
    t = psychologist_preferences
    row = conn.execute(select(t).where(t.c.psychologist == psychologist)).first()
    if row is None:
        return PsychologistPreferences(), None
    return PsychologistPreferences(row.new_request_emails, row.email), row.update_time


def _upsert(conn: Connection, table: Any, key: str, row: dict[str, Any]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ins = dialect.insert(table).values(row)
    conn.execute(
        ins.on_conflict_do_update(index_elements=[key], set_={k: v for k, v in row.items() if k != key})
    )
