"""What the notifications service plans for each appointment event, when reminders
fall due, and what it decides at send time (pure rules, no ports)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

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
from phs_notifications.domain.rules import (
    calendar_uid,
    client_verdict,
    confirmation_verdict,
    history_needed,
    next_retry,
    plan,
    psychologist_verdict,
    reminder_verdict,
    superseded_together,
)
from phs_notifications.settings import parse_offsets
from phs_runtime.config import ConfigError

H = dt.timedelta(hours=1)
T0 = dt.datetime(2027, 3, 10, 9, 0, tzinfo=dt.UTC)  # when the events happen
START = dt.datetime(2027, 3, 14, 15, 0, tzinfo=dt.UTC)
OFFSETS = (24 * H, 2 * H)
NAME = "psychologists/p1/appointments/a1"


def appt(state: State, name: str = NAME, start: dt.datetime = START, moved_from: str = "") -> Appointment:
    return Appointment(name, "clients/c1", "sessionTypes/90834", start, start + 0.75 * H, state, moved_from)


def event(
    change: Change, a: Appointment, replacement: Appointment | None = None, at: dt.datetime = T0
) -> Event:
    return Event("e-1", change, a, replacement, at)


def kinds(p: Plan) -> list[tuple[Kind, str, int]]:
    return [(s.kind, s.recipient, s.offset_seconds) for s in p.sends]


def test_a_request_confirms_to_the_client_and_tells_the_psychologist() -> None:
    p = plan(event(Change.CREATED, appt(State.PENDING)), OFFSETS, {})
    assert kinds(p) == [(Kind.REQUEST_RECEIVED, "clients/c1", 0), (Kind.NEW_REQUEST, "psychologists/p1", 0)]
    assert all(s.due == T0 and s.method is Method.REQUEST for s in p.sends)
    assert p.void_reminders_of == ()


def test_a_direct_booking_confirms_and_plans_every_reminder() -> None:
    p = plan(event(Change.CREATED, appt(State.BOOKED)), OFFSETS, {})
    assert kinds(p) == [
        (Kind.BOOKED, "clients/c1", 0),
        (Kind.REMINDER, "clients/c1", 86400),
        (Kind.REMINDER, "clients/c1", 7200),
    ]
    assert [s.due for s in p.sends[1:]] == [START - 24 * H, START - 2 * H]


def test_approval_confirms_and_plans_reminders_still_to_come() -> None:
    late = START - 5 * H  # approved five hours before: the 24 h reminder's time has passed
    p = plan(event(Change.APPROVED, appt(State.BOOKED), at=late), OFFSETS, {})
    assert kinds(p) == [(Kind.APPROVED, "clients/c1", 0), (Kind.REMINDER, "clients/c1", 7200)]


def test_a_reminder_due_while_the_service_was_down_is_still_planned() -> None:
    """The event time decides, not the time it is read: read after its due time, the
    reminder is planned and the send-time check decides."""
    p = plan(event(Change.CREATED, appt(State.BOOKED), at=START - 30 * H), OFFSETS, {})
    assert [s.offset_seconds for s in p.sends if s.kind is Kind.REMINDER] == [86400, 7200]


@pytest.mark.parametrize(
    ("change", "kind"), [(Change.DECLINED, Kind.DECLINED), (Change.CANCELLED, Kind.CANCELLED)]
)
def test_a_decline_or_cancellation_withdraws_the_event_and_voids_reminders(
    change: Change, kind: Kind
) -> None:
    known = {NAME: CalendarEntry("u@x", 1)}
    p = plan(event(change, appt(State.CANCELLED)), OFFSETS, known)
    assert kinds(p) == [(kind, "clients/c1", 0)]
    assert p.sends[0].method is Method.CANCEL
    assert (p.sends[0].uid, p.sends[0].sequence) == ("u@x", 2)
    assert p.void_reminders_of == (NAME,)


def test_a_move_keeps_the_calendar_uid_raises_the_sequence_and_replans_reminders() -> None:
    old = appt(State.CANCELLED)
    new = appt(State.BOOKED, "psychologists/p1/appointments/a2", START + 24 * H, moved_from=NAME)
    known = {NAME: CalendarEntry(calendar_uid(NAME), 1)}
    p = plan(event(Change.RESCHEDULED, old, new), OFFSETS, known)
    assert kinds(p) == [
        (Kind.MOVED, "clients/c1", 0),
        (Kind.REMINDER, "clients/c1", 86400),
        (Kind.REMINDER, "clients/c1", 7200),
    ]
    moved = p.sends[0]
    assert moved.appointment.name == new.name and moved.previous_start == START
    assert {s.uid for s in p.sends} == {calendar_uid(NAME)}
    assert {s.sequence for s in p.sends} == {2}
    assert p.void_reminders_of == (NAME,)
    assert p.calendar[new.name] == p.calendar[NAME] == CalendarEntry(calendar_uid(NAME), 2, T0)
    # A later cancellation of the new appointment withdraws the same calendar event.
    cancel = plan(
        event(Change.CANCELLED, appt(State.CANCELLED, new.name, new.start, NAME)), OFFSETS, p.calendar
    )
    assert (cancel.sends[0].uid, cancel.sends[0].sequence) == (calendar_uid(NAME), 3)


def test_a_moved_request_asks_the_psychologist_again_and_plans_no_reminder() -> None:
    new = appt(State.PENDING, "psychologists/p1/appointments/a2", START + H, moved_from=NAME)
    p = plan(event(Change.RESCHEDULED, appt(State.CANCELLED), new), OFFSETS, {})
    assert kinds(p) == [(Kind.MOVED, "clients/c1", 0), (Kind.NEW_REQUEST, "psychologists/p1", 0)]


@pytest.mark.parametrize("change", [Change.COMPLETED, Change.NO_SHOW])
def test_completion_and_no_show_send_nothing(change: Change) -> None:
    p = plan(event(change, appt(State.COMPLETED)), OFFSETS, {})
    assert p.sends == () and p.void_reminders_of == (NAME,)


def test_sequences_grow_with_every_message_about_an_appointment() -> None:
    known: dict[str, CalendarEntry] = {}
    seen = []
    for change, state in [
        (Change.CREATED, State.PENDING),
        (Change.APPROVED, State.BOOKED),
        (Change.CANCELLED, State.CANCELLED),
    ]:
        p = plan(event(change, appt(state)), OFFSETS, known)
        known.update(p.calendar)
        seen.append(p.sends[0].sequence)
    assert seen == [0, 1, 2]
    assert calendar_uid(NAME) == calendar_uid(NAME) != calendar_uid("psychologists/p1/appointments/a2")
    assert "a1" not in calendar_uid(NAME)  # ids are not exposed in the UID


def reminder(offset: dt.timedelta = 2 * H) -> PlannedSend:
    p = plan(event(Change.CREATED, appt(State.BOOKED)), (offset,), {})
    return p.sends[1]


def test_a_reminder_goes_out_only_for_a_booked_unmoved_appointment_before_it_starts() -> None:
    r = reminder()
    now = START - 2 * H
    assert reminder_verdict(r, now, appt(State.BOOKED), False).send
    assert reminder_verdict(r, START, appt(State.BOOKED), False).reason == "TOO_LATE"
    assert reminder_verdict(r, now, None, False).reason == "APPOINTMENT_GONE"
    assert reminder_verdict(r, now, appt(State.CANCELLED), False).reason == "NOT_BOOKED"
    moved = appt(State.BOOKED, start=START + H)
    assert reminder_verdict(r, now, moved, False).reason == "MOVED"
    assert reminder_verdict(r, now, appt(State.BOOKED), True).reason == "SUPERSEDED"


def test_a_confirmation_is_news_only_for_a_while_and_never_after_the_appointment() -> None:
    booked = plan(event(Change.CREATED, appt(State.BOOKED)), OFFSETS, {}).sends[0]
    day = dt.timedelta(days=1)
    assert confirmation_verdict(booked, T0 + H, day).send
    assert confirmation_verdict(booked, T0 + 25 * H, day).reason == "STALE"  # read a day late
    assert confirmation_verdict(booked, START + 0.75 * H, 10 * day).reason == "PAST"
    # A later message about the same calendar event went out first (this one waited to retry).
    assert confirmation_verdict(booked, T0 + H, day, superseded=True).reason == "SUPERSEDED"


def test_preferences_decide_at_send_time() -> None:
    r = reminder()
    assert client_verdict(r, ClientPreferences()).send
    assert client_verdict(r, ClientPreferences(email_enabled=False)).reason == "OPTED_OUT"
    only_day_before = ClientPreferences(reminder_offsets=(24 * H,))
    assert client_verdict(r, only_day_before).reason == "REMINDER_NOT_WANTED"
    assert psychologist_verdict(PsychologistPreferences()).reason == "OPTED_OUT"
    assert psychologist_verdict(PsychologistPreferences(True, "")).reason == "NO_ADDRESS"
    assert psychologist_verdict(PsychologistPreferences(True, "p@example.org")).send


def test_retries_back_off_up_to_a_cap() -> None:
    s = dt.timedelta(seconds=5)
    assert [next_retry(n, s, dt.timedelta(seconds=30)).seconds for n in (1, 2, 3, 4, 5)] == [
        5,
        10,
        20,
        30,
        30,
    ]


def test_reminder_offsets_from_configuration() -> None:
    assert parse_offsets("24h, 2h") == (24 * H, 2 * H)
    assert parse_offsets("90s,1d,30m") == (24 * H, dt.timedelta(minutes=30), dt.timedelta(seconds=90))
    assert parse_offsets("") == ()
    for bad in ("2 hours", "0s", "-1h", "1w"):
        with pytest.raises(ConfigError):
            parse_offsets(bad)


# -- a moved appointment's events in any order -------------------------------------------------
#
# Booked as a1, moved to a2, a3, a4, then cancelled. Each event is keyed by the appointment
# it changes, so the five are spread over partitions and may be read in any order.

CHAIN = [f"psychologists/p1/appointments/a{k}" for k in range(1, 5)]


def moved_chain() -> list[Event]:
    """The five events, in the order they happened (a minute apart)."""
    at = [T0 + dt.timedelta(minutes=k) for k in range(5)]
    a = [appt(State.BOOKED, n, START + k * 24 * H, CHAIN[k - 1] if k else "") for k, n in enumerate(CHAIN)]
    gone = [appt(State.CANCELLED, x.name, x.start, x.rescheduled_from) for x in a]
    out = [Event("e0", Change.CREATED, a[0], None, at[0])]
    out += [Event(f"e{k}", Change.RESCHEDULED, gone[k - 1], a[k], at[k]) for k in range(1, 4)]
    out.append(Event("e4", Change.CANCELLED, gone[3], None, at[4]))
    return out


def planned(events: list[Event]) -> list[PlannedSend]:
    """Plan `events` in this order as the consumer and store do: the stored entries of
    the names (and of their calendar event), scheduling's links when history is needed,
    and every row of a calendar event updated together. The client's confirmations."""
    known: dict[str, CalendarEntry] = {}
    links = {name: CHAIN[:k][::-1] for k, name in enumerate(CHAIN)}  # what scheduling says
    out = []
    for e in events:
        history = links[e.appointment.rescheduled_from] if history_needed(e, known) else []
        p = plan(e, OFFSETS, known, history)
        for entry in set(p.calendar.values()):
            known.update({n: entry for n, old in known.items() if old.uid == entry.uid})
        known.update(p.calendar)
        out += [s for s in p.sends if s.kind is not Kind.REMINDER]
    return out


