"""Slot search latency: FindSlots over a 90-day window, over gRPC, for a
psychologist with two years of history and 40 weekly series (about 4,700
appointments), on SQLite (the embedded default) or PostgreSQL.

    python -m bench.slot_search [--calls 200] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import fresh_database, summary
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack, wait_serving
from phs_runtime.auth import StaticToken
from phs_runtime.interceptors import client_channel
from phs_runtime.resources import new_id, to_timestamp, utcnow
from phs_scheduling.availability import series_starts
from phs_scheduling.store import Store

TZ = ZoneInfo("America/Toronto")


def build_practice(url: str) -> tuple[str, int]:
    """One psychologist: Mon-Fri 08-18, 40 weekly series from two years ago to 100 days ahead."""
    store = Store.open(url)
    now = utcnow()
    a = r.Availability()
    for day in range(1, 6):
        a.weekly_hours.add(day_of_week=day, start_time={"hours": 8}, end_time={"hours": 18})
    a.booking_policy.minimum_notice.seconds = 0
    a.booking_policy.booking_horizon.seconds = 365 * 86400
    total = 0
    with store.unit_of_work() as uow:
        p = uow.psychologists.add(now, "Dr Bench", "America/Toronto", True)
        uow.availability.put(now, p["id"], a.SerializeToString())
        today = now.astimezone(TZ).date()
        slots = [(d, h) for d in range(1, 6) for h in range(8, 18)][:40]
        for d, h in slots:
            c = uow.clients.add(now, "Bench Client", "", "", p["id"])
            first_day = today - dt.timedelta(weeks=104, days=today.isoweekday() - d)
            first = dt.datetime(first_day.year, first_day.month, first_day.day, h, tzinfo=TZ)
            starts = series_starts(first.astimezone(dt.UTC), TZ, 1, 104, None)
            starts += series_starts(starts[-1] + dt.timedelta(weeks=1), TZ, 1, 15, None)
            sid = new_id()
            uow.series.add(
                {
                    "id": sid,
                    "psychologist_id": p["id"],
                    "client_id": c["id"],
                    "session_type_code": "90834",
                    "first_start_time": starts[0],
                    "interval_weeks": 1,
                    "count": len(starts),
                    "end_date": None,
                    "create_time": now,
                }
            )
            for s in starts:
                state = "COMPLETED" if s < now else "BOOKED"
                uow.appointments.add(now, p["id"], c["id"], "90834", s, state, series_id=sid)
            total += len(starts)
    store.close()
    return f"psychologists/{p['id']}", total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument(
        "--postgres",
        help="a PostgreSQL server URL: the run creates and drops its own database there (default: SQLite)",
    )
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(ns.postgres) as pg_url:
        stack = Stack(root=Path(tmp), ports=Ports.free(), scheduling_db=pg_url)
        psych, n = build_practice(str(stack.scheduling_db))
        try:
            stack.start_scheduling()
            wait_serving(stack.scheduling_target, "phs.scheduling.v1.SchedulingService", 60)
            # As a client would search (the psychologist's directory is open to clients).
            token = StaticToken(stack.token("clients/bench", "client"))
            with client_channel(stack.scheduling_target, tokens=token) as ch:
                stub = ss_grpc.SchedulingServiceStub(ch)
                start = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
                req = ss.FindSlotsRequest(
                    psychologist=psych,
                    session_type="sessionTypes/90834",
                    start_time=to_timestamp(start),
                    end_time=to_timestamp(start + dt.timedelta(days=90)),
                )
                offered = len(stub.FindSlots(req).slots)  # warm-up
                times = []
                for _ in range(ns.calls):
                    t0 = time.perf_counter()
                    stub.FindSlots(req)
                    times.append(time.perf_counter() - t0)
        finally:
            stack.stop()
    db = "PostgreSQL" if ns.postgres else "SQLite"
    print(
        f"FindSlots, 90-day window, {n} appointments / 40 weekly series ({db}, {offered} slots offered): "
        f"{summary(times)}"
    )


if __name__ == "__main__":
    main()
