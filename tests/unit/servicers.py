"""The services' servicers built in-process on a throwaway SQLite database, called
directly: their handlers' own checks (validation, the appointment lifecycle, report
jobs) without a server, Envoy or a token. The pipeline in front of them (errors become
statuses, the guard sets the principal and scope) has its own tests (test_pipeline*),
and the wiring is tested end to end (tests/e2e). This is the one place that constructs
the servicers: a change to their constructors is made here."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from google.type import dayofweek_pb2, timeofday_pb2

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_notifications.adapters.store import Store as NotificationsStore
from phs_notifications.adapters.tables import audit_events as notifications_audit
from phs_notifications.handlers.api import NotificationServicer
from phs_reports.api import ReportServicer
from phs_reports.store import Store as ReportsStore
from phs_runtime.audit import AuditLog
from phs_runtime.auth import Principal, reset_principal, set_principal
from phs_runtime.decision import UNSCOPED, Decision, Scope, reset_decision, set_decision
from phs_runtime.errors import ApiError, api_error
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.store import Store as SchedulingStore
from phs_scheduling.tables import audit_events as scheduling_audit

REPORT_JOBS_TOPIC = "phs.reports.jobs.v1"


@contextlib.contextmanager
def scheduling_servicer(directory: Path) -> Iterator[SchedulingServicer]:
    store = SchedulingStore.open(f"sqlite:///{directory / 'scheduling.db'}")
    audit_log = AuditLog(store.engine, scheduling_audit, "scheduling")
    try:
        yield SchedulingServicer(store, audit_log=audit_log)
    finally:
        audit_log.close()
        store.close()


@contextlib.contextmanager
def report_servicer(directory: Path) -> Iterator[ReportServicer]:
    store = ReportsStore.open(f"sqlite:///{directory / 'reports.db'}")
    servicer = ReportServicer(store, REPORT_JOBS_TOPIC)
    try:
        yield servicer
    finally:
        servicer.audit_log.close()
        store.close()


@contextlib.contextmanager
def notification_servicer(directory: Path, offsets: Sequence[dt.timedelta]) -> Iterator[NotificationServicer]:
    store = NotificationsStore.open(f"sqlite:///{directory / 'notifications.db'}")
    audit_log = AuditLog(store.engine, notifications_audit, "notifications")
    try:
        yield NotificationServicer(store, audit_log, offsets)
    finally:
        audit_log.close()
        store.close()


class Context:
    """What the handlers read of grpc.ServicerContext: the request's metadata (an
    Idempotency-Key sent through Envoy arrives there) and, for streams, is_active."""

    def __init__(self, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.metadata = tuple(metadata)
        self.callbacks: list[Any] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def is_active(self) -> bool:
        return True

    def add_callback(self, callback: Any) -> bool:
        self.callbacks.append(callback)
        return True

    def time_remaining(self) -> float | None:
        return None


def ctx(metadata: Sequence[tuple[str, str]] = ()) -> grpc.ServicerContext:
    return cast(grpc.ServicerContext, Context(metadata))


@contextlib.contextmanager
def acting_as(subject: str, role: str, scope: Scope = UNSCOPED) -> Iterator[None]:
    """What the guard sets for an admitted call: who calls, and what they are limited to."""
    principal = Principal(subject, role)
    p, d = set_principal(principal), set_decision(Decision(principal, scope))
    try:
        yield
    finally:
        reset_decision(d)
        reset_principal(p)


def refused(call: Callable[[], object], code: grpc.StatusCode) -> ApiError:
    """The error `call` ends its RPC with, as the pipeline's errors step maps it (an
    ApiError, or a refusal raised below gRPC with a status of its own)."""
    try:
        call()
    except Exception as exc:
        err = api_error(exc)
        if err is None:
            raise
    else:
        raise AssertionError(f"not refused: expected {code.name}")
    assert err.code == code, (err.code, err.reason, err.message)
    return err


def fields(err: ApiError) -> set[str]:
    """The fields a refusal's BadRequest names."""
    for detail in err.to_status().details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field for v in bad.field_violations}
    return set()


def resource(err: ApiError) -> str:
    """The resource name a NOT_FOUND's ResourceInfo names."""
    for detail in err.to_status().details:
        info = error_details_pb2.ResourceInfo()
        if detail.Unpack(info):
            return str(info.resource_name)
    return ""


def open_around_the_clock(svc: SchedulingServicer, psychologist: str) -> None:
    """Every day 00:00-24:00, no notice, a year ahead: bookings meet only conflicts."""
    days = [d for d in dayofweek_pb2.DayOfWeek.values() if d != dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED]
    availability = sr.Availability(
        name=f"{psychologist}/availability",
        weekly_hours=[
            sr.WeeklyInterval(
                day_of_week=d,
                start_time=timeofday_pb2.TimeOfDay(),
                end_time=timeofday_pb2.TimeOfDay(hours=24),
            )
            for d in days
        ],
        booking_policy=sr.BookingPolicy(
            minimum_notice=duration_pb2.Duration(seconds=0),
            booking_horizon=duration_pb2.Duration(seconds=365 * 86400),
        ),
    )
    svc.UpdateAvailability(ss.UpdateAvailabilityRequest(availability=availability), ctx())
