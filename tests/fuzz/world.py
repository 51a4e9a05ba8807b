"""What the fuzzer works on: real resources of every type (so some requests reach deep
code paths), tokens of every role, the gateway's limits from its rendered config, and a
well-formed client that keeps reading while the fuzzer runs."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from google.protobuf import json_format
from google.protobuf.message_factory import GetMessageClass

from phs_devstack import Stack
from phs_runtime.auth import ROLES
from tests.fuzz.cases import Gateway
from tests.fuzz.client import send
from tests.fuzz.routes import pool, resource_patterns
from tests.fuzz.values import Names
from tests.helpers import Response, rest

DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
# Subjects of the roles whose tokens name no resource.
STAFF_SUBJECT = {"admin": "staff/fuzz-admin", "service": "services/fuzz"}


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _walk(value: Any, key: str) -> Iterator[Any]:
    """Every value under `key` anywhere in a parsed YAML/JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)


def gateway_facts(stack: Stack) -> Gateway:
    """Limits and route timeouts of the Envoy config the stack runs."""
    config = yaml.safe_load((stack.root / "envoy.yaml").read_text())
    headers_kb = next(_walk(config, "max_request_headers_kb"), 60)
    headers_count = next(_walk(config, "max_headers_count"), 100)
    body = max((int(v) for v in _walk(config, "max_request_bytes")), default=1 << 20)
    underscores = any(v == "REJECT_REQUEST" for v in _walk(config, "headers_with_underscores_action"))
    timeouts: dict[str, float] = {}
    for routes in _walk(config, "routes"):
        for r in routes if isinstance(routes, list) else []:
            prefix = r.get("match", {}).get("prefix")
            timeout = str(r.get("route", {}).get("timeout", "15s"))
            if prefix:
                timeouts[prefix] = max(timeouts.get(prefix, 0.0), float(timeout.rstrip("s")))
    return Gateway(int(headers_kb) * 1024, int(headers_count), body, underscores, timeouts)


