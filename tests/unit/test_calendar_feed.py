"""Calendar feeds below the network: the domain (secret, initials, text, ETag, rate
limit) and the handlers on a throwaway SQLite database with appointments at fixed
instants, read at a fixed "now" (no dependence on today's date). Through Envoy, with
304, rotation and the log scan: tests/e2e/test_calendar_feed.py."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import grpc
import icalendar
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import insert

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_scheduling.domain import calendar_feed as feed
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.tables import appointments
from tests.unit.servicers import Context, ctx, refused, scheduling_servicer

TORONTO = ZoneInfo("America/Toronto")
# Toronto leaves daylight time on 7 November 2027 at 02:00 local time.
NOW = dt.datetime(2027, 10, 20, 12, 0, tzinfo=dt.UTC)
CLIENT = "Jane Quinn Doe"
F = sr.CalendarFeed


# -- domain ------------------------------------------------------------------------------------


def test_secrets_are_random_well_formed_and_stored_as_hashes() -> None:
    a, b = feed.new_secret(), feed.new_secret()
    assert a != b and feed.well_formed(a) and feed.well_formed(b)
    assert len(feed.secret_hash(a)) == 32 and feed.secret_hash(a) != feed.secret_hash(b)
    assert feed.same_hash(feed.secret_hash(a), feed.secret_hash(a))
    assert not feed.same_hash(feed.secret_hash(a), feed.secret_hash(b))
    for bad in ("", "short", a + "x", a[:-1] + "/", "../" + a[3:], a[:-1] + "é"):
        assert not feed.well_formed(bad), bad


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Quinn Doe", "J.D."),
        ("jane doe", "J.D."),
        ("Zoë", "Z."),
        ("Émile  Zola-Dupont", "É.Z."),
        ("  ", ""),
        ("(unknown) 42", ""),
    ],
)
def test_initials_are_the_first_and_last_words_first_letters(name: str, expected: str) -> None:
    assert feed.initials(name) == expected


def test_text_is_escaped_and_folded_at_75_octets_without_splitting_characters() -> None:
    start = dt.datetime(2027, 1, 4, 15, tzinfo=dt.UTC)
    long = "Thérapie; de couple, longue " * 4 + "\nfin"
    event = feed.Event("a@x", start, start + dt.timedelta(hours=1), start, 2, feed.Status.CONFIRMED, long)
    text = feed.render("Appointments", [event])
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert "\n" not in text.replace("\r\n", "")
    parsed = icalendar.Calendar.from_ical(text)
    vevent: Any
    (vevent,) = parsed.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == long
    assert vevent["DTSTART"].dt == start and vevent["SEQUENCE"] == 2


def test_etags_follow_the_content_and_if_none_match_is_read_as_rfc_9110_says() -> None:
    tag = feed.etag(b"one")
    assert tag == feed.etag(b"one") != feed.etag(b"two")
    assert tag.startswith('"') and tag.endswith('"')
    assert feed.matches(tag, tag)
    assert feed.matches(f'"other", W/{tag}', tag)
    assert feed.matches("*", tag)
    assert not feed.matches('"other"', tag) and not feed.matches("", tag)


def test_the_rate_limit_is_a_bucket_per_feed() -> None:
    clock = [0.0]
    limiter = feed.RateLimiter(per_minute=6, burst=3, clock=lambda: clock[0], max_feeds=2)
    assert [limiter.allow("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.allow("a")
    assert 9.9 < wait <= 10.0  # one fetch every 10 s
    assert limiter.allow("b") == 0  # another feed has its own bucket
    clock[0] += 10
    assert limiter.allow("a") == 0
    assert limiter.allow("a") > 0
    limiter.allow("c")  # a third feed: the least recently used bucket is forgotten
    assert limiter.allow("b") == 0 and len(limiter._buckets) == 2


# -- handlers ----------------------------------------------------------------------------------


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SchedulingServicer]:
    with scheduling_servicer(tmp_path) as servicer:
        servicer.configure_calendar_feeds("https://phs.example", per_minute=600, burst=100)
        yield servicer


def _setup(svc: SchedulingServicer) -> tuple[str, str]:
    p = svc.CreatePsychologist(
        ss.CreatePsychologistRequest(
            psychologist=sr.Psychologist(display_name="Dr Feed", time_zone="America/Toronto")
        ),
        ctx(),
    )
    c = svc.CreateClient(
        ss.CreateClientRequest(client=sr.Client(display_name=CLIENT, psychologist=p.name)), ctx()
    )
    return p.name.removeprefix("psychologists/"), c.name.removeprefix("clients/")


def _appointment(
    svc: SchedulingServicer, pid: str, cid: str, start: dt.datetime, state: str = "BOOKED", **extra: Any
) -> str:
    aid = str(uuid.uuid4())
    start = start.astimezone(dt.UTC)
    end = start + dt.timedelta(minutes=45)
    row = {
        "id": aid,
        "psychologist_id": pid,
        "client_id": cid,
        "session_type_code": "90834",
        "start_time": start,
        "end_time": end,
        "block_start": start,
        "block_end": end + dt.timedelta(minutes=15),
        "state": state,
        "version": 1,
        "create_time": NOW - dt.timedelta(days=60),
        "update_time": extra.pop("update_time", NOW - dt.timedelta(days=1)),
        **extra,
    }
    with svc.store.engine.begin() as conn:
        conn.execute(insert(appointments), row)
    return aid


def _rotate(svc: SchedulingServicer, pid: str, request_id: str = "") -> sr.CalendarFeed:
    name = f"psychologists/{pid}/calendarFeed"
    return svc.RotateCalendarFeed(ss.RotateCalendarFeedRequest(name=name, request_id=request_id), ctx())


def _secret(url: str) -> str:
    return url.removeprefix("https://phs.example/v1/feeds/").removesuffix("/calendar.ics")


def _events(svc: SchedulingServicer, secret: str, now: dt.datetime = NOW) -> list[Any]:
    content, _ = svc.calendar_feed_content(secret, now)
    return list(icalendar.Calendar.from_ical(content).walk("VEVENT"))


def test_a_feed_is_made_shown_once_and_replayed_without_its_address(svc: SchedulingServicer) -> None:
    pid, _ = _setup(svc)
    name = f"psychologists/{pid}/calendarFeed"
    before = svc.GetCalendarFeed(ss.GetCalendarFeedRequest(name=name), ctx())
    assert before.state == F.STATE_INACTIVE and before.client_detail == F.CLIENT_DETAIL_INITIALS
    made = _rotate(svc, pid, request_id="r-1")
    assert made.state == F.STATE_ACTIVE and made.url.startswith("https://phs.example/v1/feeds/")
    assert made.url.endswith("/calendar.ics") and feed.well_formed(_secret(made.url))
    # Never again: not when read, not when the same request is replayed.
    assert svc.GetCalendarFeed(ss.GetCalendarFeedRequest(name=name), ctx()).url == ""
    replay = _rotate(svc, pid, request_id="r-1")
    assert replay.url == "" and replay.rotate_time == made.rotate_time
    # The database holds no secret: not in the feed table, not in the request id records.
    secret = _secret(made.url)
    raw = Path(str(svc.store.engine.url.database)).read_bytes()
    assert secret.encode() not in raw


def test_rotation_and_revocation_end_the_old_address(svc: SchedulingServicer) -> None:
    pid, cid = _setup(svc)
    _appointment(svc, pid, cid, NOW + dt.timedelta(days=2))
    first = _secret(_rotate(svc, pid).url)
    assert len(_events(svc, first)) == 1
    second = _secret(_rotate(svc, pid).url)
    assert first != second
    gone = refused(lambda: svc.calendar_feed_content(first, NOW), grpc.StatusCode.NOT_FOUND)
    assert gone.reason == "CALENDAR_FEED_NOT_FOUND" and first not in gone.message
    assert len(_events(svc, second)) == 1
    name = f"psychologists/{pid}/calendarFeed"
    revoked = svc.RevokeCalendarFeed(ss.RevokeCalendarFeedRequest(name=name), ctx())
    assert revoked.state == F.STATE_INACTIVE and not revoked.HasField("rotate_time")
    for secret in (first, second, "x" * 43, "not a secret"):
        refused(partial(svc.calendar_feed_content, secret, NOW), grpc.StatusCode.NOT_FOUND)


def test_the_window_states_and_dst_across_early_november_in_toronto(svc: SchedulingServicer) -> None:
    pid, cid = _setup(svc)
    before_dst = dt.datetime(2027, 11, 4, 10, tzinfo=TORONTO)  # EDT, UTC-4
    after_dst = dt.datetime(2027, 11, 11, 10, tzinfo=TORONTO)  # EST, UTC-5
    booked = _appointment(svc, pid, cid, before_dst)
    after = _appointment(svc, pid, cid, after_dst, "PENDING")
    recent_cancel = _appointment(
        svc, pid, cid, NOW + dt.timedelta(days=3), "CANCELLED", cancel_time=NOW - dt.timedelta(days=29)
    )
    _appointment(
        svc, pid, cid, NOW + dt.timedelta(days=4), "CANCELLED", cancel_time=NOW - dt.timedelta(days=31)
    )
    past = _appointment(svc, pid, cid, NOW - dt.timedelta(days=29), "COMPLETED")
    _appointment(svc, pid, cid, NOW - dt.timedelta(days=31), "COMPLETED")  # before the window
    _appointment(svc, pid, cid, NOW + dt.timedelta(days=91))  # past the default 90-day horizon
    events = {str(e["UID"]).split("@")[0]: e for e in _events(svc, _secret(_rotate(svc, pid).url))}
    assert set(events) == {booked, after, recent_cancel, past}
    assert str(events[booked]["STATUS"]) == "CONFIRMED"
    assert str(events[after]["STATUS"]) == "TENTATIVE"
    assert str(events[recent_cancel]["STATUS"]) == "CANCELLED"
    # Written in UTC; in Toronto both are at 10:00, on either side of the change.
    for aid, local in ((booked, before_dst), (after, after_dst)):
        start = events[aid]["DTSTART"].dt
        assert start.utcoffset() == dt.timedelta(0)
        assert start.astimezone(TORONTO) == local and start.astimezone(TORONTO).hour == 10
    assert events[booked]["DTSTART"].dt.hour == 14 and events[after]["DTSTART"].dt.hour == 15


def test_events_say_the_session_type_and_initials_or_nothing_about_the_client(
    svc: SchedulingServicer,
) -> None:
    pid, cid = _setup(svc)
    _appointment(svc, pid, cid, NOW + dt.timedelta(days=1))
    secret = _secret(_rotate(svc, pid).url)
    content, _ = svc.calendar_feed_content(secret, NOW)
    (event,) = icalendar.Calendar.from_ical(content).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Psychotherapy, 45 min (J.D.)"
    for word in CLIENT.split():
        assert word.encode() not in content
    name = f"psychologists/{pid}/calendarFeed"
    svc.UpdateCalendarFeed(
        ss.UpdateCalendarFeedRequest(
            calendar_feed=F(name=name, client_detail=F.CLIENT_DETAIL_NONE),
            update_mask=field_mask_pb2.FieldMask(paths=["client_detail"]),
        ),
        ctx(),
    )
    content, _ = svc.calendar_feed_content(secret, NOW)
    (event,) = icalendar.Calendar.from_ical(content).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Psychotherapy, 45 min"
    assert b"J.D." not in content


class Recording(Context):
    """A servicer context that keeps the initial metadata the handler sends."""

    def __init__(self, metadata: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(metadata)
        self.sent: list[tuple[str, str | bytes]] = []

    def send_initial_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self.sent.extend(metadata)

    def context(self) -> grpc.ServicerContext:
        return cast(grpc.ServicerContext, self)


def test_an_unchanged_feed_answers_not_modified_with_an_empty_body(svc: SchedulingServicer) -> None:
    pid, cid = _setup(svc)
    _appointment(svc, pid, cid, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    secret = _secret(_rotate(svc, pid).url)
    first = Recording()
    body = svc.GetCalendarFeedContent(ss.GetCalendarFeedContentRequest(secret=secret), first.context())
    headers = dict(first.sent)
    assert body.content_type.startswith("text/calendar") and body.data.startswith(b"BEGIN:VCALENDAR")
    assert headers["etag"] == feed.etag(body.data) and "x-phs-not-modified" not in headers
    again_call = Recording([("if-none-match", headers["etag"])])
    again = svc.GetCalendarFeedContent(ss.GetCalendarFeedContentRequest(secret=secret), again_call.context())
    assert dict(again_call.sent)["x-phs-not-modified"] == "1"
    assert again.data == b""
