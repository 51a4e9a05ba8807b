"""Series planning in the psychologist's zone, and which occurrences a change moves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from phs_scheduling.domain import series
from phs_scheduling.domain.errors import InvalidField, Precondition

UTC = dt.UTC
TORONTO = ZoneInfo("America/Toronto")
FIRST = dt.datetime(2030, 3, 4, 9, 0, tzinfo=TORONTO).astimezone(UTC)  # the Monday before spring-forward
FAR = dt.datetime(2040, 1, 1, tzinfo=UTC)


def test_occurrences_keep_their_local_time_across_daylight_saving() -> None:
    starts = series.plan(FIRST, TORONTO, 1, 3, None, FAR)
    assert [s.astimezone(TORONTO).strftime("%m-%d %H:%M") for s in starts] == [
        "03-04 09:00",
        "03-11 09:00",
        "03-18 09:00",
    ]
    assert starts[1] - starts[0] == dt.timedelta(weeks=1, hours=-1)  # the UTC gap shrinks by the hour


def test_an_end_date_bounds_the_series_inclusively() -> None:
    starts = series.plan(FIRST, TORONTO, 2, None, dt.date(2030, 4, 1), FAR)
    assert [s.astimezone(TORONTO).date().isoformat() for s in starts] == [
        "2030-03-04",
        "2030-03-18",
        "2030-04-01",
    ]


def test_an_end_date_must_give_some_and_not_too_many() -> None:
    with pytest.raises(InvalidField) as err:
        series.plan(FIRST, TORONTO, 1, None, dt.date(2030, 3, 3), FAR)
    assert err.value.violations == [("series.end_date", "must give 1 to 104 occurrences")]
    with pytest.raises(InvalidField):
        series.plan(FIRST, TORONTO, 1, None, dt.date(2033, 1, 1), FAR)
    assert len(series.plan(FIRST, TORONTO, 1, 104, None, FAR)) == 104


def test_the_last_occurrence_must_be_within_reach() -> None:
    latest = FIRST + dt.timedelta(weeks=2)
    assert len(series.plan(FIRST, TORONTO, 1, 3, None, latest + dt.timedelta(hours=1))) == 3
    with pytest.raises(InvalidField) as err:
        series.plan(FIRST, TORONTO, 1, 4, None, latest)
    assert err.value.violations == [("series.end", "the last occurrence must be within two years")]


@dataclass
class Occ:
    state: str
    start_time: dt.datetime


def test_a_change_moves_the_open_occurrences_from_its_time_on() -> None:
    occ = [
        Occ("COMPLETED", FIRST),
        Occ("BOOKED", FIRST + dt.timedelta(weeks=1)),
        Occ("CANCELLED", FIRST + dt.timedelta(weeks=2)),
        Occ("PENDING", FIRST + dt.timedelta(weeks=3)),
    ]
    assert series.to_move(occ, None) == [occ[1], occ[3]]
    assert series.to_move(occ, FIRST + dt.timedelta(weeks=2)) == [occ[3]]
    assert series.to_reschedule(occ, FIRST + dt.timedelta(weeks=1)) == [occ[1], occ[3]]
    with pytest.raises(Precondition) as err:
        series.to_reschedule(occ, FIRST + dt.timedelta(weeks=4))
    assert err.value.reason == "NOTHING_TO_RESCHEDULE"


def test_an_occurrence_moved_alone_remembers_where_the_rhythm_put_it() -> None:
    moved = FIRST + dt.timedelta(days=1)
    assert series.original_start("s", None, FIRST, keeps_rhythm=False) == FIRST
    # Moved twice: still the rhythm's start, not the first move's.
    assert series.original_start("s", FIRST, moved, keeps_rhythm=False) == FIRST
    assert series.original_start("s", None, FIRST, keeps_rhythm=True) is None
    assert series.original_start(None, None, FIRST, keeps_rhythm=False) is None
