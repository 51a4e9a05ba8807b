"""The appointment lifecycle as one table: for each action, the states it may start
from, the state it leads to, who may take it and when.

    PENDING --approve--> BOOKED --complete--> COMPLETED   (once started)
    PENDING --decline--> DECLINED          \\--no_show--> NO_SHOW (once started)
    PENDING|BOOKED --cancel--> CANCELLED
    PENDING|BOOKED --reschedule--> CANCELLED (as RESCHEDULED), plus a replacement

PENDING and BOOKED are the open states: they hold their time (the database's
overlap constraint covers exactly them) and can still be cancelled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from phs_runtime.claims import ADMIN, CLIENT, PSYCHOLOGIST
from phs_scheduling.domain.errors import InvalidTransition, NotStarted


class State(StrEnum):
    """An appointment's state; the value is the stored code."""

    PENDING = "PENDING"
    BOOKED = "BOOKED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


class Action(StrEnum):
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"
    CANCEL = "CANCEL"
    RESCHEDULE = "RESCHEDULE"
    COMPLETE = "COMPLETE"
    NO_SHOW = "NO_SHOW"


# Open appointments, in the order the storage queries name them.
OPEN: tuple[State, ...] = (State.PENDING, State.BOOKED)
STAFF = frozenset({ADMIN, PSYCHOLOGIST})
EVERYONE = frozenset({ADMIN, PSYCHOLOGIST, CLIENT})


@dataclass(frozen=True)
class Rule:
    """One action: from which states, to which, by whom (roles), and whether only
    once the appointment has started."""

    sources: tuple[State, ...]
    target: State
    by: frozenset[str]
    once_started: bool = False


RULES: dict[Action, Rule] = {
    Action.APPROVE: Rule((State.PENDING,), State.BOOKED, STAFF),
    Action.DECLINE: Rule((State.PENDING,), State.DECLINED, STAFF),
    Action.CANCEL: Rule(OPEN, State.CANCELLED, EVERYONE),
    # The moved appointment is cancelled (reason RESCHEDULED); see `rescheduled_state`
    # for its replacement.
    Action.RESCHEDULE: Rule(OPEN, State.CANCELLED, EVERYONE),
    Action.COMPLETE: Rule((State.BOOKED,), State.COMPLETED, STAFF, once_started=True),
    Action.NO_SHOW: Rule((State.BOOKED,), State.NO_SHOW, STAFF, once_started=True),
}

# The transition table itself: (state, action) -> state; absent pairs are refused.
TRANSITIONS: dict[tuple[State, Action], State] = {
    (source, action): rule.target for action, rule in RULES.items() for source in rule.sources
}


def is_open(state: str) -> bool:
    return state in OPEN


def may(role: str, action: Action) -> bool:
    return role in RULES[action].by


def next_state(
    action: Action, state: str, *, start_time: dt.datetime, now: dt.datetime, appointment: str
) -> State:
    """The state `action` leads to from `state`, or InvalidTransition / NotStarted
    (the state is checked first: a cancelled appointment is not "not started")."""
    rule = RULES[action]
    target = TRANSITIONS.get((State(state), action))
    if target is None:
        raise InvalidTransition(appointment, state, rule.target)
    if rule.once_started and now < start_time:
        raise NotStarted(start_time.isoformat())
    return target


def rescheduled_state(before: str, *, by_client: bool) -> State:
    """The replacement's state: a client's move is a request, like a client's booking,
    and waits for approval; anyone else's keeps the state it moves."""
    return State.PENDING if by_client else State(before)


def booking_state(*, request_approval: bool) -> State:
    """A new appointment's state: a request waits for the psychologist's approval."""
    return State.PENDING if request_approval else State.BOOKED
