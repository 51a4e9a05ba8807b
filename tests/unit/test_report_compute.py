"""Caseload figures against an independent count over generated appointments."""

from __future__ import annotations

import random

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
    out = caseload(iter(appointments), "psychologists/x")

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