def test_in_order_each_change_sends_the_next_sequence_of_one_calendar_event() -> None:
    sends = planned(moved_chain())
    assert [s.kind for s in sends] == [Kind.BOOKED, Kind.MOVED, Kind.MOVED, Kind.MOVED, Kind.CANCELLED]
    assert {s.uid for s in sends} == {calendar_uid(CHAIN[0])}
    assert [s.sequence for s in sends] == [0, 1, 2, 3, 4]


def test_a_cancellation_read_before_the_moves_withdraws_the_first_bookings_event() -> None:
    """Read after the booking and before any move: its history comes from scheduling,
    so it withdraws the calendar event the booking made, with the next SEQUENCE; the
    moves read afterwards are older than it and send nothing."""
    created, *moves, cancelled = moved_chain()
    assert history_needed(cancelled, {CHAIN[0]: CalendarEntry(calendar_uid(CHAIN[0]), 0, T0)})
    sends = planned([created, cancelled, *reversed(moves)])
    assert [(s.kind, s.uid, s.sequence) for s in sends] == [
        (Kind.BOOKED, calendar_uid(CHAIN[0]), 0),
        (Kind.CANCELLED, calendar_uid(CHAIN[0]), 1),
    ]
    assert sends[1].method is Method.CANCEL


def test_an_older_change_still_voids_the_reminders_of_the_appointment_it_ended() -> None:
    created, first_move, *_, cancelled = moved_chain()
    known = dict(plan(cancelled, OFFSETS, {}, CHAIN[:3][::-1]).calendar)
    p = plan(first_move, OFFSETS, known)
    assert p.sends == () and p.older and p.void_reminders_of == (CHAIN[0],)
    assert plan(created, OFFSETS, known).sends == ()


