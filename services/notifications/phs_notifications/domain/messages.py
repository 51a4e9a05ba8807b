"""What a message says: the minimum a person needs, in their own zone.

A message holds the date and time in the recipient's zone, the psychologist's
name, the session type and how to cancel or move (links into the web app). It
never holds notes, explanations or cancellation reasons (free text may be health
information, and events never carry it anyway), and never another client: a
psychologist's new-request email does not name the client either (they see who
in the web app, behind sign-in).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from phs_notifications.domain import ics
from phs_notifications.domain.model import Kind, Message, Method, PlannedSend, Recipient, State

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("phs_notifications", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)

_SUBJECTS = {
    Kind.REQUEST_RECEIVED: "Appointment request received",
    Kind.BOOKED: "Appointment booked",
    Kind.APPROVED: "Appointment confirmed",
    Kind.DECLINED: "Appointment request declined",
    Kind.CANCELLED: "Appointment cancelled",
    Kind.MOVED: "Appointment moved",
    Kind.REMINDER: "Reminder: your appointment",
    Kind.NEW_REQUEST: "New appointment request",
}


@dataclass(frozen=True)
class Context:
    """Send-time facts besides the recipient: names the scheduling service gave, and
    where the practice's web app and mailbox are."""

    psychologist_name: str
    session_type_name: str
    practice_name: str
    web_url: str  # the web app's base URL
    sender: str  # the From address (also the calendar ORGANIZER)
    now: dt.datetime


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> str:
    """'Tuesday 14 March 2028, 15:00-15:45 (America/Toronto)' (English, 24-hour)."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    day = f"{a:%A} {a.day} {a:%B %Y}"
    until = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%A} {b.day} {b:%B}, {b:%H:%M}"
    return f"{day}, {a:%H:%M}-{until} ({tz.key})"


def _links(send: PlannedSend, web_url: str) -> dict[str, str]:
    base = web_url.rstrip("/")
    if send.kind is Kind.NEW_REQUEST:
        return {"cancel_url": "", "move_url": "", "review_url": f"{base}/requests"}
    if send.kind in (Kind.DECLINED, Kind.CANCELLED):
        return {"cancel_url": "", "move_url": "", "review_url": ""}
    _, pid, _, aid = send.appointment.name.split("/")
    path = f"{base}/appointments/{pid}/{aid}"
    return {"cancel_url": f"{path}/cancel", "move_url": f"{path}/move", "review_url": ""}


def compose(send: PlannedSend, recipient: Recipient, ctx: Context) -> Message:
    a = send.appointment
    tz = zone(recipient.time_zone)
    links = _links(send, ctx.web_url)
    subject = _SUBJECTS[send.kind]
    facts = {
        "kind": send.kind.value,
        "psychologist": ctx.psychologist_name,
        "session_type": ctx.session_type_name,
        "when": when(a.start, a.end, tz),
        "previous_when": when(send.previous_start, send.previous_start + (a.end - a.start), tz)
        if send.previous_start
        else "",
        "pending": a.state is State.PENDING,
        "practice": ctx.practice_name,
        **links,
    }
    values = {"m": facts, "recipient_name": recipient.display_name, "subject": subject}
    text = _ENV.get_template("message.txt.j2").render(values)
    html = _ENV.get_template("message.html.j2").render(values)
    if send.method is Method.CANCEL:
        status = ics.Status.CANCELLED
    elif a.state is State.PENDING:
        status = ics.Status.TENTATIVE
    else:
        status = ics.Status.CONFIRMED
    how = "Cancel or move: " + links["cancel_url"] if links["cancel_url"] else ""
    calendar = ics.build(
        ics.CalendarPart(
            method=send.method,
            uid=send.uid,
            sequence=send.sequence,
            start=a.start,
            end=a.end,
            stamp=ctx.now,
            status=status,
            summary=f"{ctx.session_type_name} with {ctx.psychologist_name}",
            description=how,
            organizer=ctx.sender,
            attendee=recipient.email,
            url=links["cancel_url"] and f"{ctx.web_url.rstrip('/')}/appointments",
        )
    )
    return Message(subject=subject, text=text, html=html, ics=calendar, method=send.method)
