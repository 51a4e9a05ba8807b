"""Availability, slot search and weekly series through Envoy: what search
offers, a client request accepts; what it hides, a request is refused; a series
is all or nothing, and its exceptions are first-class."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from phs_devstack import Stack
from tests.helpers import eventually, local_slot, rest, rfc3339

pytestmark = pytest.mark.clock  # see tests/clock/faketime.py

TORONTO = ZoneInfo("America/Toronto")
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


def _practice(stack: Stack, *, assigned: bool = True) -> tuple[str, str]:
    p = rest(
        stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr A", "timeZone": "America/Toronto"}
    )
    hours = {
        "weeklyHours": [
            *({"dayOfWeek": d, "startTime": {"hours": 9}, "endTime": {"hours": 12}} for d in WEEKDAYS),
            *({"dayOfWeek": d, "startTime": {"hours": 13}, "endTime": {"hours": 17}} for d in WEEKDAYS),
        ],
        "bookingPolicy": {"minimumNotice": "86400s", "bookingHorizon": "7776000s", "slotAlignment": "900s"},
    }
    resp = rest(stack.rest_url, "PATCH", f"/v1/{p.body['name']}/availability", hours)
    assert resp.status == 200, resp.body
    body: dict[str, Any] = {"displayName": "Client A"}
    if assigned:
        body["psychologist"] = p.body["name"]
    c = rest(stack.rest_url, "POST", "/v1/clients", body)
    return p.body["name"], c.body["name"]


def _next_local(weekday: int, hour: int, minute: int = 0, weeks_ahead: int = 1) -> dt.datetime:
    """In Toronto time, so `first + timedelta(weeks=2)` is the same wall-clock time two
    weeks on, as the series' occurrences are, whether or not DST changes in between."""
    return local_slot(TORONTO, weekday, hour, minute, weeks_ahead)


def _slots(stack: Stack, p: str, start: dt.datetime, end: dt.datetime, code: str = "90834") -> list[str]:
    resp = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p}/slots?sessionType=sessionTypes/{code}&startTime={rfc3339(start)}&endTime={rfc3339(end)}",
    )
    assert resp.status == 200, resp.body
    return [s["startTime"] for s in resp.body.get("slots", [])]


def _request(stack: Stack, p: str, c: str, start: dt.datetime, code: str = "90834") -> Any:
    return rest(
        stack.rest_url,
        "POST",
        f"/v1/{p}/appointments?requestApproval=true",
        {"client": c, "sessionType": f"sessionTypes/{code}", "startTime": rfc3339(start)},
    )


def test_availability_round_trips_and_rejects_nonsense(stack: Stack) -> None:
    p, _ = _practice(stack)
    got = rest(stack.rest_url, "GET", f"/v1/{p}/availability").body
    assert len(got["weeklyHours"]) == 10 and got["bookingPolicy"]["slotAlignment"] == "900s"
    only_policy = rest(
        stack.rest_url,
        "PATCH",
        f"/v1/{p}/availability?updateMask=bookingPolicy",
        {"bookingPolicy": {"minimumNotice": "3600s"}},
    )
    assert only_policy.status == 200 and len(only_policy.body["weeklyHours"]) == 10
    bad = rest(
        stack.rest_url,
        "PATCH",
        f"/v1/{p}/availability",
        {
            "weeklyHours": [
                {"dayOfWeek": "MONDAY", "startTime": {"hours": 10}, "endTime": {"hours": 9}},
                {"dayOfWeek": "TUESDAY", "startTime": {"hours": 9}, "endTime": {"hours": 12}},
                {"dayOfWeek": "TUESDAY", "startTime": {"hours": 11}, "endTime": {"hours": 13}},
            ],
            "bookingPolicy": {"slotAlignment": "420s"},
        },
    )
    assert bad.status == 400
    fields = {v["field"] for v in bad.detail("google.rpc.BadRequest")["fieldViolations"]}
    assert fields == {
        "availability.weekly_hours[0].end_time",
        "availability.weekly_hours[2]",
        "availability.booking_policy.slot_alignment",
    }