def test_history_is_needed_only_when_nothing_stored_names_the_calendar_event() -> None:
    created, first_move, second_move, *_, cancelled = moved_chain()
    assert not history_needed(created, {})  # never moved: its own name makes the UID
    assert not history_needed(first_move, {})  # a1 was the first booking
    assert history_needed(second_move, {})  # a2 replaced a1; was a1 the first?
    assert not history_needed(second_move, {CHAIN[0]: CalendarEntry("u", 1, T0)})
    completed = Event("e5", Change.COMPLETED, cancelled.appointment, None, T0)
    assert not history_needed(completed, {})  # says nothing to anyone


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
def test_in_any_order_the_sequence_only_rises_and_follows_the_changes(order: tuple[int, ...]) -> None:
    """Whatever order the five events are read in, the messages planned keep one UID,
    rise in SEQUENCE, tell changes in the order they happened, and the last is the
    cancellation."""
    events = moved_chain()
    sends = planned([events[k] for k in order])
    assert {s.uid for s in sends} == {calendar_uid(CHAIN[0])}
    assert [s.sequence for s in sends] == sorted({s.sequence for s in sends})
    assert [s.due for s in sends] == sorted(s.due for s in sends)
    assert sends[-1].kind is Kind.CANCELLED and sends[-1].method is Method.CANCEL


def test_of_confirmations_taken_together_only_the_latest_of_an_event_goes_to_each_recipient() -> None:
    received, announced = plan(event(Change.CREATED, appt(State.PENDING)), OFFSETS, {}).sends
    approved, *reminders = plan(
        event(Change.APPROVED, appt(State.BOOKED), at=T0 + H),
        OFFSETS,
        {NAME: CalendarEntry(received.uid, received.sequence, T0)},
    ).sends
    assert approved.uid == received.uid and approved.sequence > received.sequence
    # The client's "received" is old news beside "approved"; the psychologist's mail and
    # the reminders are about other things.
    together = [received, announced, approved, *reminders]
    assert superseded_together(together) == [True, False, False] + [False] * len(reminders)
    assert superseded_together([received, announced]) == [False, False]
