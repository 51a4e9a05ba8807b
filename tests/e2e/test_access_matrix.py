"""The access matrix: every RPC of every service (scheduling, reports, notifications),
called as an admin, a psychologist and a client, on their own and on other people's
resources, without a token and with a service's token, over gRPC directly and over
REST through Envoy, with the audit entry each call leaves (or, for the calls that are
not about clients, does not leave). A service whose RPCs are not all here, for every
role, fails the matrix (test_the_matrix_covers_every_rpc_of_every_service_for_every_role).

Setup (per stack, via the admin): psychologists P1 ("own") and P2 ("other") who
work around the clock in UTC with no minimum notice, client C1 assigned to P1 and
C2 assigned to P2, and for each side an appointment, a weekly series and an export
report created by that psychologist about themselves. The psychologist token is
P1's and the client token C1's, except where a case needs a fresh psychologist of
its own (its token is minted for it). Every case that changes something acts on
resources made for that case, so the cases do not depend on each other. The calls
without a token and with a service token (subject `services/access-matrix`) reuse the
request of another role's case of the same method.

Requests are protobuf messages; the REST request is derived from the method's
`google.api.http` rule, and REST answers are parsed strictly back into the
method's output type, so both transports are held to the same expectations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api import annotations_pb2, httpbody_pb2
from google.protobuf import descriptor_pb2, duration_pb2, field_mask_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from google.type import dayofweek_pb2, interval_pb2, timeofday_pb2
from grpc_status import rpc_status

from phs.audit.v1 import audit_pb2
from phs.notifications.v1 import notifications_service_pb2 as ns
from phs.notifications.v1 import resources_pb2 as nr
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import resources_pb2 as rr
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_devstack import Stack
from phs_devstack.gateway import DESCRIPTOR
from phs_scheduling.store import Store
from tests.conftest import token_for
from tests.helpers import auth_headers, rest

S, R, N = "scheduling", "reports", "notifications"
# Anonymous: no token at all. Service: a token with `role: service` (what the report
# worker and the notifications service sign for their calls to scheduling).
ADMIN, PSY, CLI, ANON, SVC = "admin", "psychologist", "client", "anonymous", "service"
ROLES = (ADMIN, PSY, CLI, ANON, SVC)
OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
MISSING = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NO_TOKEN = grpc.StatusCode.UNAUTHENTICATED

SERVICES = {
    S: ss.DESCRIPTOR.services_by_name["SchedulingService"],
    R: rs.DESCRIPTOR.services_by_name["ReportService"],
    N: ns.DESCRIPTOR.services_by_name["NotificationService"],
}
SERVICE_OF = {desc.full_name: key for key, desc in SERVICES.items()}
METHODS: dict[tuple[str, str], MethodDescriptor] = {
    (service, m.name): m for service, desc in SERVICES.items() for m in desc.methods
}
HTTP_STATUS = {OK: 200, PRECONDITION: 400, NO_TOKEN: 401, DENIED: 403, MISSING: 404}
CODES = {c.value[0]: c for c in grpc.StatusCode}
OUTCOMES = {
    OK: audit_pb2.AuditEvent.OUTCOME_SUCCESS,
    MISSING: audit_pb2.AuditEvent.OUTCOME_MINOR_FAILURE,
    PRECONDITION: audit_pb2.AuditEvent.OUTCOME_MINOR_FAILURE,
    DENIED: audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
    NO_TOKEN: audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
    grpc.StatusCode.CANCELLED: audit_pb2.AuditEvent.OUTCOME_MINOR_FAILURE,  # a watch its caller closed
}
# Successful calls that leave no audit entry: nothing in them is about clients.
NOT_AUDITED = {
    (S, m)
    for m in (
        "GetPsychologist",
        "ListPsychologists",
        "ListSessionTypes",
        "GetAvailability",
        "FindSlots",
        "ComputeWorkingTime",
    )
} | {(N, "GetPsychologistNotificationPreferences")}
A = sr.Appointment
Actor = sr.Cancellation.Actor
REASON = sr.Cancellation.REASON_CLIENT_REQUEST
THERAPY = "sessionTypes/90834"


# -- identities, calls and cases ------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    subject: str
    role: str
    token: str


@dataclass
class Call:
    """One request of a case; `who` overrides the case's role identity (a fresh
    psychologist acting on their own fresh resource), `verify` checks a successful
    response, `entity` must be named by the audit entry."""

    request: Message
    who: Who | None = None
    verify: Callable[[Any], None] | None = None
    entity: str = ""


@dataclass(frozen=True)
class Case:
    service: str
    method: str
    role: str
    label: str
    expect: grpc.StatusCode
    build: Callable[[World], Call]
    # Other acceptable outcomes (code, ErrorInfo reason) that also prove authorization passed.
    also: tuple[tuple[grpc.StatusCode, str], ...] = ()
    # Needs an appointment that has started (the slowest thing to make): run these last.
    late: bool = False

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method}-{self.role}-{self.label}"


@dataclass
class Outcome:
    code: grpc.StatusCode
    reason: str = ""
    response: Any = None  # the output message, or a list of them for a stream


def ts(value: dt.datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _metadata(who: Who, request_id: str | None) -> tuple[tuple[str, str], ...]:
    md = [("authorization", f"Bearer {who.token}")] if who.token else []
    if request_id:
        md.append(("x-request-id", request_id))
    return tuple(md)


def _rpc_path(m: MethodDescriptor) -> str:
    return f"/{m.containing_service.full_name}/{m.name}"


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


# -- the world every case runs in -----------------------------------------------------------

DAYS = [d for d in dayofweek_pb2.DayOfWeek.values() if d != dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED]


def around_the_clock(psychologist: str) -> sr.Availability:
    """Every day 00:00-24:00, no minimum notice, a year ahead: any whole hour is bookable."""
    return sr.Availability(
        name=f"{psychologist}/availability",
        weekly_hours=[
            sr.WeeklyInterval(
                day_of_week=d,
                start_time=timeofday_pb2.TimeOfDay(),
                end_time=timeofday_pb2.TimeOfDay(hours=24),
            )
            for d in DAYS
        ],
        booking_policy=sr.BookingPolicy(
            minimum_notice=duration_pb2.Duration(seconds=0),
            booking_horizon=duration_pb2.Duration(seconds=365 * 86400),
        ),
    )


class World:
    """The shared resources, the tokens, and factories of fresh resources (made
    directly over gRPC as the admin)."""

    def __init__(self, stack: Stack, keys: Path) -> None:
        self.stack, self.keys = stack, keys
        self.channels = {
            S: grpc.insecure_channel(stack.scheduling_target),
            R: grpc.insecure_channel(stack.reports_target),
            N: grpc.insecure_channel(stack.notifications_target),
        }
        self.admin = self.who("staff/access-matrix", ADMIN)
        self.anonymous = Who("", "", "")  # no token: the audit entry names nobody
        self.service = self.who("services/access-matrix", SVC)
        self._lock = threading.Lock()
        self._singles = itertools.count()
        self._weekly = itertools.count()
        self.base = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(
            days=2
        )
        self._started: list[tuple[str, str]] = []

    def setup(self) -> None:
        # Appointments that must have started by the time their cases run (Complete,
        # MarkNoShow), each on a psychologist of its own (they all start at one minute).
        owners = [self.psychologist(hours=False) for _ in range(8)]
        self.p1, self.p2 = self.psychologist(), self.psychologist()
        self.c1, self.c2 = self.client(self.p1), self.client(self.p2)
        self.psy = self.who(self.p1, PSY)
        self.psy2 = self.who(self.p2, PSY)
        self.cli = self.who(self.c1, CLI)
        # They started an hour ago: straight into the database, as the API books no past
        # times (booked a minute ahead instead, the cases waited up to a minute for it).
        now = dt.datetime.now(dt.UTC)
        start = (now - dt.timedelta(hours=1)).replace(second=0, microsecond=0)
        assert self.stack.scheduling_db is not None
        store = Store.open(self.stack.scheduling_db)
        try:
            with store.engine.begin() as conn:
                for p in owners:
                    pid, cid = p.split("/")[1], self.c1.split("/")[1]
                    row = Store.insert_appointment(
                        conn, now, pid, cid, THERAPY.split("/")[1], start, "BOOKED"
                    )
                    self._started.append((p, f"{p}/appointments/{row['id']}"))
        finally:
            store.close()
        self.a1, self.a2 = self.appointment(self.p1, self.c1), self.appointment(self.p2, self.c2)
        self.s1, self.s2 = self.series(self.p1, self.c1), self.series(self.p2, self.c2)
        self.st = self.session_type()
        self.r1 = self.report(self.psy, export=self.p1)
        self.r2 = self.report(self.psy2, export=self.p2)
        for name in (self.r1, self.r2):
            self.wait_report(name)

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()

    # -- plumbing -----------------------------------------------------------------------------

    def who(self, subject: str, role: str) -> Who:
        return Who(subject, role, token_for(self.keys, subject, role))

    def role(self, role: str) -> Who:
        return {ADMIN: self.admin, PSY: self.psy, CLI: self.cli, ANON: self.anonymous, SVC: self.service}[
            role
        ]

    def invoke(self, service: str, method: str, request: Message, who: Who | None = None) -> Any:
        m = METHODS[(service, method)]
        fn = self.channels[service].unary_unary(
            _rpc_path(m),
            request_serializer=_serialize,
            response_deserializer=GetMessageClass(m.output_type).FromString,
        )
        return fn(request, metadata=_metadata(who or self.admin, None), timeout=15)

    # -- fresh resources ----------------------------------------------------------------------

    def slot(self) -> timestamp_pb2.Timestamp:
        """A start no other case uses: odd hours 01-11 UTC, six a day from the day after tomorrow."""
        with self._lock:
            k = next(self._singles)
        return ts(self.base + dt.timedelta(days=k // 6, hours=1 + 2 * (k % 6)))

    def weekly(self) -> timestamp_pb2.Timestamp:
        """A first start for a two-week series: odd hours 13-21 UTC, on days whose
        following week no other series starts in."""
        with self._lock:
            j = next(self._weekly)
        q = j // 5
        return ts(self.base + dt.timedelta(days=14 * (q // 7) + q % 7, hours=13 + 2 * (j % 5)))

    def psychologist(self, hours: bool = True) -> str:
        p = self.invoke(
            S,
            "CreatePsychologist",
            ss.CreatePsychologistRequest(
                psychologist=sr.Psychologist(display_name="Dr Matrix", time_zone="UTC")
            ),
        ).name
        if hours:
            self.invoke(
                S, "UpdateAvailability", ss.UpdateAvailabilityRequest(availability=around_the_clock(p))
            )
        return str(p)

    def client(self, psychologist: str) -> str:
        return str(
            self.invoke(
                S,
                "CreateClient",
                ss.CreateClientRequest(client=sr.Client(display_name="Client M", psychologist=psychologist)),
            ).name
        )

    def appointment(self, psychologist: str, client: str, pending: bool = False) -> str:
        return str(
            self.invoke(
                S,
                "CreateAppointment",
                ss.CreateAppointmentRequest(
                    parent=psychologist,
                    appointment=A(client=client, session_type=THERAPY, start_time=self.slot()),
                    request_approval=pending,
                ),
            ).name
        )

    def series(self, psychologist: str, client: str) -> str:
        return str(
            self.invoke(
                S,
                "CreateSeries",
                ss.CreateSeriesRequest(parent=psychologist, series=self.series_body(client)),
            ).name
        )

    def series_body(self, client: str) -> sr.Series:
        return sr.Series(
            client=client, session_type=THERAPY, first_start_time=self.weekly(), interval_weeks=1, count=2
        )

    def session_type(self) -> str:
        return str(self.invoke(S, "CreateSessionType", new_session_type()).name)

    def report(self, who: Who, *, export: str = "", caseload: str = "") -> str:
        return str(self.invoke(R, "CreateReport", report_request(export=export, caseload=caseload), who).name)

    def wait_report(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.invoke(R, "GetReport", rs.GetReportRequest(name=name)).state
            if state == rr.Report.STATE_SUCCEEDED:
                return
            assert state in (rr.Report.STATE_QUEUED, rr.Report.STATE_RUNNING), (name, state)
            time.sleep(0.1)
        raise AssertionError(f"{name} did not succeed within {timeout}s")

    def started(self) -> tuple[str, str]:
        """A psychologist of its own and their BOOKED appointment that has started."""
        with self._lock:
            return self._started.pop()


def new_session_type() -> ss.CreateSessionTypeRequest:
    return ss.CreateSessionTypeRequest(
        session_type_id=f"m{uuid.uuid4().hex[:10]}",
        session_type=sr.SessionType(display_name="Matrix type", duration=duration_pb2.Duration(seconds=3000)),
    )


def interval(days: int = 90) -> interval_pb2.Interval:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return interval_pb2.Interval(start_time=ts(now), end_time=ts(now + dt.timedelta(days=days)))


def report_request(*, export: str = "", caseload: str = "", practice: bool = False) -> rs.CreateReportRequest:
    if export:
        report = rr.Report(export_params=rr.AppointmentExportParams(psychologist=export, interval=interval()))
    elif caseload:
        report = rr.Report(caseload_params=rr.CaseloadParams(psychologist=caseload, interval=interval()))
    else:
        assert practice
        report = rr.Report(practice_summary_params=rr.PracticeSummaryParams(interval=interval()))
    return rs.CreateReportRequest(report=report)


# -- the two transports ---------------------------------------------------------------------


def _reason_of(status: Any) -> str:
    for detail in getattr(status, "details", []):
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def call_grpc(w: World, m: MethodDescriptor, call: Call, who: Who, request_id: str) -> Outcome:
    channel = w.channels[SERVICE_OF[m.containing_service.full_name]]
    out = GetMessageClass(m.output_type)
    md = _metadata(who, request_id)
    try:
        if m.server_streaming:
            stream = channel.unary_stream(_rpc_path(m), _serialize, out.FromString)
            responses: Any = stream(call.request, metadata=md, timeout=15)
            if m.name == "WatchAppointments":  # never ends by itself: its first message shows it is open
                first = next(responses)
                responses.cancel()
                return Outcome(OK, response=[first])
            return Outcome(OK, response=list(responses))
        unary = channel.unary_unary(_rpc_path(m), _serialize, out.FromString)
        return Outcome(OK, response=unary(call.request, metadata=md, timeout=15))
    except grpc.RpcError as err:
        call_: Any = err  # the error is also the grpc.Call, with the rich status in its trailers
        return Outcome(err.code(), _reason_of(rpc_status.from_call(call_)))


_PATH_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


def _field(message: Any, path: str) -> Any:
    for part in path.split("."):
        message = getattr(message, part)
    return message


def _query(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict):
            out += _query(value, name + ".")
            continue
        for item in value if isinstance(value, list) else [value]:
            out.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return out


def rest_request(m: MethodDescriptor, request: Message) -> tuple[str, str, Any]:
    """The HTTP verb, path (with query) and JSON body of `request` by the method's
    google.api.http rule: path variables from their fields, the body field (or
    everything for `*`), the remaining fields as query parameters."""
    rule = m.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    rest_of = type(request)()
    rest_of.CopyFrom(request)

    def fill(match: re.Match[str]) -> str:
        path = match.group(1)
        parent, _, last = path.rpartition(".")
        (_field(rest_of, parent) if parent else rest_of).ClearField(last)
        return urllib.parse.quote(str(_field(request, path)), safe="/-")

    path = _PATH_VARIABLE.sub(fill, getattr(rule, verb))
    body: Any = None
    if rule.body == "*":
        body = json_format.MessageToDict(rest_of)
    else:
        if rule.body:
            body = json_format.MessageToDict(getattr(rest_of, rule.body))
            rest_of.ClearField(rule.body)
        query = _query(json_format.MessageToDict(rest_of))
        if query:
            path += "?" + urllib.parse.urlencode(query)
    return verb.upper(), path, body


def call_rest(w: World, m: MethodDescriptor, call: Call, who: Who, request_id: str) -> Outcome:
    verb, path, body = rest_request(m, call.request)
    if m.name == "WatchAppointments":
        return _watch_rest(w, path, who, request_id)
    resp = rest(
        w.stack.rest_url,
        verb,
        path,
        body,
        {"x-request-id": request_id},
        token=who.token,
        timeout=15,
        stream=m.server_streaming,
    )
    out = GetMessageClass(m.output_type)
    if resp.status == 200:
        if m.output_type.full_name == "google.api.HttpBody":
            data = resp.body if isinstance(resp.body, str) else json.dumps(resp.body)
            return Outcome(
                OK,
                response=httpbody_pb2.HttpBody(content_type=resp.headers["content-type"], data=data.encode()),
            )
        if m.server_streaming:
            assert isinstance(resp.body, list), resp.body
            return Outcome(OK, response=[json_format.ParseDict(x, out()) for x in resp.body])
        return Outcome(OK, response=json_format.ParseDict(resp.body, out()))
    assert isinstance(resp.body, dict), f"{verb} {path}: {resp.status} {resp.body!r}"
    code = CODES[resp.body["code"]]
    assert resp.status == HTTP_STATUS.get(code, resp.status), f"{verb} {path}: {resp.status} for {code.name}"
    return Outcome(code, resp.detail("google.rpc.ErrorInfo")["reason"])


def _watch_rest(w: World, path: str, who: Who, request_id: str) -> Outcome:
    """A watch through the gateway: its first line (a heartbeat) once open, else the error."""
    headers = {"x-request-id": request_id, **auth_headers(who.token)}
    req = urllib.request.Request(w.stack.rest_url + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            assert resp.headers["content-type"].startswith("application/json"), resp.headers
            first = json.loads(resp.readline())
    except urllib.error.HTTPError as err:
        status = json.loads(err.read())
        code = CODES[status["code"]]
        assert err.code == HTTP_STATUS.get(code, err.code), f"GET {path}: {err.code} for {code.name}"
        reason = next(d["reason"] for d in status["details"] if d["@type"].endswith("ErrorInfo"))
        return Outcome(code, reason)
    return Outcome(OK, response=[json_format.ParseDict(first, ss.WatchAppointmentsResponse())])


# -- the matrix -----------------------------------------------------------------------------

CASES: list[Case] = []


def row(
    service: str,
    method: str,
    role: str,
    label: str,
    expect: grpc.StatusCode,
    build: Callable[[World], Call],
    also: tuple[tuple[grpc.StatusCode, str], ...] = (),
    late: bool = False,
) -> None:
    CASES.append(Case(service, method, role, label, expect, build, also, late))


def each_role(
    service: str, method: str, expect: dict[str, grpc.StatusCode], build: Callable[[World], Call]
) -> None:
    for role, code in expect.items():
        row(service, method, role, "any", code, build)


def state_is(state: int) -> Callable[[Any], None]:
    def verify(a: Any) -> None:
        assert a.state == state, a

    return verify


ADMIN_ONLY = {ADMIN: OK, PSY: DENIED, CLI: DENIED}
EVERYONE = {ADMIN: OK, PSY: OK, CLI: OK}

# Directory and catalogue.
each_role(
    S,
    "CreatePsychologist",
    ADMIN_ONLY,
    lambda w: Call(
        ss.CreatePsychologistRequest(psychologist=sr.Psychologist(display_name="Dr Matrix", time_zone="UTC"))
    ),
)
each_role(S, "GetPsychologist", EVERYONE, lambda w: Call(ss.GetPsychologistRequest(name=w.p2)))
each_role(S, "ListPsychologists", EVERYONE, lambda w: Call(ss.ListPsychologistsRequest(page_size=5)))
each_role(S, "ListSessionTypes", EVERYONE, lambda w: Call(ss.ListSessionTypesRequest()))
each_role(S, "CreateSessionType", ADMIN_ONLY, lambda w: Call(new_session_type()))


def rename_type(name: str) -> Call:
    return Call(
        ss.UpdateSessionTypeRequest(
            session_type=sr.SessionType(name=name, display_name="Matrix type"),
            update_mask=mask("display_name"),
        ),
        entity=name,
    )


row(S, "UpdateSessionType", ADMIN, "fresh", OK, lambda w: rename_type(w.session_type()))
row(S, "UpdateSessionType", PSY, "any", DENIED, lambda w: rename_type(w.st))
row(S, "UpdateSessionType", CLI, "any", DENIED, lambda w: rename_type(w.st))


def rename_psychologist(name: str, who: Who | None = None) -> Call:
    return Call(
        ss.UpdatePsychologistRequest(
            psychologist=sr.Psychologist(name=name, display_name="Dr Matrix"),
            update_mask=mask("display_name"),
        ),
        who=who,
        entity=name,
    )


def _own_fresh_psychologist(w: World, make: Callable[[str, Who], Call]) -> Call:
    p = w.psychologist()
    return make(p, w.who(p, PSY))


row(S, "UpdatePsychologist", ADMIN, "fresh", OK, lambda w: rename_psychologist(w.psychologist()))
row(S, "UpdatePsychologist", PSY, "own", OK, lambda w: _own_fresh_psychologist(w, rename_psychologist))
row(S, "UpdatePsychologist", PSY, "other", DENIED, lambda w: rename_psychologist(w.p2))
row(S, "UpdatePsychologist", CLI, "own-psychologist", DENIED, lambda w: rename_psychologist(w.p1))

# Client records.


def new_client(psychologist: str) -> Call:
    return Call(ss.CreateClientRequest(client=sr.Client(display_name="Client M", psychologist=psychologist)))


row(S, "CreateClient", ADMIN, "other", OK, lambda w: new_client(w.p2))
row(S, "CreateClient", PSY, "own", OK, lambda w: new_client(w.p1))
row(S, "CreateClient", PSY, "other", DENIED, lambda w: new_client(w.p2))
row(S, "CreateClient", CLI, "own-psychologist", DENIED, lambda w: new_client(w.p1))


def get_client(name: str) -> Call:
    return Call(ss.GetClientRequest(name=name), entity=name)


row(S, "GetClient", ADMIN, "other", OK, lambda w: get_client(w.c2))
row(S, "GetClient", PSY, "own", OK, lambda w: get_client(w.c1))
row(S, "GetClient", PSY, "other", MISSING, lambda w: get_client(w.c2))
row(S, "GetClient", CLI, "self", OK, lambda w: get_client(w.c1))
row(S, "GetClient", CLI, "other", MISSING, lambda w: get_client(w.c2))


def list_clients(w: World, psychologist: str, only: str = "") -> Call:
    """Lists clients; with `only`, every client listed must be assigned to that
    psychologist (and C2 is never among them)."""

    def verify(resp: Any) -> None:
        names = [c.name for c in resp.clients]
        assert w.c1 in names and w.c2 not in names, names
        assert {c.psychologist for c in resp.clients} == {only}, resp

    return Call(
        ss.ListClientsRequest(psychologist=psychologist, page_size=1000), verify=verify if only else None
    )


row(S, "ListClients", ADMIN, "all", OK, lambda w: list_clients(w, ""))
row(S, "ListClients", PSY, "unfiltered", OK, lambda w: list_clients(w, "", only=w.p1))
row(S, "ListClients", PSY, "own", OK, lambda w: list_clients(w, w.p1, only=w.p1))
row(S, "ListClients", PSY, "other", DENIED, lambda w: list_clients(w, w.p2))
row(S, "ListClients", CLI, "unfiltered", DENIED, lambda w: list_clients(w, ""))


def rename_client(name: str) -> Call:
    return Call(
        ss.UpdateClientRequest(
            client=sr.Client(name=name, display_name="Client M"), update_mask=mask("display_name")
        ),
        entity=name,
    )


row(S, "UpdateClient", ADMIN, "fresh-other", OK, lambda w: rename_client(w.client(w.p2)))
row(S, "UpdateClient", PSY, "fresh-own", OK, lambda w: rename_client(w.client(w.p1)))
row(S, "UpdateClient", PSY, "other", MISSING, lambda w: rename_client(w.client(w.p2)))
row(S, "UpdateClient", CLI, "self", DENIED, lambda w: rename_client(w.c1))

# Availability, working time and slots.


def get_availability(p: str) -> Call:
    return Call(ss.GetAvailabilityRequest(name=f"{p}/availability"))


row(S, "GetAvailability", ADMIN, "other", OK, lambda w: get_availability(w.p2))
row(S, "GetAvailability", PSY, "own", OK, lambda w: get_availability(w.p1))
row(S, "GetAvailability", PSY, "other", DENIED, lambda w: get_availability(w.p2))
row(S, "GetAvailability", CLI, "own-psychologist", DENIED, lambda w: get_availability(w.p1))


def set_availability(p: str, who: Who | None = None) -> Call:
    return Call(
        ss.UpdateAvailabilityRequest(availability=around_the_clock(p)), who=who, entity=f"{p}/availability"
    )


row(S, "UpdateAvailability", ADMIN, "fresh", OK, lambda w: set_availability(w.psychologist(hours=False)))
row(S, "UpdateAvailability", PSY, "own", OK, lambda w: _own_fresh_psychologist(w, set_availability))
row(S, "UpdateAvailability", PSY, "other", DENIED, lambda w: set_availability(w.p2))
row(S, "UpdateAvailability", CLI, "own-psychologist", DENIED, lambda w: set_availability(w.p1))


# The calendar feed: the psychologist's (or staff's) to make; its content is open (the
# secret is the credential, a token is not looked at), audited as anonymous.


def feed_name(p: str) -> str:
    return f"{p}/calendarFeed"


def get_feed(p: str) -> Call:
    return Call(ss.GetCalendarFeedRequest(name=feed_name(p)), entity=feed_name(p))


def update_feed(p: str, who: Who | None = None) -> Call:
    feed = sr.CalendarFeed(name=feed_name(p), client_detail=sr.CalendarFeed.CLIENT_DETAIL_NONE)
    return Call(
        ss.UpdateCalendarFeedRequest(calendar_feed=feed, update_mask=mask("client_detail")),
        who=who,
        entity=feed_name(p),
    )


def rotate_feed(p: str, who: Who | None = None) -> Call:
    def verify(resp: Any) -> None:
        assert resp.state == sr.CalendarFeed.STATE_ACTIVE and "/v1/feeds/" in resp.url, resp

    return Call(ss.RotateCalendarFeedRequest(name=feed_name(p)), who=who, verify=verify, entity=feed_name(p))


def revoke_feed(p: str, who: Who | None = None) -> Call:
    return Call(ss.RevokeCalendarFeedRequest(name=feed_name(p)), who=who, entity=feed_name(p))


def feed_secret(w: World, p: str) -> str:
    made = w.invoke(S, "RotateCalendarFeed", ss.RotateCalendarFeedRequest(name=feed_name(p)))
    return str(made.url).rsplit("/feeds/", 1)[1].removesuffix("/calendar.ics")


def feed_content(w: World, revoked: bool = False) -> Call:
    p = w.psychologist(hours=False)
    secret = feed_secret(w, p)
    if revoked:
        w.invoke(S, "RevokeCalendarFeed", ss.RevokeCalendarFeedRequest(name=feed_name(p)))

    def verify(resp: Any) -> None:
        assert resp.content_type.startswith("text/calendar") and resp.data.startswith(b"BEGIN:VCALENDAR")

    request = ss.GetCalendarFeedContentRequest(secret=secret)
    return Call(request, verify=verify, entity="" if revoked else feed_name(p))


row(S, "GetCalendarFeed", ADMIN, "other", OK, lambda w: get_feed(w.p2))
row(S, "GetCalendarFeed", PSY, "own", OK, lambda w: get_feed(w.p1))
row(S, "GetCalendarFeed", PSY, "other", DENIED, lambda w: get_feed(w.p2))
row(S, "GetCalendarFeed", CLI, "own-psychologist", DENIED, lambda w: get_feed(w.p1))


def feed_rows(method: str, make: Callable[..., Call]) -> None:
    row(S, method, ADMIN, "fresh", OK, lambda w: make(w.psychologist(hours=False)))
    row(S, method, PSY, "own", OK, lambda w: _own_fresh_psychologist(w, make))
    row(S, method, PSY, "other", DENIED, lambda w: make(w.p2))
    row(S, method, CLI, "own-psychologist", DENIED, lambda w: make(w.p1))


feed_rows("UpdateCalendarFeed", update_feed)
feed_rows("RotateCalendarFeed", rotate_feed)
feed_rows("RevokeCalendarFeed", revoke_feed)
for role in ROLES:
    row(S, "GetCalendarFeedContent", role, "any-token", OK, feed_content)
row(S, "GetCalendarFeedContent", CLI, "revoked", MISSING, lambda w: feed_content(w, revoked=True))
# Whoever calls, and whatever token they send, the open method's caller is anonymous.
OPEN_METHODS = {(S, "GetCalendarFeedContent")}


def working_time(w: World, p: str) -> Call:
    start = w.base + dt.timedelta(days=100)

    def verify(resp: Any) -> None:
        assert resp.minutes == 24 * 60, resp

    return Call(
        ss.ComputeWorkingTimeRequest(
            psychologist=p, start_time=ts(start), end_time=ts(start + dt.timedelta(days=1))
        ),
        verify=verify,
    )


row(S, "ComputeWorkingTime", ADMIN, "other", OK, lambda w: working_time(w, w.p2))
row(S, "ComputeWorkingTime", PSY, "own", OK, lambda w: working_time(w, w.p1))
row(S, "ComputeWorkingTime", PSY, "other", DENIED, lambda w: working_time(w, w.p2))
row(S, "ComputeWorkingTime", CLI, "own-psychologist", DENIED, lambda w: working_time(w, w.p1))


def find_slots(w: World, p: str) -> Call:
    start = w.base + dt.timedelta(days=100)

    def verify(resp: Any) -> None:
        assert resp.slots, resp
        for slot in resp.slots:  # times only: nothing about whom else the day is spent with
            assert {f.name for f, _ in slot.ListFields()} == {"start_time", "end_time"}, slot

    return Call(
        ss.FindSlotsRequest(
            psychologist=p,
            session_type=THERAPY,
            start_time=ts(start),
            end_time=ts(start + dt.timedelta(days=1)),
        ),
        verify=verify,
    )


row(S, "FindSlots", ADMIN, "other", OK, lambda w: find_slots(w, w.p2))
row(S, "FindSlots", PSY, "own", OK, lambda w: find_slots(w, w.p1))
row(S, "FindSlots", PSY, "other", DENIED, lambda w: find_slots(w, w.p2))
row(S, "FindSlots", CLI, "own-psychologist", OK, lambda w: find_slots(w, w.p1))
row(S, "FindSlots", CLI, "other-psychologist", OK, lambda w: find_slots(w, w.p2))

# Appointments.


def book(w: World, p: str, c: str, verify: Callable[[Any], None] | None = None) -> Call:
    return Call(
        ss.CreateAppointmentRequest(
            parent=p,
            appointment=A(client=c, session_type=THERAPY, start_time=w.slot()),
            request_approval=False,
        ),
        verify=verify,
        entity=p,
    )


row(S, "CreateAppointment", ADMIN, "other", OK, lambda w: book(w, w.p2, w.c2, state_is(A.STATE_BOOKED)))
row(S, "CreateAppointment", PSY, "own", OK, lambda w: book(w, w.p1, w.c1, state_is(A.STATE_BOOKED)))
row(S, "CreateAppointment", PSY, "other", DENIED, lambda w: book(w, w.p2, w.c2))
# A client's booking is a request until approved, whatever request_approval says.
row(S, "CreateAppointment", CLI, "self", OK, lambda w: book(w, w.p1, w.c1, state_is(A.STATE_PENDING)))
row(S, "CreateAppointment", CLI, "other", DENIED, lambda w: book(w, w.p2, w.c2))


def get_appointment(name: str) -> Call:
    return Call(ss.GetAppointmentRequest(name=name), entity=name)


row(S, "GetAppointment", ADMIN, "other", OK, lambda w: get_appointment(w.a2))
row(S, "GetAppointment", PSY, "own", OK, lambda w: get_appointment(w.a1))
row(S, "GetAppointment", PSY, "other", MISSING, lambda w: get_appointment(w.a2))
row(S, "GetAppointment", CLI, "own", OK, lambda w: get_appointment(w.a1))
row(S, "GetAppointment", CLI, "other", MISSING, lambda w: get_appointment(w.a2))


def list_appointments(parent: str, client: str = "", under: str = "", of_client: str = "") -> Call:
    """Lists appointments; every one listed must be under `under` / of `of_client`."""

    def verify(resp: Any) -> None:
        assert resp.appointments, resp
        for a in resp.appointments:
            if under:
                assert a.name.startswith(under + "/appointments/"), a.name
            if of_client:
                assert a.client == of_client, (a.name, a.client)

    return Call(ss.ListAppointmentsRequest(parent=parent, client=client, page_size=1000), verify=verify)


row(S, "ListAppointments", ADMIN, "other", OK, lambda w: list_appointments(w.p2, under=w.p2))
row(S, "ListAppointments", PSY, "own", OK, lambda w: list_appointments(w.p1, under=w.p1))
row(S, "ListAppointments", PSY, "other", DENIED, lambda w: list_appointments(w.p2))
row(
    S,
    "ListAppointments",
    CLI,
    "self",
    OK,
    lambda w: list_appointments("psychologists/-", client=w.c1, of_client=w.c1),
)
row(
    S,
    "ListAppointments",
    CLI,
    "unfiltered",
    OK,
    lambda w: list_appointments("psychologists/-", of_client=w.c1),
)
row(S, "ListAppointments", CLI, "other", DENIED, lambda w: list_appointments("psychologists/-", client=w.c2))


def export(p: str) -> Call:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def verify(batches: Any) -> None:
        names = [a.name for b in batches for a in b.appointments]
        assert names and all(n.startswith(p + "/appointments/") for n in names), names

    return Call(
        ss.ExportAppointmentsRequest(parent=p, start_time=ts(now), end_time=ts(now + dt.timedelta(days=90))),
        verify=verify,
        entity=p,
    )


row(S, "ExportAppointments", ADMIN, "other", OK, lambda w: export(w.p2))
row(S, "ExportAppointments", PSY, "own", OK, lambda w: export(w.p1))
row(S, "ExportAppointments", PSY, "other", DENIED, lambda w: export(w.p2))
row(S, "ExportAppointments", CLI, "own-psychologist", DENIED, lambda w: export(w.p1))


def watch(p: str) -> Call:
    def verify(messages: Any) -> None:
        assert [m.WhichOneof("kind") for m in messages] == ["heartbeat_time"], messages

    return Call(ss.WatchAppointmentsRequest(parent=p), verify=verify, entity=p)


row(S, "WatchAppointments", ADMIN, "all", OK, lambda w: watch("psychologists/-"))
row(S, "WatchAppointments", PSY, "own", OK, lambda w: watch(w.p1))
row(S, "WatchAppointments", PSY, "other", DENIED, lambda w: watch(w.p2))
row(S, "WatchAppointments", PSY, "all", DENIED, lambda w: watch("psychologists/-"))
row(S, "WatchAppointments", CLI, "own-psychologist", DENIED, lambda w: watch(w.p1))

# State changes a psychologist (or the staff) makes.
DECISIONS: dict[str, tuple[type[Message], int]] = {
    "ApproveAppointment": (ss.ApproveAppointmentRequest, A.STATE_BOOKED),
    "DeclineAppointment": (ss.DeclineAppointmentRequest, A.STATE_DECLINED),
    "CompleteAppointment": (ss.CompleteAppointmentRequest, A.STATE_COMPLETED),
    "MarkAppointmentNoShow": (ss.MarkAppointmentNoShowRequest, A.STATE_NO_SHOW),
}


def _decision(method: str, name: str, who: Who | None = None, verify: bool = False) -> Call:
    cls, state = DECISIONS[method]
    return Call(cls(name=name), who=who, verify=state_is(state) if verify else None, entity=name)


def _on_started(method: str, as_owner: bool) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        owner, name = w.started()
        return _decision(method, name, w.who(owner, PSY) if as_owner else None, verify=True)

    return build


def _on_pending(method: str, own: bool) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        name = w.appointment(w.p1, w.c1, pending=True) if own else w.appointment(w.p2, w.c2, pending=True)
        return _decision(method, name, verify=True)

    return build


def _on_base(method: str, own: bool) -> Callable[[World], Call]:
    """The shared BOOKED future appointment: no refused call could change it (it is
    not PENDING, and has not started)."""
    return lambda w: _decision(method, w.a1 if own else w.a2)


for _m in DECISIONS:
    if _m in ("CompleteAppointment", "MarkAppointmentNoShow"):
        row(S, _m, ADMIN, "started", OK, _on_started(_m, as_owner=False), late=True)
        row(S, _m, PSY, "own-started", OK, _on_started(_m, as_owner=True), late=True)
    else:
        row(S, _m, ADMIN, "pending-other", OK, _on_pending(_m, own=False))
        row(S, _m, PSY, "pending-own", OK, _on_pending(_m, own=True))
    row(S, _m, PSY, "other", MISSING, _on_base(_m, own=False))
    row(S, _m, CLI, "own", DENIED, _on_base(_m, own=True))
    row(S, _m, CLI, "other", DENIED, _on_base(_m, own=False))


def cancel(w: World, name: str, actor: sr.Cancellation.Actor) -> Call:
    return Call(
        ss.CancelAppointmentRequest(name=name, reason=REASON, cancelled_by=actor),
        verify=state_is(A.STATE_CANCELLED),
        entity=name,
    )


def reschedule(w: World, name: str, actor: sr.Cancellation.Actor) -> Call:
    def verify(a: Any) -> None:
        assert a.rescheduled_from == name and a.state in (A.STATE_BOOKED, A.STATE_PENDING), a

    return Call(
        ss.RescheduleAppointmentRequest(name=name, start_time=w.slot(), rescheduled_by=actor),
        verify=verify,
        entity=name,
    )


def _on_fresh(
    make: Callable[[World, str, sr.Cancellation.Actor], Call], own: bool, actor: sr.Cancellation.Actor
) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        name = w.appointment(w.p1, w.c1) if own else w.appointment(w.p2, w.c2)
        return make(w, name, actor)

    return build


for _m, _make in (("CancelAppointment", cancel), ("RescheduleAppointment", reschedule)):
    row(S, _m, ADMIN, "other", OK, _on_fresh(_make, False, Actor.ACTOR_STAFF))
    row(S, _m, PSY, "own", OK, _on_fresh(_make, True, Actor.ACTOR_PSYCHOLOGIST))
    row(S, _m, PSY, "other", MISSING, _on_fresh(_make, False, Actor.ACTOR_PSYCHOLOGIST))
    row(S, _m, CLI, "own-as-client", OK, _on_fresh(_make, True, Actor.ACTOR_CLIENT))
    row(S, _m, CLI, "other-as-client", MISSING, _on_fresh(_make, False, Actor.ACTOR_CLIENT))
    row(S, _m, CLI, "own-as-psychologist", DENIED, _on_fresh(_make, True, Actor.ACTOR_PSYCHOLOGIST))

# Series.


def new_series(w: World, p: str, c: str) -> Call:
    def verify(s: Any) -> None:
        assert len(s.occurrences) == 2 and s.name.startswith(p + "/series/"), s

    return Call(ss.CreateSeriesRequest(parent=p, series=w.series_body(c)), verify=verify, entity=p)


row(S, "CreateSeries", ADMIN, "other", OK, lambda w: new_series(w, w.p2, w.c2))
row(S, "CreateSeries", PSY, "own", OK, lambda w: new_series(w, w.p1, w.c1))
row(S, "CreateSeries", PSY, "other", DENIED, lambda w: new_series(w, w.p2, w.c2))
row(S, "CreateSeries", CLI, "own-psychologist", DENIED, lambda w: new_series(w, w.p1, w.c1))


def get_series(name: str) -> Call:
    return Call(ss.GetSeriesRequest(name=name), entity=name)


row(S, "GetSeries", ADMIN, "other", OK, lambda w: get_series(w.s2))
row(S, "GetSeries", PSY, "own", OK, lambda w: get_series(w.s1))
row(S, "GetSeries", PSY, "other", MISSING, lambda w: get_series(w.s2))
row(S, "GetSeries", CLI, "own", DENIED, lambda w: get_series(w.s1))


def cancel_series(w: World, name: str, actor: sr.Cancellation.Actor) -> Call:
    return Call(ss.CancelSeriesRequest(name=name, reason=REASON, cancelled_by=actor), entity=name)


def reschedule_series(w: World, name: str, actor: sr.Cancellation.Actor) -> Call:
    return Call(
        ss.RescheduleSeriesRequest(name=name, new_start_time=w.weekly(), rescheduled_by=actor), entity=name
    )


def _on_fresh_series(
    make: Callable[[World, str, sr.Cancellation.Actor], Call], own: bool, actor: sr.Cancellation.Actor
) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        name = w.series(w.p1, w.c1) if own else w.series(w.p2, w.c2)
        return make(w, name, actor)

    return build


for _m, _make in (("CancelSeries", cancel_series), ("RescheduleSeries", reschedule_series)):
    row(S, _m, ADMIN, "fresh-other", OK, _on_fresh_series(_make, False, Actor.ACTOR_STAFF))
    row(S, _m, PSY, "fresh-own", OK, _on_fresh_series(_make, True, Actor.ACTOR_PSYCHOLOGIST))
    row(S, _m, PSY, "other", MISSING, _on_fresh_series(_make, False, Actor.ACTOR_PSYCHOLOGIST))
    row(S, _m, CLI, "own", DENIED, _on_fresh_series(_make, True, Actor.ACTOR_CLIENT))

# Audit logs.
each_role(
    S,
    "ListAuditEvents",
    ADMIN_ONLY,
    lambda w: Call(audit_pb2.ListAuditEventsRequest(parent="auditLogs/scheduling", page_size=1)),
)
each_role(
    R,
    "ListAuditEvents",
    ADMIN_ONLY,
    lambda w: Call(audit_pb2.ListAuditEventsRequest(parent="auditLogs/reports", page_size=1)),
)

# Reports.


def create_report(make: Callable[[World], rs.CreateReportRequest]) -> Callable[[World], Call]:
    return lambda w: Call(make(w), verify=state_is(rr.Report.STATE_QUEUED))


row(R, "CreateReport", ADMIN, "caseload-other", OK, create_report(lambda w: report_request(caseload=w.p2)))
row(R, "CreateReport", PSY, "caseload-own", OK, create_report(lambda w: report_request(caseload=w.p1)))
row(R, "CreateReport", PSY, "export-own", OK, create_report(lambda w: report_request(export=w.p1)))
row(R, "CreateReport", PSY, "caseload-other", DENIED, create_report(lambda w: report_request(caseload=w.p2)))
row(R, "CreateReport", PSY, "export-other", DENIED, create_report(lambda w: report_request(export=w.p2)))
row(
    R, "CreateReport", PSY, "practice-summary", DENIED, create_report(lambda w: report_request(practice=True))
)
row(R, "CreateReport", CLI, "caseload", DENIED, create_report(lambda w: report_request(caseload=w.p1)))


def _succeeded(resp: Any) -> None:
    last = resp[-1] if isinstance(resp, list) else resp
    assert last.state == rr.Report.STATE_SUCCEEDED, last


def _csv(resp: Any) -> None:
    assert resp.content_type.startswith("text/csv") and resp.data, resp


def _job(cls: type[Message], verify: Callable[[Any], None], own: bool) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        name = w.r1 if own else w.r2
        return Call(cls(name=name), verify=verify, entity=name)

    return build


for _m, _cls, _verify in (
    ("GetReport", rs.GetReportRequest, _succeeded),
    ("GetReportContent", rs.GetReportContentRequest, _csv),
    ("WatchReport", rs.WatchReportRequest, _succeeded),
):
    row(R, _m, ADMIN, "other", OK, _job(_cls, _verify, own=False))
    row(R, _m, PSY, "own", OK, _job(_cls, _verify, own=True))
    row(R, _m, PSY, "other", MISSING, _job(_cls, _verify, own=False))
    row(R, _m, CLI, "own-psychologist", DENIED, _job(_cls, _verify, own=True))

# Cancelling a fresh job races the worker: CANCELLED, or ALREADY_FINISHED when it won.
FINISHED = ((PRECONDITION, "ALREADY_FINISHED"),)


def cancel_report(name: str) -> Call:
    return Call(rs.CancelReportRequest(name=name), verify=state_is(rr.Report.STATE_CANCELLED), entity=name)


row(
    R, "CancelReport", ADMIN, "fresh", OK, lambda w: cancel_report(w.report(w.admin, caseload=w.p2)), FINISHED
)
row(
    R, "CancelReport", PSY, "fresh-own", OK, lambda w: cancel_report(w.report(w.psy, caseload=w.p1)), FINISHED
)
row(R, "CancelReport", PSY, "other", MISSING, lambda w: cancel_report(w.r2))
row(R, "CancelReport", CLI, "own-psychologist", DENIED, lambda w: cancel_report(w.r1))


def list_reports(w: World, requester: str, mine: bool = False) -> Call:
    def verify(resp: Any) -> None:
        names = [r.name for r in resp.reports]
        if mine:
            assert w.r1 in names and w.r2 not in names, names
            assert {r.requester for r in resp.reports} == {w.p1}, resp

    return Call(rs.ListReportsRequest(requester=requester, page_size=1000), verify=verify)


row(R, "ListReports", ADMIN, "all", OK, lambda w: list_reports(w, ""))
row(R, "ListReports", PSY, "unfiltered", OK, lambda w: list_reports(w, "", mine=True))
row(R, "ListReports", PSY, "own", OK, lambda w: list_reports(w, w.p1, mine=True))
row(R, "ListReports", PSY, "other", DENIED, lambda w: list_reports(w, w.p2))
row(R, "ListReports", CLI, "unfiltered", DENIED, lambda w: list_reports(w, ""))

# Notification preferences: each person their own, staff anyone's. Someone else's,
# a psychologist's own client's too, is PERMISSION_DENIED (everyone has preferences, so
# the refusal reveals nothing).


def prefs(owner: str) -> str:
    return f"{owner}/notificationPreferences"


def _named(name: str) -> Callable[[Any], None]:
    def verify(resp: Any) -> None:
        assert resp.name == name, resp

    return verify


def get_client_prefs(c: str) -> Call:
    request = ns.GetClientNotificationPreferencesRequest(name=prefs(c))
    return Call(request, verify=_named(prefs(c)), entity=prefs(c))


def update_client_prefs(c: str, who: Who | None = None) -> Call:
    def verify(resp: Any) -> None:
        assert resp.name == prefs(c) and resp.time_zone == "Europe/Paris", resp

    return Call(
        ns.UpdateClientNotificationPreferencesRequest(
            preferences=nr.ClientNotificationPreferences(name=prefs(c), time_zone="Europe/Paris"),
            update_mask=mask("time_zone"),
        ),
        who=who,
        verify=verify,
        entity=prefs(c),
    )


def _own_fresh_client(w: World) -> Call:
    c = w.client(w.p1)
    return update_client_prefs(c, w.who(c, CLI))


def get_psychologist_prefs(p: str) -> Call:
    request = ns.GetPsychologistNotificationPreferencesRequest(name=prefs(p))
    return Call(request, verify=_named(prefs(p)), entity=prefs(p))


def update_psychologist_prefs(p: str, who: Who | None = None) -> Call:
    def verify(resp: Any) -> None:
        assert resp.name == prefs(p) and resp.new_request_emails and resp.email == "matrix@example.org", resp

    return Call(
        ns.UpdatePsychologistNotificationPreferencesRequest(
            preferences=nr.PsychologistNotificationPreferences(
                name=prefs(p), new_request_emails=True, email="matrix@example.org"
            ),
            update_mask=mask("new_request_emails", "email"),
        ),
        who=who,
        verify=verify,
        entity=prefs(p),
    )


row(N, "GetClientNotificationPreferences", ADMIN, "other", OK, lambda w: get_client_prefs(w.c2))
row(N, "GetClientNotificationPreferences", CLI, "own", OK, lambda w: get_client_prefs(w.c1))
row(N, "GetClientNotificationPreferences", CLI, "other", DENIED, lambda w: get_client_prefs(w.c2))
row(N, "GetClientNotificationPreferences", PSY, "own-client", DENIED, lambda w: get_client_prefs(w.c1))
row(N, "GetClientNotificationPreferences", PSY, "other-client", DENIED, lambda w: get_client_prefs(w.c2))
row(
    N,
    "UpdateClientNotificationPreferences",
    ADMIN,
    "fresh-other",
    OK,
    lambda w: update_client_prefs(w.client(w.p2)),
)
row(N, "UpdateClientNotificationPreferences", CLI, "fresh-own", OK, _own_fresh_client)
row(N, "UpdateClientNotificationPreferences", CLI, "other", DENIED, lambda w: update_client_prefs(w.c2))
row(N, "UpdateClientNotificationPreferences", PSY, "own-client", DENIED, lambda w: update_client_prefs(w.c1))
row(
    N, "UpdateClientNotificationPreferences", PSY, "other-client", DENIED, lambda w: update_client_prefs(w.c2)
)
row(N, "GetPsychologistNotificationPreferences", ADMIN, "other", OK, lambda w: get_psychologist_prefs(w.p2))
row(N, "GetPsychologistNotificationPreferences", PSY, "own", OK, lambda w: get_psychologist_prefs(w.p1))
row(N, "GetPsychologistNotificationPreferences", PSY, "other", DENIED, lambda w: get_psychologist_prefs(w.p2))
row(
    N,
    "GetPsychologistNotificationPreferences",
    CLI,
    "own-psychologist",
    DENIED,
    lambda w: get_psychologist_prefs(w.p1),
)
row(
    N,
    "UpdatePsychologistNotificationPreferences",
    ADMIN,
    "fresh",
    OK,
    lambda w: update_psychologist_prefs(w.psychologist(hours=False)),
)
row(
    N,
    "UpdatePsychologistNotificationPreferences",
    PSY,
    "fresh-own",
    OK,
    lambda w: _own_fresh_psychologist(w, update_psychologist_prefs),
)
row(
    N,
    "UpdatePsychologistNotificationPreferences",
    PSY,
    "other",
    DENIED,
    lambda w: update_psychologist_prefs(w.p2),
)
row(
    N,
    "UpdatePsychologistNotificationPreferences",
    CLI,
    "own-psychologist",
    DENIED,
    lambda w: update_psychologist_prefs(w.p1),
)
each_role(
    N,
    "ListAuditEvents",
    ADMIN_ONLY,
    lambda w: Call(audit_pb2.ListAuditEventsRequest(parent="auditLogs/notifications", page_size=1)),
)

# Without a token, and with a service's token: every RPC. Nobody gets past
# authentication without a token, except to the open method. A service principal
# reads what scheduling gives the report worker and the notifications service (all of
# it, as staff would: the services apply the requester's scope themselves), nothing else.
SERVICE_MAY = {
    (S, m)
    for m in (
        "GetPsychologist",
        "ListPsychologists",
        "ListSessionTypes",
        "GetClient",
        "ComputeWorkingTime",
        "GetAppointment",
        "ExportAppointments",
    )
}


def _reused(service: str, method: str, allowed: bool) -> Callable[[World], Call]:
    """Another role's request to `method`, sent as the case's role: for an allowed call
    the admin's (with its check of the answer), otherwise a refused case's where there is
    one (a refused call changes nothing, and takes no started appointment)."""
    cases = [c for c in CASES if (c.service, c.method) == (service, method) and not c.late]
    admin = [c for c in cases if c.role == ADMIN and c.expect is OK]
    refused = [c for c in cases if c.expect is not OK]
    source = (admin if allowed else refused + admin)[0]

    def build(w: World) -> Call:
        call = source.build(w)
        return dataclasses.replace(call, who=None, verify=call.verify if allowed else None)

    return build


for _service, _method in METHODS:
    _have = {c.role for c in CASES if (c.service, c.method) == (_service, _method)}
    if ANON not in _have:
        row(_service, _method, ANON, "no-token", NO_TOKEN, _reused(_service, _method, allowed=False))
    if SVC not in _have:
        _allowed = (_service, _method) in SERVICE_MAY
        row(
            _service,
            _method,
            SVC,
            "service-token",
            OK if _allowed else DENIED,
            _reused(_service, _method, allowed=_allowed),
        )

TRANSPORTS = {"grpc": call_grpc, "rest": call_rest}
# Cases needing a started appointment last (each takes one of its own).
PARAMS = [
    pytest.param(case, transport, id=f"{case.id}-{transport}")
    for case in sorted(CASES, key=lambda c: c.late)
    for transport in TRANSPORTS
]


# -- tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(stack: Stack, dev_keys: Path) -> Iterator[World]:
    w = World(stack, dev_keys)
    w.setup()
    yield w
    w.close()


def generated_services() -> set[str]:
    """Every gRPC service of the contracts (the descriptor set `make protos` builds)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes()).file
    return {f"{f.package}.{s.name}" for f in files for s in f.service if f.package.startswith("phs.")}


