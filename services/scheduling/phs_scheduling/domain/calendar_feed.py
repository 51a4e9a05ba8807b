"""A psychologist's private calendar feed: its secret, what it shows, and its text.

The secret is 256 random bits (URL-safe base64); only its SHA-256 is stored, so an
address is shown once and a database dump opens no feed. The feed shows the
psychologist's appointments from `LOOKBACK` before now to their booking horizon, in
UTC (no VTIMEZONE: each calendar app shows them in its own zone), each with the
session type and, unless set to none, the client's initials, never more about
them. Cancelled, declined and moved appointments stay `LOOKBACK` after the change
as STATUS:CANCELLED, so subscribers drop them instead of keeping a stale copy.

The text is written here (RFC 5545: CRLF, escaped text, lines folded at 75 octets),
not with a library: it is small, fixed, and a year of appointments must render fast.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from phs_scheduling.domain.lifecycle import State

LOOKBACK = dt.timedelta(days=30)
PRODID = "-//PHS//Calendar feed 1.0//EN"
# A hint to calendar apps that honour it (most poll on their own schedule).
REFRESH = "PT15M"
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


class ClientDetail(StrEnum):
    """What an event says about the client (the stored code)."""

    INITIALS = "INITIALS"
    NONE = "NONE"


# -- the secret --------------------------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def well_formed(secret: str) -> bool:
    """Only what new_secret makes can match: anything else is refused without a lookup."""
    return _SECRET.fullmatch(secret) is not None


def same_hash(stored: bytes, given: bytes) -> bool:
    """Constant-time: the comparison's duration says nothing about how much matched."""
    return hmac.compare_digest(stored, given)


# -- what the feed shows -----------------------------------------------------------------------


def window(now: dt.datetime, horizon: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """Appointments starting in [now - LOOKBACK, now + horizon) are in the feed."""
    return now - LOOKBACK, now + horizon


class Status(StrEnum):
    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


_STATUS = {
    State.PENDING: Status.TENTATIVE,
    State.BOOKED: Status.CONFIRMED,
    State.COMPLETED: Status.CONFIRMED,
    State.NO_SHOW: Status.CONFIRMED,
    State.CANCELLED: Status.CANCELLED,
    State.DECLINED: Status.CANCELLED,
}


def status_of(state: State, changed: dt.datetime, now: dt.datetime) -> Status | None:
    """The event's STATUS, or None when it has left the feed (called off over `LOOKBACK` ago)."""
    status = _STATUS[state]
    if status is Status.CANCELLED and changed < now - LOOKBACK:
        return None
    return status


def initials(display_name: str) -> str:
    """'Jane Q. Doe' -> 'J.D.': the first letters of the first and last words."""
    words = [w for w in display_name.split() if w[:1].isalpha()]
    if not words:
        return ""
    picked = words[:1] if len(words) == 1 else [words[0], words[-1]]
    return "".join(w[0].upper() + "." for w in picked)


def summary(session_type: str, client_name: str, detail: ClientDetail) -> str:
    if detail is ClientDetail.NONE:
        return session_type
    mark = initials(client_name)
    return f"{session_type} ({mark})" if mark else session_type


@dataclass(frozen=True)
class Event:
    uid: str
    start: dt.datetime
    end: dt.datetime
    changed: dt.datetime  # DTSTAMP and LAST-MODIFIED: when the appointment last changed
    sequence: int
    status: Status
    summary: str


# -- the text ----------------------------------------------------------------------------------


def _utc(value: dt.datetime) -> str:
    s = (value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)).isoformat()
    # 2027-01-04T15:00:00[.ffffff]+00:00 -> 20270104T150000Z (isoformat is the cheap part)
    return s[0:4] + s[5:7] + s[8:10] + "T" + s[11:13] + s[14:16] + s[17:19] + "Z"


_SPECIAL = re.compile(r"[\\;,\r\n]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newline escaped;
    other control characters dropped."""
    if _SPECIAL.search(value):
        value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return _CONTROL.sub("", value)


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after CRLF and a space,
    never inside a UTF-8 sequence."""
    if len(line) <= 75 and line.isascii():
        return line
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    start, limit = 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: back off
            end -= 1
        parts.append(raw[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def render(calendar_name: str, events: Iterable[Event]) -> str:
    """The VCALENDAR text. Every line but the names is short ASCII by construction
    (a UID is an appointment id and a fixed domain); only names are folded."""
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        _fold(f"X-WR-CALNAME:{_text(calendar_name)}"),
        f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}",
        f"X-PUBLISHED-TTL:{REFRESH}",
        "",
    ]
    out = ["\r\n".join(head)]
    summaries: dict[str, str] = {}  # a feed has few distinct summaries
    for e in events:
        line = summaries.get(e.summary)
        if line is None:
            line = summaries[e.summary] = _fold(f"SUMMARY:{_text(e.summary)}")
        changed = _utc(e.changed)
        cancelled = e.status is Status.CANCELLED
        out.append(
            f"BEGIN:VEVENT\r\nUID:{e.uid}\r\nDTSTAMP:{changed}\r\nLAST-MODIFIED:{changed}\r\n"
            f"DTSTART:{_utc(e.start)}\r\nDTEND:{_utc(e.end)}\r\nSEQUENCE:{e.sequence}\r\n"
            f"STATUS:{e.status.value}\r\n{line}\r\n"
            f"TRANSP:{'TRANSPARENT' if cancelled else 'OPAQUE'}\r\nCLASS:PRIVATE\r\nEND:VEVENT\r\n"
        )
    out.append("END:VCALENDAR\r\n")
    return "".join(out)


def etag(content: bytes) -> str:
    """A strong validator: the same text, the same tag."""
    digest = hashlib.sha256(content).digest()[:16]
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=") + '"'


def matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110 13.1.2: `*`, or any listed tag equal to ours (weak comparison)."""
    value = if_none_match.strip()
    if value == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in value.split(","))


# -- how often a feed may be fetched ---------------------------------------------------------


class RateLimiter:
    """A token bucket per feed: `burst` fetches at once, then `per_minute`. Kept in
    this process only: with N replicas a feed may be fetched up to N times as often.
    At most `max_feeds` buckets are kept (the least recently used are forgotten)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_feeds: int = 10_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_feeds = max_feeds
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> float:
        """0 if a fetch of `key` may go now (and counts it), else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")
            while len(self._buckets) > self.max_feeds:
                self._buckets.popitem(last=False)
        return wait
