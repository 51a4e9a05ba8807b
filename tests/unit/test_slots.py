"""Slot arithmetic in the psychologist's zone: DST, overrides, grid, notice, buffers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from phs_scheduling.availability import series_starts
from phs_scheduling.slots import Busy, Hours, Policy, Rules, free_slots

TORONTO = ZoneInfo("America/Toronto")
UTC = dt.UTC
NOW = dt.datetime(2030, 1, 1, tzinfo=UTC)  # far before every range below


def _rules(
    hours: Hours,
    alignment: int = 15,
    duration: int = 45,
    after: int = 15,
    notice: dt.timedelta = dt.timedelta(0),
) -> Rules:
    policy = Policy(
        min_notice=notice, horizon=dt.timedelta(days=3650), alignment=dt.timedelta(minutes=alignment)
    )
    return Rules(
        TORONTO, hours, policy, dt.timedelta(minutes=duration), dt.timedelta(0), dt.timedelta(minutes=after)
    )


def _local(slots: list[tuple[dt.datetime, dt.datetime]]) -> list[str]:
    return [s.astimezone(TORONTO).strftime("%a %H:%M") for s, _ in slots]


def test_a_nine_oclock_slot_stays_at_nine_across_the_dst_change() -> None:
    # 2030-03-10 is the spring-forward Sunday in Toronto; hours are Fri and Mon 09:00-10:00.
    rules = _rules(Hours(weekly={5: [(540, 600)], 1: [(540, 600)]}), alignment=60, duration=60, after=0)
    slots = free_slots(
        rules, Busy([]), dt.datetime(2030, 3, 8, tzinfo=UTC), dt.datetime(2030, 3, 12, tzinfo=UTC), NOW
    )
    assert _local(slots) == ["Fri 09:00", "Mon 09:00"]
    assert [s.astimezone(UTC).hour for s, _ in slots] == [14, 13]  # UTC moves, local does not


def test_grid_is_aligned_to_local_midnight_and_sessions_fit_inside_hours() -> None:
    rules = _rules(Hours(weekly={2: [(550, 720)]}))  # Tuesday 09:10-12:00
    slots = free_slots(
        rules, Busy([]), dt.datetime(2030, 6, 4, tzinfo=UTC), dt.datetime(2030, 6, 5, tzinfo=UTC), NOW
    )
    assert _local(slots) == [
        "Tue 09:15",
        "Tue 09:30",
        "Tue 09:45",
        "Tue 10:00",
        "Tue 10:15",
        "Tue 10:30",
        "Tue 10:45",
        "Tue 11:00",
        "Tue 11:15",
    ]


def test_overrides_replace_the_week_and_empty_means_time_off() -> None:
    hours = Hours(
        weekly={3: [(540, 600)], 4: [(540, 600)]},
        overrides={dt.date(2030, 6, 5): [], dt.date(2030, 6, 8): [(780, 840)]},
    )
    slots = free_slots(
        _rules(hours, alignment=60, duration=60, after=0),
        Busy([]),
        dt.datetime(2030, 6, 4, tzinfo=UTC),
        dt.datetime(2030, 6, 10, tzinfo=UTC),
        NOW,
    )
    assert _local(slots) == ["Thu 09:00", "Sat 13:00"]  # Wednesday off, Saturday extra


def test_busy_blocks_and_buffers_hide_slots() -> None:
    rules = _rules(Hours(weekly={2: [(540, 720)]}), alignment=15, duration=45, after=15)
    day = dt.date(2030, 6, 4)
    ten = dt.datetime(2030, 6, 4, 10, 0, tzinfo=TORONTO).astimezone(UTC)
    busy = Busy([(ten, ten + dt.timedelta(minutes=60))])  # 10:00-11:00 blocked (45 min + 15 buffer)
    slots = free_slots(
        rules, busy, dt.datetime(2030, 6, 4, tzinfo=UTC), dt.datetime(2030, 6, 5, tzinfo=UTC), NOW
    )
    assert _local(slots) == ["Tue 09:00", "Tue 11:00", "Tue 11:15"]  # 09:15 would end its buffer at 10:15
    assert all(s.astimezone(TORONTO).date() == day for s, _ in slots)


def test_minimum_notice_and_horizon_bound_the_offer() -> None:
    rules = _rules(
        Hours(weekly={d: [(540, 1020)] for d in range(1, 8)}),
        alignment=60,
        duration=60,
        after=0,
        notice=dt.timedelta(hours=24),
    )
    now = dt.datetime(2030, 6, 4, 13, 30, tzinfo=UTC)  # 09:30 in Toronto
    slots = free_slots(rules, Busy([]), now, now + dt.timedelta(days=2), now)
    assert slots[0][0] == dt.datetime(2030, 6, 5, 14, 0, tzinfo=UTC)  # the first grid start after 24 h


def test_weekly_series_keeps_local_wall_clock_across_dst() -> None:
    first = dt.datetime(2030, 10, 28, 10, 0, tzinfo=TORONTO)  # DST ends 2030-11-03
    starts = series_starts(first.astimezone(UTC), TORONTO, 1, 3, None)
    assert [s.astimezone(TORONTO).strftime("%m-%d %H:%M") for s in starts] == [
        "10-28 10:00",
        "11-04 10:00",
        "11-11 10:00",
    ]
    assert [s.hour for s in starts] == [14, 15, 15]
    biweekly = series_starts(first.astimezone(UTC), TORONTO, 2, None, dt.date(2030, 12, 9))
    assert len(biweekly) == 4


def test_working_minutes_count_wall_clock_hours_on_dst_days() -> None:
    from phs_scheduling.slots import working_minutes

    all_day = Hours(weekly={d: [(0, 1440)] for d in range(1, 8)})
    spring = dt.datetime(2030, 3, 10, tzinfo=TORONTO)  # 23 hours long in Toronto
    assert (
        working_minutes(
            all_day, TORONTO, spring.astimezone(UTC), (spring + dt.timedelta(days=1)).astimezone(UTC)
        )
        == 23 * 60
    )
    office = Hours(weekly={d: [(540, 720), (780, 1020)] for d in range(1, 6)})  # 7 h a weekday
    monday = dt.datetime(2030, 6, 3, tzinfo=TORONTO).astimezone(UTC)
    assert working_minutes(office, TORONTO, monday, monday + dt.timedelta(weeks=1)) == 5 * 420
    # A range cutting an interval counts only its part: Monday 10:00 to 10:30 local.
    assert (
        working_minutes(
            office, TORONTO, monday + dt.timedelta(hours=10), monday + dt.timedelta(hours=10, minutes=30)
        )
        == 30
    )
