"""SchedulingService: validates requests, maps rows to resources, calls the store."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from zoneinfo import available_timezones

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection, Row

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime import idempotency, paging
from phs_runtime.errors import Violations, already_exists, invalid_argument
from phs_runtime.resources import (
    from_timestamp,
    parse_child_name,
    parse_name,
    to_timestamp,
    utcnow,
)
from phs_scheduling.store import AppointmentFilter, SlotConflict, Store

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


def appointment_pb(row: Any) -> r.Appointment:
    return r.Appointment(
        name=f"psychologists/{row.psychologist_id}/appointments/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        state=DB_TO_STATE[row.state],
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=f'W/"{row.version}"',
    )


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


def _page(rows: Sequence[Row[Any]], limit: int, key: Any, filters: Any) -> tuple[Sequence[Row[Any]], str]:
    if len(rows) <= limit:
        return rows, ""
    rows = rows[:limit]
    return rows, paging.encode_token(key(rows[-1]), filters)


class SchedulingServicer(s_grpc.SchedulingServiceServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

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
        start = None
        if not a.HasField("start_time"):
            v.add("appointment.start_time", "is required")
        else:
            start = _check_timestamp(v, "appointment.start_time", a.start_time)
        if start is not None:
            now = utcnow()
            if a.start_time.nanos or a.start_time.seconds % 60:
                v.add("appointment.start_time", "must be on a whole minute")
            elif start < now:
                v.add("appointment.start_time", "must not be in the past")
            elif start > now + MAX_BOOKING_AHEAD:
                v.add("appointment.start_time", "must be within two years from now")
        v.raise_if_any()
        assert pid is not None and cid is not None and start is not None

        def write(conn: Connection, now: dt.datetime) -> r.Appointment:
            # Staff and psychologists book directly; client requests (PENDING)
            # arrive with authentication, when the caller's role is known.
            row = Store.insert_appointment(conn, now, pid, cid, code, start, "BOOKED")
            return appointment_pb(SimpleNamespace(**row))

        try:
            created = self.store.idempotent_write(
                "CreateAppointment", rid, idempotency.fingerprint(request), r.Appointment, write
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
        log.info("appointment booked", extra={"resource": created.name})
        return created

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
