"""Late cancellation and what a client may request (the rules slot search shares)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from phs_scheduling.domain import cancellation
from phs_scheduling.domain.errors import InvalidField, Precondition
from phs_scheduling.domain.slots import Hours, Policy, Rules

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
START = dt.datetime(2030, 5, 6, 14, 0, tzinfo=UTC)
DAY = dt.timedelta(hours=24)


def test_a_cancellation_inside_the_window_is_late_and_one_before_is_not() -> None:
    assert cancellation.late_cancel_time(START, DAY) == START - DAY
    assert not cancellation.is_late("CLIENT_REQUEST", START, START - DAY, DAY)  # at the boundary: not yet
    assert cancellation.is_late("CLIENT_REQUEST", START, START - DAY + dt.timedelta(seconds=1), DAY)
    assert not cancellation.is_late("OTHER", START, START - dt.timedelta(days=3), DAY)


def test_a_decline_is_never_late() -> None:
    assert not cancellation.is_late("DECLINED", START, START - dt.timedelta(minutes=5), DAY)


def test_a_cancellation_records_its_reason_actor_lateness_and_time() -> None:
    now = START - dt.timedelta(hours=2)
    c = cancellation.cancel("CLIENT_REQUEST", "CLIENT", START, now, DAY)
    assert (c.reason, c.actor, c.late, c.time) == ("CLIENT_REQUEST", "CLIENT", True, now)
    assert cancellation.cancel("RESCHEDULED", "PSYCHOLOGIST", START, now, dt.timedelta(0)).late is False


def test_an_explanation_is_kept_trimmed_and_a_blank_one_is_none() -> None:
    now = START - dt.timedelta(days=3)
    assert cancellation.cancel(
        "DECLINED", "PSYCHOLOGIST", START, now, DAY, "  Fully booked.\n"
    ).explanation == ("Fully booked.")
    assert cancellation.cancel("DECLINED", "PSYCHOLOGIST", START, now, DAY, " \n ").explanation is None
    assert cancellation.cancel("OTHER", "CLIENT", START, now, DAY).explanation is None


def test_decline_and_reschedule_have_their_own_rpcs() -> None:
    assert set(cancellation.RESERVED_REASONS) == {"DECLINED", "RESCHEDULED"}


# Mondays 09:00-12:00 in Paris, 15-minute grid, 24 h notice, 30 days ahead.
RULES = Rules(
    PARIS,
    Hours(weekly={1: [(9 * 60, 12 * 60)]}),
    Policy(min_notice=DAY, horizon=dt.timedelta(days=30), alignment=dt.timedelta(minutes=15)),
    dt.timedelta(minutes=50),
    dt.timedelta(0),
    dt.timedelta(minutes=10),
)
NOW = dt.datetime(2030, 5, 1, 8, 0, tzinfo=UTC)  # a Wednesday
MONDAY_10 = dt.datetime(2030, 5, 6, 10, 0, tzinfo=PARIS).astimezone(UTC)


def _check(start: dt.datetime, *, bookable: bool = True, known: bool = True, now: dt.datetime = NOW) -> None:
    cancellation.check_client_request(
        RULES,
        start,
        now,
        client_bookable=bookable,
        session_type="sessionTypes/90834",
        known_client=known,
        field="appointment.start_time",
    )


def test_a_client_may_request_what_slot_search_offers() -> None:
    _check(MONDAY_10)
    _check(MONDAY_10, bookable=False, known=True)  # their own psychologist: any type
    _check(MONDAY_10, bookable=True, known=False)  # a new client: an intake


def test_a_new_client_may_only_request_a_client_bookable_type() -> None:
    with pytest.raises(Precondition) as err:
        _check(MONDAY_10, bookable=False, known=False)
    assert err.value.reason == "SESSION_TYPE_NOT_SELF_BOOKABLE"
    assert err.value.metadata == {"session_type": "sessionTypes/90834"}


def test_an_off_grid_start_is_a_field_violation() -> None:
    with pytest.raises(InvalidField) as err:
        _check(MONDAY_10 + dt.timedelta(minutes=5))
    assert err.value.violations == [
        ("appointment.start_time", "must be on the 15-minute grid of the psychologist's day")
    ]


def test_notice_and_horizon() -> None:
    with pytest.raises(Precondition) as err:
        _check(MONDAY_10, now=MONDAY_10 - dt.timedelta(hours=23))
    assert err.value.reason == "TOO_SHORT_NOTICE"
    assert err.value.metadata == {"earliest_start": (MONDAY_10 + dt.timedelta(hours=1)).isoformat()}
    with pytest.raises(Precondition) as err:
        _check(MONDAY_10, now=MONDAY_10 - dt.timedelta(days=31))
    assert err.value.reason == "BEYOND_BOOKING_HORIZON"


def test_outside_working_hours() -> None:
    with pytest.raises(Precondition) as err:
        _check(MONDAY_10 + dt.timedelta(hours=2))  # 12:00: the hours end there
    assert err.value.reason == "OUTSIDE_WORKING_HOURS"
    with pytest.raises(Precondition):
        _check(MONDAY_10 + dt.timedelta(hours=1, minutes=15))  # 11:15 + 50 min runs past 12:00
    _check(MONDAY_10 + dt.timedelta(hours=1))  # 11:00 + 50 min ends by 12:00
