"""Validation of availability and series inputs, and the rules slot search and
client requests share (so what search offers, a request accepts)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from google.type import date_pb2

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.errors import Violations
from phs_scheduling.adapters.availability import SlotContext
from phs_scheduling.domain.series import MAX_INTERVAL_WEEKS as MAX_INTERVAL_WEEKS
from phs_scheduling.domain.series import MAX_SERIES_OCCURRENCES as MAX_SERIES_OCCURRENCES
from phs_scheduling.domain.series import series_starts as series_starts
from phs_scheduling.domain.slots import MINUTES_PER_DAY, Rules
from phs_scheduling.mapping import hours_of, policy_of

MAX_INTERVALS_PER_DAY = 12
MAX_OVERRIDES = 400
MAX_HORIZON = dt.timedelta(days=2 * 366)
MASK_PATHS = ("weekly_hours", "date_overrides", "booking_policy")


def _time_minutes(v: Violations, field: str, t: object, allow_end_of_day: bool) -> int | None:
    h, m = int(t.hours), int(t.minutes)  # type: ignore[attr-defined]
    s, n = int(t.seconds), int(t.nanos)  # type: ignore[attr-defined]
    if s or n:
        v.add(field, "must be on a whole minute")
        return None
    if allow_end_of_day and h == 24 and m == 0:
        return MINUTES_PER_DAY
    if not (0 <= h <= 23 and 0 <= m <= 59):
        v.add(field, "is not a time of day")
        return None
    return h * 60 + m


def _intervals(v: Violations, field: str, items: list[tuple[str, object, object]]) -> None:
    """Each (field path, start, end) well-formed; together non-overlapping."""
    spans = []
    for path, start, end in items:
        s = _time_minutes(v, f"{path}.start_time", start, False)
        e = _time_minutes(v, f"{path}.end_time", end, True)
        if s is not None and e is not None:
            if e <= s:
                v.add(f"{path}.end_time", "must be after start_time (intervals end by midnight)")
            else:
                spans.append((s, e, path))
    spans.sort()
    for (_, e1, _), (s2, _, p2) in itertools.pairwise(spans):
        if s2 < e1:
            v.add(p2, f"overlaps another interval of {field}")
    if len(items) > MAX_INTERVALS_PER_DAY:
        v.add(field, f"at most {MAX_INTERVALS_PER_DAY} intervals a day")


def _date(v: Violations, field: str, d: date_pb2.Date) -> dt.date | None:
    try:
        return dt.date(d.year, d.month, d.day)
    except ValueError:
        v.add(field, "is not a valid calendar date")
        return None


def _nonneg(v: Violations, field: str, p: r.BookingPolicy, name: str, maximum: dt.timedelta) -> None:
    if p.HasField(name):
        d = getattr(p, name)
        if d.seconds < 0 or d.nanos or d.seconds % 60:
            v.add(f"{field}.{name}", "must be a whole number of minutes, not negative")
        elif dt.timedelta(seconds=d.seconds) > maximum:
            v.add(f"{field}.{name}", f"must be at most {maximum.days} days")


def validate_availability(v: Violations, a: r.Availability, paths: tuple[str, ...]) -> None:
    prefix = "availability"
    if "weekly_hours" in paths:
        by_day: dict[int, list[tuple[str, object, object]]] = {}
        for i, w in enumerate(a.weekly_hours):
            path = f"{prefix}.weekly_hours[{i}]"
            if not 1 <= w.day_of_week <= 7:
                v.add(f"{path}.day_of_week", "is required (MONDAY ... SUNDAY)")
                continue
            by_day.setdefault(int(w.day_of_week), []).append((path, w.start_time, w.end_time))
        for weekday, items in by_day.items():
            _intervals(v, f"{prefix}.weekly_hours (day {weekday})", items)
    if "date_overrides" in paths:
        if len(a.date_overrides) > MAX_OVERRIDES:
            v.add(f"{prefix}.date_overrides", f"at most {MAX_OVERRIDES}")
        seen: set[dt.date] = set()
        for i, o in enumerate(a.date_overrides):
            path = f"{prefix}.date_overrides[{i}]"
            day = _date(v, f"{path}.date", o.date)
            if day in seen:
                v.add(f"{path}.date", "appears twice")
            if day is not None:
                seen.add(day)
            _intervals(
                v,
                path,
                [(f"{path}.intervals[{j}]", x.start_time, x.end_time) for j, x in enumerate(o.intervals)],
            )
    if "booking_policy" in paths:
        p = a.booking_policy
        field = f"{prefix}.booking_policy"
        for name in ("minimum_notice", "booking_horizon", "late_cancel_window"):
            _nonneg(v, field, p, name, MAX_HORIZON)
        if p.HasField("slot_alignment"):
            minutes = p.slot_alignment.seconds // 60
            if (
                p.slot_alignment.seconds % 60
                or p.slot_alignment.nanos
                or not 5 <= minutes <= 240
                or (MINUTES_PER_DAY % minutes)
            ):
                v.add(f"{field}.slot_alignment", "must be 5 to 240 whole minutes that divide a day")


def merge(current: r.Availability, update: r.Availability, paths: tuple[str, ...]) -> r.Availability:
    out = r.Availability()
    out.CopyFrom(current)
    for path in paths:
        out.ClearField(path)
        if path == "booking_policy":
            out.booking_policy.CopyFrom(update.booking_policy)
        else:
            getattr(out, path).extend(getattr(update, path))
    return out


def rules_for(ctx: SlotContext) -> Rules:
    spec = r.Availability.FromString(ctx.availability_spec)
    st = ctx.session_type
    return Rules(
        tz=ZoneInfo(ctx.psychologist.time_zone),
        hours=hours_of(spec),
        policy=policy_of(spec.booking_policy),
        duration=dt.timedelta(minutes=st.duration_minutes),
        buffer_before=dt.timedelta(minutes=st.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=st.buffer_after_minutes),
    )
