"""The requester's scope end to end: it travels through Kafka to the worker, which
computes the report, and nobody else learns the job exists. The worker's own checks:
tests/integration/test_report_scope.py."""

from __future__ import annotations

import datetime as dt

from phs_devstack import Stack
from tests.helpers import eventually, rest, rfc3339


def test_the_requester_travels_through_kafka_to_a_computed_report(stack: Stack) -> None:
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr Scope", "timeZone": "UTC"}).body
    token = stack.token(p["name"], "psychologist")
    now = dt.datetime.now(dt.UTC)
    interval = {"startTime": rfc3339(now), "endTime": rfc3339(now + dt.timedelta(days=7))}
    body = {"caseloadParams": {"psychologist": p["name"], "interval": interval}}
    created = rest(stack.rest_url, "POST", "/v1/reports", body, token=token)
    assert created.status == 200, created.body
    assert created.body["requester"] == p["name"]

    def done() -> dict[str, object] | None:
        got = rest(stack.rest_url, "GET", f"/v1/{created.body['name']}", token=token).body
        return got if got["state"] in ("STATE_SUCCEEDED", "STATE_FAILED") else None

    final = eventually(done, 30, what="report final")
    assert final["state"] == "STATE_SUCCEEDED", final
    # Someone else's psychologist token does not even learn that the job exists.
    other = stack.token("psychologists/someone-else", "psychologist")
    assert rest(stack.rest_url, "GET", f"/v1/{created.body['name']}", token=other).status == 404
