"""Request checks the handlers share. Lengths and characters of every field are the
contract's (phs.api.v1.limits), checked by the server interceptor before a handler
runs; these check what is left. Resource names are checked by phs_scheduling.names."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import available_timezones

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.errors import Violations, excerpt, invalid_argument
from phs_runtime.resources import from_timestamp, utcnow

# How far ahead anything may be booked, and the widest range a list may ask for.
MAX_BOOKING_AHEAD = dt.timedelta(days=2 * 366)


MAX_SLOT_RANGE = dt.timedelta(days=93)


_ZONES = frozenset(available_timezones())


def check_display_name(v: Violations, field: str, value: str) -> None:
    if not value.strip():
        v.add(field, "is required")


def check_time_zone(v: Violations, field: str, value: str) -> None:
    if not value:
        v.add(field, "is required (an IANA zone such as America/Toronto)")
    elif value not in _ZONES:
        v.add(field, f'"{excerpt(value)}" is not an IANA time zone')


def check_timestamp(v: Violations, field: str, ts: Timestamp) -> dt.datetime | None:
    # Timestamp's valid range (AIP-142): 0001-01-01 to 9999-12-31, nanos in range.
    if not (-62135596800 <= ts.seconds <= 253402300799) or not (0 <= ts.nanos < 1_000_000_000):
        v.add(field, "is not a valid timestamp")
        return None
    return from_timestamp(ts)


def check_start(v: Violations, field: str, msg: Any, attr: str) -> dt.datetime | None:
    """A bookable start: set, on a whole minute, in the future, within two years."""
    if not msg.HasField(attr):
        v.add(field, "is required")
        return None
    ts = getattr(msg, attr)
    start = check_timestamp(v, field, ts)
    if start is None:
        return None
    now = utcnow()
    if ts.nanos or ts.seconds % 60:
        v.add(field, "must be on a whole minute")
    elif start < now:
        v.add(field, "must not be in the past")
    elif start > now + MAX_BOOKING_AHEAD:
        v.add(field, "must be within two years from now")
    else:
        return start
    return None


def enum_code(v: Violations, field: str, enum: Any, value: int, prefix: str) -> str:
    """The stored code of a required enum value (its name without the prefix)."""
    if value == 0 or value not in enum.values():
        names = [x.name for x in enum.DESCRIPTOR.values if x.number]
        v.add(field, "is required: one of " + ", ".join(names))
        return ""
    return str(enum.Name(value)).removeprefix(prefix)


def optional_timestamp(v: Violations, field: str, msg: Any) -> dt.datetime | None:
    return check_timestamp(v, field, getattr(msg, field)) if msg.HasField(field) else None


SESSION_TYPE_FIELDS = ("display_name", "duration", "buffer_before", "buffer_after", "client_bookable")


def mask(request: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The update_mask's paths (all allowed fields when empty), or INVALID_ARGUMENT."""
    paths = tuple(request.update_mask.paths) or allowed
    bad = [p for p in paths if p not in allowed]
    if bad:
        raise invalid_argument(
            [("update_mask", f'"{excerpt(p)}" is not one of {", ".join(allowed)}') for p in bad]
        )
    return paths


def check_email(v: Violations, field: str, email: str) -> None:
    if email and ("@" not in email or len(email) > 254 or " " in email):
        v.add(field, "is not an email address")


def minutes_of(v: Violations, field: str, d: Duration, low: int, high: int) -> int:
    if d.nanos or d.seconds % 60 or not low * 60 <= d.seconds <= high * 60:
        v.add(field, f"must be whole minutes from {low} to {high}")
    return d.seconds // 60


def session_type_values(
    v: Violations, st: r.SessionType, paths: tuple[str, ...], *, creating: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "display_name" in paths:
        check_display_name(v, "session_type.display_name", st.display_name)
        values["display_name"] = st.display_name.strip()
    if "duration" in paths:
        if creating and not st.HasField("duration"):
            v.add("session_type.duration", "is required")
        values["duration_minutes"] = minutes_of(v, "session_type.duration", st.duration, 5, 480)
    if "buffer_before" in paths:
        values["buffer_before_minutes"] = minutes_of(
            v, "session_type.buffer_before", st.buffer_before, 0, 120
        )
    if "buffer_after" in paths:
        values["buffer_after_minutes"] = minutes_of(v, "session_type.buffer_after", st.buffer_after, 0, 120)
    if "client_bookable" in paths:
        values["client_bookable"] = st.client_bookable
    return values
