"""SchedulingService: validates requests, maps rows to resources, calls the store."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any
from zoneinfo import available_timezones

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, Row

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime import idempotency, paging
from phs_runtime import outbox as outbox_mod
from phs_runtime.context import REQUEST_ID_HEADER, current_request_id
from phs_runtime.errors import Violations, already_exists, failed_precondition, invalid_argument
from phs_runtime.outbox import OutboxMessage
from phs_runtime.resources import (
    from_timestamp,
    new_id,
    parse_child_name,
    parse_name,
    to_timestamp,
    utcnow,
)
from phs_scheduling.store import AppointmentFilter, SlotConflict, Store, etag_of
from phs_scheduling.tables import outbox

log = logging.getLogger(__name__)

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

MAX_NAME_LEN = 200
# How far ahead anything may be booked, and the widest range a list may ask for.
MAX_BOOKING_AHEAD = dt.timedelta(days=2 * 366)
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
            )
        )
    if row.rescheduled_from_id:
        a.rescheduled_from = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_from_id}"
    if row.rescheduled_to_id:
        a.rescheduled_to = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_to_id}"
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


def _check_display_name(v: Violations, field: str, value: str) -> None:
    if not value.strip():
        v.add(field, "is required")
    elif len(value) > MAX_NAME_LEN:
        v.add(field, f"must be at most {MAX_NAME_LEN} characters")


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


def _page(rows: Sequence[Row[Any]], limit: int, key: Any, filters: Any) -> tuple[Sequence[Row[Any]], str]:
    if len(rows) <= limit:
        return rows, ""
    rows = rows[:limit]
    return rows, paging.encode_token(key(rows[-1]), filters)


class SchedulingServicer(s_grpc.SchedulingServiceServicer):
    def __init__(
        self,
        store: Store,
        events_topic: str = "phs.scheduling.appointments.v1",
        late_cancel_window: dt.timedelta = dt.timedelta(hours=24),
        on_event: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.events_topic = events_topic
        self.late_cancel_window = late_cancel_window
        self.on_event = on_event  # wakes the outbox relay after a commit

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
        if not p.time_zone:
            v.add("psychologist.time_zone", "is required (an IANA zone such as America/Toronto)")
        elif p.time_zone not in _ZONES:
            v.add("psychologist.time_zone", f"{p.time_zone!r} is not an IANA time zone")
        v.raise_if_any()

        def write(conn: Connection, now: dt.datetime) -> r.Psychologist:
            # A new psychologist is active unless the request says otherwise; proto3
            # cannot tell false from unset, so new ones always start active.
            row = Store.insert_psychologist(conn, now, p.display_name.strip(), p.time_zone, True)
            return psychologist_pb(SimpleNamespace(**row))

        created = self.store.idempotent_write(
            "CreatePsychologist", rid, idempotency.fingerprint(request), r.Psychologist, write
        )
        log.info("psychologist created", extra={"resource": created.name})
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
        if c.email and ("@" not in c.email or len(c.email) > 254 or " " in c.email):
            v.add("client.email", "is not an email address")
        if len(c.phone) > 40:
            v.add("client.phone", "must be at most 40 characters")
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
        log.info("client created", extra={"resource": created.name})
        return created

    def GetClient(self, request: s.GetClientRequest, context: grpc.ServicerContext) -> r.Client:
        cid = parse_name(request.name, "clients")
        if cid is None:
            raise invalid_argument([("name", "must look like clients/{id}")])
        return client_pb(self.store.get_client(cid))

    def ListClients(
        self, request: s.ListClientsRequest, context: grpc.ServicerContext
    ) -> s.ListClientsResponse:
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "clients")
        rows, token = _page(
            self.store.list_clients(after, limit),
            limit,
            lambda x: [x.create_time.isoformat(), x.id],
            "clients",
        )
        return s.ListClientsResponse(clients=[client_pb(x) for x in rows], next_page_token=token)

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
        code = (
            a.session_type.removeprefix("sessionTypes/") if a.session_type.startswith("sessionTypes/") else ""
        )
        if not code or "/" in code or len(code) > 32:
            v.add("appointment.session_type", "is required, like sessionTypes/90834")
        start = _check_start(v, "appointment.start_time", a, "start_time")
        v.raise_if_any()
        assert pid is not None and cid is not None and start is not None
        state = "PENDING" if request.request_approval else "BOOKED"

        def write(conn: Connection, now: dt.datetime) -> r.Appointment:
            row = Store.insert_appointment(conn, now, pid, cid, code, start, state)
            created = appointment_pb(SimpleNamespace(**row))
            self._event(conn, now, ev.AppointmentEvent.TYPE_CREATED, created)
            return created

        created = self._write_booking("CreateAppointment", rid, request, write, pid, code, start)
        log.info("appointment created", extra={"resource": created.name, "state": state})
        return created

    def _write_booking(
        self,
        method: str,
        rid: str,
        request: Message,
        write: Callable[[Connection, dt.datetime], r.Appointment],
        pid: str,
        code: str,
        start: dt.datetime,
    ) -> r.Appointment:
        """An idempotent write that claims a slot; an overlap becomes 409 with details."""
        try:
            result = self.store.idempotent_write(
                method, rid, idempotency.fingerprint(request), r.Appointment, write
            )
        except SlotConflict:
            other = self.store.conflicting_appointment(pid, code, start)
            meta = {"psychologist": f"psychologists/{pid}"}
            if other:
                meta["conflicting_appointment"] = f"psychologists/{pid}/appointments/{other}"
            raise already_exists(
                "SLOT_UNAVAILABLE",
                "the psychologist already has an appointment at that time (buffers included)",
                meta,
            ) from None
        self.on_event()
        return result

    def _event(
        self,
        conn: Connection,
        now: dt.datetime,
        kind: ev.AppointmentEvent.Type,
        appointment: r.Appointment,
        replacement: r.Appointment | None = None,
    ) -> None:
        """Write the change's event into the outbox, in the change's transaction."""
        event = ev.AppointmentEvent(
            event_id=new_id(), type=kind, appointment=appointment, event_time=to_timestamp(now)
        )
        if replacement is not None:
            event.replacement.CopyFrom(replacement)
        outbox_mod.enqueue(
            conn,
            outbox,
            OutboxMessage(
                topic=self.events_topic,
                key=appointment.name,
                payload=event.SerializeToString(),
                headers={
                    REQUEST_ID_HEADER: current_request_id() or "",
                    "message-type": ev.AppointmentEvent.DESCRIPTOR.full_name,
                },
            ),
            now,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def _change(
        self,
        method: str,
        request: Any,
        context: grpc.ServicerContext,
        allowed_from: tuple[str, ...],
        to_state: str,
        kind: ev.AppointmentEvent.Type,
        values: Callable[[Any, dt.datetime], dict[str, Any]] | None = None,
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
                allowed_from,
                to_state,
                request.etag,
                (lambda before: values(before, now)) if values else None,
            )
            changed = appointment_pb(row)
            self._event(conn, now, kind, changed)
            return changed

        changed = self.store.idempotent_write(
            method, rid, idempotency.fingerprint(request), r.Appointment, write
        )
        self.on_event()
        log.info("appointment changed", extra={"resource": changed.name, "state": to_state})
        return changed

    def _cancellation(self, reason: str, actor: str) -> Callable[[Any, dt.datetime], dict[str, Any]]:
        def values(before: Any, now: dt.datetime) -> dict[str, Any]:
            late = reason != "DECLINED" and now > before.start_time - self.late_cancel_window
            return {"cancel_reason": reason, "cancelled_by": actor, "cancel_late": late, "cancel_time": now}

        return values

    @staticmethod
    def _after_start(before: Any, now: dt.datetime) -> dict[str, Any]:
        if now < before.start_time:
            raise failed_precondition(
                "APPOINTMENT_NOT_STARTED",
                "an appointment can only be closed once it has started",
                {"start_time": before.start_time.isoformat()},
            )
        return {}

    def ApproveAppointment(
        self, request: s.ApproveAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "ApproveAppointment", request, context, ("PENDING",), "BOOKED", ev.AppointmentEvent.TYPE_APPROVED
        )

    def DeclineAppointment(
        self, request: s.DeclineAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "DeclineAppointment",
            request,
            context,
            ("PENDING",),
            "DECLINED",
            ev.AppointmentEvent.TYPE_DECLINED,
            self._cancellation("DECLINED", "PSYCHOLOGIST"),
        )

    def CancelAppointment(
        self, request: s.CancelAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        v = Violations()
        reason = _enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = _enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
        if reason in ("RESCHEDULED", "DECLINED"):
            v.add("reason", "use RescheduleAppointment or DeclineAppointment for that")
        v.raise_if_any()
        return self._change(
            "CancelAppointment",
            request,
            context,
            ("PENDING", "BOOKED"),
            "CANCELLED",
            ev.AppointmentEvent.TYPE_CANCELLED,
            self._cancellation(reason, actor),
        )

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

        def write(conn: Connection, now: dt.datetime) -> r.Appointment:
            # Free the old slot first, so a move by a few minutes can overlap itself.
            before, old = Store.transition(
                conn,
                now,
                pid,
                aid,
                ("PENDING", "BOOKED"),
                "CANCELLED",
                request.etag,
                lambda b: self._cancellation("RESCHEDULED", actor)(b, now),
            )
            new = Store.insert_appointment(
                conn,
                now,
                pid,
                old.client_id,
                old.session_type_code,
                start,
                before.state,
                rescheduled_from_id=aid,
            )
            Store.link_reschedule(conn, aid, new["id"])
            old_pb = appointment_pb(SimpleNamespace(**{**old._asdict(), "rescheduled_to_id": new["id"]}))
            new_pb = appointment_pb(SimpleNamespace(**new))
            self._event(conn, now, ev.AppointmentEvent.TYPE_RESCHEDULED, old_pb, new_pb)
            return new_pb

        code = self.store.session_type_of(pid, aid)
        moved = self._write_booking("RescheduleAppointment", rid, request, write, pid, code, start)
        log.info("appointment rescheduled", extra={"resource": moved.name, "from": moved.rescheduled_from})
        return moved

    def CompleteAppointment(
        self, request: s.CompleteAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "CompleteAppointment",
            request,
            context,
            ("BOOKED",),
            "COMPLETED",
            ev.AppointmentEvent.TYPE_COMPLETED,
            self._after_start,
        )

    def MarkAppointmentNoShow(
        self, request: s.MarkAppointmentNoShowRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        return self._change(
            "MarkAppointmentNoShow",
            request,
            context,
            ("BOOKED",),
            "NO_SHOW",
            ev.AppointmentEvent.TYPE_NO_SHOW,
            self._after_start,
        )

    def GetAppointment(
        self, request: s.GetAppointmentRequest, context: grpc.ServicerContext
    ) -> r.Appointment:
        ids = parse_child_name(request.name, "psychologists", "appointments")
        if ids is None:
            raise invalid_argument([("name", "must look like psychologists/{id}/appointments/{id}")])
        return appointment_pb(self.store.get_appointment(*ids))

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
            appointments=[appointment_pb(x) for x in rows], next_page_token=token
        )
