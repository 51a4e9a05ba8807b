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


# Changes that send a message (and so speak for the calendar event).
_TELLING = frozenset({Change.CREATED, Change.APPROVED, Change.DECLINED, Change.CANCELLED, Change.RESCHEDULED})


def chain(event: Event) -> tuple[str, ...]:
    """The appointments of the event's calendar event that the event itself names, newest
    first: a move's replacement, the appointment, the one it had replaced."""
    names = [event.replacement.name] if event.replacement is not None else []
    names += [event.appointment.name, event.appointment.rescheduled_from]
    return tuple(dict.fromkeys(n for n in names if n))


def history_needed(event: Event, known: Mapping[str, CalendarEntry]) -> bool:
    """Whether the calendar event cannot be told from what is stored: none of the
    appointments the event names has an entry, and the oldest of them replaced another.
    Moves are keyed by the appointment they move, so a chain of moves spans partitions
    and its events may be read in any order: a cancellation of C may come before the
    moves A -> B -> C that made it. The appointments before (scheduling's rescheduled_from
    links, see `plan`'s `history`) then say which calendar event it belongs to."""
    if event.change not in _TELLING or not event.appointment.rescheduled_from:
        return False
    return not any(n in known for n in chain(event))


def _current(names: Sequence[str], known: Mapping[str, CalendarEntry]) -> CalendarEntry | None:
    """The calendar event's state so far: the UID of the newest of `names` with an entry,
    the highest SEQUENCE and the latest change among the entries with that UID."""
    newest = next((known[n] for n in names if n in known), None)
    if newest is None:
        return None
    same = [e for e in known.values() if e.uid == newest.uid]
    times = [e.changed for e in same if e.changed is not None]
    return CalendarEntry(newest.uid, max(e.sequence for e in same), max(times) if times else None)


def plan(
    event: Event,
    offsets: Sequence[dt.timedelta],
    known: Mapping[str, CalendarEntry],
    history: Sequence[str] = (),
) -> Plan:
    """What `event` calls for. `known`: the stored calendar entries of the appointments
    the event names, of those in `history`, and of every other appointment sharing a UID
    with one of them. `history`: the appointments before the oldest one the event names,
    newest first, as scheduling links them (given when `history_needed`).

    One calendar event (one UID) covers an appointment and every move of it. Each
    message about it carries the next SEQUENCE, and only a change newer than every
    change already read about it sends one: events of a moved appointment arrive in any
    order (see `history_needed`; the outbox also re-sends what a broker lost after newer
    messages), and a mail about an older state after a newer one would contradict it.
    An older change still voids the reminders of the appointment it ended."""
    a = event.appointment
    names = chain(event)
    names += tuple(n for n in history if n not in names)
    if event.change in (Change.COMPLETED, Change.NO_SHOW):
        return Plan((), (a.name,), {})
    void = (a.name,) if event.change in (Change.DECLINED, Change.CANCELLED, Change.RESCHEDULED) else ()
    current = _current(names, known)
    if current is not None and current.changed is not None and event.time < current.changed:
        return Plan((), void, dict.fromkeys(names, current), older=True)
    entry = CalendarEntry(
        current.uid if current else calendar_uid(names[-1]),
        current.sequence + 1 if current else 0,
        event.time,
    )
    sends: list[PlannedSend] = []

    def confirm(kind: Kind, about: Appointment, previous: dt.datetime | None = None) -> None:
        method = Method.CANCEL if kind in _CANCELLING else Method.REQUEST
        sends.append(
            PlannedSend(
                kind, about.client, about, event.time, ZERO, entry.uid, entry.sequence, method, previous
            )
        )

    def new_request(about: Appointment) -> None:
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
        if a.state is State.PENDING:
            confirm(Kind.REQUEST_RECEIVED, a)
            new_request(a)
        elif a.state is State.BOOKED:
            confirm(Kind.BOOKED, a)
            sends.extend(reminders(a, offsets, event.time, entry))
    elif event.change is Change.APPROVED:
        confirm(Kind.APPROVED, a)
        sends.extend(reminders(a, offsets, event.time, entry))
    elif event.change in (Change.DECLINED, Change.CANCELLED):
        confirm(Kind.DECLINED if event.change is Change.DECLINED else Kind.CANCELLED, a)
    elif event.change is Change.RESCHEDULED and event.replacement is not None:
        b = event.replacement
        confirm(Kind.MOVED, b, previous=a.start)
        if b.state is State.PENDING:
            new_request(b)
        elif b.state is State.BOOKED:
            sends.extend(reminders(b, offsets, event.time, entry))
    # Every appointment of the chain now stands for the calendar event as it is now.
    return Plan(tuple(sends), void, dict.fromkeys(names, entry))


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


def confirmation_verdict(
    send: PlannedSend, now: dt.datetime, max_age: dt.timedelta, superseded: bool = False
) -> Verdict:
    """A confirmation goes out while it is news: not about an appointment already over,
    not long after the change it reports (a new consumer group reading old events, a
    long outage: the person has long been told by the web app or the practice), and not
    once the recipient has been sent a later message about the same calendar event
    (`superseded`: a higher SEQUENCE went out first, e.g. while this one waited for a
    retry); it would tell them something no longer true."""
    if now >= send.appointment.end:
        return skip("PAST")
    if now - send.due > max_age:
        return skip("STALE")
    if superseded:
        return skip("SUPERSEDED")
    return GO


def superseded_together(sends: Sequence[PlannedSend]) -> list[bool]:
    """For confirmations taken in one round: whether each is about a calendar event that
    a higher SEQUENCE to the same recipient in the same round also reports. Only the
    latest goes: sent side by side over several connections they could arrive in either
    order, and the older one tells something no longer true. Reminders are never."""
    latest: dict[tuple[str, str], int] = {}
    for send in sends:
        if send.kind is not Kind.REMINDER:
            key = (send.uid, send.recipient)
            latest[key] = max(latest.get(key, send.sequence), send.sequence)
    return [
        send.kind is not Kind.REMINDER and send.sequence < latest[(send.uid, send.recipient)]
        for send in sends
    ]


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
