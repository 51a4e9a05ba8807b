"""Appointments: booking, reading, listing, exporting and watching them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import grpc

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import idempotency, paging
from phs_runtime import outbox as outbox_mod
from phs_runtime.context import annotate
from phs_runtime.decision import current_scope
from phs_runtime.errors import Violations, unavailable
from phs_runtime.resources import to_timestamp, utcnow
from phs_scheduling import names
from phs_scheduling.adapters.appointments import AppointmentFilter, new_row
from phs_scheduling.adapters.unit_of_work import ReadOnlyUnitOfWork, UnitOfWork
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain.errors import SlotConflict
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import page, request_id
from phs_scheduling.handlers.booking import Booking
from phs_scheduling.mapping import STATE_TO_DB, appointment_pb, export_pb
from phs_scheduling.tables import outbox
from phs_scheduling.validation import check_start, check_timestamp, optional_timestamp

EXPORT_BATCH = 500


def _heartbeat() -> s.WatchAppointmentsResponse:
    return s.WatchAppointmentsResponse(heartbeat_time=to_timestamp(utcnow()))


@aip193_handlers
class AppointmentHandlers(Booking):
    def CreateAppointment(
        self, request: s.CreateAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        rid = request_id(request, context)
        if current_scope().approval_required and not request.request_approval:
            # A client's booking is a request until approved; booked and fingerprinted as
            # one, so a retry that says so itself is the same request.
            scoped = s.CreateAppointmentRequest()
            scoped.CopyFrom(request)
            scoped.request_approval = True
            request = scoped
        a = request.appointment
        v = Violations()
        psych = names.PSYCHOLOGIST.parse(v, "parent", request.parent)
        if not request.HasField("appointment"):
            v.add("appointment", "is required")
        client = names.CLIENT.parse(v, "appointment.client", a.client)
        st = names.SESSION_TYPE.parse(v, "appointment.session_type", a.session_type)
        start = check_start(v, "appointment.start_time", a, "start_time")
        v.raise_if_any()
        assert psych is not None and client is not None and st is not None and start is not None
        pid, cid, code = psych.id, client.id, st.code
        state = lifecycle.booking_state(request_approval=request.request_approval).value
        if request.request_approval:
            self.check_client_request(pid, cid, code, start, "appointment.start_time")
        # The request's hash matters only with a request id (its AIP-155 record).
        request_hash = idempotency.fingerprint(request) if rid else ""
        created = self._book_at_once(rid, request_hash, pid, cid, code, start, state)
        if created is None:

            def write(uow: UnitOfWork, now: dt.datetime) -> r.Appointment:
                row = uow.appointments.add(now, pid, cid, code, start, state)
                created = appointment_pb(SimpleNamespace(**row))
                self.event(uow, now, ev.AppointmentEvent.TYPE_CREATED, created)
                return created

            created = self.write_once(
                "CreateAppointment",
                rid,
                request,
                r.Appointment,
                write,
                events=True,
                on_conflict=lambda: self.slot_unavailable(pid, code, start),
            )
        annotate(event="appointment created", **{"resource": created.name, "state": state})
        return created

    def _book_at_once(
        self, rid: str, request_hash: str, pid: str, cid: str, code: str, start: dt.datetime, state: str
    ) -> r.Appointment | None:
        """A new appointment with every row computed before the database is touched
        (adapters.appointments.book_at_once: one statement on PostgreSQL); None when nothing was
        written and the booking takes the long way (`write_once`), which answers
        every refusal precisely. Both write the same rows."""
        shape = self.store.session_shape(code)
        if shape is None:
            return None  # no such session type: the long way says so
        now = dt.datetime.now(dt.UTC)
        row = new_row(now, pid, cid, code, start, state, shape)
        created = appointment_pb(SimpleNamespace(**row))
        event = self.event_message(now, ev.AppointmentEvent.TYPE_CREATED, created)
        then = [(outbox, outbox_mod.message_row(event, now))]
        try:
            if not self.store.book_at_once("CreateAppointment", rid, request_hash, row, shape, created, then):
                return None
        except SlotConflict:
            raise self.slot_unavailable(pid, code, start) from None
        self.on_event()
        return created

    def GetAppointment(
        self, request: s.GetAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        ids = names.APPOINTMENT.require("name", request.name)
        with self.store.read() as uow:
            return self._with_late_cancel_times(uow, [uow.appointments.get(*ids)])[0]

    def ListAppointments(
        self, request: s.ListAppointmentsRequest, context: grpc.ServicerContext
    ) -> s.ListAppointmentsResponse:
        v = Violations()
        parent = names.PSYCHOLOGISTS.parse(v, "parent", request.parent)
        pinned = current_scope().pinned("client", request.client)  # a client's own appointments
        client = names.CLIENT.parse(v, "client", pinned) if pinned else None
        start_from = start_before = None
        if request.HasField("start_time"):
            start_from = check_timestamp(v, "start_time", request.start_time)
        if request.HasField("end_time"):
            start_before = check_timestamp(v, "end_time", request.end_time)
        if start_from and start_before and start_before <= start_from:
            v.add("end_time", "must be after start_time")
        states: list[str] = []
        for i, st in enumerate(request.states):
            if st not in STATE_TO_DB:
                v.add(f"states[{i}]", "is not a known state")
            else:
                states.append(STATE_TO_DB[st])
        if request.page_size < 0:
            v.add("page_size", "must not be negative")
        v.raise_if_any()
        assert parent is not None
        f = AppointmentFilter(
            psychologist_id=None if parent.any else parent.id,
            client_id=client.id if client else None,
            start_from=start_from,
            start_before=start_before,
            states=tuple(sorted(set(states))),
        )
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, f)
        with self.store.read() as uow:
            rows, token = page(
                uow.appointments.list(f, after, limit),
                limit,
                lambda x: [x.start_time.isoformat(), x.id],
                f,
            )
            appointments = self._with_late_cancel_times(uow, rows)
        return s.ListAppointmentsResponse(appointments=appointments, next_page_token=token)

    def _with_late_cancel_times(self, uow: ReadOnlyUnitOfWork, rows: Sequence[Any]) -> list[r.Appointment]:
        """Appointments as read, each still open to cancellation with the instant after
        which cancelling it counts as late (what domain.cancellation decides)."""
        open_rows = [x for x in rows if lifecycle.is_open(x.state)]
        windows = uow.availability.late_cancel_windows(x.psychologist_id for x in open_rows)
        out = []
        for row in rows:
            a = appointment_pb(row)
            if lifecycle.is_open(row.state):
                late_after = cancellation.late_cancel_time(row.start_time, windows[row.psychologist_id])
                a.late_cancel_time.CopyFrom(to_timestamp(late_after))
            out.append(a)
        return out

    def ExportAppointments(
        self, request: s.ExportAppointmentsRequest, context: grpc.ServicerContext
    ) -> Iterator[s.ExportAppointmentsResponse]:
        v = Violations()
        parent = names.PSYCHOLOGISTS.parse(v, "parent", request.parent)
        start = optional_timestamp(v, "start_time", request)
        end = optional_timestamp(v, "end_time", request)
        if not request.HasField("start_time"):
            v.add("start_time", "is required")
        if not request.HasField("end_time"):
            v.add("end_time", "is required")
        if start and end and end <= start:
            v.add("end_time", "must be after start_time")
        v.raise_if_any()
        assert parent is not None and start is not None and end is not None
        with self.store.read() as uow:
            rows = uow.appointments.stream(None if parent.any else parent.id, start, end)
            batch: list[r.Appointment] = []
            for row in rows:  # NOT_FOUND surfaces before the first message
                batch.append(export_pb(row))
                if len(batch) == EXPORT_BATCH:
                    yield s.ExportAppointmentsResponse(appointments=batch)
                    batch = []
            if batch:
                yield s.ExportAppointmentsResponse(appointments=batch)

    def WatchAppointments(
        self, request: s.WatchAppointmentsRequest, context: grpc.ServicerContext
    ) -> Iterator[s.WatchAppointmentsResponse]:
        parent = names.PSYCHOLOGISTS.require("parent", request.parent)
        pid = parent.id
        if not parent.any:
            with self.store.read() as uow:
                uow.psychologists.require(pid)  # NOT_FOUND before the stream opens
        if self.feed is None:
            raise unavailable("WATCH_UNAVAILABLE", "this server does not read appointment changes")
        feed = self.feed
        sub = feed.subscribe(None if pid == "-" else pid)
        # The caller going away (or the deadline) wakes the loop at once.
        context.add_callback(sub.end)
        try:
            yield _heartbeat()  # the watch is live: nothing committed from now on is missed
            while context.is_active():
                event = sub.next(self.heartbeat_s)
                if event is not None:
                    yield s.WatchAppointmentsResponse(change=event)
                elif sub.closed:
                    break
                else:
                    yield _heartbeat()
        finally:
            feed.unsubscribe(sub)
        if sub.failure:
            raise unavailable(sub.failure, "the watch ended; list again and watch again")
