"""A psychologist's calendar feed end to end, through Envoy: made, fetched without a
token as text/calendar (parsed with `icalendar`), 304 for an unchanged feed, the old
address dead after a rotation and every address after a revocation, a rate limit per
feed, nothing about the client beyond initials, and the secret in no log file and no
audit entry. (The feed's window, states and DST, below the network:
tests/unit/test_calendar_feed.py.)"""

from __future__ import annotations

import http.client
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import icalendar
import pytest

from phs_devstack import Stack
from tests.helpers import eventually, future_slot, json_lines, rest, rfc3339

CLIENT = "Marguerite Ottoline Quillfeather"


def _fetch(
    stack: Stack, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A calendar app's GET: no token, nothing but what it asks for."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _secret(url: str) -> str:
    return url.rsplit("/feeds/", 1)[1].removesuffix("/calendar.ics")


@pytest.fixture
def psychologist(stack: Stack) -> tuple[str, str, str]:
    """A psychologist with two appointments (one cancelled) with one client; their
    name, token and the client's name."""
    tag = uuid.uuid4().hex[:6]
    p = rest(
        stack.rest_url, "POST", "/v1/psychologists", {"displayName": f"Dr Feed {tag}", "timeZone": "UTC"}
    )
    c = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": CLIENT, "psychologist": p.body["name"]})
    name = p.body["name"]
    token = stack.token(name, "psychologist")
    for days in (3, 4):
        body = {
            "client": c.body["name"],
            "sessionType": "sessionTypes/90834",
            "startTime": rfc3339(future_slot(days)),
        }
        made = rest(stack.rest_url, "POST", f"/v1/{name}/appointments", body, token=token)
        assert made.status == 200, made.body
    cancel = {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_PSYCHOLOGIST"}
    cancelled = rest(stack.rest_url, "POST", f"/v1/{made.body['name']}:cancel", cancel, token=token)
    assert cancelled.status == 200, cancelled.body
    return name, token, c.body["name"]


def _rotate(stack: Stack, name: str, token: str) -> str:
    made = rest(stack.rest_url, "POST", f"/v1/{name}/calendarFeed:rotate", {}, token=token)
    assert made.status == 200, made.body
    assert made.body["state"] == "STATE_ACTIVE"
    url = str(made.body["url"])
    assert url.startswith(stack.rest_url + "/v1/feeds/") and url.endswith("/calendar.ics")
    return url


def test_a_feed_is_fetched_without_a_token_and_answers_304_when_unchanged(
    stack: Stack, psychologist: tuple[str, str, str]
) -> None:
    name, token, _ = psychologist
    url = _rotate(stack, name, token)
    status, headers, body = _fetch(stack, url)
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("text/calendar")
    assert headers["cache-control"] == "private, no-cache"
    etag = headers["etag"]
    events: list[Any] = list(icalendar.Calendar.from_ical(body).walk("VEVENT"))
    assert sorted(str(e["STATUS"]) for e in events) == ["CANCELLED", "CONFIRMED"]
    for e in events:
        assert e["DTSTART"].dt.utcoffset().total_seconds() == 0
        assert str(e["SUMMARY"]) == "Psychotherapy, 45 min (M.Q.)"
    # The privacy scan: no part of the client's name beyond the initials.
    for word in CLIENT.split():
        assert word.encode() not in body

    status, headers, body = _fetch(stack, url, {"if-none-match": etag})
    assert (status, body) == (304, b""), (status, headers, body[:200])
    assert headers["etag"] == etag and "x-phs-not-modified" not in headers
    # A stale tag gets the feed again.
    status, _, body = _fetch(stack, url, {"if-none-match": '"stale"'})
    assert status == 200 and body.startswith(b"BEGIN:VCALENDAR")

    # With client details off, not even the initials.
    off = {"name": f"{name}/calendarFeed", "clientDetail": "CLIENT_DETAIL_NONE"}
    changed = rest(stack.rest_url, "PATCH", f"/v1/{name}/calendarFeed", off, token=token)
    assert changed.status == 200, changed.body
    status, headers, body = _fetch(stack, url, {"if-none-match": etag})
    assert status == 200 and headers["etag"] != etag
    assert b"M.Q." not in body and b"SUMMARY:Psychotherapy\\, 45 min\r\n" in body


def test_rotation_ends_the_old_address_and_revocation_every_address(
    stack: Stack, psychologist: tuple[str, str, str]
) -> None:
    name, token, _ = psychologist
    first = _rotate(stack, name, token)
    second = _rotate(stack, name, token)
    assert first != second
    status, headers, body = _fetch(stack, first)
    assert status == 404 and headers["content-type"].startswith("application/json")
    assert b"CALENDAR_FEED_NOT_FOUND" in body and _secret(first).encode() not in body
    assert _fetch(stack, second)[0] == 200
    shown = rest(stack.rest_url, "GET", f"/v1/{name}/calendarFeed", token=token)
    assert shown.body["state"] == "STATE_ACTIVE" and shown.body["url"] == ""  # shown once only
    revoked = rest(stack.rest_url, "POST", f"/v1/{name}/calendarFeed:revoke", {}, token=token)
    assert revoked.status == 200 and revoked.body["state"] == "STATE_INACTIVE"
    assert _fetch(stack, second)[0] == 404
    # Nobody else's feed: another psychologist may not rotate it.
    other = stack.token(f"psychologists/{uuid.uuid4()}", "psychologist")
    assert rest(stack.rest_url, "POST", f"/v1/{name}/calendarFeed:rotate", {}, token=other).status == 403


def test_a_feed_fetched_too_often_is_refused_with_429(
    stack: Stack, psychologist: tuple[str, str, str]
) -> None:
    name, token, _ = psychologist
    url = _rotate(stack, name, token)
    statuses = [_fetch(stack, url)[0] for _ in range(14)]  # a burst of 10, then 6 a minute
    assert statuses[:10] == [200] * 10 and 429 in statuses[10:], statuses
    # Another feed is not affected.
    other_name, other_token, _ = psychologist_again(stack)
    assert _fetch(stack, _rotate(stack, other_name, other_token))[0] == 200


def psychologist_again(stack: Stack) -> tuple[str, str, str]:
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr Other", "timeZone": "UTC"})
    return p.body["name"], stack.token(p.body["name"], "psychologist"), ""


def test_the_secret_is_in_no_log_file_and_no_audit_entry(
    stack: Stack, psychologist: tuple[str, str, str]
) -> None:
    name, token, _ = psychologist
    url = _rotate(stack, name, token)
    secret = _secret(url)
    rid = str(uuid.uuid4())
    assert _fetch(stack, url, {"x-request-id": rid})[0] == 200
    # Mistyped and refused addresses hold it too.
    _fetch(stack, url.replace("/feeds/", "/FEEDS/"))
    _fetch(stack, url.replace("/feeds/", "/%66eeds/"))
    _fetch(stack, url + "x")

    def logged() -> list[dict[str, object]] | None:
        lines = [x for x in json_lines(stack.log("envoy")) if x.get("request_id") == rid]
        return lines or None

    (line,) = eventually(logged, what="the fetch's access log line")
    assert line["path"] == "/v1/feeds/[redacted]" and line["status"] == 200
    audit = rest(stack.rest_url, "GET", f"/v1/auditLogs/scheduling/events?entity={name}/calendarFeed").body
    fetches = [e for e in audit["auditEvents"] if e["requestId"] == rid]
    assert len(fetches) == 1, audit
    assert fetches[0]["entities"] == [f"{name}/calendarFeed"]
    assert fetches[0]["agent"]["role"] == "anonymous"
    assert fetches[0]["method"] == "/phs.scheduling.v1.SchedulingService/GetCalendarFeedContent"
    everything = rest(stack.rest_url, "GET", "/v1/auditLogs/scheduling/events?pageSize=1000").body
    assert secret not in str(everything)
    for log in sorted(Path(stack.root / "logs").glob("*")):
        assert secret not in log.read_text(errors="replace"), f"the secret is in {log.name}"