def test_the_matrix_covers_every_rpc_of_every_service_for_every_role() -> None:
    assert generated_services() == set(SERVICE_OF), "a service of the contracts is missing from SERVICES"
    declared = {(c.service, c.method) for c in CASES}
    assert declared == set(METHODS), {
        "missing": sorted(set(METHODS) - declared),
        "unknown": sorted(declared - set(METHODS)),
    }
    for key in METHODS:
        assert {c.role for c in CASES if (c.service, c.method) == key} == set(ROLES), key
    assert len({c.id for c in CASES}) == len(CASES)


def audit_events(w: World, service: str, since: dt.datetime) -> list[Any]:
    resp = w.invoke(
        service,
        "ListAuditEvents",
        audit_pb2.ListAuditEventsRequest(parent=f"auditLogs/{service}", start_time=ts(since), page_size=1000),
    )
    return list(resp.audit_events)


@pytest.mark.parametrize(("case", "transport"), PARAMS)
def test_access(world: World, case: Case, transport: str) -> None:
    call = case.build(world)
    who = call.who or world.role(case.role)
    m = METHODS[(case.service, case.method)]
    request_id = f"matrix-{uuid.uuid4()}"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    outcome = TRANSPORTS[transport](world, m, call, who, request_id)

    assert outcome.code == case.expect or (outcome.code, outcome.reason) in case.also, (
        f"{case.id} over {transport}: expected {case.expect.name}, got {outcome.code.name} ({outcome.reason})"
    )
    if outcome.code is OK:
        if call.verify is not None:
            call.verify(outcome.response)
    else:
        assert outcome.reason, f"{case.id}: a refusal names its reason (ErrorInfo)"

    # The audit entry, written before the reply (a stream's when it ends: a watch's once
    # the test has closed it, a moment later).
    events = [e for e in audit_events(world, case.service, since) if e.request_id == request_id]
    for _ in range(50 if case.method == "WatchAppointments" and not events else 0):
        time.sleep(0.1)
        events = [e for e in audit_events(world, case.service, since) if e.request_id == request_id]
        if events:
            break
    if outcome.code is OK and (case.service, case.method) in NOT_AUDITED:
        assert events == [], f"{case.id}: not about clients, yet audited"
        return
    assert len(events) == 1, f"{case.id}: expected one audit entry for {request_id}, got {events}"
    e = events[0]
    assert e.method == _rpc_path(m)
    agent = ("", "anonymous") if (case.service, case.method) in OPEN_METHODS else (who.subject, who.role)
    assert (e.agent.subject, e.agent.role) == agent
    # A watch ends when the test closes it: CANCELLED or OK, by which side noticed first.
    closed = case.method == "WatchAppointments" and outcome.code is OK and e.status_code == "CANCELLED"
    ended = grpc.StatusCode.CANCELLED if closed else outcome.code
    assert e.status_code == ended.name
    assert e.outcome == OUTCOMES[ended]
    if call.entity:
        assert call.entity in e.entities, (call.entity, list(e.entities))
