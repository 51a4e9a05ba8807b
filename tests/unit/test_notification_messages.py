"""What a message says and its calendar part (pure: templates and iCalendar, no
ports). The calendar part is read back with the `icalendar` package."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar

from phs_notifications.domain import ics, messages
from phs_notifications.domain.model import (
    Appointment,
    Change,
    ClientPreferences,
    Event,
    Kind,
    Method,
    PlannedSend,
    PsychologistPreferences,
    Recipient,
    State,
)
from phs_notifications.domain.preferences import update_client, update_psychologist
from phs_notifications.domain.rules import plan

H = dt.timedelta(hours=1)
START = dt.datetime(2027, 3, 14, 15, 0, tzinfo=dt.UTC)  # 11:00 in Toronto (EDT)
NOW = dt.datetime(2027, 3, 10, 9, 0, tzinfo=dt.UTC)
NAME = "psychologists/p1/appointments/a1"
CTX = messages.Context(
    psychologist_name="Dr. Ada Park",
    session_type_name="Psychotherapy, 45 minutes",
    practice_name="Lakeside Practice",
    web_url="https://app.example.org/",
    sender="appointments@lakeside.example",
    now=NOW,
)
CLIENT = Recipient("Sam <b>Lee</b>", "sam@example.org", "America/Toronto")


def appt(state: State, name: str = NAME, start: dt.datetime = START) -> Appointment:
    return Appointment(name, "clients/c1", "sessionTypes/90834", start, start + 0.75 * H, state)


def send_for(
    change: Change, a: Appointment, replacement: Appointment | None = None, kind: Kind | None = None
) -> PlannedSend:
    p = plan(Event("e", change, a, replacement, NOW), (24 * H,), {})
    return next(s for s in p.sends if kind is None or s.kind is kind)


def test_a_confirmation_holds_local_time_psychologist_session_type_and_links() -> None:
    m = messages.compose(send_for(Change.APPROVED, appt(State.BOOKED)), CLIENT, CTX)
    assert m.subject == "Appointment confirmed"
    for body in (m.text, m.html):
        assert "Sunday 14 March 2027, 11:00-11:45 (America/Toronto)" in body
        assert "Dr. Ada Park" in body and "Psychotherapy, 45 minutes" in body
        assert "https://app.example.org/appointments/p1/a1/cancel" in body
        assert "https://app.example.org/appointments/p1/a1/move" in body
    assert "Sam <b>Lee</b>" in m.text
    assert "Sam &lt;b&gt;Lee&lt;/b&gt;" in m.html and "<b>Lee" not in m.html  # escaped in HTML


def test_each_kind_has_its_own_words() -> None:
    booked = appt(State.BOOKED)
    cases = {
        Kind.REQUEST_RECEIVED: send_for(Change.CREATED, appt(State.PENDING), kind=Kind.REQUEST_RECEIVED),
        Kind.NEW_REQUEST: send_for(Change.CREATED, appt(State.PENDING), kind=Kind.NEW_REQUEST),
        Kind.BOOKED: send_for(Change.CREATED, booked, kind=Kind.BOOKED),
        Kind.REMINDER: send_for(Change.CREATED, booked, kind=Kind.REMINDER),
        Kind.DECLINED: send_for(Change.DECLINED, appt(State.DECLINED)),
        Kind.CANCELLED: send_for(Change.CANCELLED, appt(State.CANCELLED)),
        Kind.MOVED: send_for(
            Change.RESCHEDULED,
            appt(State.CANCELLED),
            appt(State.BOOKED, "psychologists/p1/appointments/a2", START + 24 * H),
        ),
    }
    texts = {k: messages.compose(s, CLIENT, CTX).text for k, s in cases.items()}
    assert len({t.splitlines()[2] for t in texts.values()}) == len(cases)  # a different first sentence each
    assert "(was:  Sunday 14 March 2027, 11:00-11:45" in texts[Kind.MOVED]
    assert "/cancel" not in texts[Kind.CANCELLED] and "/cancel" not in texts[Kind.DECLINED]
    assert "https://app.example.org/requests" in texts[Kind.NEW_REQUEST]


def test_a_psychologists_new_request_email_names_no_client() -> None:
    s = send_for(Change.CREATED, appt(State.PENDING), kind=Kind.NEW_REQUEST)
    m = messages.compose(s, Recipient("Dr. Ada Park", "ada@lakeside.example", "America/Toronto"), CTX)
    assert "Sam" not in m.text + m.html + m.ics and "clients/" not in m.text + m.html + m.ics


def test_the_calendar_part_updates_the_same_event() -> None:
    booked = send_for(Change.APPROVED, appt(State.BOOKED))
    m = messages.compose(booked, CLIENT, CTX)
    cal = Calendar.from_ical(m.ics)
    (event,) = cal.events
    assert str(cal["METHOD"]) == "REQUEST" and m.method is Method.REQUEST
    assert str(event["UID"]) == booked.uid and int(str(event["SEQUENCE"])) == booked.sequence
    assert event.start == START and event.end == START + 0.75 * H
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]) == "mailto:appointments@lakeside.example"
    assert str(event["ATTENDEE"]) == "mailto:sam@example.org"
    assert "https://app.example.org/appointments/p1/a1/cancel" in str(event["DESCRIPTION"])
    assert m.ics == messages.compose(booked, CLIENT, CTX).ics  # the same message renders the same


def test_a_cancellation_withdraws_the_event_and_a_request_is_tentative() -> None:
    cancelled = messages.compose(send_for(Change.CANCELLED, appt(State.CANCELLED)), CLIENT, CTX)
    cal = Calendar.from_ical(cancelled.ics)
    assert str(cal["METHOD"]) == "CANCEL" and str(cal.events[0]["STATUS"]) == "CANCELLED"
    pending = send_for(Change.CREATED, appt(State.PENDING), kind=Kind.REQUEST_RECEIVED)
    cal = Calendar.from_ical(messages.compose(pending, CLIENT, CTX).ics)
    assert str(cal["METHOD"]) == "REQUEST" and str(cal.events[0]["STATUS"]) == "TENTATIVE"


def test_times_in_other_zones_and_across_midnight() -> None:
    tz = messages.zone("Asia/Tokyo")
    assert messages.when(START, START + 0.75 * H, tz) == "Monday 15 March 2027, 00:00-00:45 (Asia/Tokyo)"
    late = dt.datetime(2027, 3, 14, 14, 30, tzinfo=dt.UTC)
    assert (
        messages.when(late, late + H, tz) == "Sunday 14 March 2027, 23:30-Monday 15 March, 00:30 (Asia/Tokyo)"
    )
    assert messages.zone("Not/AZone").key == "UTC"


def test_ics_build_directly() -> None:
    part = ics.CalendarPart(
        Method.REQUEST,
        "x@phs.health",
        7,
        START,
        START + H,
        NOW,
        ics.Status.CONFIRMED,
        "S",
        "D",
        "o@x.org",
        "a@x.org",
    )
    (event,) = Calendar.from_ical(ics.build(part)).events
    assert int(str(event["SEQUENCE"])) == 7 and isinstance(event.start, dt.datetime)


def test_preference_updates_are_validated() -> None:
    offsets = (24 * H, 2 * H)
    new, v = update_client(ClientPreferences(), ["reminder_offsets"], True, [2 * H], "", offsets)
    assert v == [] and new.reminder_offsets == (2 * H,) and new.email_enabled
    _, v = update_client(ClientPreferences(), ["reminder_offsets"], True, [3 * H], "", offsets)
    assert v and v[0][0] == "preferences.reminder_offsets"
    _, v = update_client(ClientPreferences(), ["time_zone"], True, [], "Mars/Olympus", offsets)
    assert v and v[0][0] == "preferences.time_zone"
    new, v = update_client(ClientPreferences(), [], False, [], "Europe/Berlin", offsets)
    assert v == [] and new == ClientPreferences(False, (), "Europe/Berlin")
    _, v = update_client(ClientPreferences(), ["nope"], True, [], "", offsets)
    assert v and v[0][0] == "update_mask"
    _, v = update_psychologist(PsychologistPreferences(), ["new_request_emails"], True, "")
    assert v and v[0][0] == "preferences.email"
    mine, v = update_psychologist(PsychologistPreferences(), [], True, "ada@lakeside.example")
    assert v == [] and mine == PsychologistPreferences(True, "ada@lakeside.example")
    _, v = update_psychologist(PsychologistPreferences(), ["email"], False, "not an address")
    assert v
