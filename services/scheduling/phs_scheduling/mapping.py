"""Rows -> API resources (proto), and stored availability specs -> the domain's
slot rules. Resource names are formatted by phs_scheduling.names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.resources import to_timestamp
from phs_scheduling.domain.slots import (
    DEFAULT_ALIGNMENT,
    DEFAULT_HORIZON,
    DEFAULT_LATE_CANCEL,
    DEFAULT_MIN_NOTICE,
    Hours,
    Policy,
)

# -- rows -> resources ------------------------------------------------------------------


def etag_of(version: int) -> str:
    """An appointment's etag (AIP-154): its row version, weak."""
    return f'W/"{version}"'


State = r.Appointment.State
STATE_TO_DB = {
    State.STATE_PENDING: "PENDING",
    State.STATE_BOOKED: "BOOKED",
    State.STATE_DECLINED: "DECLINED",
    State.STATE_CANCELLED: "CANCELLED",
    State.STATE_COMPLETED: "COMPLETED",
    State.STATE_NO_SHOW: "NO_SHOW",
}


DB_TO_STATE = {v: k for k, v in STATE_TO_DB.items()}


def psychologist_pb(row: Any) -> r.Psychologist:
    return r.Psychologist(
        name=f"psychologists/{row.id}",
        display_name=row.display_name,
        time_zone=row.time_zone,
        active=row.active,
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )


def client_pb(row: Any) -> r.Client:
    return r.Client(
        name=f"clients/{row.id}",
        display_name=row.display_name,
        email=row.email,
        phone=row.phone,
        psychologist=f"psychologists/{row.psychologist_id}" if row.psychologist_id else "",
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )


# FHIR R4 Appointment.status for each state (one to one where FHIR has one;
# DECLINED is "cancelled" with the cancellation reason "declined").
FHIR_STATUS = {
    "PENDING": "pending",
    "BOOKED": "booked",
    "DECLINED": "cancelled",
    "CANCELLED": "cancelled",
    "COMPLETED": "fulfilled",
    "NO_SHOW": "noshow",
}


def appointment_pb(row: Any) -> r.Appointment:
    a = r.Appointment(
        name=f"psychologists/{row.psychologist_id}/appointments/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        start_time=to_timestamp(row.start_time),
        end_time=to_timestamp(row.end_time),
        state=DB_TO_STATE[row.state],
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_of(row.version),
        fhir_status=FHIR_STATUS[row.state],
    )
    if row.cancel_time is not None:
        a.cancellation.CopyFrom(
            r.Cancellation(
                reason=f"REASON_{row.cancel_reason}",
                cancelled_by=f"ACTOR_{row.cancelled_by}",
                late=bool(row.cancel_late),
                cancel_time=to_timestamp(row.cancel_time),
                explanation=row.cancel_explanation or "",
            )
        )
    if row.rescheduled_from_id:
        a.rescheduled_from = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_from_id}"
    if row.rescheduled_to_id:
        a.rescheduled_to = f"psychologists/{row.psychologist_id}/appointments/{row.rescheduled_to_id}"
    if row.series_id:
        a.series = f"psychologists/{row.psychologist_id}/series/{row.series_id}"
    if row.original_start_time is not None:
        a.original_start_time.CopyFrom(to_timestamp(row.original_start_time))
    return a


def _minutes_pb(minutes: int) -> Duration:
    return Duration(seconds=minutes * 60)


def session_type_pb(row: Any) -> r.SessionType:
    return r.SessionType(
        name=f"sessionTypes/{row.code}",
        display_name=row.display_name,
        duration=_minutes_pb(row.duration_minutes),
        buffer_before=_minutes_pb(row.buffer_before_minutes),
        buffer_after=_minutes_pb(row.buffer_after_minutes),
        client_bookable=row.client_bookable,
    )


_EPOCH = dt.datetime(1970, 1, 1)


def _set_time(ts: Timestamp, value: Any) -> None:
    """Fill a Timestamp from a raw column value: SQLite's UTC text or a datetime."""
    if isinstance(value, str):
        delta = dt.datetime.fromisoformat(value) - _EPOCH
    else:
        delta = value.astimezone(dt.UTC).replace(tzinfo=None) - _EPOCH
    ts.seconds = delta.days * 86400 + delta.seconds
    ts.nanos = delta.microseconds * 1000