def test_search_offers_exactly_what_a_client_request_accepts(stack: Stack) -> None:
    p, c = _practice(stack)
    monday_9 = _next_local(1, 9)
    day = _slots(stack, p, monday_9 - dt.timedelta(hours=1), monday_9 + dt.timedelta(hours=10))
    local = [dt.datetime.fromisoformat(x).astimezone(TORONTO).strftime("%H:%M") for x in day]
    # 45-minute sessions with a 15-minute buffer, 09-12 and 13-17, on a 15-minute grid.
    assert local[0] == "09:00" and local[-1] == "16:15" and "11:15" in local and "12:15" not in local
    assert _request(stack, p, c, monday_9 + dt.timedelta(hours=2)).status == 200  # 11:00, offered
    after = _slots(stack, p, monday_9 - dt.timedelta(hours=1), monday_9 + dt.timedelta(hours=10))
    taken = {rfc3339(monday_9 + dt.timedelta(minutes=m)) for m in range(75, 180, 15)}  # 10:15 .. 11:45
    assert set(day) - set(after) == taken & set(day)

    # What search hides, a request is refused, each with its reason.
    lunch = _request(stack, p, c, monday_9 + dt.timedelta(hours=3, minutes=30))
    assert lunch.status == 400 and lunch.detail("google.rpc.ErrorInfo")["reason"] == "OUTSIDE_WORKING_HOURS"
    off_grid = _request(stack, p, c, monday_9 + dt.timedelta(minutes=10))
    assert off_grid.status == 400 and "15-minute grid" in off_grid.body["message"]
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    assert _request(stack, p, c, soon).detail("google.rpc.ErrorInfo")["reason"] == "TOO_SHORT_NOTICE"
    far = _next_local(1, 9, weeks_ahead=20)
    assert _request(stack, p, c, far).detail("google.rpc.ErrorInfo")["reason"] == "BEYOND_BOOKING_HORIZON"
    clash = _request(stack, p, c, monday_9 + dt.timedelta(hours=1, minutes=30))  # 10:30 meets 11:00
    assert clash.status == 409
    # Staff may still book outside the hours (by arrangement); search never offers it.
    assert (
        rest(
            stack.rest_url,
            "POST",
            f"/v1/{p}/appointments",
            {
                "client": c,
                "sessionType": "sessionTypes/90834",
                "startTime": rfc3339(monday_9 + dt.timedelta(hours=9)),
            },
        ).status
        == 200
    )


def test_new_clients_may_only_request_an_intake(stack: Stack) -> None:
    p, c = _practice(stack, assigned=False)
    tuesday_9 = _next_local(2, 9)
    refused = _request(stack, p, c, tuesday_9, code="90834")
    assert refused.detail("google.rpc.ErrorInfo")["reason"] == "SESSION_TYPE_NOT_SELF_BOOKABLE"
    assert _request(stack, p, c, tuesday_9, code="90791").status == 200


def test_slot_search_validates_its_range(stack: Stack) -> None:
    p, _ = _practice(stack)
    start = _next_local(1, 9)
    inverted = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p}/slots?sessionType=sessionTypes/90834"
        f"&startTime={rfc3339(start)}&endTime={rfc3339(start - dt.timedelta(days=1))}",
    )
    assert inverted.status == 400
    too_wide = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p}/slots?sessionType=sessionTypes/90834"
        f"&startTime={rfc3339(start)}&endTime={rfc3339(start + dt.timedelta(days=120))}",
    )
    assert too_wide.status == 400
    unknown = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p}/slots?sessionType=sessionTypes/00000"
        f"&startTime={rfc3339(start)}&endTime={rfc3339(start + dt.timedelta(days=1))}",
    )
    assert unknown.status == 404


