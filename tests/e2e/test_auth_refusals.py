"""Bearer tokens end to end on the running stack: each refusal over gRPC directly and
over REST through Envoy is UNAUTHENTICATED / 401 with an ErrorInfo, never echoes the
token, and is audited; health and reflection stay open. The verifier on its own is
tests/unit/test_auth_tokens.py (which also crafts the bad tokens used here)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from phs.audit.v1 import audit_pb2
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import DEV_AUDIENCE, DEV_ISSUER, DEV_KID, Stack
from phs_runtime.auth import generate_keys, mint
from tests.conftest import token_for
from tests.helpers import channel, rest
from tests.unit.test_auth_tokens import (
    _alg_none,
    _claims,
    _hs256_with,
    _make_admin,
    _public_pem_from_jwks,
    _with_flipped_signature,
    _with_payload,
)


@dataclass(frozen=True)
class Rpc:
    service: str  # "scheduling" or "reports"
    method: str  # the full gRPC method
    request: Message
    http_method: str
    path: str
    body: Any = None

    def target(self, stack: Stack) -> str:
        return stack.scheduling_target if self.service == "scheduling" else stack.reports_target


_SCHEDULING = "/phs.scheduling.v1.SchedulingService/"
_APPOINTMENT = {"client": "clients/no-such-client", "sessionType": "sessionTypes/90834"}
RPCS = {
    "ListPsychologists": Rpc(
        "scheduling",
        _SCHEDULING + "ListPsychologists",
        ss.ListPsychologistsRequest(page_size=5),
        "GET",
        "/v1/psychologists?pageSize=5",
    ),
    # A client that does not exist: a refusal must not reveal that (401, not 404).
    "GetClient": Rpc(
        "scheduling",
        _SCHEDULING + "GetClient",
        ss.GetClientRequest(name="clients/no-such-client"),
        "GET",
        "/v1/clients/no-such-client",
    ),
    "CreateAppointment": Rpc(
        "scheduling",
        _SCHEDULING + "CreateAppointment",
        ss.CreateAppointmentRequest(
            parent="psychologists/no-such-psychologist",
            appointment=sr.Appointment(
                client=_APPOINTMENT["client"], session_type=_APPOINTMENT["sessionType"]
            ),
        ),
        "POST",
        "/v1/psychologists/no-such-psychologist/appointments",
        _APPOINTMENT,
    ),
    "ListReports": Rpc(
        "reports",
        "/phs.reports.v1.ReportService/ListReports",
        rs.ListReportsRequest(page_size=5),
        "GET",
        "/v1/reports?pageSize=5",
    ),
}


@dataclass(frozen=True)
class BadCredential:
    header: str | None  # the whole authorization header value, None for none
    secret: str  # what must never be echoed back ("" for nothing)
    reason: str  # a regex the error message matches: the check that refused it


def _bearer(token: str, reason: str) -> BadCredential:
    return BadCredential(f"Bearer {token}", token, reason)


@pytest.fixture(scope="module")
def bad_credentials(dev_keys: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadCredential]:
    """Every kind of unacceptable credential for the stack's development key."""
    pem = (dev_keys / f"{DEV_KID}.pem").read_bytes()
    claims = _claims(subject="staff/mallory", role="admin", issuer=DEV_ISSUER, audience=DEV_AUDIENCE)
    client_token = token_for(dev_keys, "clients/mallory", "client")
    foreign_pem = generate_keys(tmp_path_factory.mktemp("foreign-key"), DEV_KID)[0].read_bytes()
    basic = base64.b64encode(b"admin:hunter2").decode()
    return {
        "none": BadCredential(None, "", "bearer token is required"),
        "empty-bearer": BadCredential("Bearer ", "", "Bearer <JWT>"),
        "basic": BadCredential(f"Basic {basic}", basic, "Bearer <JWT>"),
        "garbage": _bearer("garbage-" + uuid.uuid4().hex, "well-formed"),
        "expired": _bearer(token_for(dev_keys, "staff/x", "admin", ttl=dt.timedelta(hours=-1)), "expired"),
        "wrong-aud": _bearer(
            mint(pem, DEV_KID, subject="staff/x", role="admin", issuer=DEV_ISSUER, audience="other-api"),
            "audience",
        ),
        "wrong-iss": _bearer(
            mint(pem, DEV_KID, subject="staff/x", role="admin", issuer="evil", audience=DEV_AUDIENCE),
            "issuer",
        ),
        "alg-none": _bearer(_alg_none(claims, DEV_KID), "ES256 or RS256"),
        "hs256-public-key": _bearer(
            _hs256_with(_public_pem_from_jwks(dev_keys / "jwks.json", DEV_KID), claims, DEV_KID),
            "ES256 or RS256",
        ),
        "tampered-role": _bearer(_with_payload(client_token, _make_admin), "signature"),
        "tampered-signature": _bearer(
            _with_flipped_signature(token_for(dev_keys, "staff/x", "admin")), "signature"
        ),
        "foreign-key": _bearer(
            mint(
                foreign_pem,
                DEV_KID,
                subject="staff/x",
                role="admin",
                issuer=DEV_ISSUER,
                audience=DEV_AUDIENCE,
            ),
            "signature",
        ),
        "bad-subject": _bearer(token_for(dev_keys, "clients/1", "psychologist"), "subject must be"),
    }


