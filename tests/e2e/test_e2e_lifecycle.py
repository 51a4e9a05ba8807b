"""The appointment lifecycle through Envoy: requests hold their slot until
decided, cancellations record who/why/late, reschedules link both ways, and
every change is an event on Kafka."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from phs.scheduling.v1 import events_pb2
from phs_devstack import Stack
from phs_scheduling.store import Store
from tests.helpers import Response, audit_consumer, future_slot, rest, rfc3339

pytestmark = pytest.mark.clock  # see tests/clock/faketime.py

DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def _setup(stack: Stack) -> tuple[str, str]:
    """A psychologist who works around the clock, and a client of theirs (so client
    requests are limited only by conflicts)."""
    p = rest(
        stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr L", "timeZone": "America/Toronto"}
    )
    always = {
        "weeklyHours": [{"dayOfWeek": d, "startTime": {"hours": 0}, "endTime": {"hours": 24}} for d in DAYS],
        "bookingPolicy": {"minimumNotice": "0s", "bookingHorizon": "31536000s"},
    }
    avail = rest(stack.rest_url, "PATCH", f"/v1/{p.body['name']}/availability", always)
    assert avail.status == 200, avail.body
    c = rest(
        stack.rest_url, "POST", "/v1/clients", {"displayName": "Client L", "psychologist": p.body["name"]}
    )
    return p.body["name"], c.body["name"]


def _create(
    stack: Stack,
    p: str,
    c: str,
    start: dt.datetime,
    pending: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"client": c, "sessionType": "sessionTypes/90834", "startTime": rfc3339(start)}
    return rest(
        stack.rest_url, "POST", f"/v1/{p}/appointments?requestApproval={str(pending).lower()}", body, headers
    )


def _verb(
    stack: Stack,
    name: str,
    verb: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return rest(stack.rest_url, "POST", f"/v1/{name}:{verb}", body or {}, headers)


def test_a_request_holds_its_slot_until_approved_or_declined(stack: Stack) -> None:
    p, c = _setup(stack)
    start = future_slot(10)
    req = _create(stack, p, c, start, pending=True)
    assert req.status == 200 and req.body["state"] == "STATE_PENDING" and req.body["fhirStatus"] == "pending"
    assert _create(stack, p, c, start).status == 409  # pending requests are visible to booking
    approved = _verb(stack, req.body["name"], "approve")
    assert approved.status == 200 and approved.body["state"] == "STATE_BOOKED"
    assert approved.body["fhirStatus"] == "booked" and approved.body["etag"] != req.body["etag"]
    again = _verb(stack, req.body["name"], "approve")
    assert (
        again.status == 400 and again.detail("google.rpc.ErrorInfo")["reason"] == "INVALID_STATE_TRANSITION"
    )

    other = _create(stack, p, c, start + dt.timedelta(hours=3), pending=True)
    declined = _verb(stack, other.body["name"], "decline")
    assert declined.body["state"] == "STATE_DECLINED" and declined.body["fhirStatus"] == "cancelled"
    assert declined.body["cancellation"]["reason"] == "REASON_DECLINED"
    assert _create(stack, p, c, start + dt.timedelta(hours=3)).status == 200  # the slot is free again


def test_a_decline_says_why_to_the_client_but_not_on_the_event_stream(stack: Stack) -> None:
    p, c = _setup(stack)
    req = _create(stack, p, c, future_slot(19), pending=True)
    why = "I am fully booked that week; Thursday mornings are open."
    too_long = _verb(stack, req.body["name"], "decline", {"explanation": "x" * 501})
    assert too_long.status == 400
    violation = too_long.detail("google.rpc.BadRequest")["fieldViolations"][0]
    assert violation["field"] == "explanation" and "x" * 100 not in str(too_long.body)
    assert rest(stack.rest_url, "GET", f"/v1/{req.body['name']}").body["state"] == "STATE_PENDING"

    declined = _verb(stack, req.body["name"], "decline", {"explanation": f"  {why}  "})
    assert declined.status == 200, declined.body
    assert declined.body["cancellation"]["explanation"] == why
    read = rest(stack.rest_url, "GET", f"/v1/{req.body['name']}")
    assert read.body["cancellation"] == declined.body["cancellation"]

    cancelled = _create(stack, p, c, future_slot(20))
    body = {"reason": "REASON_OTHER", "cancelledBy": "ACTOR_PSYCHOLOGIST", "explanation": "Unwell today."}
    assert _verb(stack, cancelled.body["name"], "cancel", body).body["cancellation"]["explanation"] == (
        "Unwell today."
    )

    consumer = audit_consumer(stack.kafka_bootstrap, "phs.scheduling.appointments.v1")
    T = events_pb2.AppointmentEvent
    wanted = {req.body["name"]: T.TYPE_DECLINED, cancelled.body["name"]: T.TYPE_CANCELLED}
    found: dict[str, events_pb2.AppointmentEvent] = {}
    try:
        for msg in consumer:
            event = T.FromString(msg.value)
            if wanted.get(event.appointment.name) == event.type:
                found[event.appointment.name] = event
                assert why.encode() not in msg.value and b"Unwell" not in msg.value
            if len(found) == len(wanted):
                break
    finally:
        consumer.close()
    declined_event = found[req.body["name"]].appointment.cancellation
    assert declined_event.reason == declined_event.REASON_DECLINED and declined_event.explanation == ""


def test_cancel_records_who_why_and_whether_it_was_late(stack: Stack) -> None:
    p, c = _setup(stack)
    far = _create(stack, p, c, future_slot(12))
    body = {"reason": "REASON_CLIENT_ILLNESS", "cancelledBy": "ACTOR_CLIENT"}
    cancelled = _verb(stack, far.body["name"], "cancel", body)
    assert cancelled.status == 200, cancelled.body
    cx = cancelled.body["cancellation"]
    assert (cx["reason"], cx["cancelledBy"], cx["late"]) == ("REASON_CLIENT_ILLNESS", "ACTOR_CLIENT", False)
    assert cancelled.body["fhirStatus"] == "cancelled"

    soon_start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    soon = _create(stack, p, c, soon_start)
    late = _verb(stack, soon.body["name"], "cancel", body)
    assert late.body["cancellation"]["late"] is True

    missing = _verb(stack, _create(stack, p, c, future_slot(13)).body["name"], "cancel", {})
    assert missing.status == 400
    fields = {v["field"] for v in missing.detail("google.rpc.BadRequest")["fieldViolations"]}
    assert fields == {"reason", "cancelled_by"}
    assert _verb(stack, far.body["name"], "cancel", body).status == 400  # already cancelled


def test_reschedule_moves_links_and_refuses_a_taken_slot(stack: Stack) -> None:
    p, c = _setup(stack)
    start = future_slot(14)
    a = _create(stack, p, c, start)
    blocker = _create(stack, p, c, start + dt.timedelta(hours=2))
    # Moving by 15 minutes overlaps its own old slot: allowed, the old one is freed first.
    moved = _verb(
        stack,
        a.body["name"],
        "reschedule",
        {"startTime": rfc3339(start + dt.timedelta(minutes=15)), "rescheduledBy": "ACTOR_STAFF"},
    )
    assert moved.status == 200, moved.body
    assert moved.body["state"] == "STATE_BOOKED" and moved.body["rescheduledFrom"] == a.body["name"]
    old = rest(stack.rest_url, "GET", f"/v1/{a.body['name']}").body
    assert old["state"] == "STATE_CANCELLED" and old["rescheduledTo"] == moved.body["name"]
    assert old["cancellation"]["reason"] == "REASON_RESCHEDULED"

    clash = _verb(
        stack,
        moved.body["name"],
        "reschedule",
        {"startTime": blocker.body["startTime"], "rescheduledBy": "ACTOR_CLIENT"},
    )
    assert clash.status == 409
    unchanged = rest(stack.rest_url, "GET", f"/v1/{moved.body['name']}").body
    assert unchanged["state"] == "STATE_BOOKED" and unchanged["etag"] == moved.body["etag"]


def test_stale_etag_is_refused_with_409(stack: Stack) -> None:
    p, c = _setup(stack)
    a = _create(stack, p, c, future_slot(15), pending=True)
    _verb(stack, a.body["name"], "approve")
    stale = _verb(
        stack,
        a.body["name"],
        "cancel",
        {"reason": "REASON_OTHER", "cancelledBy": "ACTOR_STAFF", "etag": a.body["etag"]},
    )
    assert stale.status == 409 and stale.detail("google.rpc.ErrorInfo")["reason"] == "ETAG_MISMATCH"


def test_complete_and_no_show_only_after_the_start(stack: Stack) -> None:
    p, c = _setup(stack)
    future = _create(stack, p, c, future_slot(16))
    early = _verb(stack, future.body["name"], "complete")
    assert early.status == 400 and early.detail("google.rpc.ErrorInfo")["reason"] == "APPOINTMENT_NOT_STARTED"

    # Sessions that already started (history) are written straight into the database.
    store = Store.open(str(stack.scheduling_db), migrate=False)
    now = dt.datetime.now(dt.UTC)
    names = []
    with store.engine.begin() as conn:
        for hours in (30, 50):
            row = Store.insert_appointment(
                conn,
                now,
                p.split("/")[1],
                c.split("/")[1],
                "90834",
                now.replace(second=0, microsecond=0) - dt.timedelta(hours=hours),
                "BOOKED",
            )
            names.append(f"{p}/appointments/{row['id']}")
    store.close()
    done = _verb(stack, names[0], "complete")
    assert (
        done.status == 200
        and done.body["state"] == "STATE_COMPLETED"
        and done.body["fhirStatus"] == "fulfilled"
    )
    absent = _verb(stack, names[1], "markNoShow")
    assert absent.body["state"] == "STATE_NO_SHOW" and absent.body["fhirStatus"] == "noshow"
    assert _verb(stack, names[1], "complete").status == 400


def test_every_change_is_an_event_on_kafka_with_the_request_id(stack: Stack) -> None:
    p, c = _setup(stack)
    rid = f"events-{uuid.uuid4()}"
    a = _create(stack, p, c, future_slot(17), pending=True, headers={"X-Request-ID": rid})
    _verb(stack, a.body["name"], "approve")
    moved = _verb(
        stack,
        a.body["name"],
        "reschedule",
        {"startTime": rfc3339(future_slot(18)), "rescheduledBy": "ACTOR_PSYCHOLOGIST"},
    )
    _verb(
        stack,
        moved.body["name"],
        "cancel",
        {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_CLIENT"},
    )

    consumer = audit_consumer(stack.kafka_bootstrap, "phs.scheduling.appointments.v1")
    wanted = {a.body["name"], moved.body["name"]}
    seen: list[tuple[str, int]] = []
    headers_of_created: dict[str, str] = {}
    try:
        for msg in consumer:
            if msg.key.decode() not in wanted:
                continue
            event = events_pb2.AppointmentEvent.FromString(msg.value)
            seen.append((event.appointment.name, event.type))
            if event.type == events_pb2.AppointmentEvent.TYPE_CREATED:
                headers_of_created = {k: v.decode() for k, v in msg.headers}
            if len(seen) == 4:
                break
    finally:
        consumer.close()
    T = events_pb2.AppointmentEvent
    # One key per appointment, so each appointment's events arrive in order.
    assert [t for n, t in seen if n == a.body["name"]] == [
        T.TYPE_CREATED,
        T.TYPE_APPROVED,
        T.TYPE_RESCHEDULED,
    ]
    assert [t for n, t in seen if n == moved.body["name"]] == [T.TYPE_CANCELLED]
    assert headers_of_created["x-request-id"] == rid


def test_the_late_cancel_window_is_the_psychologists_own(stack: Stack) -> None:
    p, c = _setup(stack)  # policy without a window: the default 24 h
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    body = {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_CLIENT"}
    first = _verb(stack, _create(stack, p, c, start).body["name"], "cancel", body)
    assert first.body["cancellation"]["late"] is True
    short = rest(
        stack.rest_url,
        "PATCH",
        f"/v1/{p}/availability?updateMask=bookingPolicy",
        {"bookingPolicy": {"minimumNotice": "0s", "lateCancelWindow": "3600s"}},
    )
    assert short.status == 200
    second = _verb(stack, _create(stack, p, c, start).body["name"], "cancel", body)
    assert second.body["cancellation"]["late"] is False  # 3 h ahead is outside a 1-hour window


def test_reads_say_after_which_instant_a_cancellation_is_late(stack: Stack) -> None:
    """What a client's page warns with: the start minus the psychologist's own window,
    on Get and List, while the appointment can still be cancelled."""
    p, c = _setup(stack)
    start = future_slot(30, hour=10)
    booked = _create(stack, p, c, start).body["name"]
    other = _create(stack, p, c, start + dt.timedelta(hours=2)).body["name"]
    done = _verb(stack, other, "cancel", {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_CLIENT"})
    assert done.status == 200

    def late_times() -> tuple[str | None, dict[str, str | None]]:
        got = rest(stack.rest_url, "GET", f"/v1/{booked}").body.get("lateCancelTime")
        resp = rest(stack.rest_url, "GET", f"/v1/{p}/appointments")
        assert resp.status == 200, resp.body
        listed = resp.body["appointments"]
        return got, {a["name"]: a.get("lateCancelTime") for a in listed}

    got, listed = late_times()
    assert got == rfc3339(start - dt.timedelta(hours=24)) == listed[booked]  # the default window
    assert listed[done.body["name"]] is None  # cancelled: nothing left to warn about
    policy = {"bookingPolicy": {"minimumNotice": "0s", "lateCancelWindow": "172800s"}}
    assert (
        rest(stack.rest_url, "PATCH", f"/v1/{p}/availability?updateMask=bookingPolicy", policy).status == 200
    )
    got, listed = late_times()
    assert got == rfc3339(start - dt.timedelta(hours=48)) == listed[booked]
