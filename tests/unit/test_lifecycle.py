"""The appointment lifecycle table: every (state, action) pair, who, and when."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest

from phs_runtime.claims import ADMIN, CLIENT, PSYCHOLOGIST
from phs_scheduling.domain import lifecycle
from phs_scheduling.domain.errors import InvalidTransition, NotStarted
from phs_scheduling.domain.lifecycle import Action, State

START = dt.datetime(2030, 5, 6, 14, 0, tzinfo=dt.UTC)
BEFORE = START - dt.timedelta(minutes=1)
AFTER = START + dt.timedelta(minutes=1)
NAME = "psychologists/p/appointments/a"

EXPECTED = {
    (State.PENDING, Action.APPROVE): State.BOOKED,
    (State.PENDING, Action.DECLINE): State.DECLINED,
    (State.PENDING, Action.CANCEL): State.CANCELLED,
    (State.BOOKED, Action.CANCEL): State.CANCELLED,
    (State.PENDING, Action.RESCHEDULE): State.CANCELLED,
    (State.BOOKED, Action.RESCHEDULE): State.CANCELLED,
    (State.BOOKED, Action.COMPLETE): State.COMPLETED,
    (State.BOOKED, Action.NO_SHOW): State.NO_SHOW,
}


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert lifecycle.TRANSITIONS == EXPECTED


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(Action))
def test_every_pair_either_leads_to_its_state_or_is_refused(state: State, action: Action) -> None:
    expected = EXPECTED.get((state, action))
    if expected is None:
        with pytest.raises(InvalidTransition) as err:
            lifecycle.next_state(action, state.value, start_time=START, now=AFTER, appointment=NAME)
        assert err.value.reason == "INVALID_STATE_TRANSITION"
        assert err.value.metadata == {
            "appointment": NAME,
            "from": state.value,
            "to": lifecycle.RULES[action].target,
        }
        assert (
            err.value.message == f"a {state.value} appointment cannot become {lifecycle.RULES[action].target}"
        )
    else:
        assert (
            lifecycle.next_state(action, state.value, start_time=START, now=AFTER, appointment=NAME)
            == expected
        )


@pytest.mark.parametrize("action", [Action.COMPLETE, Action.NO_SHOW])
def test_closing_waits_for_the_start(action: Action) -> None:
    with pytest.raises(NotStarted) as err:
        lifecycle.next_state(action, "BOOKED", start_time=START, now=BEFORE, appointment=NAME)
    assert err.value.reason == "APPOINTMENT_NOT_STARTED"
    assert err.value.metadata == {"start_time": START.isoformat()}
    # At the start itself it may close.
    assert lifecycle.next_state(action, "BOOKED", start_time=START, now=START, appointment=NAME) is not None


def test_the_state_is_checked_before_the_time() -> None:
    # A cancelled appointment is not "not started": the transition itself is refused.
    with pytest.raises(InvalidTransition):
        lifecycle.next_state(Action.COMPLETE, "CANCELLED", start_time=START, now=BEFORE, appointment=NAME)


@pytest.mark.parametrize("action", [Action.APPROVE, Action.DECLINE, Action.CANCEL, Action.RESCHEDULE])
def test_the_other_actions_do_not_depend_on_the_time(action: Action) -> None:
    assert lifecycle.next_state(action, "PENDING", start_time=START, now=BEFORE, appointment=NAME)
    assert lifecycle.next_state(action, "PENDING", start_time=START, now=AFTER, appointment=NAME)


def test_who_may_take_each_action() -> None:
    staff_only = {Action.APPROVE, Action.DECLINE, Action.COMPLETE, Action.NO_SHOW}
    for action in Action:
        assert lifecycle.may(ADMIN, action) and lifecycle.may(PSYCHOLOGIST, action)
        assert lifecycle.may(CLIENT, action) is (action not in staff_only)
        assert not lifecycle.may("service", action)


def test_open_states_hold_their_time() -> None:
    assert [s for s in State if lifecycle.is_open(s.value)] == [State.PENDING, State.BOOKED]
    assert not lifecycle.is_open("CANCELLED")


def test_a_request_waits_for_approval_and_a_clients_move_too() -> None:
    assert lifecycle.booking_state(request_approval=True) is State.PENDING
    assert lifecycle.booking_state(request_approval=False) is State.BOOKED
    assert lifecycle.rescheduled_state("BOOKED", by_client=True) is State.PENDING
    assert lifecycle.rescheduled_state("BOOKED", by_client=False) is State.BOOKED
    assert lifecycle.rescheduled_state("PENDING", by_client=False) is State.PENDING


def test_the_access_policy_takes_its_roles_from_the_table() -> None:
    from phs_scheduling import policy
    from phs_scheduling.store import Store

    rules = policy.build(cast(Store, None))  # building the table reads nothing
    methods = {
        Action.APPROVE: "ApproveAppointment",
        Action.DECLINE: "DeclineAppointment",
        Action.CANCEL: "CancelAppointment",
        Action.RESCHEDULE: "RescheduleAppointment",
        Action.COMPLETE: "CompleteAppointment",
        Action.NO_SHOW: "MarkAppointmentNoShow",
    }
    for action, method in methods.items():
        assert rules[policy.PREFIX + method].roles == lifecycle.RULES[action].by