@dataclass
class World:
    stack: Stack
    names: Names = field(init=False)
    tokens: dict[str, str | None] = field(init=False)
    anonymous: frozenset[str] = field(init=False)
    # The monitor's own resources, never handed to the fuzzer.
    hidden: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.admin = self.stack.token(STAFF_SUBJECT["admin"], "admin")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        resp: Response = rest(self.stack.rest_url, method, path, body, token=self.admin, timeout=30)
        assert resp.status == 200, (method, path, resp.status, resp.body)
        return resp.body

    # -- resources --------------------------------------------------------------------------

    def psychologist(self) -> str:
        body = {"displayName": "Dr Fuzz", "timeZone": "UTC"}
        name = str(self.call("POST", "/v1/psychologists", body)["name"])
        self.bookable(name)
        return name

    def bookable(self, psychologist: str) -> None:
        """Active, in UTC, working around the clock a year ahead: any future whole hour
        is bookable. Restored before each route (the fuzzer deactivates psychologists
        and changes their hours), so that well-formed bookings can still succeed."""
        self.call(
            "PATCH", f"/v1/{psychologist}?updateMask=active,timeZone", {"active": True, "timeZone": "UTC"}
        )
        hours = [{"dayOfWeek": d, "startTime": {}, "endTime": {"hours": 24}} for d in DAYS]
        policy = {"minimumNotice": "0s", "bookingHorizon": f"{365 * 86400}s"}
        self.call(
            "PATCH", f"/v1/{psychologist}/availability", {"weeklyHours": hours, "bookingPolicy": policy}
        )

    def restore(self) -> None:
        for name in self.names.real["scheduling.phs.health/Psychologist"]:
            self.bookable(name)

    def client(self, psychologist: str) -> str:
        body = {"displayName": "Client Fuzz", "psychologist": psychologist}
        return str(self.call("POST", "/v1/clients", body)["name"])

    def appointment(
        self, psychologist: str, client: str, session_type: str, start: dt.datetime, pending: bool
    ) -> str:
        body = {"client": client, "sessionType": session_type, "startTime": _rfc3339(start)}
        query = "?requestApproval=true" if pending else ""
        return str(self.call("POST", f"/v1/{psychologist}/appointments{query}", body)["name"])

    def session_type(self) -> str:
        code = f"fz{uuid.uuid4().hex[:8]}"
        body = {"displayName": "Fuzz type", "duration": "3000s", "clientBookable": True}
        return str(self.call("POST", f"/v1/sessionTypes?sessionTypeId={code}", body)["name"])

    def report(self, params: dict[str, Any]) -> str:
        name = str(self.call("POST", "/v1/reports", params)["name"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.call("GET", f"/v1/{name}")["state"] in ("STATE_SUCCEEDED", "STATE_FAILED"):
                return name
            time.sleep(0.2)
        raise AssertionError(f"{name} did not finish")

    def setup(self) -> None:
        base = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        p1, p2, p0 = self.psychologist(), self.psychologist(), self.psychologist()
        c1, c2, c0 = self.client(p1), self.client(p2), self.client(p0)
        st1, st0 = self.session_type(), self.session_type()
        a1 = self.appointment(p1, c1, st1, base, pending=False)
        a2 = self.appointment(p1, c1, st1, base + dt.timedelta(hours=2), pending=True)
        a0 = self.appointment(p0, c0, st0, base, pending=False)
        first = _rfc3339(base + dt.timedelta(days=1, hours=4))
        series = {"client": c1, "sessionType": st1, "firstStartTime": first, "intervalWeeks": 1, "count": 3}
        s1 = str(self.call("POST", f"/v1/{p1}/series", series)["name"])
        interval = {
            "startTime": _rfc3339(base - dt.timedelta(days=30)),
            "endTime": _rfc3339(base + dt.timedelta(days=30)),
        }
        r1 = self.report({"exportParams": {"psychologist": p1, "interval": interval}})
        r2 = self.report({"caseloadParams": {"psychologist": p2, "interval": interval}})
        listed = self.call("GET", "/v1/sessionTypes?pageSize=100")["sessionTypes"]
        session_types = [t["name"] for t in listed if t["name"] != st0]
        audit = self.call("GET", "/v1/auditLogs/scheduling/events?pageSize=2")["auditEvents"]
        real = {
            "scheduling.phs.health/Psychologist": [p1, p2],
            "scheduling.phs.health/Client": [c1, c2],
            "scheduling.phs.health/SessionType": session_types,
            "scheduling.phs.health/Availability": [f"{p1}/availability", f"{p2}/availability"],
            "scheduling.phs.health/Appointment": [a1, a2],
            "scheduling.phs.health/Series": [s1],
            "reports.phs.health/Report": [r1, r2],
            "audit.phs.health/AuditEvent": [e["name"] for e in audit],
        }
        self.names = Names(real, resource_patterns(), extra=["psychologists/-"])
        self.hidden = {"psychologist": p0, "session_type": st0, "appointment": a0}
        self.tokens = self._tokens(p1, c1)
        self.anonymous = frozenset({"none", "expired", "forged"})

    def _tokens(self, psychologist: str, client: str) -> dict[str, str | None]:
        subjects = {**STAFF_SUBJECT, "psychologist": psychologist, "client": client}
        tokens: dict[str, str | None] = {
            role: self.stack.token(subjects[role], role) for role in sorted(ROLES)
        }
        tokens["none"] = None
        tokens["expired"] = self.stack.token(STAFF_SUBJECT["admin"], "admin", dt.timedelta(hours=-1))
        head, payload, _ = self.admin.split(".")
        other = str(tokens["client"]).split(".")[2]
        tokens["forged"] = f"{head}.{payload}.{other}"  # an admin's claims under another token's signature
        return tokens


@dataclass
class Monitor:
    """A well-formed client reading all along: the session types, a psychologist's free
    slots and a booked appointment (resources the fuzzer is never given)."""

    world: World
    deadline: float
    rounds: int = 0
    requests: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few
    latencies: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fuzz-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.deadline + 10)

    def _reads(self) -> list[tuple[str, str, Any]]:
        h = self.world.hidden
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        window = (
            f"startTime={_rfc3339(now + dt.timedelta(days=1))}&endTime={_rfc3339(now + dt.timedelta(days=8))}"
        )
        return [
            ("/v1/sessionTypes", "phs.scheduling.v1.ListSessionTypesResponse", lambda b: b["sessionTypes"]),
            (
                f"/v1/{h['psychologist']}/slots?sessionType={h['session_type']}&{window}",
                "phs.scheduling.v1.FindSlotsResponse",
                lambda b: b["slots"],
            ),
            (
                f"/v1/{h['appointment']}",
                "phs.scheduling.v1.Appointment",
                lambda b: b["state"] == "STATE_BOOKED",
            ),
        ]

    def _loop(self) -> None:
        port = self.world.stack.ports.rest
        auth = [("authorization", f"Bearer {self.world.admin}")]
        while not self._stop.is_set():
            self.rounds += 1
            for path, output, good in self._reads():
                answer = send(port, "GET", path, auth, None, self.deadline + 5)
                self.requests += 1
                self.latencies.append(answer.elapsed)
                problem = self._problem(
                    answer.status, answer.body, output, good, answer.elapsed, answer.error
                )
                self.failed += bool(problem)
                if problem and len(self.failures) < 20:
                    self.failures.append(f"GET {path.split('?')[0]}: {problem}")
            self._stop.wait(0.05)

    def _problem(
        self, status: int | None, body: bytes, output: str, good: Any, elapsed: float, error: str
    ) -> str:
        if status != 200:
            return f"{status or error} {body[:160]!r}"
        if elapsed > self.deadline:
            return f"took {elapsed:.1f}s"
        try:
            data = json.loads(body)
            json_format.ParseDict(
                data, GetMessageClass(pool().FindMessageTypeByName(output))(), descriptor_pool=pool()
            )
        except (ValueError, json_format.ParseError) as err:
            return f"{type(err).__name__}: {err}"
        return "" if good(data) else f"unexpected {body[:160]!r}"

    def summary(self) -> str:
        if not self.latencies:
            return "monitor: no requests"
        lat = sorted(self.latencies)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        ms = [round(v * 1000) for v in (statistics.median(lat), p99, lat[-1])]
        return (
            f"monitor: {self.requests} well-formed reads in {self.rounds} rounds, {self.failed} failed; "
            f"latency median {ms[0]} ms, p99 {ms[1]} ms, max {ms[2]} ms"
        )
