"""Appointment lifecycle RPCs: approve, decline, cancel, reschedule, complete, no-show.
Which state each leads to, from where, by whom and when is domain.lifecycle's table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.auth import CLIENT, current_principal
from phs_runtime.context import annotate
from phs_runtime.errors import Violations
from phs_scheduling import names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import request_id
from phs_scheduling.handlers.booking import Booking, Values, cancellation_values
from phs_scheduling.mapping import appointment_pb
from phs_scheduling.validation import check_start, enum_code


@aip193_handlers
class AppointmentChangeHandlers(Booking):
    def _change(
        self,
        method: str,
        request: Any,
        context: grpc.ServicerContext,
        action: Action,
        kind: ev.AppointmentEvent.Type,
        values: Values | None = None,
    ) -> r.Appointment:
        """One state transition: validate the name, apply it with its event, idempotently."""
        rid = request_id(request, context)
        ids = names.APPOINTMENT.require("name", request.name)

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Appointment:
            _, row = uow.appointments.transition(
                now,
                *ids,
                action,
                request.etag,
                (lambda before: values(uow, before, now)) if values else None,
            )
            changed = appointment_pb(row)
            self.event(uow, now, kind, changed)
            return changed

        changed = self.write_once(method, rid, request, r.Appointment, write, events=True)
        annotate(
            event="appointment changed", **{"resource": changed.name, "state": lifecycle.RULES[action].target}
        )
        return changed

    def ApproveAppointment(
        self, request: s.ApproveAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "ApproveAppointment", request, context, Action.APPROVE, ev.AppointmentEvent.TYPE_APPROVED
        )

    def DeclineAppointment(
        self, request: s.DeclineAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "DeclineAppointment",
            request,
            context,
            Action.DECLINE,
            ev.AppointmentEvent.TYPE_DECLINED,
            cancellation_values(cancellation.DECLINED, "PSYCHOLOGIST", request.explanation),
        )

    def CancelAppointment(
        self, request: s.CancelAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        v = Violations()
        reason = enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
        if reason in cancellation.RESERVED_REASONS:
            v.add("reason", "use RescheduleAppointment or DeclineAppointment for that")
        v.raise_if_any()
        return self._change(
            "CancelAppointment",
            request,
            context,
            Action.CANCEL,
            ev.AppointmentEvent.TYPE_CANCELLED,
            cancellation_values(reason, actor, request.explanation),
        )

    def RescheduleAppointment(
        self, request: s.RescheduleAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        rid = request_id(request, context)
        v = Violations()
        ids = names.APPOINTMENT.parse(v, "name", request.name)
        actor = enum_code(v, "rescheduled_by", r.Cancellation.Actor, request.rescheduled_by, "ACTOR_")
        start = check_start(v, "start_time", request, "start_time")
        v.raise_if_any()
        assert ids is not None and start is not None
        pid, aid = ids

        # A client's move is a request, like a client's booking: it waits for approval.
        who = current_principal()
        by_client = who is not None and who.role == CLIENT

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Appointment:
            return self.move(uow, now, pid, aid, request.etag, actor, start, by_client=by_client)

        with self.store.read() as uow:
            code = uow.appointments.session_type_of(pid, aid)
            client_id = uow.appointments.get(pid, aid).client_id if actor == cancellation.CLIENT else None
        if client_id is not None:
            self.check_client_request(pid, client_id, code, start, "start_time")
        moved = self.write_once(
            "RescheduleAppointment",
            rid,
            request,
            r.Appointment,
            write,
            events=True,
            on_conflict=lambda: self.slot_unavailable(pid, code, start),
        )
        annotate(event="appointment rescheduled", **{"resource": moved.name, "from": moved.rescheduled_from})
        return moved

    def CompleteAppointment(
        self, request: s.CompleteAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "CompleteAppointment", request, context, Action.COMPLETE, ev.AppointmentEvent.TYPE_COMPLETED
        )

    def MarkAppointmentNoShow(
        self, request: s.MarkAppointmentNoShowRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "MarkAppointmentNoShow", request, context, Action.NO_SHOW, ev.AppointmentEvent.TYPE_NO_SHOW
        )
