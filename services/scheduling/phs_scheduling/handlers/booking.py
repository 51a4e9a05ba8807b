"""What the appointment and series handlers share: a cancellation's columns, moving an
appointment (cancel as RESCHEDULED and book its replacement), and the check that a
client requests only what slot search offers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.resources import utcnow
from phs_scheduling import availability, names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain import series as series_rules
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.handlers.base import Handlers
from phs_scheduling.mapping import appointment_pb

Values = Callable[[UnitOfWork, Any, dt.datetime], dict[str, Any]]


def cancellation_values(reason: str, actor: str, explanation: str = "") -> Values:
    """Cancellation columns; late when inside the psychologist's late-cancel window."""

    def values(uow: UnitOfWork, before: Any, now: dt.datetime) -> dict[str, Any]:
        window = uow.availability.late_cancel_window(before.psychologist_id)
        c = cancellation.cancel(reason, actor, before.start_time, now, window, explanation)
        return {
            "cancel_reason": c.reason,
            "cancelled_by": c.actor,
            "cancel_late": c.late,
            "cancel_time": c.time,
            "cancel_explanation": c.explanation,
        }

    return values


class Booking(Handlers):
    def move(
        self,
        uow: UnitOfWork,
        now: dt.datetime,
        pid: str,
        aid: str,
        etag: str,
        actor: str,
        start: dt.datetime,
        series_id: str | None = None,
        by_client: bool = False,
    ) -> r.Appointment:
        """Cancel one appointment as RESCHEDULED and create its replacement at `start`
        (in the state domain.lifecycle.rescheduled_state gives), linked both ways, with
        its event; returns the replacement. Without `series_id`, a moved series
        occurrence stays in its series as an exception that remembers its original start."""
        # Free the old slot first, so a move by a few minutes can overlap itself.
        before, old = uow.appointments.transition(
            now,
            pid,
            aid,
            Action.RESCHEDULE,
            etag,
            lambda b: cancellation_values(cancellation.RESCHEDULED, actor)(uow, b, now),
        )
        new = uow.appointments.add(
            now,
            pid,
            old.client_id,
            old.session_type_code,
            start,
            lifecycle.rescheduled_state(before.state, by_client=by_client).value,
            rescheduled_from_id=aid,
            series_id=series_id or old.series_id,
            original_start_time=series_rules.original_start(
                old.series_id, old.original_start_time, old.start_time, keeps_rhythm=series_id is not None
            ),
        )
        uow.appointments.link_reschedule(aid, new["id"])
        old_pb = appointment_pb(SimpleNamespace(**{**old._asdict(), "rescheduled_to_id": new["id"]}))
        new_pb = appointment_pb(SimpleNamespace(**new))
        self.event(uow, now, ev.AppointmentEvent.TYPE_RESCHEDULED, old_pb, new_pb)
        return new_pb

    def check_client_request(self, pid: str, cid: str, code: str, start: dt.datetime, field: str) -> None:
        """A client may only take what slot search offers (the same code decides)."""
        with self.store.read() as uow:
            ctx = uow.slot_context(pid, code, start, start + dt.timedelta(minutes=1))
            client = uow.clients.get(cid)
        cancellation.check_client_request(
            availability.rules_for(ctx),
            start,
            utcnow(),
            client_bookable=ctx.session_type.client_bookable,
            session_type=names.session_type_name(code),
            known_client=client.psychologist_id == pid,
            field=field,
        )
