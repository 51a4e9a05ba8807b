"""A request id (AIP-155 `request_id`, REST `Idempotency-Key`) belongs to the caller
who sent it: another caller sending the same id, even with the same body, makes a
request of their own and learns nothing about the first. The same caller still gets
their first response back, and concurrent retries of one caller still write once.
Here end to end, through Envoy and over gRPC on both stacks; the storage tests (SQLite
and PostgreSQL) are tests/integration/test_idempotency_store.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Stack
from tests.helpers import channel, future_slot, rest, rfc3339

ADMIN_A, ADMIN_B = "staff/idem-a", "staff/idem-b"


# -- end to end: through Envoy and over gRPC, on SQLite and PostgreSQL ------------------


def _report_body(psych: str) -> dict[str, Any]:
    return {
        "caseloadParams": {
            "psychologist": psych,
            "interval": {"startTime": rfc3339(future_slot(1)), "endTime": rfc3339(future_slot(20))},
        }
    }


def test_reports_key_of_an_admin_is_not_replayed_to_a_psychologist(stack: Stack) -> None:
    """The reported case: the psychologist used to receive the admin's job (naming the
    admin as requester) and then got 404 reading it."""
    psych = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr I", "timeZone": "UTC"})
    p = psych.body["name"]
    admin, own = stack.token(ADMIN_A, "admin"), stack.token(p, "psychologist")
    key, body = str(uuid.uuid4()), _report_body(p)

    def create(token: str) -> dict[str, Any]:
        resp = rest(stack.rest_url, "POST", "/v1/reports", body, {"Idempotency-Key": key}, token=token)
        assert resp.status == 200, resp.body
        return dict(resp.body)

    by_admin = create(admin)
    by_psych = create(own)
    assert by_psych["name"] != by_admin["name"]
    assert by_psych["requester"] == p and by_admin["requester"] == ADMIN_A
    assert rest(stack.rest_url, "GET", f"/v1/{by_psych['name']}", token=own).status == 200
    assert rest(stack.rest_url, "GET", f"/v1/{by_admin['name']}", token=own).status == 404
    # Each owner's retry still gets their own first answer.
    assert create(admin)["name"] == by_admin["name"]
    assert create(own)["name"] == by_psych["name"]
    # And each owner's changed request is still refused.
    changed = _report_body(p)
    changed["caseloadParams"]["interval"]["endTime"] = rfc3339(future_slot(9))
    reused = rest(stack.rest_url, "POST", "/v1/reports", changed, {"Idempotency-Key": key}, token=own)
    assert reused.status == 400 and reused.detail("ErrorInfo")["reason"] == "IDEMPOTENCY_KEY_REUSED"


def test_scheduling_keys_belong_to_their_caller_through_envoy(stack: Stack) -> None:
    a, b = stack.token(ADMIN_A, "admin"), stack.token(ADMIN_B, "admin")
    key = str(uuid.uuid4())
    body = {"displayName": "Client Same"}

    def create(token: str) -> str:
        resp = rest(stack.rest_url, "POST", "/v1/clients", body, {"Idempotency-Key": key}, token=token)
        assert resp.status == 200, resp.body
        return str(resp.body["name"])

    first_a, first_b = create(a), create(b)
    assert first_a != first_b
    assert create(a) == first_a and create(b) == first_b

    # A booking (the one-statement path on PostgreSQL): the second caller's identical
    # request is booked on its own and meets the first one's appointment: 409, not a
    # replay of someone else's booking.
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr J", "timeZone": "UTC"}).body[
        "name"
    ]
    psych = stack.token(p, "psychologist")
    client = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": "C", "psychologist": p}).body["name"]
    booking = {"client": client, "sessionType": "sessionTypes/90834", "startTime": rfc3339(future_slot(6))}
    path, hdrs = f"/v1/{p}/appointments", {"Idempotency-Key": key}
    booked = rest(stack.rest_url, "POST", path, booking, hdrs, token=a)
    assert booked.status == 200, booked.body
    theirs = rest(stack.rest_url, "POST", path, booking, hdrs, token=psych)
    assert theirs.status == 409 and theirs.detail("ErrorInfo")["reason"] == "SLOT_UNAVAILABLE"
    assert rest(stack.rest_url, "POST", path, booking, hdrs, token=a).body == booked.body


def _grpc_create(stack: Stack, token: str, request_id: str) -> Callable[[], str]:
    def call() -> str:
        with channel(stack.scheduling_target, token) as ch:
            created = ss_grpc.SchedulingServiceStub(ch).CreatePsychologist(
                ss.CreatePsychologistRequest(
                    psychologist=sr.Psychologist(display_name="Dr Raced", time_zone="UTC"),
                    request_id=request_id,
                ),
                timeout=20,
            )
        return str(created.name)

    return call


def test_concurrent_grpc_retries_write_once_per_caller(stack: Stack) -> None:
    request_id = str(uuid.uuid4())
    calls = {
        subject: _grpc_create(stack, stack.token(subject, "admin"), request_id)
        for subject in (ADMIN_A, ADMIN_B)
    }
    with ThreadPoolExecutor(8) as pool:
        futures = [(s, pool.submit(calls[s])) for s in calls for _ in range(4)]
        results = [(s, f.result()) for s, f in futures]
    names = {s: {n for t, n in results if t == s} for s in calls}
    assert all(len(n) == 1 for n in names.values()), names
    assert names[ADMIN_A] != names[ADMIN_B]
    with channel(stack.scheduling_target) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        for n in (*names[ADMIN_A], *names[ADMIN_B]):
            assert (
                stub.GetPsychologist(ss.GetPsychologistRequest(name=n), timeout=5).display_name == "Dr Raced"
            )
    other = sr.Psychologist(display_name="Dr Other", time_zone="UTC")
    owner = channel(stack.scheduling_target, stack.token(ADMIN_A, "admin"))
    with owner as ch, pytest.raises(grpc.RpcError) as refused:  # the owner's changed request
        ss_grpc.SchedulingServiceStub(ch).CreatePsychologist(
            ss.CreatePsychologistRequest(psychologist=other, request_id=request_id), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with channel(stack.scheduling_target, stack.token("staff/idem-third", "admin")) as ch:
        third = ss_grpc.SchedulingServiceStub(ch).CreatePsychologist(
            ss.CreatePsychologistRequest(psychologist=other, request_id=request_id), timeout=5
        )
    assert third.display_name == "Dr Other"  # a third caller's first use is simply new
