"""Which messages an appointment change calls for, when reminders fall due, and
whether a planned message may still go out when its time comes.

Planning happens once per event (the consumer records the plan with the event id,
so a redelivered event plans nothing). Sending decides again at send time from
the appointment's current state, so a plan made from an event is never trusted
to still be true: a cancelled or moved appointment gets no reminder even when its
cancellation has not been read yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from phs_notifications.domain.model import (
    Appointment,
    CalendarEntry,
    Change,
    ClientPreferences,
    Event,
    Kind,
    Method,
    Plan,
    PlannedSend,
    PsychologistPreferences,
    State,
)

ZERO = dt.timedelta(0)
DEFAULT_REMINDER_OFFSETS = (dt.timedelta(hours=24), dt.timedelta(hours=2))
UID_DOMAIN = "phs.health"

# Kinds whose calendar part withdraws the event.
_CANCELLING = frozenset({Kind.DECLINED, Kind.CANCELLED})


def calendar_uid(appointment: str) -> str:
    """A stable iCalendar UID for an appointment that was never moved: derived from its
    name alone (hashed: a UID is visible to mail clients and servers, an id need not be)."""
    return f"{hashlib.sha256(appointment.encode()).hexdigest()[:32]}@{UID_DOMAIN}"


def reminder_due(start: dt.datetime, offset: dt.timedelta) -> dt.datetime:
    return start - offset


def reminders(
    appointment: Appointment,
    offsets: Sequence[dt.timedelta],
    planned_at: dt.datetime,
    entry: CalendarEntry,
) -> list[PlannedSend]:
    """The reminders of a booked appointment: one per offset whose time is still to come
    when the booking happened (`planned_at`, the event's time). One already past then is
    covered by the confirmation sent at that moment. The event time, not the time of
    reading, decides: a reminder that fell due while this service was down is planned,
    and the send-time check decides whether it is still before the appointment."""
    out = []
    for offset in sorted(set(offsets), reverse=True):
        due = reminder_due(appointment.start, offset)
        if due > planned_at:
            out.append(
                PlannedSend(
                    Kind.REMINDER,
                    appointment.client,
                    appointment,
                    due,
                    offset,
                    entry.uid,
                    entry.sequence,
                    Method.REQUEST,
                )
            )
    return out


def _entry_for(
    appointment: Appointment, known: Mapping[str, CalendarEntry], moved_from: str = ""
) -> CalendarEntry:
    """The calendar entry after one more message about `appointment`: its own if known,
    else the one of the appointment it replaced (a move keeps the UID, so mail clients
    update the event in place), else a new one. SEQUENCE goes up by one per message."""
    own = known.get(appointment.name)
    if own is None:
        source = moved_from or appointment.rescheduled_from
        before = known.get(source) if source else None
        if before is None and source:
            before = CalendarEntry(calendar_uid(source), -1)
        own = before or CalendarEntry(calendar_uid(appointment.name), -1)
    return CalendarEntry(own.uid, own.sequence + 1)


def plan(event: Event, offsets: Sequence[dt.timedelta], known: Mapping[str, CalendarEntry]) -> Plan:
    """What `event` calls for. `known`: the calendar entries of the appointments it
    names (and of the one the appointment replaced), as stored so far."""
    a = event.appointment
    sends: list[PlannedSend] = []
    void: list[str] = []
    calendar: dict[str, CalendarEntry] = {}

    def confirm(
        kind: Kind, about: Appointment, entry: CalendarEntry, previous: dt.datetime | None = None
    ) -> None:
        method = Method.CANCEL if kind in _CANCELLING else Method.REQUEST
        sends.append(
            PlannedSend(
                kind, about.client, about, event.time, ZERO, entry.uid, entry.sequence, method, previous
            )
        )

    def new_request(about: Appointment, entry: CalendarEntry) -> None:
        sends.append(
            PlannedSend(
                Kind.NEW_REQUEST,
                about.psychologist,
                about,
                event.time,
                ZERO,
                entry.uid,
                entry.sequence,
                Method.REQUEST,
            )
        )

    if event.change is Change.CREATED:
        entry = calendar[a.name] = _entry_for(a, known)
        if a.state is State.PENDING:
            confirm(Kind.REQUEST_RECEIVED, a, entry)
            new_request(a, entry)
        elif a.state is State.BOOKED:
            confirm(Kind.BOOKED, a, entry)
            sends.extend(reminders(a, offsets, event.time, entry))
    elif event.change is Change.APPROVED:
        entry = calendar[a.name] = _entry_for(a, known)
        confirm(Kind.APPROVED, a, entry)
        sends.extend(reminders(a, offsets, event.time, entry))
    elif event.change in (Change.DECLINED, Change.CANCELLED):
        entry = calendar[a.name] = _entry_for(a, known)
        confirm(Kind.DECLINED if event.change is Change.DECLINED else Kind.CANCELLED, a, entry)
        void.append(a.name)
    elif event.change is Change.RESCHEDULED and event.replacement is not None:
        b = event.replacement
        void.append(a.name)
        entry = calendar[b.name] = _entry_for(b, known, moved_from=a.name)
        calendar[a.name] = entry  # the old name now stands for the moved event
        confirm(Kind.MOVED, b, entry, previous=a.start)
        if b.state is State.PENDING:
            new_request(b, entry)
        elif b.state is State.BOOKED:
            sends.extend(reminders(b, offsets, event.time, entry))
    elif event.change in (Change.COMPLETED, Change.NO_SHOW):
        void.append(a.name)
    return Plan(tuple(sends), tuple(void), calendar)


# -- at send time ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether a planned message goes out now; if not, why (a code for logs and metrics)."""

    send: bool
    reason: str = ""


GO = Verdict(True)


def skip(reason: str) -> Verdict:
    return Verdict(False, reason)


def reminder_verdict(
    send: PlannedSend,
    now: dt.datetime,
    current: Appointment | None,
    sooner_due: bool,
) -> Verdict:
    """A reminder goes out only before the appointment, only while it is booked at the
    time it was planned for, and only if no later reminder of it is due as well (after
    an outage the closest one speaks for all)."""
    if now >= send.appointment.start:
        return skip("TOO_LATE")
    if current is None:
        return skip("APPOINTMENT_GONE")
    if current.state is not State.BOOKED:
        return skip("NOT_BOOKED")
    if current.start != send.appointment.start:
        return skip("MOVED")
    if sooner_due:
        return skip("SUPERSEDED")
    return GO


def confirmation_verdict(send: PlannedSend, now: dt.datetime, max_age: dt.timedelta) -> Verdict:
    """A confirmation goes out while it is news: not about an appointment already over,
    and not long after the change it reports (a new consumer group reading old events, a
    long outage: the person has long been told by the web app or the practice)."""
    if now >= send.appointment.end:
        return skip("PAST")
    if now - send.due > max_age:
        return skip("STALE")
    return GO


def client_verdict(send: PlannedSend, prefs: ClientPreferences) -> Verdict:
    if not prefs.email_enabled:
        return skip("OPTED_OUT")
    if send.kind is Kind.REMINDER and not prefs.wants_reminder(send.offset):
        return skip("REMINDER_NOT_WANTED")
    return GO


def psychologist_verdict(prefs: PsychologistPreferences) -> Verdict:
    if not prefs.new_request_emails:
        return skip("OPTED_OUT")
    if not prefs.email:
        return skip("NO_ADDRESS")
    return GO


def next_retry(attempts: int, base: dt.timedelta, cap: dt.timedelta) -> dt.timedelta:
    """Exponential back-off after `attempts` failed tries."""
    step: dt.timedelta = base * (2 ** max(0, attempts - 1))
    return min(cap, step)


Clock = Callable[[], dt.datetime]
