"""Appointment events from Kafka (phs.scheduling.v1.AppointmentEvent) as domain values."""

from __future__ import annotations

import datetime as dt

from phs.scheduling.v1 import events_pb2 as ev
from phs_notifications.adapters.scheduling import appointment_of
from phs_notifications.domain.model import Change, Event

_CHANGES = {
    ev.AppointmentEvent.TYPE_CREATED: Change.CREATED,
    ev.AppointmentEvent.TYPE_APPROVED: Change.APPROVED,
    ev.AppointmentEvent.TYPE_DECLINED: Change.DECLINED,
    ev.AppointmentEvent.TYPE_CANCELLED: Change.CANCELLED,
    ev.AppointmentEvent.TYPE_RESCHEDULED: Change.RESCHEDULED,
    ev.AppointmentEvent.TYPE_COMPLETED: Change.COMPLETED,
    ev.AppointmentEvent.TYPE_NO_SHOW: Change.NO_SHOW,
}


class MalformedEvent(ValueError):
    """Not an appointment event this service can read."""


def decode(value: bytes) -> Event:
    try:
        pb = ev.AppointmentEvent.FromString(value)
    except Exception as exc:
        raise MalformedEvent("undecodable") from exc
    change = _CHANGES.get(pb.type)
    if change is None or not pb.event_id or not pb.appointment.name:
        raise MalformedEvent("incomplete")
    if change is Change.RESCHEDULED and not pb.replacement.name:
        raise MalformedEvent("a move without its replacement")
    return Event(
        event_id=pb.event_id,
        change=change,
        appointment=appointment_of(pb.appointment),
        replacement=appointment_of(pb.replacement) if pb.HasField("replacement") else None,
        time=pb.event_time.ToDatetime(tzinfo=dt.UTC)
        if pb.HasField("event_time")
        else dt.datetime.now(dt.UTC),
    )
