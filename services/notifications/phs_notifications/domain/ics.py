"""The calendar part of every message (RFC 5545 / RFC 5546 iTIP): METHOD:REQUEST to
add or update the event, METHOD:CANCEL to withdraw it. The UID stays the same for
an appointment (and across its moves) and SEQUENCE grows with every message about
it, so mail clients replace their copy instead of adding another. Times are UTC
(no VTIMEZONE blocks needed); the recipient's calendar shows them in its own zone."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from icalendar import Calendar, Event, vCalAddress, vText

from phs_notifications.domain.model import Method

PRODID = "-//PHS//Notifications 1.0//EN"


class Status(enum.StrEnum):
    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class CalendarPart:
    method: Method
    uid: str
    sequence: int
    start: dt.datetime
    end: dt.datetime
    stamp: dt.datetime
    status: Status
    summary: str
    description: str
    organizer: str  # an email address (the practice's sender)
    attendee: str  # the recipient's email address
    url: str = ""


def build(part: CalendarPart) -> str:
    """The VCALENDAR text (CRLF line ends, folded as RFC 5545 asks)."""
    cal = Calendar.new(prodid=PRODID, method=part.method.value)
    cal.pop("UID", None)  # a random one per call: the same message must render the same
    organizer = vCalAddress(f"mailto:{part.organizer}")
    attendee = vCalAddress(f"mailto:{part.attendee}")
    attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
    attendee.params["RSVP"] = vText("FALSE")
    event = Event.new(
        uid=part.uid,
        sequence=part.sequence,
        start=part.start.astimezone(dt.UTC),
        end=part.end.astimezone(dt.UTC),
        stamp=part.stamp.astimezone(dt.UTC),
        summary=part.summary,
        description=part.description,
        organizer=organizer,
        attendees=[attendee],
        url=part.url or None,
    )
    event.add("STATUS", part.status.value)
    cal.add_component(event)
    text: str = cal.to_ical().decode("utf-8")
    return text
