"""Slot computation: which starts are bookable.

Everything about wall-clock time happens in the psychologist's IANA zone
(zoneinfo): working hours are local, the slot grid is aligned to local
midnight, and each candidate start is converted to a UTC instant on its own
day, so a daylight-saving change never moves a 09:00 slot. Durations are
elapsed time. Busy blocks come from the database (active appointments with
buffers); they never overlap each other, so one bisect finds any clash.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
MINUTES_PER_DAY = 24 * 60

DEFAULT_MIN_NOTICE = dt.timedelta(hours=24)
DEFAULT_HORIZON = dt.timedelta(days=90)
DEFAULT_ALIGNMENT = dt.timedelta(minutes=15)
DEFAULT_LATE_CANCEL = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Policy:
    min_notice: dt.timedelta = DEFAULT_MIN_NOTICE
    horizon: dt.timedelta = DEFAULT_HORIZON
    alignment: dt.timedelta = DEFAULT_ALIGNMENT
    late_cancel: dt.timedelta = DEFAULT_LATE_CANCEL


@dataclass(frozen=True)
class Hours:
    """Working intervals in minutes after local midnight, by ISO weekday and by date."""

    weekly: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    overrides: dict[dt.date, list[tuple[int, int]]] = field(default_factory=dict)

    def on(self, day: dt.date) -> list[tuple[int, int]]:
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.isoweekday(), [])


def local_instant(day: dt.date, minute: int, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time (minute may be 1440 = next midnight)."""
    day = day + dt.timedelta(days=minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Rules:
    tz: ZoneInfo
    hours: Hours
    policy: Policy
    duration: dt.timedelta
    buffer_before: dt.timedelta
    buffer_after: dt.timedelta

    def window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """Starts clients may book: from now + minimum notice to now + horizon."""
        return now + self.policy.min_notice, now + self.policy.horizon

    @property
    def step_minutes(self) -> int:
        """The slot grid's step (starts are this many minutes apart from local midnight)."""
        return int(self.policy.alignment.total_seconds() // 60)

    def on_grid(self, start: dt.datetime) -> bool:
        local = start.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return local.second == 0 and local.microsecond == 0 and minute % self.step_minutes == 0

    def offers(self, start: dt.datetime, now: dt.datetime) -> bool:
        """Whether slot search (busy blocks aside) would offer exactly this start."""
        return start in set(self.candidates(start, start + dt.timedelta(minutes=1), now))

    def candidates(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Iterator[dt.datetime]:
        """Grid starts inside working hours, within [start, end) and the booking window, in order."""
        earliest, latest = self.window(now)
        lo, hi = max(start, earliest), min(end, latest)
        if lo >= hi:
            return
        step = self.step_minutes
        dur = self.duration
        day = lo.astimezone(self.tz).date() - dt.timedelta(days=1)
        last_day = hi.astimezone(self.tz).date()
        while day <= last_day:
            for ws, we in self.hours.on(day):
                window_end = local_instant(day, we, self.tz)
                m = math.ceil(ws / step) * step
                while m < we:
                    s = local_instant(day, m, self.tz)
                    if s + dur > window_end or s >= hi:
                        break
                    if s >= lo:
                        yield s
                    m += step
            day += dt.timedelta(days=1)


class Busy:
    """Active appointment blocks of one psychologist, sorted; they never overlap."""

    def __init__(self, blocks: Sequence[tuple[dt.datetime, dt.datetime]]) -> None:
        self.starts = [b[0] for b in blocks]
        self.ends = [b[1] for b in blocks]

    def clashes(self, block_start: dt.datetime, block_end: dt.datetime) -> bool:
        i = bisect.bisect_right(self.ends, block_start)
        return i < len(self.starts) and self.starts[i] < block_end


def free_slots(
    rules: Rules, busy: Busy, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    out = []
    for s in rules.candidates(start, end, now):
        if not busy.clashes(s - rules.buffer_before, s + rules.duration + rules.buffer_after):
            out.append((s, s + rules.duration))
    return out


def working_minutes(hours: Hours, tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> int:
    """Minutes of working time in [start, end), each interval placed on its own local date."""
    total = dt.timedelta(0)
    day = start.astimezone(tz).date() - dt.timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        for ws, we in hours.on(day):
            s, e = max(local_instant(day, ws, tz), start), min(local_instant(day, we, tz), end)
            if e > s:
                total += e - s
        day += dt.timedelta(days=1)
    return int(total.total_seconds() // 60)