CREDENTIALS = [
    "none",
    "empty-bearer",
    "basic",
    "garbage",
    "expired",
    "wrong-aud",
    "wrong-iss",
    "alg-none",
    "hs256-public-key",
    "tampered-role",
    "tampered-signature",
    "foreign-key",
    "bad-subject",
]


def _grpc(rpc: Rpc, target: str, metadata: list[tuple[str, str]]) -> bytes:
    """One unary call on a channel that adds no token of its own."""
    with channel(target, token=None) as ch:
        call = ch.unary_unary(
            rpc.method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        return bytes(call(rpc.request, metadata=tuple(metadata), timeout=10))


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no rich status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def _audit_events(stack: Stack, rpc: Rpc, since: dt.datetime) -> list[Any]:
    """The log's denied events for the RPC's method since `since`, as admin."""
    start = Timestamp()
    start.FromDatetime(since)
    request = audit_pb2.ListAuditEventsRequest(
        parent=f"auditLogs/{rpc.service}",
        method=rpc.method,
        outcome=audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
        start_time=start,
        page_size=1000,
    )
    with channel(rpc.target(stack)) as ch:
        stub: Any = (
            ss_grpc.SchedulingServiceStub(ch)
            if rpc.service == "scheduling"
            else rs_grpc.ReportServiceStub(ch)
        )
        return list(stub.ListAuditEvents(request, timeout=10).audit_events)


def _assert_audited(stack: Stack, rpc: Rpc, since: dt.datetime, rid: str) -> None:
    mine = [e for e in _audit_events(stack, rpc, since) if e.request_id == rid]
    assert len(mine) == 1, f"{len(mine)} audit events for request {rid}"
    event = mine[0]
    assert event.status_code == "UNAUTHENTICATED"
    assert event.outcome == audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE
    assert (event.agent.subject, event.agent.role) == ("", "")
    assert event.method == rpc.method
    assert event.name.startswith(f"auditLogs/{rpc.service}/events/")


@pytest.fixture
def since() -> dt.datetime:
    """A little before the test's calls (record_time is the server's clock, this host's)."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_grpc_refuses_bad_credentials_and_audits(
    stack: Stack,
    bad_credentials: dict[str, BadCredential],
    since: dt.datetime,
    rpc_name: str,
    credential: str,
) -> None:
    rpc, bad = RPCS[rpc_name], bad_credentials[credential]
    rid = f"auth-test-{uuid.uuid4()}"
    metadata = [("x-request-id", rid)]
    if bad.header is not None:
        metadata.append(("authorization", bad.header))
    with pytest.raises(grpc.RpcError) as caught:
        _grpc(rpc, rpc.target(stack), metadata)
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.details()
    assert re.search(bad.reason, err.details() or ""), err.details()
    if bad.secret:
        assert bad.secret not in (err.details() or "")
        assert bad.secret not in repr(err.trailing_metadata())
    assert _error_info(err).reason == "UNAUTHENTICATED"
    _assert_audited(stack, rpc, since, rid)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_rest_refuses_bad_credentials_and_audits(
    stack: Stack,
    bad_credentials: dict[str, BadCredential],
    since: dt.datetime,
    rpc_name: str,
    credential: str,
) -> None:
    rpc, bad = RPCS[rpc_name], bad_credentials[credential]
    rid = f"auth-test-{uuid.uuid4()}"
    headers = {"x-request-id": rid}
    if bad.header is not None:
        headers["authorization"] = bad.header
    resp = rest(stack.rest_url, rpc.http_method, rpc.path, rpc.body, headers, token=None)
    assert resp.status == 401, resp.body
    assert resp.body["code"] == 16  # UNAUTHENTICATED
    assert re.search(bad.reason, resp.body["message"]), resp.body
    assert resp.detail("google.rpc.ErrorInfo")["reason"] == "UNAUTHENTICATED"
    assert resp.headers.get("x-request-id") == rid
    if bad.secret:
        assert bad.secret not in json.dumps(resp.body)
        assert bad.secret not in json.dumps(resp.headers)
    _assert_audited(stack, rpc, since, rid)


@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_the_same_calls_pass_authentication_with_a_valid_token(stack: Stack, rpc_name: str) -> None:
    """The control for the refusals above: the admin token gets past authentication
    (the made-up resources then end NOT_FOUND or INVALID_ARGUMENT, never OK for a write)."""
    rpc = RPCS[rpc_name]
    with channel(rpc.target(stack)) as ch:
        call = ch.unary_unary(
            rpc.method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b
        )
        try:
            call(rpc.request, timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
    assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    resp = rest(stack.rest_url, rpc.http_method, rpc.path, rpc.body)
    assert resp.status not in (401, 403), resp.body
    if rpc.http_method == "POST":
        assert resp.status >= 400 and code is not grpc.StatusCode.OK


def test_grpc_channel_with_an_expired_token_is_refused(stack: Stack, dev_keys: Path) -> None:
    """The helpers' token channel, as a gRPC client would use it."""
    expired = token_for(dev_keys, "staff/x", "admin", ttl=dt.timedelta(minutes=-10))
    with channel(stack.scheduling_target, token=expired) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListPsychologists(ss.ListPsychologistsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (caught.value.details() or "")
    assert expired not in (caught.value.details() or "")
    with channel(stack.reports_target, token=expired) as ch, pytest.raises(grpc.RpcError) as caught:
        rs_grpc.ReportServiceStub(ch).ListReports(rs.ListReportsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_audit_log_over_rest_shows_the_denied_call(stack: Stack, since: dt.datetime) -> None:
    rid = f"auth-test-{uuid.uuid4()}"
    denied = rest(stack.rest_url, "GET", "/v1/reports", headers={"x-request-id": rid}, token=None)
    assert denied.status == 401
    query = urllib.parse.urlencode(
        {
            "method": "/phs.reports.v1.ReportService/ListReports",
            "outcome": "OUTCOME_SERIOUS_FAILURE",
            "pageSize": 1000,
            "startTime": since.isoformat().replace("+00:00", "Z"),
        }
    )
    listed = rest(stack.rest_url, "GET", f"/v1/auditLogs/reports/events?{query}")
    assert listed.status == 200, listed.body
    mine = [e for e in listed.body.get("auditEvents", []) if e.get("requestId") == rid]
    assert len(mine) == 1, listed.body
    event = mine[0]
    assert event["statusCode"] == "UNAUTHENTICATED"
    assert event["outcome"] == "OUTCOME_SERIOUS_FAILURE"
    assert not event.get("agent", {}).get("subject")
    assert event["method"] == "/phs.reports.v1.ReportService/ListReports"
    # The audit log itself is admin only: without a token it is refused too.
    assert rest(stack.rest_url, "GET", f"/v1/auditLogs/reports/events?{query}", token=None).status == 401


@pytest.fixture(params=["scheduling_target", "reports_target", "worker_target"])
def open_target(request: pytest.FixtureRequest, stack: Stack) -> Iterator[str]:
    yield str(getattr(stack, request.param))


@pytest.mark.parametrize("header", [None, "Bearer garbage"])
def test_health_needs_no_token(open_target: str, header: str | None) -> None:
    metadata = [("authorization", header)] if header else []
    with channel(open_target, token=None) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=""), metadata=metadata, timeout=5
        )
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("target_attr", "service"),
    [
        ("scheduling_target", "phs.scheduling.v1.SchedulingService"),
        ("reports_target", "phs.reports.v1.ReportService"),
    ],
)
def test_reflection_needs_no_token(stack: Stack, target_attr: str, service: str) -> None:
    with channel(getattr(stack, target_attr), token=None) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        assert {service, "grpc.health.v1.Health"} <= set(db.get_services())
        desc = descriptor_pool.DescriptorPool(db).FindServiceByName(service)
        assert "ListAuditEvents" in {m.name for m in desc.methods}
