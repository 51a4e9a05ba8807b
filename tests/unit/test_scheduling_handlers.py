"""The scheduling servicer's own checks, called in-process on a throwaway SQLite
database (tests/unit/servicers.py): what a request must be, what a booking is refused
for, and the appointment lifecycle's rules. The same cases through Envoy, on both
databases: tests/e2e/test_e2e_scheduling.py and test_e2e_lifecycle.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.store import Store
from tests.helpers import future_slot
from tests.unit.servicers import ctx, fields, open_around_the_clock, refused, resource, scheduling_servicer

A = sr.Appointment
NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SchedulingServicer]:
    with scheduling_servicer(tmp_path) as servicer:
        yield servicer


def _psychologist(svc: SchedulingServicer, tz: str = "America/Toronto") -> sr.Psychologist:
    req = ss.CreatePsychologistRequest(psychologist=sr.Psychologist(display_name="Dr Test", time_zone=tz))
    return svc.CreatePsychologist(req, ctx())


def _client(svc: SchedulingServicer, psychologist: str = "") -> sr.Client:
    client = sr.Client(display_name="Test Client", email="t@example.org", psychologist=psychologist)
    return svc.CreateClient(ss.CreateClientRequest(client=client), ctx())


def _booking(
    parent: str,
    client: str,
    start: dt.datetime,
    code: str = "90834",
    request_id: str = "",
    request_approval: bool = False,
) -> ss.CreateAppointmentRequest:
    req = ss.CreateAppointmentRequest(
        parent=parent,
        appointment=A(client=client, session_type=f"sessionTypes/{code}"),
        request_id=request_id,
        request_approval=request_approval,
    )
    req.appointment.start_time.FromDatetime(start)
    return req


def _count(svc: SchedulingServicer, parent: str) -> int:
    listed = svc.ListAppointments(ss.ListAppointmentsRequest(parent=parent, page_size=1000), ctx())
    return len(listed.appointments)


# -- what a request must be ----------------------------------------------------------------------


def test_a_psychologist_needs_a_name_and_a_real_zone(svc: SchedulingServicer) -> None:
    bad = ss.CreatePsychologistRequest(
        psychologist=sr.Psychologist(display_name="", time_zone="Mars/Olympus")
    )
    err = refused(lambda: svc.CreatePsychologist(bad, ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(err) == {"psychologist.display_name", "psychologist.time_zone"}
    err = refused(lambda: svc.CreatePsychologist(ss.CreatePsychologistRequest(), ctx()), err.code)
    assert "psychologist" in fields(err)
    assert svc.ListPsychologists(ss.ListPsychologistsRequest(), ctx()).psychologists == []


def test_names_are_checked_and_unknown_ones_are_not_found(svc: SchedulingServicer) -> None:
    get = svc.GetPsychologist
    refused(
        lambda: get(ss.GetPsychologistRequest(name="psychologists/NOT AN ID"), ctx()),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    missing = refused(
        lambda: get(ss.GetPsychologistRequest(name=f"psychologists/{NOBODY}"), ctx()),
        grpc.StatusCode.NOT_FOUND,
    )
    assert resource(missing) == f"psychologists/{NOBODY}"


def test_a_booking_is_checked_before_anything_is_written(svc: SchedulingServicer) -> None:
    p, c = _psychologist(svc), _client(svc)
    slot = future_slot(9)

    def book(req: ss.CreateAppointmentRequest) -> A:
        return svc.CreateAppointment(req, ctx())

    past = refused(
        lambda: book(_booking(p.name, c.name, dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(past) == {"appointment.start_time"}
    odd = refused(
        lambda: book(_booking(p.name, c.name, slot.replace(second=30))), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields(odd) == {"appointment.start_time"}
    empty = refused(
        lambda: book(ss.CreateAppointmentRequest(parent=p.name)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert {"appointment.client", "appointment.session_type"} <= fields(empty)

    def not_found(req: ss.CreateAppointmentRequest) -> str:
        return resource(refused(lambda: book(req), grpc.StatusCode.NOT_FOUND))

    assert not_found(_booking(p.name, c.name, slot, code="99999")) == "sessionTypes/99999"
    assert not_found(_booking(p.name, f"clients/{NOBODY}", slot)) == f"clients/{NOBODY}"
    assert not_found(_booking(f"psychologists/{NOBODY}", c.name, slot)) == f"psychologists/{NOBODY}"
    assert _count(svc, p.name) == 0


def test_an_overlap_is_refused_and_an_inactive_psychologist_takes_no_bookings(
    svc: SchedulingServicer,
) -> None:
    p, c = _psychologist(svc), _client(svc)
    first = svc.CreateAppointment(_booking(p.name, c.name, future_slot(9)), ctx())
    assert first.state == A.State.STATE_BOOKED
    overlap = _booking(p.name, c.name, future_slot(9) + dt.timedelta(minutes=30))
    err = refused(lambda: svc.CreateAppointment(overlap, ctx()), grpc.StatusCode.ALREADY_EXISTS)
    assert err.reason == "SLOT_UNAVAILABLE"

    update = ss.UpdatePsychologistRequest(
        psychologist=sr.Psychologist(name=p.name, active=False),
        update_mask=field_mask_pb2.FieldMask(paths=["active"]),
    )
    assert svc.UpdatePsychologist(update, ctx()).active is False
    later = _booking(p.name, c.name, future_slot(30))
    err = refused(lambda: svc.CreateAppointment(later, ctx()), grpc.StatusCode.FAILED_PRECONDITION)
    assert err.reason == "PSYCHOLOGIST_INACTIVE"
    assert _count(svc, p.name) == 1


def test_updates_follow_the_mask(svc: SchedulingServicer) -> None:
    p = _psychologist(svc)
    renamed = svc.UpdatePsychologist(
        ss.UpdatePsychologistRequest(
            psychologist=sr.Psychologist(name=p.name, display_name="Dr Renamed", time_zone="Not/AZone"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        ctx(),
    )
    assert (renamed.display_name, renamed.time_zone) == ("Dr Renamed", p.time_zone)  # zone not in the mask
    bad_mask = ss.UpdatePsychologistRequest(
        psychologist=sr.Psychologist(name=p.name), update_mask=field_mask_pb2.FieldMask(paths=["name"])
    )
    refused(lambda: svc.UpdatePsychologist(bad_mask, ctx()), grpc.StatusCode.INVALID_ARGUMENT)


def test_a_request_id_replays_the_first_answer_and_refuses_a_changed_request(svc: SchedulingServicer) -> None:
    p, c = _psychologist(svc), _client(svc)
    first = svc.CreateAppointment(_booking(p.name, c.name, future_slot(9), request_id="rid-1"), ctx())
    assert svc.CreateAppointment(_booking(p.name, c.name, future_slot(9), request_id="rid-1"), ctx()) == first
    changed = _booking(p.name, c.name, future_slot(10), request_id="rid-1")
    err = refused(lambda: svc.CreateAppointment(changed, ctx()), grpc.StatusCode.FAILED_PRECONDITION)
    assert err.reason == "IDEMPOTENCY_KEY_REUSED"
    # The REST header (Idempotency-Key, passed on by Envoy as metadata) is the same key.
    by_header = ctx([("idempotency-key", "rid-2")])
    second = svc.CreateAppointment(_booking(p.name, c.name, future_slot(11)), by_header)
    assert svc.CreateAppointment(_booking(p.name, c.name, future_slot(11)), by_header) == second
    bad_key = ctx([("idempotency-key", "not a key")])
    err = refused(
        lambda: svc.CreateAppointment(_booking(p.name, c.name, future_slot(12)), bad_key),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields(err) == {"Idempotency-Key"}
    assert _count(svc, p.name) == 2


def test_list_filters_and_page_tokens_are_checked(svc: SchedulingServicer) -> None:
    p = _psychologist(svc)
    inverted = ss.ListAppointmentsRequest(parent=p.name)
    inverted.start_time.FromDatetime(dt.datetime(2031, 1, 2, tzinfo=dt.UTC))
    inverted.end_time.FromDatetime(dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    err = refused(lambda: svc.ListAppointments(inverted, ctx()), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(err) == {"end_time"}
    garbage = ss.ListAppointmentsRequest(parent=p.name, page_token="garbage")
    refused(lambda: svc.ListAppointments(garbage, ctx()), grpc.StatusCode.INVALID_ARGUMENT)


# -- the lifecycle -----------------------------------------------------------------------------


def test_cancel_records_who_why_and_whether_it_was_late(svc: SchedulingServicer) -> None:
    p, c = _psychologist(svc), _client(svc)

    illness, by_client = sr.Cancellation.REASON_CLIENT_ILLNESS, sr.Cancellation.ACTOR_CLIENT

    def cancel(name: str, why: bool = True) -> A:
        req = ss.CancelAppointmentRequest(name=name)
        if why:
            req.reason, req.cancelled_by = illness, by_client
        return svc.CancelAppointment(req, ctx())

    far = svc.CreateAppointment(_booking(p.name, c.name, future_slot(12)), ctx())
    cancelled = cancel(far.name)
    assert cancelled.state == A.State.STATE_CANCELLED
    cx = cancelled.cancellation
    assert (cx.reason, cx.cancelled_by, cx.late) == (illness, by_client, False)

    soon_start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    soon = svc.CreateAppointment(_booking(p.name, c.name, soon_start), ctx())
    assert cancel(soon.name).cancellation.late is True

    other = svc.CreateAppointment(_booking(p.name, c.name, future_slot(13)), ctx())
    missing = refused(lambda: cancel(other.name, why=False), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields(missing) == {"reason", "cancelled_by"}
    refused(lambda: cancel(far.name), grpc.StatusCode.FAILED_PRECONDITION)  # already cancelled


def test_a_stale_etag_isrefused(svc: SchedulingServicer) -> None:
    p = _psychologist(svc)
    c = _client(svc, p.name)
    open_around_the_clock(svc, p.name)
    requested = svc.CreateAppointment(_booking(p.name, c.name, future_slot(15), request_approval=True), ctx())
    assert requested.state == A.State.STATE_PENDING
    approved = svc.ApproveAppointment(ss.ApproveAppointmentRequest(name=requested.name), ctx())
    assert approved.state == A.State.STATE_BOOKED and approved.etag != requested.etag
    stale = ss.CancelAppointmentRequest(
        name=requested.name,
        reason=sr.Cancellation.REASON_OTHER,
        cancelled_by=sr.Cancellation.ACTOR_STAFF,
        etag=requested.etag,
    )
    err = refused(lambda: svc.CancelAppointment(stale, ctx()), grpc.StatusCode.ABORTED)
    assert err.reason == "ETAG_MISMATCH"


def test_complete_and_no_show_only_after_the_start(svc: SchedulingServicer) -> None:
    p, c = _psychologist(svc), _client(svc)
    future = svc.CreateAppointment(_booking(p.name, c.name, future_slot(16)), ctx())
    early = refused(
        lambda: svc.CompleteAppointment(ss.CompleteAppointmentRequest(name=future.name), ctx()),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert early.reason == "APPOINTMENT_NOT_STARTED"

    # Sessions that already started (history) are written straight into the database.
    now = dt.datetime.now(dt.UTC)
    names = []
    with svc.store.engine.begin() as conn:
        for hours in (30, 50):
            start = now.replace(second=0, microsecond=0) - dt.timedelta(hours=hours)
            row = Store.insert_appointment(
                conn, now, p.name.split("/")[1], c.name.split("/")[1], "90834", start, "BOOKED"
            )
            names.append(f"{p.name}/appointments/{row['id']}")
    done = svc.CompleteAppointment(ss.CompleteAppointmentRequest(name=names[0]), ctx())
    assert done.state == A.State.STATE_COMPLETED
    absent = svc.MarkAppointmentNoShow(ss.MarkAppointmentNoShowRequest(name=names[1]), ctx())
    assert absent.state == A.State.STATE_NO_SHOW
    refused(
        lambda: svc.CompleteAppointment(ss.CompleteAppointmentRequest(name=names[1]), ctx()),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
