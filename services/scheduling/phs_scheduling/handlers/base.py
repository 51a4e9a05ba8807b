"""What every handler shares: the store (whose units of work reach the repositories),
one idempotent-write routine (AIP-155), appointment events for the outbox, list paging
and the booking-conflict answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from sqlalchemy import Row

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime import idempotency, paging
from phs_runtime.audit import AuditLog
from phs_runtime.context import REQUEST_ID_HEADER, annotate, current_request_id
from phs_runtime.outbox import OutboxMessage
from phs_runtime.resources import new_id, to_timestamp
from phs_scheduling import names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.catalogue import SessionTypeCatalogue
from phs_scheduling.domain.errors import Conflict, SlotConflict
from phs_scheduling.errors import SLOT_UNAVAILABLE_MESSAGE
from phs_scheduling.store import Store
from phs_scheduling.tables import audit_events
from phs_scheduling.watch import AppointmentFeed

M = TypeVar("M", bound=Message)
Write = Callable[[UnitOfWork, dt.datetime], M]


def request_id(request: Any, context: grpc.ServicerContext) -> str:
    """The request's AIP-155 id (body or Idempotency-Key), checked before anything else."""
    return idempotency.effective_request_id(request.request_id, context)


def page(rows: Sequence[Row[Any]], limit: int, key: Any, filters: Any) -> tuple[Sequence[Row[Any]], str]:
    """The first `limit` rows (the store reads one more) and the next page's token."""
    if len(rows) <= limit:
        return rows, ""
    rows = rows[:limit]
    return rows, paging.encode_token(key(rows[-1]), filters)


class Handlers:
    """The state handlers share; each resource's handler class extends it."""

    def __init__(
        self,
        store: Store,
        events_topic: str = "phs.scheduling.appointments.v1",
        on_event: Callable[[], None] = lambda: None,
        audit_log: AuditLog | None = None,
        feed: AppointmentFeed | None = None,
        heartbeat_s: float = 15.0,
    ) -> None:
        self.store = store
        self.catalogue = SessionTypeCatalogue(store)  # what ListSessionTypes answers
        self.audit_log = audit_log or AuditLog(store.engine, audit_events, "scheduling")
        self.events_topic = events_topic
        self.on_event = on_event  # wakes the outbox relay after a commit
        self.feed = feed  # the appointment topic as read by this process (WatchAppointments)
        self.heartbeat_s = heartbeat_s

    def write_once(
        self,
        method: str,
        rid: str,
        request: Message,
        response_type: type[M],
        write: Write[M],
        *,
        events: bool = False,
        on_conflict: Callable[[], Exception] | None = None,
    ) -> M:
        """`write` in one unit of work with its request id's record and audit entry: a
        replay answers the first response. `events`: the write enqueued events (the relay is woken after the
        commit). `on_conflict`: what an overlap with another appointment answers."""
        try:
            result = self.store.run_once(method, rid, idempotency.fingerprint(request), response_type, write)
        except SlotConflict:
            if on_conflict is None:
                raise
            raise on_conflict() from None
        if events:
            self.on_event()
        return result

    def update(
        self,
        method: str,
        rid: str,
        request: Message,
        name: str,
        values: dict[str, Any],
        apply: Callable[[UnitOfWork, dt.datetime, dict[str, Any]], Row[Any]],
        to_pb: Callable[[Any], M],
        response_type: type[M],
    ) -> M:
        """An AIP-134 update of the resource `name`: `apply` gives `values` to its
        repository and returns the row as it is now, idempotently."""

        def write(uow: UnitOfWork, now: dt.datetime) -> M:
            return to_pb(apply(uow, now, values))

        updated = self.write_once(method, rid, request, response_type, write)
        annotate(event="resource updated", **{"resource": name, "fields": sorted(values)})
        return updated

    # -- appointment events and conflicts --------------------------------------------------

    def event(
        self,
        uow: UnitOfWork,
        now: dt.datetime,
        kind: ev.AppointmentEvent.Type,
        appointment: r.Appointment,
        replacement: r.Appointment | None = None,
    ) -> None:
        """Write the change's event into the outbox, in the change's unit of work."""
        uow.enqueue(self.event_message(now, kind, appointment, replacement), now)

    def event_message(
        self,
        now: dt.datetime,
        kind: ev.AppointmentEvent.Type,
        appointment: r.Appointment,
        replacement: r.Appointment | None = None,
    ) -> OutboxMessage:
        event = ev.AppointmentEvent(
            event_id=new_id(), type=kind, appointment=appointment, event_time=to_timestamp(now)
        )
        if event.appointment.HasField("cancellation"):
            # Free text that may hold health information stays out of the event stream.
            event.appointment.cancellation.explanation = ""
        if replacement is not None:
            event.replacement.CopyFrom(replacement)
        return OutboxMessage(
            topic=self.events_topic,
            key=appointment.name,
            payload=event.SerializeToString(),
            headers={
                REQUEST_ID_HEADER: current_request_id() or "",
                "message-type": ev.AppointmentEvent.DESCRIPTOR.full_name,
            },
        )

    def slot_unavailable(self, pid: str, code: str, start: dt.datetime) -> Conflict:
        """SLOT_UNAVAILABLE naming the appointment in the way, when one is found."""
        with self.store.read() as uow:
            other = uow.appointments.conflicting(pid, code, start)
        meta = {"psychologist": names.psychologist_name(pid)}
        if other:
            meta["conflicting_appointment"] = names.appointment_name(pid, other)
        return Conflict("SLOT_UNAVAILABLE", SLOT_UNAVAILABLE_MESSAGE, meta)
