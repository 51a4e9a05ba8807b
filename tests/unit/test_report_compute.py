"""Caseload figures against an independent count over generated appointments."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from google.type import interval_pb2

from phs.scheduling.v1 import resources_pb2 as sr
from phs_reports.compute import caseload

S = sr.Appointment.State


def test_caseload_matches_an_independent_count() -> None:
    rng = random.Random(7)
    appointments = []
    for i in range(500):
        a = sr.Appointment(client=f"clients/c{rng.randrange(40)}")
        a.state = rng.choice(
            [
                S.STATE_PENDING,
                S.STATE_BOOKED,
                S.STATE_DECLINED,
                S.STATE_CANCELLED,
                S.STATE_COMPLETED,
                S.STATE_NO_SHOW,
            ]
        )
        a.start_time.seconds = 1_900_000_000 + i * 7200
        a.end_time.seconds = a.start_time.seconds + rng.choice([30, 45, 60]) * 60
        if a.state == S.STATE_CANCELLED:
            a.cancellation.late = rng.random() < 0.3
        appointments.append(a)
    interval = interval_pb2.Interval()
    interval.start_time.seconds = 1_900_000_000
    interval.end_time.seconds = 1_900_000_000 + 500 * 7200
    zone = ZoneInfo("Europe/Paris")
    out = caseload(iter(appointments), "psychologists/x", (interval, zone))

    def count(state: int) -> int:
        return sum(1 for a in appointments if a.state == state)

    assert out.appointments_total == 500
    assert (out.pending, out.booked, out.completed) == (
        count(S.STATE_PENDING),
        count(S.STATE_BOOKED),
        count(S.STATE_COMPLETED),
    )
    assert (out.cancelled, out.declined, out.no_show) == (
        count(S.STATE_CANCELLED),
        count(S.STATE_DECLINED),
        count(S.STATE_NO_SHOW),
    )
    assert out.late_cancelled == sum(
        1 for a in appointments if a.state == S.STATE_CANCELLED and a.cancellation.late
    )
    delivered = [a for a in appointments if a.state in (S.STATE_BOOKED, S.STATE_COMPLETED)]
    assert out.scheduled_minutes == sum((a.end_time.seconds - a.start_time.seconds) // 60 for a in delivered)
    seen = {a.client for a in appointments if a.state in (S.STATE_PENDING, S.STATE_BOOKED, S.STATE_COMPLETED)}
    assert out.distinct_clients == len(seen)
    # Per week: each appointment once, in the week of its Paris start date, no week skipped.
    weeks: dict[dt.date, int] = {}
    for a in appointments:
        day = a.start_time.ToDatetime(dt.UTC).astimezone(zone).date()
        monday = day - dt.timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0) + 1
    got = {
        dt.date(w.week_start.year, w.week_start.month, w.week_start.day): sum(
            (w.pending, w.booked, w.completed, w.cancelled, w.declined, w.no_show)
        )
        for w in out.by_week
    }
    assert got == weeks
