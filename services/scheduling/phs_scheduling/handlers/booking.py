"""What the appointment and series handlers share: a cancellation's columns, moving an
appointment (cancel as RESCHEDULED and book its replacement), and the check that a
client requests only what slot search offers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.resources import utcnow
from phs_scheduling import availability, names
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain import series as series_rules
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.handlers.base import Handlers
from phs_scheduling.mapping import appointment_pb
from phs_scheduling.store import Store

Values = Callable[[Connection, Any, dt.datetime], dict[str, Any]]


def cancellation_values(reason: str, actor: str, explanation: str = "") -> Values:
    """Cancellation columns; late when inside the psychologist's late-cancel window."""

    def values(conn: Connection, before: Any, now: dt.datetime) -> dict[str, Any]:
        window = Store.late_cancel_window(conn, before.psychologist_id)
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
        conn: Connection,
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
        before, old = Store.transition(
            conn,
            now,
            pid,
            aid,
            Action.RESCHEDULE,
            etag,
            lambda b: cancellation_values(cancellation.RESCHEDULED, actor)(conn, b, now),
        )
        new = Store.insert_appointment(
            conn,
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
        Store.link_reschedule(conn, aid, new["id"])
        old_pb = appointment_pb(SimpleNamespace(**{**old._asdict(), "rescheduled_to_id": new["id"]}))
        new_pb = appointment_pb(SimpleNamespace(**new))
        self.event(conn, now, ev.AppointmentEvent.TYPE_RESCHEDULED, old_pb, new_pb)
        return new_pb

    def check_client_request(self, pid: str, cid: str, code: str, start: dt.datetime, field: str) -> None:
        """A client may only take what slot search offers (the same code decides)."""
        ctx = self.store.slot_context(pid, code, start, start + dt.timedelta(minutes=1))
        client = self.store.get_client(cid)
        cancellation.check_client_request(
            availability.rules_for(ctx),
            start,
            utcnow(),
            client_bookable=ctx.session_type.client_bookable,
            session_type=names.session_type_name(code),
            known_client=client.psychologist_id == pid,
            field=field,
        )