def export_pb(row: Any) -> r.Appointment:
    """appointment_pb for raw export rows, built field by field: the export path
    turns a million rows into messages, and this is most of its cost."""
    parent = f"psychologists/{row.psychologist_id}"
    a = r.Appointment(
        name=f"{parent}/appointments/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        state=DB_TO_STATE[row.state],
        etag=etag_of(row.version),
        fhir_status=FHIR_STATUS[row.state],
    )
    _set_time(a.start_time, row.start_time)
    _set_time(a.end_time, row.end_time)
    _set_time(a.create_time, row.create_time)
    _set_time(a.update_time, row.update_time)
    if row.cancel_time is not None:
        c = a.cancellation
        c.reason = f"REASON_{row.cancel_reason}"  # type: ignore[assignment]
        c.cancelled_by = f"ACTOR_{row.cancelled_by}"  # type: ignore[assignment]
        c.late = bool(row.cancel_late)
        _set_time(c.cancel_time, row.cancel_time)
    if row.rescheduled_from_id:
        a.rescheduled_from = f"{parent}/appointments/{row.rescheduled_from_id}"
    if row.rescheduled_to_id:
        a.rescheduled_to = f"{parent}/appointments/{row.rescheduled_to_id}"
    if row.series_id:
        a.series = f"{parent}/series/{row.series_id}"
    if row.original_start_time is not None:
        _set_time(a.original_start_time, row.original_start_time)
    return a


def availability_pb(pid: str, spec: bytes, updated: dt.datetime | None) -> r.Availability:
    a = r.Availability.FromString(spec)
    a.name = f"psychologists/{pid}/availability"
    if updated is not None:
        a.update_time.CopyFrom(to_timestamp(updated))
    return a


def series_pb(row: Any, occurrences: Sequence[Any]) -> r.Series:
    x = r.Series(
        name=f"psychologists/{row.psychologist_id}/series/{row.id}",
        client=f"clients/{row.client_id}",
        session_type=f"sessionTypes/{row.session_type_code}",
        first_start_time=to_timestamp(row.first_start_time),
        interval_weeks=row.interval_weeks,
        occurrences=[f"psychologists/{o.psychologist_id}/appointments/{o.id}" for o in occurrences],
        create_time=to_timestamp(row.create_time),
    )
    if row.count is not None:
        x.count = row.count
    elif row.end_date is not None:
        x.end_date.year, x.end_date.month, x.end_date.day = (
            row.end_date.year,
            row.end_date.month,
            row.end_date.day,
        )
    return x


# -- availability spec -> slot rules ------------------------------------------------


def _minutes(t: Any) -> int:
    return int(t.hours) * 60 + int(t.minutes)


def _duration(msg: r.BookingPolicy, field_name: str, default: dt.timedelta) -> dt.timedelta:
    if not msg.HasField(field_name):
        return default
    return dt.timedelta(seconds=getattr(msg, field_name).seconds)


def policy_of(p: r.BookingPolicy) -> Policy:
    return Policy(
        min_notice=_duration(p, "minimum_notice", DEFAULT_MIN_NOTICE),
        horizon=_duration(p, "booking_horizon", DEFAULT_HORIZON),
        alignment=_duration(p, "slot_alignment", DEFAULT_ALIGNMENT),
        late_cancel=_duration(p, "late_cancel_window", DEFAULT_LATE_CANCEL),
    )


def hours_of(a: r.Availability) -> Hours:
    weekly: dict[int, list[tuple[int, int]]] = {}
    for w in a.weekly_hours:
        weekly.setdefault(int(w.day_of_week), []).append((_minutes(w.start_time), _minutes(w.end_time)))
    overrides: dict[dt.date, list[tuple[int, int]]] = {}
    for o in a.date_overrides:
        day = dt.date(o.date.year, o.date.month, o.date.day)
        overrides[day] = [(_minutes(i.start_time), _minutes(i.end_time)) for i in o.intervals]
    for v in (*weekly.values(), *overrides.values()):
        v.sort()
    return Hours(weekly, overrides)


def late_cancel_of(spec: bytes | None) -> dt.timedelta:
    """The late-cancel window of a stored availability (the policy default without one)."""
    return policy_of(r.Availability.FromString(spec or b"").booking_policy).late_cancel