def test_series_is_all_or_nothing_and_reports_each_conflicting_date(stack: Stack) -> None:
    p, c = _practice(stack)
    first = _next_local(3, 10)  # a Wednesday 10:00, weekly x6
    blocker_1 = rest(
        stack.rest_url,
        "POST",
        f"/v1/{p}/appointments",
        {
            "client": c,
            "sessionType": "sessionTypes/90837",
            "startTime": rfc3339(first + dt.timedelta(weeks=2)),
        },
    )
    blocker_2 = rest(
        stack.rest_url,
        "POST",
        f"/v1/{p}/appointments",
        {
            "client": c,
            "sessionType": "sessionTypes/90837",
            "startTime": rfc3339(first + dt.timedelta(weeks=4, minutes=30)),
        },
    )
    assert blocker_1.status == blocker_2.status == 200
    body = {"client": c, "sessionType": "sessionTypes/90834", "firstStartTime": rfc3339(first), "count": 6}
    refused = rest(stack.rest_url, "POST", f"/v1/{p}/series", body)
    assert refused.status == 409, refused.body
    dates = [v["subject"] for v in refused.detail("google.rpc.PreconditionFailure")["violations"]]
    expected = [(first + dt.timedelta(weeks=w)).astimezone(TORONTO).date().isoformat() for w in (2, 4)]
    assert dates == expected
    listed = rest(stack.rest_url, "GET", f"/v1/{p}/appointments").body["appointments"]
    assert len(listed) == 2  # nothing was half-created

    for blocker in (blocker_1, blocker_2):
        rest(
            stack.rest_url,
            "POST",
            f"/v1/{blocker.body['name']}:cancel",
            {"reason": "REASON_OTHER", "cancelledBy": "ACTOR_STAFF"},
        )
    created = rest(stack.rest_url, "POST", f"/v1/{p}/series", body)
    assert created.status == 200, created.body
    occ = created.body["occurrences"]
    assert len(occ) == 6
    starts = [rest(stack.rest_url, "GET", f"/v1/{n}").body["startTime"] for n in occ]
    assert {dt.datetime.fromisoformat(x).astimezone(TORONTO).strftime("%a %H:%M") for x in starts} == {
        "Wed 10:00"
    }
    # Search sees every occurrence.
    assert rfc3339(first + dt.timedelta(weeks=3)) not in _slots(
        stack,
        p,
        first + dt.timedelta(weeks=3) - dt.timedelta(hours=1),
        first + dt.timedelta(weeks=3, hours=2),
    )


