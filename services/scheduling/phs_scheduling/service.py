"""SchedulingService: validates requests, maps rows to resources, calls the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import grpc
from google.protobuf.message import Message
from sqlalchemy import Connection, Row

from phs.audit.v1 import audit_pb2
from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime import idempotency, paging
from phs_runtime import outbox as outbox_mod
from phs_runtime.audit import AuditLog
from phs_runtime.auth import CLIENT, current_principal
from phs_runtime.context import REQUEST_ID_HEADER, annotate, current_request_id
from phs_runtime.errors import (
    Violations,
    excerpt,
    unavailable,
)
from phs_runtime.outbox import OutboxMessage
from phs_runtime.resources import (
    new_id,
    to_timestamp,
    utcnow,
)
from phs_scheduling import availability, names
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain import series as series_rules
from phs_scheduling.domain.errors import Conflict
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.domain.slots import Busy, free_slots, working_minutes
from phs_scheduling.errors import SLOT_UNAVAILABLE_MESSAGE, aip193_handlers
from phs_scheduling.mapping import (
    STATE_TO_DB,
    appointment_pb,
    availability_pb,
    client_pb,
    export_pb,
    hours_of,
    psychologist_pb,
    series_pb,
    session_type_pb,
)
from phs_scheduling.store import AppointmentFilter, SlotConflict, Store
from phs_scheduling.tables import audit_events, clients, outbox, psychologists, session_types
from phs_scheduling.validation import (
    MAX_BOOKING_AHEAD,
    MAX_SLOT_RANGE,
    SESSION_TYPE_FIELDS,
    check_display_name,
    check_email,
    check_start,
    check_time_zone,
    check_timestamp,
    enum_code,
    mask,
    optional_timestamp,
    session_type_values,
)
from phs_scheduling.watch import AppointmentFeed


def _page(rows: Sequence[Row[Any]], limit: int, key: Any, filters: Any) -> tuple[Sequence[Row[Any]], str]:
    if len(rows) <= limit:
        return rows, ""
    rows = rows[:limit]
    return rows, paging.encode_token(key(rows[-1]), filters)


@aip193_handlers
class SchedulingServicer(s_grpc.SchedulingServiceServicer):
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
        self.audit_log = audit_log or AuditLog(store.engine, audit_events, "scheduling")
        self.events_topic = events_topic
        self.on_event = on_event  # wakes the outbox relay after a commit
        self.feed = feed  # the appointment topic as read by this process (WatchAppointments)
        self.heartbeat_s = heartbeat_s

    def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditEventsResponse:
        return self.audit_log.list(request, "auditLogs/scheduling")

    # -- psychologists -------------------------------------------------------------

    def CreatePsychologist(
        self, request: s.CreatePsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        rid = idempotency.effective_request_id(request.request_id, context)
        p = request.psychologist
        v = Violations()
        if not request.HasField("psychologist"):
            v.add("psychologist", "is required")
        check_display_name(v, "psychologist.display_name", p.display_name)
        check_time_zone(v, "psychologist.time_zone", p.time_zone)
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.Psychologist:
            # A new psychologist is active unless the request says otherwise; proto3
            # cannot tell false from unset, so new ones always start active.
            row = Store.insert_psychologist(conn, now, p.display_name.strip(), p.time_zone, True)
            return psychologist_pb(SimpleNamespace(**row))

        created = self.store.idempotent_write(
            "CreatePsychologist", rid, idempotency.fingerprint(request), r.Psychologist, write
        )
        annotate(event="psychologist created", **{"resource": created.name})
        return created

    def GetPsychologist(
        self, request: s.GetPsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        pid = names.PSYCHOLOGIST.require("name", request.name).id
        return psychologist_pb(self.store.get_psychologist(pid))

    def ListPsychologists(
        self, request: s.ListPsychologistsRequest, context: grpc.ServicerContext
    ) -> s.ListPsychologistsResponse:
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "psychologists")
        rows, token = _page(
            self.store.list_psychologists(after, limit),
            limit,
            lambda x: [x.create_time.isoformat(), x.id],
            "psychologists",
        )
        return s.ListPsychologistsResponse(
            psychologists=[psychologist_pb(x) for x in rows], next_page_token=token
        )

    # -- clients -------------------------------------------------------------------------

    def CreateClient(self, request: s.CreateClientRequest, context: grpc.ServicerContext) -> r.Client:
        rid = idempotency.effective_request_id(request.request_id, context)
        c = request.client
        v = Violations()
        if not request.HasField("client"):
            v.add("client", "is required")
        check_display_name(v, "client.display_name", c.display_name)
        check_email(v, "client.email", c.email)
        psych = names.PSYCHOLOGIST.parse(v, "client.psychologist", c.psychologist) if c.psychologist else None
        v.raise_if_any()
        psych_id = psych.id if psych else None

        def write(conn: Connection, now: dt.datetime) -> r.Client:
            row = Store.insert_client(conn, now, c.display_name.strip(), c.email, c.phone, psych_id)
            return client_pb(SimpleNamespace(**row))

        created = self.store.idempotent_write(
            "CreateClient", rid, idempotency.fingerprint(request), r.Client, write
        )
        annotate(event="client created", **{"resource": created.name})
        return created

    def GetClient(self, request: s.GetClientRequest, context: grpc.ServicerContext) -> r.Client:
        return client_pb(self.store.get_client(names.CLIENT.require("name", request.name).id))

    def ListClients(
        self, request: s.ListClientsRequest, context: grpc.ServicerContext
    ) -> s.ListClientsResponse:
        pid = (
            names.PSYCHOLOGIST.require("psychologist", request.psychologist).id
            if request.psychologist
            else None
        )
        limit = paging.page_size(request.page_size)
        filters = ["clients", pid]
        after = paging.decode_token(request.page_token, filters)
        rows, token = _page(
            self.store.list_clients(after, limit, pid),
            limit,
            lambda x: [x.create_time.isoformat(), x.id],
            filters,
        )
        return s.ListClientsResponse(clients=[client_pb(x) for x in rows], next_page_token=token)

    # -- updates (AIP-134) ------------------------------------------------------------------------

    def _update(
        self,
        method: str,
        request: Any,
        rid: str,
        table: Any,
        resource_type: str,
        name: str,
        key: str,
        values: dict[str, Any],
        to_pb: Callable[[Any], Message],
        response_type: type[Any],
    ) -> Any:
        def write(conn: Connection, now: dt.datetime) -> Message:
            extra = {"update_time": now} if "update_time" in table.c else {}
            return to_pb(Store.update_row(conn, table, resource_type, name, key, {**values, **extra}))

        fingerprint = idempotency.fingerprint(request)
        updated = self.store.idempotent_write(method, rid, fingerprint, response_type, write)
        annotate(event="resource updated", **{"resource": name, "fields": sorted(values)})
        return updated

    def UpdatePsychologist(
        self, request: s.UpdatePsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        rid = idempotency.effective_request_id(request.request_id, context)
        p = request.psychologist
        pid = names.PSYCHOLOGIST.require("psychologist.name", p.name).id
        paths = mask(request, ("display_name", "time_zone", "active"))
        v = Violations()
        values: dict[str, Any] = {}
        if "display_name" in paths:
            check_display_name(v, "psychologist.display_name", p.display_name)
            values["display_name"] = p.display_name.strip()
        if "time_zone" in paths:
            check_time_zone(v, "psychologist.time_zone", p.time_zone)
            values["time_zone"] = p.time_zone
        if "active" in paths:
            values["active"] = p.active
        v.raise_if_any()
        return cast(
            r.Psychologist,
            self._update(
                "UpdatePsychologist",
                request,
                rid,
                psychologists,
                "Psychologist",
                p.name,
                pid,
                values,
                psychologist_pb,
                r.Psychologist,
            ),
        )

    def UpdateClient(self, request: s.UpdateClientRequest, context: grpc.ServicerContext) -> r.Client:
        rid = idempotency.effective_request_id(request.request_id, context)
        c = request.client
        cid = names.CLIENT.require("client.name", c.name).id
        paths = mask(request, ("display_name", "email", "phone", "psychologist"))
        v = Violations()
        values: dict[str, Any] = {}
        if "display_name" in paths:
            check_display_name(v, "client.display_name", c.display_name)
            values["display_name"] = c.display_name.strip()
        if "email" in paths:
            check_email(v, "client.email", c.email)
            values["email"] = c.email
        if "phone" in paths:
            values["phone"] = c.phone
        if "psychologist" in paths:
            psych = (
                names.PSYCHOLOGIST.parse(v, "client.psychologist", c.psychologist) if c.psychologist else None
            )
            if psych is not None:
                self.store.get_psychologist(psych.id)  # NOT_FOUND for an unknown psychologist
            values["psychologist_id"] = psych.id if psych else None
        v.raise_if_any()
        return cast(
            r.Client,
            self._update(
                "UpdateClient", request, rid, clients, "Client", c.name, cid, values, client_pb, r.Client
            ),
        )

    def CreateSessionType(
        self, request: s.CreateSessionTypeRequest, context: grpc.ServicerContext
    ) -> r.SessionType:
        rid = idempotency.effective_request_id(request.request_id, context)
        v = Violations()
        code = request.session_type_id
        if not names.SESSION_TYPE_CODE.fullmatch(code):
            v.add("session_type_id", "is required: 1-32 letters, digits or dashes (e.g. a CPT code)")
        values = session_type_values(v, request.session_type, SESSION_TYPE_FIELDS, creating=True)
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.SessionType:
            row = {"code": code, **values}
            Store.insert_session_type(conn, row)
            return session_type_pb(SimpleNamespace(**row))

        fingerprint = idempotency.fingerprint(request)
        created = self.store.idempotent_write("CreateSessionType", rid, fingerprint, r.SessionType, write)
        annotate(event="session type created", **{"resource": created.name})
        return created

    def UpdateSessionType(
        self, request: s.UpdateSessionTypeRequest, context: grpc.ServicerContext
    ) -> r.SessionType:
        rid = idempotency.effective_request_id(request.request_id, context)
        st = request.session_type
        v = Violations()
        code = names.SESSION_TYPE.require("session_type.name", st.name).code
        values = session_type_values(v, st, mask(request, SESSION_TYPE_FIELDS), creating=False)
        v.raise_if_any()
        updated = self._update(
            "UpdateSessionType",
            request,
            rid,
            session_types,
            "SessionType",
            st.name,
            code,
            values,
            session_type_pb,
            r.SessionType,
        )
        # This process's bookings use the new shape at once; other processes find the
        # one they hold stale at their next booking (Store.book_at_once).
        self.store.forget_session_shape(code)
        return cast(r.SessionType, updated)

    # -- session types ----------------------------------------------------------------------

    def ListSessionTypes(
        self, request: s.ListSessionTypesRequest, context: grpc.ServicerContext
    ) -> s.ListSessionTypesResponse:
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "sessionTypes")
        rows, token = _page(
            self.store.list_session_types(after, limit), limit, lambda x: [x.code], "sessionTypes"
        )
        return s.ListSessionTypesResponse(
            session_types=[session_type_pb(x) for x in rows], next_page_token=token
        )

    # -- appointments ---------------------------------------------------------------------------

    def CreateAppointment(
        self, request: s.CreateAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        rid = idempotency.effective_request_id(request.request_id, context)
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
            self._check_client_request(pid, cid, code, start, "appointment.start_time")
        request_hash = idempotency.fingerprint(request)
        created = self._book_at_once(rid, request_hash, pid, cid, code, start, state)
        if created is None:

            def write(conn: Connection, now: dt.datetime) -> r.Appointment:
                row = Store.insert_appointment(conn, now, pid, cid, code, start, state)
                created = appointment_pb(SimpleNamespace(**row))
                self._event(conn, now, ev.AppointmentEvent.TYPE_CREATED, created)
                return created

            created = self._write_booking("CreateAppointment", rid, request_hash, write, pid, code, start)
        annotate(event="appointment created", **{"resource": created.name, "state": state})
        return created

    def _book_at_once(
        self, rid: str, request_hash: str, pid: str, cid: str, code: str, start: dt.datetime, state: str
    ) -> r.Appointment | None:
        """A new appointment with every row computed before the database is touched
        (Store.book_at_once: one statement on PostgreSQL); None when nothing was
        written and the booking takes the long way (`_write_booking`), which answers
        every refusal precisely. Both write the same rows."""
        shape = self.store.session_shape(code)
        if shape is None:
            return None  # no such session type: the long way says so
        now = dt.datetime.now(dt.UTC)
        row = Store.appointment_row(now, pid, cid, code, start, state, shape)
        created = appointment_pb(SimpleNamespace(**row))
        event = self._event_message(now, ev.AppointmentEvent.TYPE_CREATED, created)
        then = [(outbox, outbox_mod.message_row(event, now))]
        try:
            if not self.store.book_at_once("CreateAppointment", rid, request_hash, row, shape, created, then):
                return None
        except SlotConflict:
            raise self._slot_unavailable(pid, code, start) from None
        self.on_event()
        return created

    def _write_booking(
        self,
        method: str,
        rid: str,
        request_hash: str,
        write: Callable[[Connection, dt.datetime], r.Appointment],
        pid: str,
        code: str,
        start: dt.datetime,
    ) -> r.Appointment:
        """An idempotent write that claims a slot; an overlap becomes 409 with details."""
        try:
            result = self.store.idempotent_write(method, rid, request_hash, r.Appointment, write)
        except SlotConflict:
            raise self._slot_unavailable(pid, code, start) from None
        self.on_event()
        return result

    def _slot_unavailable(self, pid: str, code: str, start: dt.datetime) -> Conflict:
        other = self.store.conflicting_appointment(pid, code, start)
        meta = {"psychologist": f"psychologists/{pid}"}
        if other:
            meta["conflicting_appointment"] = f"psychologists/{pid}/appointments/{other}"
        return Conflict("SLOT_UNAVAILABLE", SLOT_UNAVAILABLE_MESSAGE, meta)

    def _event(
        self,
        conn: Connection,
        now: dt.datetime,
        kind: ev.AppointmentEvent.Type,
        appointment: r.Appointment,
        replacement: r.Appointment | None = None,
    ) -> None:
        """Write the change's event into the outbox, in the change's transaction."""
        outbox_mod.enqueue(conn, outbox, self._event_message(now, kind, appointment, replacement), now)

    def _event_message(
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

    # -- lifecycle ------------------------------------------------------------------------------

    def _change(
        self,
        method: str,
        request: Any,
        context: grpc.ServicerContext,
        action: Action,
        kind: ev.AppointmentEvent.Type,
        values: Callable[[Connection, Any, dt.datetime], dict[str, Any]] | None = None,
    ) -> r.Appointment:
        """One state transition: validate the name, apply it with its event, idempotently."""
        rid = idempotency.effective_request_id(request.request_id, context)
        ids = names.APPOINTMENT.require("name", request.name)

        def write(conn: Connection, now: dt.datetime) -> r.Appointment:
            _, row = Store.transition(
                conn,
                now,
                *ids,
                action,
                request.etag,
                (lambda before: values(conn, before, now)) if values else None,
            )
            changed = appointment_pb(row)
            self._event(conn, now, kind, changed)
            return changed

        changed = self.store.idempotent_write(
            method, rid, idempotency.fingerprint(request), r.Appointment, write
        )
        self.on_event()
        annotate(
            event="appointment changed", **{"resource": changed.name, "state": lifecycle.RULES[action].target}
        )
        return changed

    @staticmethod
    def _cancellation(
        reason: str, actor: str, explanation: str = ""
    ) -> Callable[[Connection, Any, dt.datetime], dict[str, Any]]:
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
            self._cancellation(cancellation.DECLINED, "PSYCHOLOGIST", request.explanation),
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
            self._cancellation(reason, actor, request.explanation),
        )

    def _move(
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
            lambda b: self._cancellation(cancellation.RESCHEDULED, actor)(conn, b, now),
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
        self._event(conn, now, ev.AppointmentEvent.TYPE_RESCHEDULED, old_pb, new_pb)
        return new_pb

    def RescheduleAppointment(
        self, request: s.RescheduleAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        rid = idempotency.effective_request_id(request.request_id, context)
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

        def write(conn: Connection, now: dt.datetime) -> r.Appointment:
            return self._move(conn, now, pid, aid, request.etag, actor, start, by_client=by_client)

        code = self.store.session_type_of(pid, aid)
        if actor == cancellation.CLIENT:
            client_id = self.store.get_appointment(pid, aid).client_id
            self._check_client_request(pid, client_id, code, start, "start_time")
        moved = self._write_booking(
            "RescheduleAppointment", rid, idempotency.fingerprint(request), write, pid, code, start
        )
        annotate(event="appointment rescheduled", **{"resource": moved.name, "from": moved.rescheduled_from})
        return moved

    def CompleteAppointment(
        self, request: s.CompleteAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "CompleteAppointment",
            request,
            context,
            Action.COMPLETE,
            ev.AppointmentEvent.TYPE_COMPLETED,
        )

    def MarkAppointmentNoShow(
        self, request: s.MarkAppointmentNoShowRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "MarkAppointmentNoShow",
            request,
            context,
            Action.NO_SHOW,
            ev.AppointmentEvent.TYPE_NO_SHOW,
        )

    # -- availability and slot search -----------------------------------------------------------

    def _check_client_request(self, pid: str, cid: str, code: str, start: dt.datetime, field: str) -> None:
        """A client may only take what slot search offers (the same code decides)."""
        ctx = self.store.slot_context(pid, code, start, start + dt.timedelta(minutes=1))
        client = self.store.get_client(cid)
        cancellation.check_client_request(
            availability.rules_for(ctx),
            start,
            utcnow(),
            client_bookable=ctx.session_type.client_bookable,
            session_type=f"sessionTypes/{code}",
            known_client=client.psychologist_id == pid,
            field=field,
        )

    def FindSlots(self, request: s.FindSlotsRequest, context: grpc.ServicerContext) -> s.FindSlotsResponse:
        v = Violations()
        psych = names.PSYCHOLOGIST.parse(v, "psychologist", request.psychologist)
        st = names.SESSION_TYPE.parse(v, "session_type", request.session_type)
        start = (
            check_timestamp(v, "start_time", request.start_time) if request.HasField("start_time") else None
        )
        end = check_timestamp(v, "end_time", request.end_time) if request.HasField("end_time") else None
        if start is None and not request.HasField("start_time"):
            v.add("start_time", "is required")
        if end is None and not request.HasField("end_time"):
            v.add("end_time", "is required")
        if start and end:
            if end <= start:
                v.add("end_time", "must be after start_time")
            elif end - start > MAX_SLOT_RANGE:
                v.add("end_time", f"the range may span at most {MAX_SLOT_RANGE.days} days")
        v.raise_if_any()
        assert psych is not None and st is not None and start is not None and end is not None
        ctx = self.store.slot_context(psych.id, st.code, start, end)
        rules = availability.rules_for(ctx)
        found = free_slots(rules, Busy(ctx.busy_blocks), start, end, utcnow())
        return s.FindSlotsResponse(
            slots=[r.Slot(start_time=to_timestamp(a), end_time=to_timestamp(b)) for a, b in found]
        )

    def ComputeWorkingTime(
        self, request: s.ComputeWorkingTimeRequest, context: grpc.ServicerContext
    ) -> s.WorkingTime:
        v = Violations()
        psych_name = names.PSYCHOLOGIST.parse(v, "psychologist", request.psychologist)
        start = optional_timestamp(v, "start_time", request)
        end = optional_timestamp(v, "end_time", request)
        if start is None or end is None:
            v.add("start_time" if start is None else "end_time", "is required")
        elif end <= start:
            v.add("end_time", "must be after start_time")
        elif end - start > dt.timedelta(days=366):
            v.add("end_time", "the range may span at most 366 days")
        v.raise_if_any()
        assert psych_name is not None and start is not None and end is not None
        pid = psych_name.id
        psych = self.store.get_psychologist(pid)
        spec, _ = self.store.get_availability(pid)
        hours = hours_of(r.Availability.FromString(spec))
        minutes = working_minutes(hours, ZoneInfo(psych.time_zone), start, end)
        return s.WorkingTime(psychologist=request.psychologist, minutes=minutes)

    def GetAvailability(
        self, request: s.GetAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        pid = names.AVAILABILITY.require("name", request.name).psychologist_id
        spec, updated = self.store.get_availability(pid)
        return availability_pb(pid, spec, updated)

    def UpdateAvailability(
        self, request: s.UpdateAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid = names.AVAILABILITY.require("availability.name", request.availability.name).psychologist_id
        paths = tuple(request.update_mask.paths) or availability.MASK_PATHS
        v = Violations()
        for path in paths:
            if path not in availability.MASK_PATHS:
                v.add("update_mask", f'"{excerpt(path)}" is not one of {", ".join(availability.MASK_PATHS)}')
        v.raise_if_any()
        availability.validate_availability(v, request.availability, paths)
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.Availability:
            current, _ = self.store.get_availability(pid)
            merged = availability.merge(r.Availability.FromString(current), request.availability, paths)
            merged.ClearField("name")
            merged.ClearField("update_time")
            spec = merged.SerializeToString(deterministic=True)
            Store.put_availability(conn, now, pid, spec)
            return availability_pb(pid, spec, now)

        fingerprint = idempotency.fingerprint(request)
        updated = self.store.idempotent_write("UpdateAvailability", rid, fingerprint, r.Availability, write)
        annotate(event="availability updated", **{"resource": updated.name, "fields": list(paths)})
        return updated

    # -- series ---------------------------------------------------------------------------------

    def CreateSeries(self, request: s.CreateSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        x = request.series
        v = Violations()
        psych_name = names.PSYCHOLOGIST.parse(v, "parent", request.parent)
        client = names.CLIENT.parse(v, "series.client", x.client)
        st = names.SESSION_TYPE.parse(v, "series.session_type", x.session_type)
        first = check_start(v, "series.first_start_time", x, "first_start_time")
        interval = x.interval_weeks or 1
        if not 1 <= interval <= series_rules.MAX_INTERVAL_WEEKS:
            v.add("series.interval_weeks", f"must be 1 to {series_rules.MAX_INTERVAL_WEEKS}")
        which = x.WhichOneof("end")
        count = x.count if which == "count" else None
        end_date = None
        if which is None:
            v.add("series.end", "set count or end_date")
        elif count is not None and not 1 <= count <= series_rules.MAX_SERIES_OCCURRENCES:
            v.add("series.count", f"must be 1 to {series_rules.MAX_SERIES_OCCURRENCES}")
        elif which == "end_date":
            end_date = availability._date(v, "series.end_date", x.end_date)
        v.raise_if_any()
        assert psych_name is not None and client is not None and st is not None and first is not None
        pid, cid, code = psych_name.id, client.id, st.code
        psych = self.store.get_psychologist(pid)
        starts = series_rules.plan(
            first, ZoneInfo(psych.time_zone), interval, count, end_date, utcnow() + MAX_BOOKING_AHEAD
        )
        sid = new_id()

        def write(conn: Connection, now: dt.datetime) -> r.Series:
            Store.insert_series(
                conn,
                {
                    "id": sid,
                    "psychologist_id": pid,
                    "client_id": cid,
                    "session_type_code": code,
                    "first_start_time": first,
                    "interval_weeks": interval,
                    "count": count,
                    "end_date": end_date,
                    "create_time": now,
                },
            )
            for start in starts:
                row = Store.insert_appointment(conn, now, pid, cid, code, start, "BOOKED", series_id=sid)
                self._event(
                    conn, now, ev.AppointmentEvent.TYPE_CREATED, appointment_pb(SimpleNamespace(**row))
                )
            return series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

        try:
            created = self.store.idempotent_write(
                "CreateSeries", rid, idempotency.fingerprint(request), r.Series, write
            )
        except SlotConflict:
            raise self._series_conflicts(pid, code, starts, ZoneInfo(psych.time_zone)) from None
        self.on_event()
        annotate(event="series created", **{"resource": created.name, "occurrences": len(starts)})
        return created

    def _series_conflicts(self, pid: str, code: str, starts: list[dt.datetime], tz: ZoneInfo) -> Conflict:
        """ALREADY_EXISTS naming every conflicting date (nothing was created)."""
        st = self.store.slot_context(pid, code, starts[0], starts[0]).session_type
        before = dt.timedelta(minutes=st.buffer_before_minutes)
        after = dt.timedelta(minutes=st.duration_minutes + st.buffer_after_minutes)
        clashes = self.store.conflicting_starts(pid, [(x, x - before, x + after) for x in starts])
        # Occurrences may also clash with each other only if the rhythm is shorter than a
        # session, which the weekly interval rules out; so the database's refusal names a date here.
        # One short violation per date (the message says what they mean): all 104 of a
        # series fit the status's size bound (errors.MAX_STATUS_BYTES).
        violations = [("SLOT_UNAVAILABLE", x.astimezone(tz).date().isoformat()) for x in clashes]
        return Conflict(
            "SERIES_CONFLICTS",
            f"{len(clashes)} of {len(starts)} occurrences conflict with appointments the psychologist "
            "already has (one violation per date); nothing was created",
            {"conflicts": str(len(clashes)), "occurrences": str(len(starts))},
            violations,
        )

    def GetSeries(self, request: s.GetSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        pid, sid = names.SERIES.require("name", request.name)
        return series_pb(*self.store.read_series(pid, sid))

    def CancelSeries(self, request: s.CancelSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid, sid = names.SERIES.require("name", request.name)
        v = Violations()
        reason = enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
        from_time = (
            check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
        )
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.Series:
            Store.series_row(conn, pid, sid)
            for occ in series_rules.to_move(Store.occurrences(conn, sid), from_time):
                _, row = Store.transition(
                    conn,
                    now,
                    pid,
                    occ.id,
                    Action.CANCEL,
                    "",
                    lambda b: self._cancellation(reason, actor)(conn, b, now),
                )
                self._event(conn, now, ev.AppointmentEvent.TYPE_CANCELLED, appointment_pb(row))
            return series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

        done = self.store.idempotent_write(
            "CancelSeries", rid, idempotency.fingerprint(request), r.Series, write
        )
        self.on_event()
        annotate(event="series cancelled", **{"resource": done.name})
        return done

    def RescheduleSeries(self, request: s.RescheduleSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid, sid = names.SERIES.require("name", request.name)
        v = Violations()
        actor = enum_code(v, "rescheduled_by", r.Cancellation.Actor, request.rescheduled_by, "ACTOR_")
        new_first = check_start(v, "new_start_time", request, "new_start_time")
        from_time = (
            check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
        )
        v.raise_if_any()
        assert new_first is not None
        row, occurrences = self.store.read_series(pid, sid)
        moving = series_rules.to_reschedule(occurrences, from_time)
        tz = ZoneInfo(self.store.get_psychologist(pid).time_zone)
        starts = series_rules.series_starts(new_first, tz, row.interval_weeks, len(moving), None)

        def write(conn: Connection, now: dt.datetime) -> r.Series:
            for old_occ, start in zip(moving, starts, strict=True):
                # The new rhythm belongs to the series, not as exceptions.
                self._move(conn, now, pid, old_occ.id, "", actor, start, series_id=sid)
            return series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

        try:
            moved = self.store.idempotent_write(
                "RescheduleSeries", rid, idempotency.fingerprint(request), r.Series, write
            )
        except SlotConflict:
            raise self._series_conflicts(pid, row.session_type_code, starts, tz) from None
        self.on_event()
        annotate(event="series rescheduled", **{"resource": moved.name, "occurrences": len(starts)})
        return moved

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
        rows = self.store.stream_appointments(None if parent.any else parent.id, start, end)
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
            self.store.get_psychologist(pid)  # NOT_FOUND before the stream opens
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

    def GetAppointment(
        self, request: s.GetAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        ids = names.APPOINTMENT.require("name", request.name)
        return self._with_late_cancel_times([self.store.get_appointment(*ids)])[0]

    def ListAppointments(
        self, request: s.ListAppointmentsRequest, context: grpc.ServicerContext
    ) -> s.ListAppointmentsResponse:
        v = Violations()
        parent = names.PSYCHOLOGISTS.parse(v, "parent", request.parent)
        client = names.CLIENT.parse(v, "client", request.client) if request.client else None
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
        rows, token = _page(
            self.store.list_appointments(f, after, limit),
            limit,
            lambda x: [x.start_time.isoformat(), x.id],
            f,
        )
        return s.ListAppointmentsResponse(
            appointments=self._with_late_cancel_times(rows), next_page_token=token
        )

    def _with_late_cancel_times(self, rows: Sequence[Any]) -> list[r.Appointment]:
        """Appointments as read, each still open to cancellation with the instant after
        which cancelling it counts as late (what `_cancellation` decides)."""
        open_rows = [x for x in rows if lifecycle.is_open(x.state)]
        windows = self.store.late_cancel_windows(x.psychologist_id for x in open_rows)
        out = []
        for row in rows:
            a = appointment_pb(row)
            if lifecycle.is_open(row.state):
                late_after = cancellation.late_cancel_time(row.start_time, windows[row.psychologist_id])
                a.late_cancel_time.CopyFrom(to_timestamp(late_after))
            out.append(a)
        return out


EXPORT_BATCH = 500


def _heartbeat() -> s.WatchAppointmentsResponse:
    return s.WatchAppointmentsResponse(heartbeat_time=to_timestamp(utcnow()))
