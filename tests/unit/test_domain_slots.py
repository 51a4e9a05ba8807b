"""Slot computation beyond tests/unit/test_slots.py: the grid step, what search offers, buffers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from phs_scheduling.domain.slots import Busy, Hours, Policy, Rules, free_slots, working_minutes

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2030, 1, 1, tzinfo=UTC)
MONDAY = dt.date(2030, 5, 6)


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2030, 5, 6, hour, minute, tzinfo=PARIS).astimezone(UTC)


RULES = Rules(
    PARIS,
    Hours(weekly={1: [(9 * 60, 11 * 60)]}),
    Policy(min_notice=dt.timedelta(0), horizon=dt.timedelta(days=3650), alignment=dt.timedelta(minutes=30)),
    dt.timedelta(minutes=50),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=10),
)


def test_the_grid_step_and_what_is_on_it() -> None:
    assert RULES.step_minutes == 30
    assert RULES.on_grid(_at(9, 30)) and not RULES.on_grid(_at(9, 15))


def test_offers_is_what_search_returns() -> None:
    found = free_slots(RULES, Busy([]), _at(0), _at(23), NOW)
    assert [s for s, _ in found] == [_at(9), _at(9, 30), _at(10)]
    assert all(RULES.offers(s, NOW) for s, _ in found)
    assert not RULES.offers(_at(10, 30), NOW)  # 10:30 + 50 min runs past 11:00


def test_buffers_on_both_sides_block_a_neighbouring_slot() -> None:
    busy = Busy([(_at(10, 0) - dt.timedelta(minutes=10), _at(10, 50) + dt.timedelta(minutes=10))])
    found = free_slots(RULES, busy, _at(0), _at(23), NOW)
    # 09:00 ends (with its after-buffer) at 10:00, where the busy block (buffer included) starts at 09:50.
    assert [s for s, _ in found] == []
    # Blocks that only meet do not clash: 09:30's block (09:20-10:30) ends where this starts.
    busy = Busy([(_at(10, 30), _at(11, 30))])
    assert [s for s, _ in free_slots(RULES, busy, _at(0), _at(23), NOW)] == [_at(9), _at(9, 30)]


def test_working_minutes_counts_each_interval_on_its_own_date() -> None:
    assert working_minutes(RULES.hours, PARIS, _at(0), _at(23)) == 120
    assert working_minutes(RULES.hours, PARIS, _at(10), _at(23)) == 60
