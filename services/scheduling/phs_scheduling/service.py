"""SchedulingService: validates requests, maps rows to resources, calls the store."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
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
    invalid_argument,
    unavailable,
)
from phs_runtime.outbox import OutboxMessage
from phs_runtime.resources import (
    from_timestamp,
    new_id,
    parse_child_name,
    parse_name,
    to_timestamp,
    utcnow,
)
from phs_scheduling import availability
from phs_scheduling.domain import cancellation, lifecycle
from phs_scheduling.domain import series as series_rules
from phs_scheduling.domain.errors import Conflict
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.domain.slots import Busy, free_slots, working_minutes
from phs_scheduling.errors import SLOT_UNAVAILABLE_MESSAGE, aip193_handlers
from phs_scheduling.mapping import hours_of
from phs_scheduling.store import AppointmentFilter, SlotConflict, Store, etag_of
from phs_scheduling.tables import audit_events, clients, outbox, psychologists, session_types
from phs_scheduling.watch import AppointmentFeed

State = r.Appointment.State
STATE_TO_DB = {
    State.STATE_PENDING: "PENDING",
    State.STATE_BOOKED: "BOOKED",
    State.STATE_DECLINED: "DECLINED",
    State.STATE_CANCELLED: "CANCELLED",
    State.STATE_COMPLETED: "COMPLETED",
    State.STATE_NO_SHOW: "NO_SHOW",
}
DB_TO_STATE = {v: k for k, v in STATE_TO_DB.items()}

# How far ahead anything may be booked, and the widest range a list may ask for.
MAX_BOOKING_AHEAD = dt.timedelta(days=2 * 366)
MAX_SLOT_RANGE = dt.timedelta(days=93)
_ZONES = frozenset(available_timezones())


# -- row -> resource ------------------------------------------------------------


def psychologist_pb(row: Any) -> r.Psychologist:
    return r.Psychologist(
        name=f"psychologists/{row.id}",
        display_name=row.display_name,
        time_zone=row.time_zone,
        active=row.active,
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )


def client_pb(row: Any) -> r.Client:
    return r.Client(
        name=f"clients/{row.id}",
        display_name=row.display_name,
        email=row.email,
        phone=row.phone,
        psychologist=f"psychologists/{row.psychologist_id}" if row.psychologist_id else "",
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )


# FHIR R4 Appointment.status for each state (one to one where FHIR has one;
# DECLINED is "cancelled" with the cancellation reason "declined").
FHIR_STATUS = {
    "PENDING": "pending",
    "BOOKED": "booked",
    "DECLINED": "cancelled",
    "CANCELLED": "cancelled",
    "COMPLETED": "fulfilled",
    "NO_SHOW": "noshow",
}


def appointment_pb(row: Any) -> r.Appointment:
    a = r.Appointment(
        name=f"psychologists/{row.psychologist_id}/appointments/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        state=DB_TO_STATE[row.state],
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_of(row.version),
        fhir_status=FHIR_STATUS[row.state],
    )
    if row.cancel_time is not None:
        a.cancellation.CopyFrom(
            r.Cancellation(
                reason=f"REASON_{row.cancel_reason}",
                cancelled_by=f"ACTOR_{row.cancelled_by}",
                late=bool(row.cancel_late),
                cancel_time=to_timestamp(row.cancel_time),
                explanation=row.cancel_explanation or "",
            )
        )
    if row.rescheduled_from_id:
        a.rescheduled_from = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_from_id}"
    if row.rescheduled_to_id:
        a.rescheduled_to = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_to_id}"
    if row.series_id:
        a.series = f"psychologists/{row.psychologist_id}/series/{row.series_id}"
    if row.original_start_time is not None:
        a.original_start_time.CopyFrom(to_timestamp(row.original_start_time))
    return a


def _minutes_pb(minutes: int) -> Duration:
    return Duration(seconds=minutes * 60)


def session_type_pb(row: Any) -> r.SessionType:
    return r.SessionType(
        name=f"sessionTypes/{row.code}",
        display_name=row.display_name,
        duration=_minutes_pb(row.duration_minutes),
        buffer_before=_minutes_pb(row.buffer_before_minutes),
        buffer_after=_minutes_pb(row.buffer_after_minutes),
        client_bookable=row.client_bookable,
    )


# -- validation helpers -------------------------------------------------------------


# Lengths and characters of every field are the contract's (phs.api.v1.limits), checked
# by the server interceptor before a handler runs; handlers check what is left.


def _check_display_name(v: Violations, field: str, value: str) -> None:
    if not value.strip():
        v.add(field, "is required")


def _check_time_zone(v: Violations, field: str, value: str) -> None:
    if not value:
        v.add(field, "is required (an IANA zone such as America/Toronto)")
    elif value not in _ZONES:
        v.add(field, f'"{excerpt(value)}" is not an IANA time zone')


def _check_timestamp(v: Violations, field: str, ts: Timestamp) -> dt.datetime | None:
    # Timestamp's valid range (AIP-142): 0001-01-01 to 9999-12-31, nanos in range.
    if not (-62135596800 <= ts.seconds <= 253402300799) or not (0 <= ts.nanos < 1_000_000_000):
        v.add(field, "is not a valid timestamp")
        return None
    return from_timestamp(ts)


def _check_start(v: Violations, field: str, msg: Any, attr: str) -> dt.datetime | None:
    """A bookable start: set, on a whole minute, in the future, within two years."""
    if not msg.HasField(attr):
        v.add(field, "is required")
        return None
    ts = getattr(msg, attr)
    start = _check_timestamp(v, field, ts)
    if start is None:
        return None
    now = utcnow()
    if ts.nanos or ts.seconds % 60:
        v.add(field, "must be on a whole minute")
    elif start < now:
        v.add(field, "must not be in the past")
    elif start > now + MAX_BOOKING_AHEAD:
        v.add(field, "must be within two years from now")
    else:
        return start
    return None


def _enum_code(v: Violations, field: str, enum: Any, value: int, prefix: str) -> str:
    """The stored code of a required enum value (its name without the prefix)."""
    if value == 0 or value not in enum.values():
        names = [x.name for x in enum.DESCRIPTOR.values if x.number]
        v.add(field, "is required: one of " + ", ".join(names))
        return ""
    return str(enum.Name(value)).removeprefix(prefix)


def _optional_timestamp(v: Violations, field: str, msg: Any) -> dt.datetime | None:
    return _check_timestamp(v, field, getattr(msg, field)) if msg.HasField(field) else None


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
        _check_display_name(v, "psychologist.display_name", p.display_name)
        _check_time_zone(v, "psychologist.time_zone", p.time_zone)
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
        pid = parse_name(request.name, "psychologists")
        if pid is None:
            raise invalid_argument([("name", "must look like psychologists/{id}")])
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
        _check_display_name(v, "client.display_name", c.display_name)
        _check_email(v, "client.email", c.email)
        psych_id = None
        if c.psychologist:
            psych_id = parse_name(c.psychologist, "psychologists")
            if psych_id is None:
                v.add("client.psychologist", "must look like psychologists/{id}")
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.Client:
            row = Store.insert_client(conn, now, c.display_name.strip(), c.email, c.phone, psych_id)
            return client_pb(SimpleNamespace(**row))

        created = self.store.idempotent_write(
            "CreateClient", rid, idempotency.fingerprint(request), r.Client, write
        )
        annotate(event="client created", **{"resource": created.name})
        return created

    def GetClient(self, request: s.GetClientRequest, context: grpc.ServicerContext) -> r.Client:
        cid = parse_name(request.name, "clients")
        if cid is None:
            raise invalid_argument([("name", "must look like clients/{id}")])
        return client_pb(self.store.get_client(cid))

    def ListClients(
        self, request: s.ListClientsRequest, context: grpc.ServicerContext
    ) -> s.ListClientsResponse:
        pid = None
        if request.psychologist:
            pid = parse_name(request.psychologist, "psychologists")
            if pid is None:
                raise invalid_argument([("psychologist", "must look like psychologists/{id}")])
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
        pid = parse_name(p.name, "psychologists")
        if pid is None:
            raise invalid_argument([("psychologist.name", "must look like psychologists/{id}")])
        paths = _mask(request, ("display_name", "time_zone", "active"))
        v = Violations()
        values: dict[str, Any] = {}
        if "display_name" in paths:
            _check_display_name(v, "psychologist.display_name", p.display_name)
            values["display_name"] = p.display_name.strip()
        if "time_zone" in paths:
            _check_time_zone(v, "psychologist.time_zone", p.time_zone)
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
        cid = parse_name(c.name, "clients")
        if cid is None:
            raise invalid_argument([("client.name", "must look like clients/{id}")])
        paths = _mask(request, ("display_name", "email", "phone", "psychologist"))
        v = Violations()
        values: dict[str, Any] = {}
        if "display_name" in paths:
            _check_display_name(v, "client.display_name", c.display_name)
            values["display_name"] = c.display_name.strip()
        if "email" in paths:
            _check_email(v, "client.email", c.email)
            values["email"] = c.email
        if "phone" in paths:
            values["phone"] = c.phone
        if "psychologist" in paths:
            pid = parse_name(c.psychologist, "psychologists") if c.psychologist else None
            if c.psychologist and pid is None:
                v.add("client.psychologist", "must look like psychologists/{id}")
            elif pid is not None:
                self.store.get_psychologist(pid)  # NOT_FOUND for an unknown psychologist
            values["psychologist_id"] = pid
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
        if not _CODE.fullmatch(code):
            v.add("session_type_id", "is required: 1-32 letters, digits or dashes (e.g. a CPT code)")
        values = _session_type_values(v, request.session_type, SESSION_TYPE_FIELDS, creating=True)
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
        code = _session_type_code(v, "session_type.name", st.name)
        v.raise_if_any()
        values = _session_type_values(v, st, _mask(request, SESSION_TYPE_FIELDS), creating=False)
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
        pid = parse_name(request.parent, "psychologists")
        if pid is None:
            v.add("parent", "must look like psychologists/{id}")
        if not request.HasField("appointment"):
            v.add("appointment", "is required")
        cid = parse_name(a.client, "clients")
        if cid is None:
            v.add("appointment.client", "is required, like clients/{id}")
        code = _session_type_code(v, "appointment.session_type", a.session_type)
        start = _check_start(v, "appointment.start_time", a, "start_time")
        v.raise_if_any()
        assert pid is not None and cid is not None and start is not None
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
        ids = parse_child_name(request.name, "psychologists", "appointments")
        if ids is None:
            raise invalid_argument([("name", "must look like psychologists/{id}/appointments/{id}")])

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
        reason = _enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = _enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
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
        ids = parse_child_name(request.name, "psychologists", "appointments")
        if ids is None:
            v.add("name", "must look like psychologists/{id}/appointments/{id}")
        actor = _enum_code(v, "rescheduled_by", r.Cancellation.Actor, request.rescheduled_by, "ACTOR_")
        start = _check_start(v, "start_time", request, "start_time")
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
        pid = parse_name(request.psychologist, "psychologists")
        if pid is None:
            v.add("psychologist", "must look like psychologists/{id}")
        code = _session_type_code(v, "session_type", request.session_type)
        start = (
            _check_timestamp(v, "start_time", request.start_time) if request.HasField("start_time") else None
        )
        end = _check_timestamp(v, "end_time", request.end_time) if request.HasField("end_time") else None
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
        assert pid is not None and start is not None and end is not None
        ctx = self.store.slot_context(pid, code, start, end)
        rules = availability.rules_for(ctx)
        found = free_slots(rules, Busy(ctx.busy_blocks), start, end, utcnow())
        return s.FindSlotsResponse(
            slots=[r.Slot(start_time=to_timestamp(a), end_time=to_timestamp(b)) for a, b in found]
        )

    def ComputeWorkingTime(
        self, request: s.ComputeWorkingTimeRequest, context: grpc.ServicerContext
    ) -> s.WorkingTime:
        v = Violations()
        pid = parse_name(request.psychologist, "psychologists")
        if pid is None:
            v.add("psychologist", "must look like psychologists/{id}")
        start = _optional_timestamp(v, "start_time", request)
        end = _optional_timestamp(v, "end_time", request)
        if start is None or end is None:
            v.add("start_time" if start is None else "end_time", "is required")
        elif end <= start:
            v.add("end_time", "must be after start_time")
        elif end - start > dt.timedelta(days=366):
            v.add("end_time", "the range may span at most 366 days")
        v.raise_if_any()
        assert pid is not None and start is not None and end is not None
        psych = self.store.get_psychologist(pid)
        spec, _ = self.store.get_availability(pid)
        hours = hours_of(r.Availability.FromString(spec))
        minutes = working_minutes(hours, ZoneInfo(psych.time_zone), start, end)
        return s.WorkingTime(psychologist=request.psychologist, minutes=minutes)

    def GetAvailability(
        self, request: s.GetAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        pid = _availability_id(request.name, "name")
        spec, updated = self.store.get_availability(pid)
        return _availability_pb(pid, spec, updated)

    def UpdateAvailability(
        self, request: s.UpdateAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid = _availability_id(request.availability.name, "availability.name")
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
            return _availability_pb(pid, spec, now)

        fingerprint = idempotency.fingerprint(request)
        updated = self.store.idempotent_write("UpdateAvailability", rid, fingerprint, r.Availability, write)
        annotate(event="availability updated", **{"resource": updated.name, "fields": list(paths)})
        return updated

    # -- series ---------------------------------------------------------------------------------

    def CreateSeries(self, request: s.CreateSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        x = request.series
        v = Violations()
        pid = parse_name(request.parent, "psychologists")
        if pid is None:
            v.add("parent", "must look like psychologists/{id}")
        cid = parse_name(x.client, "clients")
        if cid is None:
            v.add("series.client", "is required, like clients/{id}")
        code = _session_type_code(v, "series.session_type", x.session_type)
        first = _check_start(v, "series.first_start_time", x, "first_start_time")
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
        assert pid is not None and cid is not None and first is not None
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
            return _series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

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
        pid, sid = _series_ids(request.name)
        return _series_pb(*self.store.read_series(pid, sid))

    def CancelSeries(self, request: s.CancelSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid, sid = _series_ids(request.name)
        v = Violations()
        reason = _enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = _enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
        from_time = (
            _check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
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
            return _series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

        done = self.store.idempotent_write(
            "CancelSeries", rid, idempotency.fingerprint(request), r.Series, write
        )
        self.on_event()
        annotate(event="series cancelled", **{"resource": done.name})
        return done

    def RescheduleSeries(self, request: s.RescheduleSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = idempotency.effective_request_id(request.request_id, context)
        pid, sid = _series_ids(request.name)
        v = Violations()
        actor = _enum_code(v, "rescheduled_by", r.Cancellation.Actor, request.rescheduled_by, "ACTOR_")
        new_first = _check_start(v, "new_start_time", request, "new_start_time")
        from_time = (
            _check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
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
            return _series_pb(Store.series_row(conn, pid, sid), Store.occurrences(conn, sid))

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
        pid = parse_name(request.parent, "psychologists", allow_wildcard=True)
        if pid is None:
            v.add("parent", "must look like psychologists/{id} or psychologists/-")
        start = _optional_timestamp(v, "start_time", request)
        end = _optional_timestamp(v, "end_time", request)
        if not request.HasField("start_time"):
            v.add("start_time", "is required")
        if not request.HasField("end_time"):
            v.add("end_time", "is required")
        if start and end and end <= start:
            v.add("end_time", "must be after start_time")
        v.raise_if_any()
        assert pid is not None and start is not None and end is not None
        rows = self.store.stream_appointments(None if pid == "-" else pid, start, end)
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
        pid = parse_name(request.parent, "psychologists", allow_wildcard=True)
        if pid is None:
            raise invalid_argument([("parent", "must look like psychologists/{id} or psychologists/-")])
        if pid != "-":
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
        ids = parse_child_name(request.name, "psychologists", "appointments")
        if ids is None:
            raise invalid_argument([("name", "must look like psychologists/{id}/appointments/{id}")])
        return self._with_late_cancel_times([self.store.get_appointment(*ids)])[0]

    def ListAppointments(
        self, request: s.ListAppointmentsRequest, context: grpc.ServicerContext
    ) -> s.ListAppointmentsResponse:
        v = Violations()
        pid = parse_name(request.parent, "psychologists", allow_wildcard=True)
        if pid is None:
            v.add("parent", "must look like psychologists/{id} or psychologists/-")
        cid = None
        if request.client:
            cid = parse_name(request.client, "clients")
            if cid is None:
                v.add("client", "must look like clients/{id}")
        start_from = start_before = None
        if request.HasField("start_time"):
            start_from = _check_timestamp(v, "start_time", request.start_time)
        if request.HasField("end_time"):
            start_before = _check_timestamp(v, "end_time", request.end_time)
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
        f = AppointmentFilter(
            psychologist_id=None if pid == "-" else pid,
            client_id=cid,
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


_EPOCH = dt.datetime(1970, 1, 1)


def _heartbeat() -> s.WatchAppointmentsResponse:
    return s.WatchAppointmentsResponse(heartbeat_time=to_timestamp(utcnow()))


def _set_time(ts: Timestamp, value: Any) -> None:
    """Fill a Timestamp from a raw column value: SQLite's UTC text or a datetime."""
    if isinstance(value, str):
        delta = dt.datetime.fromisoformat(value) - _EPOCH
    else:
        delta = value.astimezone(dt.UTC).replace(tzinfo=None) - _EPOCH
    ts.seconds = delta.days * 86400 + delta.seconds
    ts.nanos = delta.microseconds * 1000


