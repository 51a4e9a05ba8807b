"""The scheduling service's resource names (AIP-122), parsed in one place with one
message style: an empty field "is required, like <pattern>", a malformed one "must
look like <pattern>". Each kind parses to a typed name and formats back."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from phs_runtime.errors import Violations
from phs_runtime.resources import parse_child_name, parse_name


class Psychologist(NamedTuple):
    id: str  # "-" where a wildcard is allowed: every psychologist

    def __str__(self) -> str:
        return psychologist_name(self.id)

    @property
    def any(self) -> bool:
        return self.id == "-"


class Client(NamedTuple):
    id: str

    def __str__(self) -> str:
        return client_name(self.id)


class SessionType(NamedTuple):
    code: str

    def __str__(self) -> str:
        return session_type_name(self.code)


class Appointment(NamedTuple):
    psychologist_id: str
    id: str

    def __str__(self) -> str:
        return appointment_name(self.psychologist_id, self.id)


class Series(NamedTuple):
    psychologist_id: str
    id: str

    def __str__(self) -> str:
        return series_name(self.psychologist_id, self.id)


class Availability(NamedTuple):
    psychologist_id: str

    def __str__(self) -> str:
        return availability_name(self.psychologist_id)


class CalendarFeed(NamedTuple):
    psychologist_id: str

    def __str__(self) -> str:
        return calendar_feed_name(self.psychologist_id)


def psychologist_name(pid: str) -> str:
    return f"psychologists/{pid}"


def client_name(cid: str) -> str:
    return f"clients/{cid}"


def session_type_name(code: str) -> str:
    return f"sessionTypes/{code}"


def appointment_name(pid: str, aid: str) -> str:
    return f"psychologists/{pid}/appointments/{aid}"


def series_name(pid: str, sid: str) -> str:
    return f"psychologists/{pid}/series/{sid}"


def availability_name(pid: str) -> str:
    return f"psychologists/{pid}/availability"


def calendar_feed_name(pid: str) -> str:
    return f"psychologists/{pid}/calendarFeed"


N = TypeVar("N")


@dataclass(frozen=True)
class Kind(Generic[N]):
    """One kind of name: its pattern (for messages) and its parser."""

    pattern: str
    parser: Callable[[str], N | None]

    def parse(self, v: Violations, field: str, value: str) -> N | None:
        """The typed name, or None with a violation of `field` added to `v`."""
        name = self.parser(value)
        if name is None:
            v.add(field, self.expected(value))
        return name

    def require(self, field: str, value: str) -> N:
        """The typed name, or INVALID_ARGUMENT naming `field`."""
        v = Violations()
        name = self.parse(v, field, value)
        v.raise_if_any()
        assert name is not None
        return name

    def expected(self, value: str) -> str:
        return f"is required, like {self.pattern}" if not value else f"must look like {self.pattern}"


def _psychologist(value: str, wildcard: bool) -> Psychologist | None:
    pid = parse_name(value, "psychologists", allow_wildcard=wildcard)
    return None if pid is None else Psychologist(pid)


def _client(value: str) -> Client | None:
    cid = parse_name(value, "clients")
    return None if cid is None else Client(cid)


# A session type's code: a CPT code or another short code of letters, digits, dashes.
SESSION_TYPE_CODE = re.compile(r"[A-Za-z0-9-]{1,32}")


def _session_type(value: str) -> SessionType | None:
    code = value.removeprefix("sessionTypes/")
    return SessionType(code) if code != value and SESSION_TYPE_CODE.fullmatch(code) else None


def _appointment(value: str) -> Appointment | None:
    ids = parse_child_name(value, "psychologists", "appointments")
    return None if ids is None else Appointment(*ids)


def _series(value: str) -> Series | None:
    ids = parse_child_name(value, "psychologists", "series")
    return None if ids is None else Series(*ids)


def _availability(value: str) -> Availability | None:
    head, _, tail = value.rpartition("/")
    p = _psychologist(head, False) if tail == "availability" else None
    return None if p is None else Availability(p.id)


def _calendar_feed(value: str) -> CalendarFeed | None:
    head, _, tail = value.rpartition("/")
    p = _psychologist(head, False) if tail == "calendarFeed" else None
    return None if p is None else CalendarFeed(p.id)


PSYCHOLOGIST: Kind[Psychologist] = Kind("psychologists/{id}", lambda x: _psychologist(x, False))
PSYCHOLOGISTS: Kind[Psychologist] = Kind(
    "psychologists/{id} or psychologists/-", lambda x: _psychologist(x, True)
)
CLIENT: Kind[Client] = Kind("clients/{id}", _client)
SESSION_TYPE: Kind[SessionType] = Kind("sessionTypes/{code}", _session_type)
APPOINTMENT: Kind[Appointment] = Kind("psychologists/{id}/appointments/{id}", _appointment)
SERIES: Kind[Series] = Kind("psychologists/{id}/series/{id}", _series)
AVAILABILITY: Kind[Availability] = Kind("psychologists/{id}/availability", _availability)
CALENDAR_FEED: Kind[CalendarFeed] = Kind("psychologists/{id}/calendarFeed", _calendar_feed)
