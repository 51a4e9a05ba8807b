"""REST through the real Envoy to the real scheduling service (SQLite)."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from phs_devstack import Stack
from tests.helpers import Response, future_slot, rest, rfc3339


def _psychologist(stack: Stack, tz: str = "America/Toronto") -> dict[str, Any]:
    resp = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr Test", "timeZone": tz})
    assert resp.status == 200, resp.body
    return dict(resp.body)


def _client(stack: Stack) -> dict[str, Any]:
    resp = rest(
        stack.rest_url, "POST", "/v1/clients", {"displayName": "Test Client", "email": "t@example.org"}
    )
    assert resp.status == 200, resp.body
    return dict(resp.body)


def _book(
    stack: Stack,
    psych: str,
    client: str,
    start: str,
    code: str = "90834",
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"client": client, "sessionType": f"sessionTypes/{code}", "startTime": start}
    return rest(stack.rest_url, "POST", f"/v1/{psych}/appointments", body, headers)


def test_book_get_and_list_through_envoy(stack: Stack) -> None:
    p, c = _psychologist(stack), _client(stack)
    start = rfc3339(future_slot(5))
    booked = _book(stack, p["name"], c["name"], start)
    assert booked.status == 200, booked.body
    a = booked.body
    assert a["state"] == "STATE_BOOKED"
    assert a["name"].startswith(p["name"] + "/appointments/")
    assert a["startTime"] == start and a["sessionType"] == "sessionTypes/90834"

    got = rest(stack.rest_url, "GET", f"/v1/{a['name']}")
    # Reads add when a cancellation turns late (the default window: a day before).
    late_from = rfc3339(future_slot(5) - dt.timedelta(days=1))
    assert got.status == 200 and got.body == {**a, "lateCancelTime": late_from}

    listed = rest(stack.rest_url, "GET", f"/v1/{p['name']}/appointments?pageSize=10")
    assert listed.status == 200
    assert [x["name"] for x in listed.body["appointments"]] == [a["name"]]
    assert listed.body["nextPageToken"] == ""

    by_client = rest(stack.rest_url, "GET", f"/v1/psychologists/-/appointments?client={c['name']}")
    assert [x["name"] for x in by_client.body["appointments"]] == [a["name"]]


def test_overlapping_booking_is_409_with_error_info(stack: Stack) -> None:
    p, c = _psychologist(stack), _client(stack)
    start = future_slot(6)
    first = _book(stack, p["name"], c["name"], rfc3339(start))
    assert first.status == 200
    clash = _book(stack, p["name"], c["name"], rfc3339(start.replace(minute=30)))
    assert clash.status == 409, clash.body
    assert clash.body["code"] == 6  # ALREADY_EXISTS
    info = clash.detail("google.rpc.ErrorInfo")
    assert info["reason"] == "SLOT_UNAVAILABLE"
    assert info["metadata"]["conflicting_appointment"] == first.body["name"]


def test_fifty_concurrent_requests_for_one_slot_exactly_one_wins(stack: Stack) -> None:
    p, c = _psychologist(stack), _client(stack)
    start = rfc3339(future_slot(7))
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: _book(stack, p["name"], c["name"], start), range(50)))
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [409] * 49, statuses
    listed = rest(stack.rest_url, "GET", f"/v1/{p['name']}/appointments")
    assert len(listed.body["appointments"]) == 1


def test_idempotency_key_replays_and_refuses_a_different_body(stack: Stack) -> None:
    p, c = _psychologist(stack), _client(stack)
    key = str(uuid.uuid4())
    start = future_slot(8)
    first = _book(stack, p["name"], c["name"], rfc3339(start), headers={"Idempotency-Key": key})
    again = _book(stack, p["name"], c["name"], rfc3339(start), headers={"Idempotency-Key": key})
    assert first.status == again.status == 200
    assert again.body == first.body  # the first result, not a 409
    other = _book(
        stack, p["name"], c["name"], rfc3339(start.replace(hour=18)), headers={"Idempotency-Key": key}
    )
    assert other.status == 400, other.body  # FAILED_PRECONDITION
    assert other.body["code"] == 9
    assert other.detail("google.rpc.ErrorInfo")["reason"] == "IDEMPOTENCY_KEY_REUSED"
    listed = rest(stack.rest_url, "GET", f"/v1/{p['name']}/appointments")
    assert len(listed.body["appointments"]) == 1


def test_bad_input_gets_field_violations(stack: Stack) -> None:
    bad = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "", "timeZone": "Mars/Olympus"})
    assert bad.status == 400 and bad.body["code"] == 3
    fields = {v["field"] for v in bad.detail("google.rpc.BadRequest")["fieldViolations"]}
    assert fields == {"psychologist.display_name", "psychologist.time_zone"}

    p, c = _psychologist(stack), _client(stack)
    past = _book(stack, p["name"], c["name"], "2020-01-01T10:00:00Z")
    assert past.status == 400
    assert past.detail("google.rpc.BadRequest")["fieldViolations"][0]["field"] == "appointment.start_time"
    odd = _book(stack, p["name"], c["name"], rfc3339(future_slot(9)).replace(":00Z", ":30Z"))
    assert odd.status == 400 and "whole minute" in odd.body["message"]

    unknown_type = _book(stack, p["name"], c["name"], rfc3339(future_slot(9)), code="99999")
    assert unknown_type.status == 404
    assert unknown_type.detail("google.rpc.ResourceInfo")["resourceName"] == "sessionTypes/99999"
    nobody = "00000000-0000-0000-0000-000000000000"
    unknown_client = _book(stack, p["name"], f"clients/{nobody}", rfc3339(future_slot(9)))
    assert unknown_client.status == 404
    assert unknown_client.detail("google.rpc.ResourceInfo")["resourceName"] == f"clients/{nobody}"
    unknown_psychologist = _book(stack, f"psychologists/{nobody}", c["name"], rfc3339(future_slot(9)))
    assert unknown_psychologist.status == 404
    assert unknown_psychologist.detail("google.rpc.ResourceInfo")["resourceName"] == f"psychologists/{nobody}"

    missing = rest(stack.rest_url, "GET", "/v1/psychologists/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404 and missing.body["code"] == 5

    malformed = rest(stack.rest_url, "GET", "/v1/psychologists/NOT_AN_ID")
    assert malformed.status == 400

    inverted = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p['name']}/appointments?startTime=2031-01-02T00:00:00Z&endTime=2031-01-01T00:00:00Z",
    )
    assert inverted.status == 400
    assert inverted.detail("google.rpc.BadRequest")["fieldViolations"][0]["field"] == "end_time"

    bad_token = rest(stack.rest_url, "GET", f"/v1/{p['name']}/appointments?pageToken=garbage")
    assert bad_token.status == 400

    # Envoy itself refuses unknown paths and query parameters.
    assert rest(stack.rest_url, "GET", "/v1/nothing-here").status == 404
    assert rest(stack.rest_url, "GET", "/v1/psychologists?colour=blue").status == 400


def test_page_tokens_walk_every_item_once(stack: Stack) -> None:
    p, c = _psychologist(stack), _client(stack)
    names = []
    for i in range(5):
        resp = _book(stack, p["name"], c["name"], rfc3339(future_slot(20 + i)))
        names.append(resp.body["name"])
    seen: list[str] = []
    token = ""
    while True:
        page = rest(stack.rest_url, "GET", f"/v1/{p['name']}/appointments?pageSize=2&pageToken={token}")
        assert page.status == 200
        seen += [a["name"] for a in page.body["appointments"]]
        token = page.body["nextPageToken"]
        if not token:
            break
    assert seen == names
    token = _first_token(stack, p["name"])
    other_filter = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p['name']}/appointments?pageSize=2&pageToken={token}&states=STATE_PENDING",
    )
    assert other_filter.status == 400


def _first_token(stack: Stack, psych: str) -> str:
    return str(rest(stack.rest_url, "GET", f"/v1/{psych}/appointments?pageSize=1").body["nextPageToken"])


def test_request_id_is_echoed_and_reaches_the_service_log(stack: Stack) -> None:
    rid = f"test-{uuid.uuid4()}"
    resp = rest(stack.rest_url, "GET", "/v1/sessionTypes", headers={"X-Request-ID": rid})
    assert resp.status == 200 and resp.headers["x-request-id"] == rid
    codes = {t["name"] for t in resp.body["sessionTypes"]}  # other tests may add types
    assert {f"sessionTypes/{c}" for c in ("90791", "90832", "90834", "90837")} <= codes
    generated = rest(stack.rest_url, "GET", "/v1/sessionTypes")
    assert len(generated.headers["x-request-id"]) >= 32


def test_updates_follow_the_mask_and_validate(stack: Stack) -> None:
    p = _psychologist(stack)
    renamed = rest(
        stack.rest_url,
        "PATCH",
        f"/v1/{p['name']}?updateMask=displayName",
        {"displayName": "Dr Renamed", "timeZone": "Not/AZone"},
    )
    assert renamed.status == 200 and renamed.body["displayName"] == "Dr Renamed"
    assert renamed.body["timeZone"] == p["timeZone"]  # not in the mask: untouched
    inactive = rest(stack.rest_url, "PATCH", f"/v1/{p['name']}?updateMask=active", {"active": False})
    assert inactive.body["active"] is False
    c = _client(stack)
    refused = _book(stack, p["name"], c["name"], rfc3339(future_slot(30)))
    assert (
        refused.status == 400 and refused.detail("google.rpc.ErrorInfo")["reason"] == "PSYCHOLOGIST_INACTIVE"
    )
    bad_mask = rest(stack.rest_url, "PATCH", f"/v1/{p['name']}?updateMask=name", {"name": "x"})
    assert bad_mask.status == 400

    # After the intake the client is assigned to the psychologist.
    assigned = rest(
        stack.rest_url, "PATCH", f"/v1/{c['name']}?updateMask=psychologist", {"psychologist": p["name"]}
    )
    assert assigned.status == 200 and assigned.body["psychologist"] == p["name"]
    unknown = rest(
        stack.rest_url,
        "PATCH",
        f"/v1/{c['name']}?updateMask=psychologist",
        {"psychologist": "psychologists/00000000-0000-0000-0000-000000000000"},
    )
    assert unknown.status == 404


def test_session_types_are_configurable(stack: Stack) -> None:
    code = f"t{uuid.uuid4().hex[:8]}"
    body = {
        "displayName": "Family therapy",
        "duration": "3000s",
        "bufferAfter": "600s",
        "clientBookable": False,
    }
    created = rest(stack.rest_url, "POST", f"/v1/sessionTypes?sessionTypeId={code}", body)
    assert created.status == 200, created.body
    assert created.body["name"] == f"sessionTypes/{code}" and created.body["duration"] == "3000s"
    again = rest(stack.rest_url, "POST", f"/v1/sessionTypes?sessionTypeId={code}", body)
    assert again.status == 409
    longer = rest(
        stack.rest_url, "PATCH", f"/v1/sessionTypes/{code}?updateMask=duration", {"duration": "3600s"}
    )
    assert longer.body["duration"] == "3600s" and longer.body["displayName"] == "Family therapy"
    odd = rest(stack.rest_url, "PATCH", f"/v1/sessionTypes/{code}?updateMask=duration", {"duration": "61s"})
    assert odd.status == 400
    p, c = _psychologist(stack), _client(stack)
    booked = _book(stack, p["name"], c["name"], rfc3339(future_slot(31)), code=code)
    assert booked.status == 200
    assert booked.body["endTime"] == rfc3339(future_slot(31) + dt.timedelta(hours=1))
    # Bookings follow a change at once (the service keeps session types' shapes in memory).
    shorter = rest(
        stack.rest_url, "PATCH", f"/v1/sessionTypes/{code}?updateMask=duration", {"duration": "1800s"}
    )
    assert shorter.status == 200, shorter.body
    again = _book(stack, p["name"], c["name"], rfc3339(future_slot(32)), code=code)
    assert again.status == 200
    assert again.body["endTime"] == rfc3339(future_slot(32) + dt.timedelta(minutes=30))
