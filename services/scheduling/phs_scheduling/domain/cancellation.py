"""When a cancellation counts as late, and what a client may request.

A cancellation is late when it happens inside the psychologist's late-cancel window
before the start; a decline never is (the client did not cancel). A client's booking
or move is a request, and a client may only request what slot search offers: the same
Rules decide both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from phs_scheduling.domain.errors import InvalidField, Precondition
from phs_scheduling.domain.slots import Rules

DECLINED = "DECLINED"
RESCHEDULED = "RESCHEDULED"
# Reasons with an RPC of their own (DeclineAppointment, RescheduleAppointment).
RESERVED_REASONS = (RESCHEDULED, DECLINED)
CLIENT = "CLIENT"


@dataclass(frozen=True)
class Cancellation:
    """Why, by whom and when an appointment was cancelled (the stored codes), and the
    canceller's word to the other party (None when they left none)."""

    reason: str
    actor: str
    late: bool
    time: dt.datetime
    explanation: str | None = None


def late_cancel_time(start_time: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """The instant after which cancelling counts as late."""
    return start_time - window


def is_late(reason: str, start_time: dt.datetime, now: dt.datetime, window: dt.timedelta) -> bool:
    return reason != DECLINED and now > late_cancel_time(start_time, window)


def cancel(
    reason: str,
    actor: str,
    start_time: dt.datetime,
    now: dt.datetime,
    window: dt.timedelta,
    explanation: str = "",
) -> Cancellation:
    late = is_late(reason, start_time, now, window)
    return Cancellation(reason, actor, late, now, explanation.strip() or None)


def check_client_request(
    rules: Rules,
    start: dt.datetime,
    now: dt.datetime,
    *,
    client_bookable: bool,
    session_type: str,
    known_client: bool,
    field: str,
) -> None:
    """A client may only take what slot search offers. `known_client`: the client is
    assigned to this psychologist (a new client may only request a client-bookable
    type, i.e. an intake). Overlap is left to the database: it is the only check that
    cannot race."""
    if not client_bookable and not known_client:
        raise Precondition(
            "SESSION_TYPE_NOT_SELF_BOOKABLE",
            "clients new to this psychologist may only request an intake",
            {"session_type": session_type},
        )
    if not rules.on_grid(start):
        raise InvalidField(
            field, f"must be on the {rules.step_minutes}-minute grid of the psychologist's day"
        )
    earliest, latest = rules.window(now)
    if start < earliest:
        raise Precondition(
            "TOO_SHORT_NOTICE", "requests need more notice", {"earliest_start": earliest.isoformat()}
        )
    if start > latest:
        raise Precondition(
            "BEYOND_BOOKING_HORIZON", "too far ahead to request", {"latest_start": latest.isoformat()}
        )
    if not rules.offers(start, now):
        raise Precondition("OUTSIDE_WORKING_HOURS", "the psychologist does not work then")
