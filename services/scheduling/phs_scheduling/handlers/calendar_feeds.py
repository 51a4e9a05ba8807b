"""Calendar feeds: a psychologist makes, rotates and revokes a private address, and
calendar apps fetch it (GetCalendarFeedContent, open: the secret is the credential).

The secret appears in exactly one place: the `url` of the RotateCalendarFeed answer
that made it. It is not stored (its hash is), not in the AIP-155 record of that call
(a replay answers without it), not in a log line, an error message or the audit log:
a fetch's audit entry names the feed (psychologists/{id}/calendarFeed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.api import httpbody_pb2
from sqlalchemy import Row

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import audit
from phs_runtime.context import annotate
from phs_runtime.errors import ApiError, Violations, excerpt, resource_exhausted, unavailable
from phs_runtime.resources import to_timestamp, utcnow
from phs_scheduling import names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.domain import calendar_feed as feed
from phs_scheduling.domain.lifecycle import State
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import Handlers, request_id
from phs_scheduling.mapping import policy_of

PATH = "/v1/feeds/{secret}/calendar.ics"
CONTENT_TYPE = "text/calendar; charset=utf-8"
# Set on an answer whose content the caller has (If-None-Match): the gateway turns it
# into 304 Not Modified (services/gateway/filter.lua).
NOT_MODIFIED_HEADER = "x-phs-not-modified"
MASK_PATHS = ("client_detail",)

_DETAIL_PB = {
    feed.ClientDetail.INITIALS: r.CalendarFeed.CLIENT_DETAIL_INITIALS,
    feed.ClientDetail.NONE: r.CalendarFeed.CLIENT_DETAIL_NONE,
}


def _no_feed() -> ApiError:
    # The same answer for a malformed, unknown and revoked secret; never quoting it.
    return ApiError(grpc.StatusCode.NOT_FOUND, "no calendar feed has this address", "CALENDAR_FEED_NOT_FOUND")


def feed_pb(psychologist_id: str, row: Row[Any] | None) -> r.CalendarFeed:
    out = r.CalendarFeed(
        name=names.calendar_feed_name(psychologist_id),
        state=r.CalendarFeed.STATE_INACTIVE,
        client_detail=r.CalendarFeed.CLIENT_DETAIL_INITIALS,
    )
    if row is None:
        return out
    out.client_detail = _DETAIL_PB[feed.ClientDetail(row.client_detail)]
    out.update_time.CopyFrom(to_timestamp(row.update_time))
    if row.secret_hash is not None:
        out.state = r.CalendarFeed.STATE_ACTIVE
        out.rotate_time.CopyFrom(to_timestamp(row.rotate_time))
    return out


def feed_events(rows: Iterable[Row[Any]], detail: feed.ClientDetail, now: dt.datetime) -> list[feed.Event]:
    events = []
    summaries: dict[tuple[str, str], str] = {}
    for a in rows:
        status = feed.status_of(State(a.state), a.cancel_time or a.update_time, now)
        if status is None:
            continue
        key = (a.session_type_name, a.client_name)
        summary = summaries.get(key)
        if summary is None:
            summary = summaries[key] = feed.summary(a.session_type_name, a.client_name, detail)
        events.append(
            feed.Event(
                uid=f"{a.id}@scheduling.phs.health",
                start=a.start_time,
                end=a.end_time,
                changed=a.update_time,
                sequence=a.version,
                status=status,
                summary=summary,
            )
        )
    return events


def _metadata(context: grpc.ServicerContext, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("ascii", "replace")
    return ""


@aip193_handlers
class CalendarFeedHandlers(Handlers):
    # Set by configure_calendar_feeds (the process's settings); these are the defaults.
    feed_base_url = ""
    _feed_limiter: feed.RateLimiter | None = None

    def configure_calendar_feeds(self, base_url: str, per_minute: float, burst: int) -> None:
        """`base_url`: where the gateway is reached (empty: the address is a path)."""
        self.feed_base_url = base_url.rstrip("/")
        self._feed_limiter = feed.RateLimiter(per_minute, burst)

    @property
    def feed_limiter(self) -> feed.RateLimiter:
        if self._feed_limiter is None:
            self._feed_limiter = feed.RateLimiter(6.0, 10)
        return self._feed_limiter

    def feed_url(self, secret: str) -> str:
        return self.feed_base_url + PATH.format(secret=secret)

    # -- the psychologist's side ---------------------------------------------------------------

    def GetCalendarFeed(
        self, request: s.GetCalendarFeedRequest, context: grpc.ServicerContext
    ) -> r.CalendarFeed:
        pid = names.CALENDAR_FEED.require("name", request.name).psychologist_id
        with self.store.read() as uow:
            uow.psychologists.require(pid)
            return feed_pb(pid, uow.calendar_feeds.get(pid))

    def UpdateCalendarFeed(
        self, request: s.UpdateCalendarFeedRequest, context: grpc.ServicerContext
    ) -> r.CalendarFeed:
        rid = request_id(request, context)
        pid = names.CALENDAR_FEED.require("calendar_feed.name", request.calendar_feed.name).psychologist_id
        paths = tuple(request.update_mask.paths) or MASK_PATHS
        v = Violations()
        for path in paths:
            if path not in MASK_PATHS:
                v.add("update_mask", f'"{excerpt(path)}" is not one of {", ".join(MASK_PATHS)}')
        v.raise_if_any()
        wanted = request.calendar_feed.client_detail
        detail = (
            feed.ClientDetail.NONE
            if wanted == r.CalendarFeed.CLIENT_DETAIL_NONE
            else feed.ClientDetail.INITIALS
        )

        def write(uow: UnitOfWork, now: dt.datetime) -> r.CalendarFeed:
            uow.psychologists.require(pid)
            return feed_pb(pid, uow.calendar_feeds.save(pid, now, client_detail=detail.value))

        updated = self.write_once("UpdateCalendarFeed", rid, request, r.CalendarFeed, write)
        annotate(event="resource updated", resource=updated.name, fields=list(paths))
        return updated

    def RotateCalendarFeed(
        self, request: s.RotateCalendarFeedRequest, context: grpc.ServicerContext
    ) -> r.CalendarFeed:
        rid = request_id(request, context)
        pid = names.CALENDAR_FEED.require("name", request.name).psychologist_id
        made: list[tuple[str, dt.datetime]] = []

        def write(uow: UnitOfWork, now: dt.datetime) -> r.CalendarFeed:
            uow.psychologists.require(pid)
            secret = feed.new_secret()
            made.append((secret, now))
            saved = uow.calendar_feeds.save(pid, now, secret_hash=feed.secret_hash(secret), rotate_time=now)
            return feed_pb(pid, saved)

        # What is recorded for a replay has no address; this answer gets it only when
        # this call's own secret is the one that was committed.
        rotated = self.write_once("RotateCalendarFeed", rid, request, r.CalendarFeed, write)
        if made and rotated.rotate_time == to_timestamp(made[-1][1]):
            rotated.url = self.feed_url(made[-1][0])
        annotate(event="calendar feed rotated", resource=rotated.name)
        return rotated

    def RevokeCalendarFeed(
        self, request: s.RevokeCalendarFeedRequest, context: grpc.ServicerContext
    ) -> r.CalendarFeed:
        rid = request_id(request, context)
        pid = names.CALENDAR_FEED.require("name", request.name).psychologist_id

        def write(uow: UnitOfWork, now: dt.datetime) -> r.CalendarFeed:
            uow.psychologists.require(pid)
            return feed_pb(pid, uow.calendar_feeds.save(pid, now, secret_hash=None, rotate_time=None))

        revoked = self.write_once("RevokeCalendarFeed", rid, request, r.CalendarFeed, write)
        annotate(event="calendar feed revoked", resource=revoked.name)
        return revoked

    # -- the calendar app's side ---------------------------------------------------------------

    def GetCalendarFeedContent(
        self, request: s.GetCalendarFeedContentRequest, context: grpc.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        content, pid = self.calendar_feed_content(request.secret, utcnow())
        self._audit_fetch(names.calendar_feed_name(pid))
        tag = feed.etag(content)
        headers = [("etag", tag), ("cache-control", "private, no-cache")]
        unchanged = feed.matches(_metadata(context, "if-none-match"), tag)
        if unchanged:
            headers.append((NOT_MODIFIED_HEADER, "1"))
        context.send_initial_metadata(tuple(headers))
        if unchanged:
            return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE)
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=content)

    def calendar_feed_content(self, secret: str, now: dt.datetime) -> tuple[bytes, str]:
        """The feed's text for `secret` at `now`, and whose feed it is."""
        if not feed.well_formed(secret):
            raise _no_feed()
        given = feed.secret_hash(secret)
        with self.store.read() as uow:
            row = uow.calendar_feeds.find(given)
            if row is None or row.secret_hash is None or not feed.same_hash(row.secret_hash, given):
                raise _no_feed()
            pid = str(row.psychologist_id)
            wait = self.feed_limiter.allow(pid)
            if wait:
                raise resource_exhausted(
                    "CALENDAR_FEED_RATE_LIMITED",
                    f"this calendar feed was fetched too often; retry in {int(wait) + 1} s",
                )
            spec = uow.availability.spec(pid) or b""
            horizon = policy_of(r.Availability.FromString(spec).booking_policy).horizon
            start, end = feed.window(now, horizon)
            rows: Sequence[Row[Any]] = uow.calendar_feeds.appointments(pid, start, end)
        events = feed_events(rows, feed.ClientDetail(row.client_detail), now)
        return feed.render("Appointments", events).encode("utf-8"), pid

    @staticmethod
    def _audit_fetch(feed_name: str) -> None:
        """The fetch's audit entry names the feed (its request field is the secret)."""
        pending = audit.current()
        if pending is None or pending.written:
            return
        entry = dataclasses.replace(
            pending.entry,
            code=grpc.StatusCode.OK,
            entities=[feed_name],
            record_time=dt.datetime.now(dt.UTC),
        )
        try:
            pending.log.record(entry)
        except Exception:  # noqa: BLE001 - as the pipeline's own entries: nothing passes unaudited
            raise unavailable("AUDIT_UNAVAILABLE", "the audit log cannot be written; retry") from None
        audit.committed(pending)
