"""The tests and every service of the stack read one wall clock, faked or not: what the
clock matrix (tests/clock/faketime.py) relies on to move the whole stack to another date."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest

from phs_devstack import Stack
from tests.helpers import eventually, rest, rfc3339

pytestmark = pytest.mark.clock

# A REST call and a report job take well under this, even on a loaded machine; a service
# whose clock started later than the tests' (libfaketime's "@instant" form) lags by the
# seconds between the two starts.
SKEW = dt.timedelta(seconds=10)


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_the_services_stamp_times_from_the_tests_clock(stack: Stack) -> None:
    before = dt.datetime.now(dt.UTC)
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr Clock", "timeZone": "UTC"})
    assert p.status == 200, p.body
    interval = {"startTime": rfc3339(before), "endTime": rfc3339(before + dt.timedelta(days=7))}
    body = {"caseloadParams": {"psychologist": p.body["name"], "interval": interval}}
    created = rest(stack.rest_url, "POST", "/v1/reports", body)
    assert created.status == 200, created.body

    def final() -> dict[str, Any] | None:
        r = rest(stack.rest_url, "GET", f"/v1/{created.body['name']}").body
        return r if r["state"] == "STATE_SUCCEEDED" else None

    report = eventually(final, 30, what="report done")
    after = dt.datetime.now(dt.UTC)
    stamps = {
        "scheduling": _time(p.body["createTime"]),
        "reports API": _time(created.body["createTime"]),
        "reports worker": _time(report["completeTime"]),
    }
    for who, stamp in stamps.items():
        assert before - SKEW <= stamp <= after + SKEW, (who, stamp, before, after)
    at = os.environ.get("PHS_FAKETIME_AT")
    if at:  # under the clock matrix: the faked date reached the tests too
        assert dt.timedelta(0) <= before - _time(at.replace("Z", "+00:00")) < dt.timedelta(hours=2)