def export_pb(row: Any) -> r.Appointment:
    """appointment_pb for raw export rows, built field by field: the export path
    turns a million rows into messages, and this is most of its cost."""
    parent = f"psychologists/{row.psychologist_id}"
    a = r.Appointment(
        name=f"{parent}/appointments/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        state=DB_TO_STATE[row.state],
        etag=etag_of(row.version),
        fhir_status=FHIR_STATUS[row.state],
    )
    _set_time(a.start_time, row.start_time)
    _set_time(a.end_time, row.end_time)
    _set_time(a.create_time, row.create_time)
    _set_time(a.update_time, row.update_time)
    if row.cancel_time is not None:
        c = a.cancellation
        c.reason = f"REASON_{row.cancel_reason}"  # type: ignore[assignment]
        c.cancelled_by = f"ACTOR_{row.cancelled_by}"  # type: ignore[assignment]
        c.late = bool(row.cancel_late)
        _set_time(c.cancel_time, row.cancel_time)
    if row.rescheduled_from_id:
        a.rescheduled_from = f"{parent}/appointments/{row.rescheduled_from_id}"
    if row.rescheduled_to_id:
        a.rescheduled_to = f"{parent}/appointments/{row.rescheduled_to_id}"
    if row.series_id:
        a.series = f"{parent}/series/{row.series_id}"
    if row.original_start_time is not None:
        _set_time(a.original_start_time, row.original_start_time)
    return a


