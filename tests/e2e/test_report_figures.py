"""Report figures against an independent computation (SQL over the scheduling
database) on a seeded practice: a year across DST changes in four zones,
weekly and fortnightly series, late cancels, no-shows, and series exceptions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from phs_devstack import Ports, Stack
from phs_scheduling.seed import seed
from phs_scheduling.store import Store
from phs_scheduling.tables import appointments
from tests.helpers import eventually, rest, rfc3339

pytestmark = pytest.mark.clock  # see tests/clock/faketime.py


def _evening(stack: Stack, appointment: dict[str, Any], hour: int) -> dt.datetime:
    """`hour`:00 on the appointment's own day in its psychologist's zone. The seed books
    09:00-18:00 local only, so the evening is free whatever the date: a move by a day or
    an hour could land on another client's series, depending on today's weekday."""
    psychologist = appointment["name"].split("/appointments/")[0]
    zone = ZoneInfo(rest(stack.rest_url, "GET", f"/v1/{psychologist}").body["timeZone"])
    day = dt.datetime.fromisoformat(appointment["startTime"]).astimezone(zone)
    return day.replace(hour=hour, minute=0)


def test_practice_summary_matches_an_independent_count(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    store = Store.open(str(stack.scheduling_db))
    seed(store, clients_per_psychologist=5)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=300), now + dt.timedelta(days=60)
    try:
        stack.start()
        # Series exceptions: move two future occurrences to the evening of their day.
        upcoming = rest(
            stack.rest_url,
            "GET",
            f"/v1/psychologists/-/appointments?states=STATE_BOOKED"
            f"&startTime={rfc3339(now + dt.timedelta(days=3))}&pageSize=2",
        ).body["appointments"]
        assert len(upcoming) == 2, upcoming
        for k, a in enumerate(upcoming):
            moved = rest(
                stack.rest_url,
                "POST",
                f"/v1/{a['name']}:reschedule",
                {"startTime": rfc3339(_evening(stack, a, 19 + 2 * k)), "rescheduledBy": "ACTOR_STAFF"},
            )
            assert moved.status == 200 and moved.body["series"] == a["series"], moved.body
        body = {"practiceSummaryParams": {"interval": {"startTime": rfc3339(start), "endTime": rfc3339(end)}}}
        created = rest(stack.rest_url, "POST", "/v1/reports", body)

        def final() -> dict[str, object] | None:
            r = rest(stack.rest_url, "GET", f"/v1/{created.body['name']}").body
            return r if r["state"] in ("STATE_SUCCEEDED", "STATE_FAILED") else None

        report = eventually(final, 60, 0.2, what="summary done")
        assert report["state"] == "STATE_SUCCEEDED", report

        # The independent count, straight from the database.
        a = appointments.c
        expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        clients: dict[str, set[str]] = defaultdict(set)
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    a.psychologist_id, a.state, a.start_time, a.end_time, a.client_id, a.cancel_late
                ).where(a.start_time >= start, a.start_time < end)
            ).all()
        for pid, state, s, e, cid, late in rows:
            x = expected[f"psychologists/{pid}"]
            x["total"] += 1
            x[state] += 1
            x["late"] += 1 if state == "CANCELLED" and late else 0
            if state in ("BOOKED", "COMPLETED"):
                x["minutes"] += int((e - s).total_seconds()) // 60
            if state in ("PENDING", "BOOKED", "COMPLETED"):
                clients[f"psychologists/{pid}"].add(cid)
        got = {p["psychologist"]: p for p in report["practiceSummary"]["psychologists"]}  # type: ignore[index]
        assert set(got) == set(expected) and len(got) == 4
        for name, x in expected.items():
            g = got[name]
            assert int(g["appointmentsTotal"]) == x["total"]
            for state, field in (
                ("COMPLETED", "completed"),
                ("CANCELLED", "cancelled"),
                ("NO_SHOW", "noShow"),
                ("BOOKED", "booked"),
                ("PENDING", "pending"),
            ):
                assert int(g.get(field, 0)) == x[state], (name, state)
            assert int(g["lateCancelled"]) == x["late"] > 0
            assert int(g["scheduledMinutes"]) == x["minutes"]
            assert int(g["distinctClients"]) == len(clients[name])
        assert int(report["practiceSummary"]["total"]["appointmentsTotal"]) == len(rows)  # type: ignore[index]
    finally:
        stack.stop()
        store.close()
