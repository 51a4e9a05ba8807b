"""The notification domain's values. Appointments are references (resource names)
and instants; names, addresses and zones arrive only at send time (`Recipient`)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """What a message is about. Stored as text; never rename a member."""

    # To the client.
    REQUEST_RECEIVED = "REQUEST_RECEIVED"  # their request arrived and awaits the psychologist
    BOOKED = "BOOKED"  # booked directly (by the practice)
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    MOVED = "MOVED"
    REMINDER = "REMINDER"
    # To the psychologist (if they opt in).
    NEW_REQUEST = "NEW_REQUEST"


class Change(enum.StrEnum):
    """The appointment events the service reads (phs.scheduling.v1.AppointmentEvent.Type)."""

    CREATED = "CREATED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    RESCHEDULED = "RESCHEDULED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


class State(enum.StrEnum):
    PENDING = "PENDING"
    BOOKED = "BOOKED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"
    UNKNOWN = "UNKNOWN"


class Role(enum.StrEnum):
    CLIENT = "client"
    PSYCHOLOGIST = "psychologist"


class Method(enum.StrEnum):
    """The iCalendar METHOD of a message's calendar part (RFC 5546)."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class Appointment:
    """What an event says about one appointment (ids and times only)."""

    name: str  # psychologists/{p}/appointments/{a}
    client: str  # clients/{c}
    session_type: str  # sessionTypes/{code}
    start: dt.datetime
    end: dt.datetime
    state: State
    rescheduled_from: str = ""

    @property
    def psychologist(self) -> str:
        return "/".join(self.name.split("/")[:2])


@dataclass(frozen=True)
class Event:
    event_id: str
    change: Change
    appointment: Appointment
    replacement: Appointment | None
    time: dt.datetime


@dataclass(frozen=True)
class CalendarEntry:
    """The calendar event an appointment appears as in mail clients: a UID kept across
    moves, the SEQUENCE of the last message about it, and when the latest change read
    about it happened (the event time; None in entries stored before it was kept)."""

    uid: str
    sequence: int
    changed: dt.datetime | None = None


@dataclass(frozen=True)
class PlannedSend:
    """One message to send at `due` (now, for confirmations). (appointment, kind,
    offset, recipient) is its identity: at most one such message ever goes out."""

    kind: Kind
    recipient: str  # clients/{c} or psychologists/{p}
    appointment: Appointment
    due: dt.datetime
    offset: dt.timedelta  # before the start, for reminders; zero otherwise
    uid: str
    sequence: int
    method: Method
    previous_start: dt.datetime | None = None  # a move: where it was

    @property
    def role(self) -> Role:
        return Role.PSYCHOLOGIST if self.recipient.startswith("psychologists/") else Role.CLIENT

    @property
    def offset_seconds(self) -> int:
        return int(self.offset.total_seconds())


@dataclass(frozen=True)
class Plan:
    """What one event calls for: messages to plan, appointments whose pending reminders
    are void, and calendar entries to store. `older`: a newer change of the calendar
    event had been read already, so the event sends nothing."""

    sends: tuple[PlannedSend, ...]
    void_reminders_of: tuple[str, ...]
    calendar: dict[str, CalendarEntry]
    older: bool = False


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to, looked up at send time (never stored, never logged)."""

    display_name: str
    email: str
    time_zone: str


@dataclass(frozen=True)
class ClientPreferences:
    email_enabled: bool = True
    # None: every reminder the practice sends (the default until the client chooses).
    reminder_offsets: tuple[dt.timedelta, ...] | None = None
    time_zone: str = ""

    def wants_reminder(self, offset: dt.timedelta) -> bool:
        return self.reminder_offsets is None or offset in self.reminder_offsets


@dataclass(frozen=True)
class PsychologistPreferences:
    new_request_emails: bool = False
    email: str = ""


@dataclass(frozen=True)
class Message:
    """A composed email: both bodies and the calendar part."""

    subject: str
    text: str
    html: str
    ics: str
    method: Method