def _availability_id(name: str, field: str) -> str:
    parts = name.split("/")
    pid = parse_name("/".join(parts[:2]), "psychologists") if len(parts) == 3 else None
    if pid is None or parts[2] != "availability":
        raise invalid_argument([(field, "must look like psychologists/{id}/availability")])
    return pid


def _availability_pb(pid: str, spec: bytes, updated: dt.datetime | None) -> r.Availability:
    a = r.Availability.FromString(spec)
    a.name = f"psychologists/{pid}/availability"
    if updated is not None:
        a.update_time.CopyFrom(to_timestamp(updated))
    return a


def _series_ids(name: str) -> tuple[str, str]:
    ids = parse_child_name(name, "psychologists", "series")
    if ids is None:
        raise invalid_argument([("name", "must look like psychologists/{id}/series/{id}")])
    return ids


def _series_pb(row: Any, occurrences: Sequence[Any]) -> r.Series:
    x = r.Series(
        name=f"psychologists/{row.psychologist_id}/series/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        first_start_time=to_timestamp(row.first_start_time),
        interval_weeks=row.interval_weeks,
        occurrences=[f"psychologists/{o.psychologist_id}/appointments/{o.id}" for o in occurrences],
        create_time=to_timestamp(row.create_time),
    )
    if row.count is not None:
        x.count = row.count
    elif row.end_date is not None:
        x.end_date.year, x.end_date.month, x.end_date.day = (
            row.end_date.year,
            row.end_date.month,
            row.end_date.day,
        )
    return x