def test_series_exceptions_and_this_and_following(stack: Stack) -> None:
    p, c = _practice(stack)
    first = _next_local(4, 14)  # Thursdays 14:00
    series = rest(
        stack.rest_url,
        "POST",
        f"/v1/{p}/series",
        {"client": c, "sessionType": "sessionTypes/90834", "firstStartTime": rfc3339(first), "count": 5},
    ).body
    occ = series["occurrences"]

    # One occurrence moves: an exception that stays in the series, remembering its original time.
    moved = rest(
        stack.rest_url,
        "POST",
        f"/v1/{occ[1]}:reschedule",
        {"startTime": rfc3339(first + dt.timedelta(weeks=1, hours=1)), "rescheduledBy": "ACTOR_STAFF"},
    )
    assert moved.status == 200, moved.body
    assert moved.body["series"] == series["name"]
    assert moved.body["originalStartTime"] == rfc3339(first + dt.timedelta(weeks=1))

    # This and following: from the fourth occurrence on, move to Fridays 09:00.
    new_first = (first + dt.timedelta(weeks=3, days=1)).replace(hour=9)  # the 4th's Friday
    again = rest(
        stack.rest_url,
        "POST",
        f"/v1/{series['name']}:reschedule",
        {
            "fromTime": rfc3339(first + dt.timedelta(weeks=3)),
            "newStartTime": rfc3339(new_first),
            "rescheduledBy": "ACTOR_PSYCHOLOGIST",
        },
    )
    assert again.status == 200, again.body
    states: dict[str, list[str]] = {}
    for name in again.body["occurrences"]:
        a = rest(stack.rest_url, "GET", f"/v1/{name}").body
        local = dt.datetime.fromisoformat(a["startTime"]).astimezone(TORONTO).strftime("%a %H:%M")
        states.setdefault(a["state"], []).append(local)
    assert sorted(states["STATE_BOOKED"]) == sorted(
        ["Thu 14:00", "Thu 15:00", "Thu 14:00", "Fri 09:00", "Fri 09:00"]
    )

    # Cancel the whole series: every active occurrence, the exception included.
    cancelled = rest(
        stack.rest_url,
        "POST",
        f"/v1/{series['name']}:cancel",
        {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_CLIENT"},
    )
    assert cancelled.status == 200
    left = [rest(stack.rest_url, "GET", f"/v1/{n}").body["state"] for n in cancelled.body["occurrences"]]
    assert set(left) == {"STATE_CANCELLED"}


def test_caseload_utilization_is_session_minutes_over_working_minutes(stack: Stack) -> None:
    p, c = _practice(stack)
    monday = _next_local(1, 0)
    for hours in (9, 13):  # two 45-minute sessions on the Monday
        booked = rest(
            stack.rest_url,
            "POST",
            f"/v1/{p}/appointments",
            {
                "client": c,
                "sessionType": "sessionTypes/90834",
                "startTime": rfc3339(monday + dt.timedelta(hours=hours)),
            },
        )
        assert booked.status == 200
    body = {
        "caseloadParams": {
            "psychologist": p,
            "interval": {"startTime": rfc3339(monday), "endTime": rfc3339(monday + dt.timedelta(weeks=1))},
        }
    }
    created = rest(stack.rest_url, "POST", "/v1/reports", body)
    assert created.status == 200

    def done() -> dict[str, Any] | None:
        r = rest(stack.rest_url, "GET", f"/v1/{created.body['name']}").body
        return r if r["state"] == "STATE_SUCCEEDED" else None

    summary = eventually(done, 30, what="caseload done")["caseload"]
    assert int(summary["workingMinutes"]) == 5 * 420  # Mon-Fri 9-12 and 13-17
    assert int(summary["scheduledMinutes"]) == 90
    assert abs(summary["utilization"] - 90 / 2100) < 1e-9
    working = rest(
        stack.rest_url,
        "GET",
        f"/v1/{p}:computeWorkingTime?startTime={rfc3339(monday)}"
        f"&endTime={rfc3339(monday + dt.timedelta(days=1))}",
    )
    assert working.status == 200 and int(working.body["minutes"]) == 420


def test_a_clients_own_request_and_move_wait_for_the_psychologist(stack: Stack) -> None:
    p, c = _practice(stack)
    client, psych = stack.token(c, "client"), stack.token(p, "psychologist")
    first, second = _next_local(2, 10), _next_local(3, 14)
    # Signed in as the client, a booking is a request even without requestApproval.
    body = {"client": c, "sessionType": "sessionTypes/90834", "startTime": rfc3339(first)}
    asked = rest(stack.rest_url, "POST", f"/v1/{p}/appointments", body, token=client)
    assert asked.status == 200 and asked.body["state"] == "STATE_PENDING", asked.body
    approved = rest(stack.rest_url, "POST", f"/v1/{asked.body['name']}:approve", {}, token=psych)
    assert approved.body["state"] == "STATE_BOOKED"
    # The client moves it: a new request; the old one is cancelled as rescheduled.
    move = {"startTime": rfc3339(second), "rescheduledBy": "ACTOR_CLIENT"}
    moved = rest(stack.rest_url, "POST", f"/v1/{asked.body['name']}:reschedule", move, token=client)
    assert moved.status == 200 and moved.body["state"] == "STATE_PENDING", moved.body
    assert moved.body["rescheduledFrom"] == asked.body["name"]
    again = rest(stack.rest_url, "POST", f"/v1/{moved.body['name']}:approve", {}, token=psych)
    assert again.body["state"] == "STATE_BOOKED"
    # Moved by the psychologist, a booked appointment stays booked.
    by_psych = {"startTime": rfc3339(first), "rescheduledBy": "ACTOR_PSYCHOLOGIST"}
    kept = rest(stack.rest_url, "POST", f"/v1/{moved.body['name']}:reschedule", by_psych, token=psych)
    assert kept.status == 200 and kept.body["state"] == "STATE_BOOKED", kept.body
