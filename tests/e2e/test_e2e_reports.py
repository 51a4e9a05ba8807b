"""Report jobs end to end: REST -> Envoy -> reports API -> outbox -> Kafka ->
worker -> scheduling (gRPC) -> result, with one request id all the way."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import urllib.request
import uuid
from typing import Any

from phs_devstack import Stack
from tests import helpers
from tests.helpers import Response, audit_consumer, eventually, future_slot, json_lines, rest, rfc3339

# Health information that must never reach a log line.
SECRET_NAMES = ("Ophelia Quartermaine", "Bartholomew Xylander")
SECRET_EMAIL = "ophelia.q@private.example"


def _report_body(psych: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {
        "caseloadParams": {
            "psychologist": psych,
            "interval": {"startTime": rfc3339(start), "endTime": rfc3339(end)},
        }
    }


def _wait_final(stack: Stack, name: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = rest(stack.rest_url, "GET", f"/v1/{name}")
        assert r.status == 200, r.body
        return dict(r.body) if r.body["state"] in ("STATE_SUCCEEDED", "STATE_FAILED") else None

    return eventually(done, timeout, what=f"{name} final")


def _practice(stack: Stack) -> tuple[str, list[str]]:
    """A psychologist with three bookings (two clients) and a colleague with one."""
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr R", "timeZone": "Europe/Paris"})
    other = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr S", "timeZone": "UTC"})
    c1 = rest(
        stack.rest_url, "POST", "/v1/clients", {"displayName": SECRET_NAMES[0], "email": SECRET_EMAIL}
    ).body["name"]
    c2 = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": SECRET_NAMES[1]}).body["name"]
    booked = []
    for day, client, code in [(3, c1, "90834"), (4, c1, "90837"), (5, c2, "90832")]:
        resp = rest(
            stack.rest_url,
            "POST",
            f"/v1/{p.body['name']}/appointments",
            {"client": client, "sessionType": f"sessionTypes/{code}", "startTime": rfc3339(future_slot(day))},
        )
        assert resp.status == 200, resp.body
        booked.append(resp.body["name"])
    resp = rest(
        stack.rest_url,
        "POST",
        f"/v1/{other.body['name']}/appointments",
        {"client": c2, "sessionType": "sessionTypes/90834", "startTime": rfc3339(future_slot(3))},
    )
    assert resp.status == 200
    return p.body["name"], booked


def test_report_goes_queued_to_succeeded_with_the_right_figures(stack: Stack) -> None:
    psych, _ = _practice(stack)
    body = _report_body(psych, future_slot(1), future_slot(30))
    created = rest(stack.rest_url, "POST", "/v1/reports", body, {"Idempotency-Key": str(uuid.uuid4())})
    assert created.status == 200, created.body
    assert created.body["state"] == "STATE_QUEUED"
    final = _wait_final(stack, created.body["name"])
    assert final["state"] == "STATE_SUCCEEDED", final
    s = final["caseload"]
    assert s["psychologist"] == psych
    assert int(s["appointmentsTotal"]) == 3 and int(s["booked"]) == 3
    assert int(s["scheduledMinutes"]) == 45 + 60 + 30
    assert int(s["distinctClients"]) == 2
    assert final["attempts"] == 1 and final["completeTime"]


def test_idempotency_key_returns_the_same_job_and_refuses_other_params(stack: Stack) -> None:
    psych, _ = _practice(stack)
    key = str(uuid.uuid4())
    body = _report_body(psych, future_slot(1), future_slot(10))
    a = rest(stack.rest_url, "POST", "/v1/reports", body, {"Idempotency-Key": key})
    b = rest(stack.rest_url, "POST", "/v1/reports", body, {"Idempotency-Key": key})
    assert a.status == b.status == 200
    assert a.body["name"] == b.body["name"]
    c = rest(
        stack.rest_url,
        "POST",
        "/v1/reports",
        _report_body(psych, future_slot(1), future_slot(11)),
        {"Idempotency-Key": key},
    )
    assert c.status == 400 and c.detail("google.rpc.ErrorInfo")["reason"] == "IDEMPOTENCY_KEY_REUSED"
    listed = rest(stack.rest_url, "GET", "/v1/reports?pageSize=1000")
    assert sum(1 for r in listed.body["reports"] if r["name"] == a.body["name"]) == 1


def test_invalid_report_requests_are_refused(stack: Stack) -> None:
    empty = rest(stack.rest_url, "POST", "/v1/reports", {})
    assert empty.status == 400
    inverted = rest(
        stack.rest_url,
        "POST",
        "/v1/reports",
        _report_body("psychologists/abc", future_slot(10), future_slot(1)),
    )
    assert inverted.status == 400
    fields = [v["field"] for v in inverted.detail("google.rpc.BadRequest")["fieldViolations"]]
    assert fields == ["report.caseload_params.interval.end_time"]
    too_long = rest(
        stack.rest_url,
        "POST",
        "/v1/reports",
        _report_body("psychologists/abc", future_slot(1), future_slot(400)),
    )
    assert too_long.status == 400
    assert rest(stack.rest_url, "GET", "/v1/reports/does-not-exist").status == 404


def test_report_for_unknown_psychologist_fails_with_a_reason(stack: Stack) -> None:
    body = _report_body(f"psychologists/{uuid.uuid4()}", future_slot(1), future_slot(5))
    created: Response = rest(stack.rest_url, "POST", "/v1/reports", body)
    final = _wait_final(stack, created.body["name"])
    assert final["state"] == "STATE_FAILED"
    assert final["error"]["code"] == 5  # NOT_FOUND: not retried, no point
    assert final["attempts"] == 1


def test_one_request_id_through_envoy_api_kafka_and_worker(stack: Stack) -> None:
    psych, _ = _practice(stack)
    rid = f"trace-{uuid.uuid4()}"
    key = f"key-{uuid.uuid4()}"
    created = rest(
        stack.rest_url,
        "POST",
        "/v1/reports",
        _report_body(psych, future_slot(1), future_slot(9)),
        {"X-Request-ID": rid, "Idempotency-Key": key},
    )
    assert created.status == 200 and created.headers["x-request-id"] == rid
    job_id = created.body["name"].split("/")[1]
    assert _wait_final(stack, created.body["name"])["state"] == "STATE_SUCCEEDED"

    def logged(name: str, **match: str) -> bool:
        return any(all(line.get(k) == v for k, v in match.items()) for line in json_lines(stack.log(name)))

    # Envoy flushes its access log about every 10 s.
    assert eventually(
        lambda: logged("envoy", request_id=rid, path="/v1/reports"), 15, what="envoy access log"
    )
    # Service log lines reach their files within the log writer's flush interval.
    assert eventually(lambda: logged("reports-api", request_id=rid, message="report job accepted"), 5)
    assert eventually(
        lambda: logged(
            "reports-worker", request_id=rid, message="job finished", job_id=job_id, idempotency_key=key
        ),
        5,
    )
    assert eventually(
        lambda: logged(
            "scheduling",
            request_id=rid,
            grpc_method="/phs.scheduling.v1.SchedulingService/ExportAppointments",
        ),
        5,
    )

    consumer = audit_consumer(stack.kafka_bootstrap, "phs.reports.jobs.v1")
    try:
        headers = next(
            dict((k, v.decode()) for k, v in msg.headers) for msg in consumer if msg.key == job_id.encode()
        )
    finally:
        consumer.close()
    assert headers["x-request-id"] == rid
    assert headers["message-type"] == "phs.reports.v1.ReportJobMessage"


def test_every_process_logs_json_lines_with_a_request_id_field(stack: Stack) -> None:
    for name in ("scheduling", "reports-api", "reports-worker"):
        lines = stack.log(name).read_text().splitlines()
        assert lines, name
        for line in lines:
            obj = json.loads(line)  # every line is one JSON object
            assert {"time", "level", "message", "service", "request_id"} <= obj.keys(), line
    # Envoy's own lines (warnings, start-up) are JSON too, but only requests have an id.
    envoy = json_lines(stack.log("envoy"))
    assert all({"time", "level", "message", "service"} <= x.keys() for x in envoy)
    # Every request has an id, save what Envoy could not parse as one (DPE: a downstream
    # protocol error, e.g. headers over the limit; other tests on this stack send those).
    access = [x for x in envoy if x.get("logger") == "envoy.access"]
    assert access and all(a["request_id"] for a in access if "DPE" not in a["response_flags"])


def test_no_client_name_or_contact_reaches_any_log(stack: Stack) -> None:
    _practice(stack)  # creates clients with the secret names, books, and is listed below
    rid = f"hygiene-{uuid.uuid4()}"
    assert rest(stack.rest_url, "GET", "/v1/clients?pageSize=1000", None, {"X-Request-ID": rid}).status == 200
    # Lines are written in order: once this call's line is in the file, so is all before it.
    eventually(lambda: rid in stack.log("scheduling").read_text(), 5, what="last call logged")
    for log in (stack.root / "logs").glob("*.log"):
        text = log.read_text()
        for secret in (*SECRET_NAMES, SECRET_EMAIL):
            assert secret not in text, f"{secret!r} leaked into {log.name}"


def test_practice_summary_sets_psychologists_side_by_side(stack: Stack) -> None:
    psych, _ = _practice(stack)
    body = {
        "practiceSummaryParams": {
            "interval": {"startTime": rfc3339(future_slot(1)), "endTime": rfc3339(future_slot(30))}
        }
    }
    created = rest(stack.rest_url, "POST", "/v1/reports", body)
    final = _wait_final(stack, created.body["name"])
    assert final["state"] == "STATE_SUCCEEDED", final
    summary = final["practiceSummary"]
    mine = next(p for p in summary["psychologists"] if p["psychologist"] == psych)
    assert int(mine["appointmentsTotal"]) == 3
    assert {t["sessionType"]: int(t["appointments"]) for t in mine["bySessionType"]} == {
        "sessionTypes/90832": 1,
        "sessionTypes/90834": 1,
        "sessionTypes/90837": 1,
    }
    total = summary["total"]
    assert int(total["appointmentsTotal"]) == sum(
        int(p["appointmentsTotal"]) for p in summary["psychologists"]
    )


def test_export_downloads_a_csv_without_names(stack: Stack) -> None:
    psych, booked = _practice(stack)
    body = {
        "exportParams": {
            "psychologist": psych,
            "interval": {"startTime": rfc3339(future_slot(1)), "endTime": rfc3339(future_slot(30))},
        }
    }
    created = rest(stack.rest_url, "POST", "/v1/reports", body)
    final = _wait_final(stack, created.body["name"])
    assert final["state"] == "STATE_SUCCEEDED" and int(final["export"]["rows"]) == 3
    assert final["expireTime"] > final["completeTime"]
    req = urllib.request.Request(
        f"{stack.rest_url}/v1/{created.body['name']}:download",
        headers=helpers.auth_headers(helpers.ADMIN_TOKEN),
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.read().decode())))
    assert sorted(r["appointment"] for r in rows) == sorted(booked)
    text = json.dumps(rows)
    assert all(secret not in text for secret in (*SECRET_NAMES, SECRET_EMAIL))
    caseload = rest(
        stack.rest_url, "POST", "/v1/reports", _report_body(psych, future_slot(1), future_slot(9))
    )
    _wait_final(stack, caseload.body["name"])
    no_file = rest(stack.rest_url, "GET", f"/v1/{caseload.body['name']}:download")
    assert no_file.status == 400 and no_file.detail("google.rpc.ErrorInfo")["reason"] == "NO_FILE"


def test_a_finished_job_cannot_be_cancelled(stack: Stack) -> None:
    psych, _ = _practice(stack)
    created = rest(stack.rest_url, "POST", "/v1/reports", _report_body(psych, future_slot(1), future_slot(9)))
    _wait_final(stack, created.body["name"])
    late = rest(stack.rest_url, "POST", f"/v1/{created.body['name']}:cancel", {})
    assert late.status == 400 and late.detail("google.rpc.ErrorInfo")["reason"] == "ALREADY_FINISHED"