_CODE = re.compile(r"[A-Za-z0-9-]{1,32}")


def _session_type_code(v: Violations, field: str, name: str) -> str:
    """The code of a `sessionTypes/{code}` reference; "" (and a violation) when malformed."""
    code = name.removeprefix("sessionTypes/")
    if code == name or not _CODE.fullmatch(code):
        v.add(field, "is required, like sessionTypes/90834")
        return ""
    return code


SESSION_TYPE_FIELDS = ("display_name", "duration", "buffer_before", "buffer_after", "client_bookable")


def _mask(request: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The update_mask's paths (all allowed fields when empty), or INVALID_ARGUMENT."""
    paths = tuple(request.update_mask.paths) or allowed
    bad = [p for p in paths if p not in allowed]
    if bad:
        raise invalid_argument(
            [("update_mask", f'"{excerpt(p)}" is not one of {", ".join(allowed)}') for p in bad]
        )
    return paths


def _check_email(v: Violations, field: str, email: str) -> None:
    if email and ("@" not in email or len(email) > 254 or " " in email):
        v.add(field, "is not an email address")


def _minutes_of(v: Violations, field: str, d: Duration, low: int, high: int) -> int:
    if d.nanos or d.seconds % 60 or not low * 60 <= d.seconds <= high * 60:
        v.add(field, f"must be whole minutes from {low} to {high}")
    return d.seconds // 60


def _session_type_values(
    v: Violations, st: r.SessionType, paths: tuple[str, ...], *, creating: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "display_name" in paths:
        _check_display_name(v, "session_type.display_name", st.display_name)
        values["display_name"] = st.display_name.strip()
    if "duration" in paths:
        if creating and not st.HasField("duration"):
            v.add("session_type.duration", "is required")
        values["duration_minutes"] = _minutes_of(v, "session_type.duration", st.duration, 5, 480)
    if "buffer_before" in paths:
        values["buffer_before_minutes"] = _minutes_of(
            v, "session_type.buffer_before", st.buffer_before, 0, 120
        )
    if "buffer_after" in paths:
        values["buffer_after_minutes"] = _minutes_of(v, "session_type.buffer_after", st.buffer_after, 0, 120)
    if "client_bookable" in paths:
        values["client_bookable"] = st.client_bookable
    return values
