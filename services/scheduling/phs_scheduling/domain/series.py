"""Weekly series: occurrences at the first start's local wall-clock time in the
psychologist's IANA zone, every N weeks. Each is converted to UTC on its own date,
so daylight saving never moves the session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from phs_scheduling.domain.errors import InvalidField, Precondition
from phs_scheduling.domain.lifecycle import is_open

MAX_SERIES_OCCURRENCES = 104
MAX_INTERVAL_WEEKS = 8


def series_starts(
    first: dt.datetime, tz: ZoneInfo, interval_weeks: int, count: int | None, end_date: dt.date | None
) -> list[dt.datetime]:
    """Occurrence starts at the first start's local wall-clock time, every N weeks
    (at most MAX_SERIES_OCCURRENCES + 1, so a caller can tell "too many")."""
    wall = first.astimezone(tz).replace(tzinfo=None)
    out = []
    for k in range(MAX_SERIES_OCCURRENCES + 1):
        local = wall + dt.timedelta(weeks=k * interval_weeks)
        if count is not None and k >= count:
            break
        if end_date is not None and local.date() > end_date:
            break
        out.append(local.replace(tzinfo=tz).astimezone(dt.UTC))
    return out


def plan(
    first: dt.datetime,
    tz: ZoneInfo,
    interval_weeks: int,
    count: int | None,
    end_date: dt.date | None,
    latest: dt.datetime,
) -> list[dt.datetime]:
    """A new series' starts (count or end_date bounds it), none after `latest`."""
    starts = series_starts(first, tz, interval_weeks, count, end_date)
    if end_date is not None and (not starts or len(starts) > MAX_SERIES_OCCURRENCES):
        raise InvalidField("series.end_date", f"must give 1 to {MAX_SERIES_OCCURRENCES} occurrences")
    if starts[-1] > latest:
        raise InvalidField("series.end", "the last occurrence must be within two years")
    return starts


class Occurrence(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def start_time(self) -> dt.datetime: ...


OccurrenceT = TypeVar("OccurrenceT", bound=Occurrence)


def to_move(occurrences: Sequence[OccurrenceT], from_time: dt.datetime | None) -> list[OccurrenceT]:
    """The open occurrences from `from_time` on (all open ones without it)."""
    return [o for o in occurrences if is_open(o.state) and (from_time is None or o.start_time >= from_time)]


def to_reschedule(occurrences: Sequence[OccurrenceT], from_time: dt.datetime | None) -> list[OccurrenceT]:
    """What RescheduleSeries moves; refused when nothing is left to move."""
    moving = to_move(occurrences, from_time)
    if not moving:
        raise Precondition("NOTHING_TO_RESCHEDULE", "no active occurrence from that time on")
    return moving


def original_start(
    series_id: str | None,
    original_start_time: dt.datetime | None,
    start_time: dt.datetime,
    *,
    keeps_rhythm: bool,
) -> dt.datetime | None:
    """The original start a moved appointment's replacement remembers: a series
    occurrence moved on its own is an exception to its series' rhythm and remembers
    where the rhythm put it; a move of the whole rhythm (`keeps_rhythm`), or of an
    appointment outside any series, remembers nothing."""
    if keeps_rhythm or series_id is None:
        return None
    return original_start_time or start_time
