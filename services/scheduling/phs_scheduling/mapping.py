"""Rows and stored specs <-> API resources (proto), and proto inputs -> domain values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from phs.scheduling.v1 import resources_pb2 as r
from phs_scheduling.domain.slots import (
    DEFAULT_ALIGNMENT,
    DEFAULT_HORIZON,
    DEFAULT_LATE_CANCEL,
    DEFAULT_MIN_NOTICE,
    Hours,
    Policy,
)

# -- availability spec -> slot rules ------------------------------------------------


def _minutes(t: Any) -> int:
    return int(t.hours) * 60 + int(t.minutes)


def _duration(msg: r.BookingPolicy, field_name: str, default: dt.timedelta) -> dt.timedelta:
    if not msg.HasField(field_name):
        return default
    return dt.timedelta(seconds=getattr(msg, field_name).seconds)


def policy_of(p: r.BookingPolicy) -> Policy:
    return Policy(
        min_notice=_duration(p, "minimum_notice", DEFAULT_MIN_NOTICE),
        horizon=_duration(p, "booking_horizon", DEFAULT_HORIZON),
        alignment=_duration(p, "slot_alignment", DEFAULT_ALIGNMENT),
        late_cancel=_duration(p, "late_cancel_window", DEFAULT_LATE_CANCEL),
    )


def hours_of(a: r.Availability) -> Hours:
    weekly: dict[int, list[tuple[int, int]]] = {}
    for w in a.weekly_hours:
        weekly.setdefault(int(w.day_of_week), []).append((_minutes(w.start_time), _minutes(w.end_time)))
    overrides: dict[dt.date, list[tuple[int, int]]] = {}
    for o in a.date_overrides:
        day = dt.date(o.date.year, o.date.month, o.date.day)
        overrides[day] = [(_minutes(i.start_time), _minutes(i.end_time)) for i in o.intervals]
    for v in (*weekly.values(), *overrides.values()):
        v.sort()
    return Hours(weekly, overrides)


def late_cancel_of(spec: bytes | None) -> dt.timedelta:
    """The late-cancel window of a stored availability (the policy default without one)."""
    return policy_of(r.Availability.FromString(spec or b"").booking_policy).late_cancel
