"""Every error through the gateway is a google.rpc.Status JSON body (AIP-193), Envoy's
own replies included: what the transcoder refuses, unknown paths, a wrong method on a
known path (405 with Allow), unknown body fields (refused, not dropped), bodies and
headers too large, a token in the URL, no healthy upstream. No reply echoes a long
input, and the access log keeps the caller's method and no query string."""

from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from phs_devstack import Ports, Stack
from tests import helpers
from tests.helpers import auth_headers, eventually, json_lines, rest

# google.rpc.Code for the HTTP statuses Envoy answers with on its own.
CODE_FOR_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 431: 8, 503: 14}
LONG = "q" * 5000


def raw(
    stack: Stack, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", stack.ports.rest, timeout=10)
    try:
        conn.request(
            method,
            path,
            body=body,
            headers={
                "content-type": "application/json",
                **auth_headers(helpers.ADMIN_TOKEN),
                **(headers or {}),
            },
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def assert_status_json(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A google.rpc.Status whose code matches the HTTP status, with an ErrorInfo."""
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    parsed = json.loads(body)
    assert parsed["code"] == CODE_FOR_STATUS[status], parsed
    assert isinstance(parsed["message"], str) and parsed["message"], parsed
    types = [d["@type"] for d in parsed["details"]]
    assert "type.googleapis.com/google.rpc.ErrorInfo" in types, parsed
    assert LONG[:100] not in body.decode("utf-8", "replace"), "a long input came back in the reply"
    assert len(parsed["message"]) <= 300, parsed["message"]  # the gateway's script cuts longer ones
    assert int(headers.get("content-length", len(body))) == len(body)
    return dict(parsed)


PSYCH = "/v1/psychologists"
REPORTS = "/v1/reports"
INTERVAL = {"startTime": "2030-01-01T00:00:00Z", "endTime": "2030-02-01T00:00:00Z"}

# (what, method, path, body bytes, extra headers, expected status)
PROBES: list[tuple[str, str, str, bytes | None, dict[str, str], int]] = [
    ("malformed JSON", "POST", PSYCH, b'{"displayName": "A",', {}, 400),
    ("an array for an object", "POST", PSYCH, b"[1, 2]", {}, 400),
    ("a string for an object", "POST", PSYCH, b'"hello"', {}, 400),
    ("non-UTF-8", "POST", PSYCH, b'{"displayName": "\xff\xfe"}', {}, 400),
    ("a wrong field type", "POST", PSYCH, b'{"displayName": {"a": 1}}', {}, 400),
    ("a number out of range", "POST", PSYCH, b'{"displayName": "A", "active": 1e400}', {}, 400),
    ("an unknown enum value", "GET", "/v1/psychologists/-/appointments?states=NOPE", None, {}, 400),
    ("not a date", "GET", "/v1/psychologists/-/appointments?startTime=not-a-date", None, {}, 400),
    ("year 10000", "GET", "/v1/psychologists/-/appointments?startTime=10000-01-01T00:00:00Z", None, {}, 400),
    ("30 February", "GET", "/v1/psychologists/-/appointments?startTime=2027-02-30T00:00:00Z", None, {}, 400),
    ("a bad query value", "GET", "/v1/sessionTypes?pageSize=abc", None, {}, 400),
    ("an unknown query parameter", "GET", "/v1/sessionTypes?colour=blue", None, {}, 400),
    ("a long unknown query parameter", "GET", f"/v1/sessionTypes?{LONG}=1", None, {}, 400),
    ("a long bad query value", "GET", f"/v1/sessionTypes?pageSize={LONG}", None, {}, 400),
    (
        "two oneof members",
        "POST",
        REPORTS,
        json.dumps(
            {"caseloadParams": {"interval": INTERVAL}, "practiceSummaryParams": {"interval": INTERVAL}}
        ).encode(),
        {},
        400,
    ),
    ("an unknown path", "GET", "/v1/nothing/here", None, {}, 404),
    # As the transcoder reads it, an unknown verb is part of the name: reports/abc:explode
    # is a report's path, which has GET only.
    ("an unknown custom method", "POST", "/v1/reports/abc:explode", b"{}", {}, 405),
    ("a wrong method on a known path", "DELETE", "/v1/sessionTypes", None, {}, 405),
    ("a body over 1 MiB", "POST", PSYCH, b'{"displayName": "' + b"x" * (1024 * 1024 + 10) + b'"}', {}, 413),
    ("headers over 32 KiB", "GET", "/v1/sessionTypes", None, {"x-big": "y" * 40_000}, 431),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "body", "headers", "expected"), PROBES, ids=[p[0] for p in PROBES]
)
def test_envoys_own_replies_are_status_json(
    stack: Stack,
    what: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    expected: int,
) -> None:
    status, hdrs, data = raw(stack, method, path, body, headers)
    assert status == expected, (what, status, data[:300])
    assert_status_json(status, hdrs, data)


def test_a_wrong_method_says_which_methods_the_path_has(stack: Stack) -> None:
    status, headers, body = raw(stack, "PUT", "/v1/psychologists/abc")
    assert status == 405
    assert headers["allow"] == "GET, PATCH"
    assert_status_json(status, headers, body)
    # A path ending in a custom verb some method has is that method's (as the transcoder
    # reads it), or no method's; a path of one segment more is no route.
    status, headers, _ = raw(stack, "PUT", "/v1/psychologists/abc:computeWorkingTime")
    assert status == 405 and headers["allow"] == "GET"
    assert raw(stack, "GET", "/v1/reports/abc:cancel")[0] == 405
    assert raw(stack, "PATCH", "/v1/sessionTypes/90837:watch")[0] == 404
    assert raw(stack, "GET", "/v1/psychologists/abc/nothing")[0] == 404


def _field_violations(body: Any) -> list[str]:
    return [v["field"] for d in body["details"] if "fieldViolations" in d for v in d["fieldViolations"]]


def test_a_body_that_is_not_json_is_refused_before_any_service(stack: Stack) -> None:
    # The transcoder's parser takes a trailing comma and drops the unknown field, so the
    # call would reach the service with the path's fields alone.
    for body in (b'{"a":1,}', b'{"displayName": "Dr Comma", "timeZone": "UTC",}'):
        status, _, answer = raw(stack, "POST", PSYCH, body)
        parsed = json.loads(answer)
        assert status == 400 and parsed["code"] == 3, answer
        assert [d["reason"] for d in parsed["details"] if "reason" in d] == ["MALFORMED_JSON"]
    listed = rest(stack.rest_url, "GET", PSYCH + "?pageSize=1000").body.get("psychologists", [])
    assert not [p for p in listed if p["displayName"] == "Dr Comma"]


def test_unknown_body_fields_are_refused_with_their_path(stack: Stack) -> None:
    resp = rest(stack.rest_url, "POST", PSYCH, {"displayName": "Dr Typo", "timeZone": "UTC", "timezone": "X"})
    assert resp.status == 400, resp.body
    assert _field_violations(resp.body) == ["psychologist.timezone"]
    assert resp.detail("ErrorInfo")["reason"] == "UNKNOWN_FIELD"
    # Nested messages inside repeated fields are checked as well.
    psych = rest(stack.rest_url, "POST", PSYCH, {"displayName": "Dr Nested", "timeZone": "UTC"}).body["name"]
    hours = [{"dayOfWeek": "MONDAY", "startTime": {"hours": 9}, "endTime": {"hours": 12, "minuts": 5}}]
    resp = rest(stack.rest_url, "PATCH", f"/v1/{psych}/availability", {"weeklyHours": hours})
    assert resp.status == 400, resp.body
    assert _field_violations(resp.body) == ["availability.weeklyHours.endTime.minuts"]
    # A long unknown name is quoted short.
    resp = rest(stack.rest_url, "POST", PSYCH, {"displayName": "Dr Long", "timeZone": "UTC", LONG: 1})
    assert resp.status == 400 and LONG[:100] not in json.dumps(resp.body)


def test_known_fields_pass_in_both_spellings_and_with_escapes(stack: Stack) -> None:
    body = b'{"display_name": "Dr Snake", "time\\u005aone": "UTC"}'
    status, _, data = raw(stack, "POST", PSYCH, body, {"idempotency-key": str(uuid.uuid4())})
    assert status == 200, data
    assert json.loads(data)["displayName"] == "Dr Snake"
    assert json.loads(data)["timeZone"] == "UTC"


def test_a_token_in_the_url_is_refused_and_never_logged(stack: Stack) -> None:
    secret = f"tok-{uuid.uuid4()}"
    for path in (
        f"/v1/sessionTypes?access_token={secret}",
        f"/v1/sessionTypes?pageSize=1&ACCESS%5FTOKEN={secret}",
    ):
        status, headers, body = raw(stack, "GET", path)
        assert status == 400, body
        parsed = assert_status_json(status, headers, body)
        assert parsed["details"][0]["reason"] == "TOKEN_IN_URL"
        assert secret not in body.decode()
    # The access log names the caller's method and path, never the query string.
    marker = f"probe-{uuid.uuid4()}"
    raw(stack, "GET", f"/v1/sessionTypes?pageSize=2&pageToken={secret}", headers={"x-request-id": marker})

    def logged() -> dict[str, Any] | None:
        return next((r for r in json_lines(stack.log("envoy")) if r.get("request_id") == marker), None)

    line = eventually(logged, timeout=30, what="the access log line")
    assert line["http_method"] == "GET" and line["path"] == "/v1/sessionTypes", line
    assert secret not in stack.log("envoy").read_text()


def test_envoy_writes_only_json_lines(stack: Stack) -> None:
    lines = [line for line in stack.log("envoy").read_text().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    # The gateway's Lua script ran for every probe above without an error.
    assert not [x for x in parsed if x.get("logger") == "envoy.lua"], [x for x in parsed if "lua" in str(x)][
        :3
    ]


@pytest.fixture(scope="module")
def lonely_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Envoy alone: its upstreams' ports have nobody listening."""
    s = Stack(root=tmp_path_factory.mktemp("lonely-gateway"), ports=Ports.free())
    try:
        s.start_envoy()
        yield s
    finally:
        s.stop()


def test_no_healthy_upstream_is_status_json(lonely_gateway: Stack) -> None:
    for path in ("/v1/sessionTypes", "/v1/reports"):
        status, headers, body = raw(lonely_gateway, "GET", path)
        assert status == 503, body
        assert_status_json(status, headers, body)


def test_a_request_id_is_kept_only_when_short_and_safe(stack: Stack) -> None:
    good = f"trace-{uuid.uuid4()}"
    _, headers, _ = raw(stack, "GET", "/v1/sessionTypes", headers={"x-request-id": good})
    assert headers["x-request-id"] == good
    for bad in ("two words", "x" * 129, "semi;colon", '{"forged": "json"}'):
        _, headers, _ = raw(stack, "GET", "/v1/sessionTypes", headers={"x-request-id": bad})
        replaced = headers["x-request-id"]
        assert replaced != bad and re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", replaced
        )


def test_grpc_is_not_served_on_the_rest_port(stack: Stack) -> None:
    """gRPC clients talk to the services; here they get UNIMPLEMENTED (in gRPC's own
    framing: HTTP 200 with grpc-status), and nothing reaches a service."""
    for path, content_type in (
        ("/phs.reports.v1.ReportService/GetReport", "application/grpc"),
        ("/phs.scheduling.v1.SchedulingService/CancelSeries", "application/grpc+proto"),
        ("/v1/reports", "application/grpc+json"),
    ):
        status, headers, body = raw(stack, "POST", path, b"", {"content-type": content_type})
        assert status == 200 and body == b"", (path, status, body)
        assert headers["grpc-status"] == "12", headers
        assert "connect to the services directly" in headers["grpc-message"]
