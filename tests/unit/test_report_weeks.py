"""Caseload figures per week: weeks run Monday to Sunday in the psychologist's own zone,
by the appointment's local start date, with every week of the range listed."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from google.type import interval_pb2

from phs.api.v1 import field_limits_pb2
from phs.reports.v1 import resources_pb2 as r
from phs.scheduling.v1 import resources_pb2 as sr
from phs_reports.compute import caseload, week_of, weeks_touched

S = sr.Appointment.State
TORONTO = ZoneInfo("America/Toronto")


def _interval(start: dt.datetime, end: dt.datetime) -> interval_pb2.Interval:
    out = interval_pb2.Interval()
    out.start_time.FromDatetime(start)
    out.end_time.FromDatetime(end)
    return out


def _appointment(start: dt.datetime, minutes: int, state: sr.Appointment.State) -> sr.Appointment:
    a = sr.Appointment(client="clients/c1", session_type="sessionTypes/individual", state=state)
    a.start_time.FromDatetime(start)
    a.end_time.FromDatetime(start + dt.timedelta(minutes=minutes))
    return a


def _monday(w: r.WeekFigures) -> dt.date:
    return dt.date(w.week_start.year, w.week_start.month, w.week_start.day)


def _local(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TORONTO)


def test_weeks_follow_the_local_date_across_the_fall_back() -> None:
    # Toronto leaves daylight time on Sunday 1 November 2026 (UTC-4 before, UTC-5 after).
    # The range starts on a Wednesday and ends on a Wednesday: both clipped weeks are listed.
    interval = _interval(_local(2026, 10, 21, 0, 0), _local(2026, 11, 18, 0, 0))
    appointments = [
        # Sunday 23:30 before the change: 03:30 UTC on Monday 26 October.
        _appointment(_local(2026, 10, 25, 23, 30), 30, S.STATE_COMPLETED),
        # Sunday 23:30 after the change: 04:30 UTC on Monday 2 November. At the offset the
        # range started with (UTC-4) it would be 00:30 on Monday, the next week.
        _appointment(_local(2026, 11, 1, 23, 30), 45, S.STATE_BOOKED),
        _appointment(_local(2026, 11, 1, 10, 0), 50, S.STATE_NO_SHOW),
        # Just after midnight on the Monday: the new week.
        _appointment(_local(2026, 11, 2, 0, 30), 50, S.STATE_CANCELLED),
        _appointment(_local(2026, 11, 2, 9, 0), 50, S.STATE_PENDING),
        # The week of 9 November has nothing.
        _appointment(_local(2026, 11, 17, 10, 0), 60, S.STATE_DECLINED),
    ]
    assert appointments[1].start_time.ToDatetime(dt.UTC).weekday() == 0  # Monday in UTC
    out = caseload(iter(appointments), "psychologists/p", (interval, TORONTO))

    assert [_monday(w) for w in out.by_week] == [
        dt.date(2026, 10, 19),
        dt.date(2026, 10, 26),
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 9),
        dt.date(2026, 11, 16),
    ]
    counts = [
        (w.pending, w.booked, w.completed, w.cancelled, w.declined, w.no_show, w.scheduled_minutes)
        for w in out.by_week
    ]
    assert counts == [
        (0, 0, 1, 0, 0, 0, 30),
        (0, 1, 0, 0, 0, 1, 45),
        (1, 0, 0, 1, 0, 0, 0),
        (0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0),
    ]
    # The weeks add up to the totals.
    assert sum(w.scheduled_minutes for w in out.by_week) == out.scheduled_minutes == 75
    assert sum(w.no_show + w.declined + w.cancelled for w in out.by_week) == 3


def test_the_local_date_decides_the_week_east_and_west_of_utc() -> None:
    # 23:30 on Sunday 13 December in Toronto is Monday in UTC.
    late = _local(2026, 12, 13, 23, 30)
    assert late.astimezone(dt.UTC).weekday() == 0
    assert week_of(int(late.timestamp()), TORONTO) == dt.date(2026, 12, 7)
    # 00:30 on Monday 14 December in Tokyo is still Sunday in UTC.
    early_monday = dt.datetime(2026, 12, 14, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert week_of(int(early_monday.timestamp()), ZoneInfo("Asia/Tokyo")) == dt.date(2026, 12, 14)
    assert week_of(int(early_monday.timestamp()), TORONTO) == dt.date(2026, 12, 7)


def test_a_range_ending_at_midnight_on_monday_ends_the_week_before() -> None:
    interval = _interval(_local(2026, 12, 28, 0, 0), _local(2027, 1, 11, 0, 0))
    assert weeks_touched(interval, TORONTO) == [dt.date(2026, 12, 28), dt.date(2027, 1, 4)]
    one_more_minute = _interval(_local(2026, 12, 28, 0, 0), _local(2027, 1, 11, 0, 1))
    assert weeks_touched(one_more_minute, TORONTO)[-1] == dt.date(2027, 1, 11)
    assert weeks_touched(_interval(_local(2027, 1, 11, 0, 0), _local(2027, 1, 11, 0, 0)), TORONTO) == []


def test_an_empty_range_still_lists_its_weeks_with_zeros() -> None:
    interval = _interval(_local(2027, 3, 1, 0, 0), _local(2027, 3, 22, 0, 0))
    out = caseload(iter([]), "psychologists/p", (interval, TORONTO))
    mondays = [dt.date(2027, 3, 1), dt.date(2027, 3, 8), dt.date(2027, 3, 15)]
    assert [_monday(w) for w in out.by_week] == mondays
    assert all(w == r.WeekFigures(week_start=w.week_start) for w in out.by_week)


def test_the_longest_range_fits_the_field_limit() -> None:
    extension: Any = field_limits_pb2.limits  # typed as a plain FieldDescriptor by its stub
    options = r.CaseloadSummary.DESCRIPTOR.fields_by_name["by_week"].GetOptions()
    max_items: int = options.Extensions[extension].max_items
    longest = 0
    for offset in range(7):  # a 366-day range starting on each weekday
        start = _local(2027, 1, 4, 12, 0) + dt.timedelta(days=offset)
        longest = max(longest, len(weeks_touched(_interval(start, start + dt.timedelta(days=366)), TORONTO)))
    assert longest == 54 <= max_items


def test_without_a_zone_there_are_no_weeks() -> None:
    a = _appointment(_local(2026, 11, 2, 9, 0), 50, S.STATE_BOOKED)
    assert not caseload(iter([a]), "psychologists/p").by_week
