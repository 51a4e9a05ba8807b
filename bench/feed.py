"""Calendar feed latency: a calendar app's GET of a psychologist's feed through Envoy
(no token), with a year of appointments in it (30 days back, a 335-day booking
horizon ahead, eight sessions each weekday), full answers and 304s, on SQLite (the
embedded default) or PostgreSQL.

    python -m bench.feed [--calls 100] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert

from bench.common import fresh_database, summary
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack, wait_serving
from phs_runtime.auth import StaticToken
from phs_runtime.interceptors import client_channel
from phs_runtime.resources import utcnow
from phs_scheduling.store import Store
from phs_scheduling.tables import appointments, availability, clients, psychologists

HORIZON_DAYS = 335
CLIENTS = 40


def build_practice(url: str) -> tuple[str, int]:
    """One psychologist with eight 45-minute sessions each weekday over the year the
    feed shows, among 40 clients; a tenth of them cancelled a week before."""
    Store.open(url).close()  # migrations
    engine = create_engine(url)
    now = utcnow()
    pid = str(uuid.uuid4())
    policy = r.Availability()
    policy.booking_policy.booking_horizon.seconds = HORIZON_DAYS * 86400
    rows = []
    client_ids = [str(uuid.uuid4()) for _ in range(CLIENTS)]
    day0 = (now - dt.timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    k = 0
    for d in range(30 + HORIZON_DAYS):
        day = day0 + dt.timedelta(days=d)
        if day.isoweekday() > 5:
            continue
        for h in range(13, 21):
            start = day + dt.timedelta(hours=h)
            end = start + dt.timedelta(minutes=45)
            cancelled = k % 10 == 0
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "psychologist_id": pid,
                    "client_id": client_ids[k % CLIENTS],
                    "session_type_code": "90834",
                    "start_time": start,
                    "end_time": end,
                    "block_start": start,
                    "block_end": end + dt.timedelta(minutes=15),
                    "state": "CANCELLED" if cancelled else ("COMPLETED" if start < now else "BOOKED"),
                    "version": 2 if cancelled else 1,
                    "create_time": start - dt.timedelta(days=60),
                    "update_time": start - dt.timedelta(days=7 if cancelled else 60),
                    "cancel_time": start - dt.timedelta(days=7) if cancelled else None,
                }
            )
            k += 1
    with engine.begin() as conn:
        conn.execute(
            insert(psychologists),
            {
                "id": pid,
                "display_name": "Dr Bench",
                "time_zone": "America/Toronto",
                "active": True,
                "create_time": now,
                "update_time": now,
            },
        )
        conn.execute(
            insert(availability),
            {"psychologist_id": pid, "spec": policy.SerializeToString(), "version": 1, "update_time": now},
        )
        conn.execute(
            insert(clients),
            [
                {
                    "id": cid,
                    "display_name": f"Bench Client {n}",
                    "psychologist_id": pid,
                    "create_time": now,
                    "update_time": now,
                }
                for n, cid in enumerate(client_ids)
            ],
        )
        conn.execute(insert(appointments), rows)
    engine.dispose()
    return f"psychologists/{pid}", len(rows)


def fetch(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], int]:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    size = len(resp.read())
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument(
        "--postgres",
        help="a PostgreSQL server URL: the run creates and drops its own database there (default: SQLite)",
    )
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(ns.postgres) as pg_url:
        # The per-feed rate limit is what a calendar app meets; the bench measures the work.
        limits = {"PHS_CALENDAR_FEED_BURST": str(10 * ns.calls), "PHS_CALENDAR_FEED_PER_MINUTE": "6000"}
        stack = Stack(root=Path(tmp), ports=Ports.free(), scheduling_db=pg_url, extra_env=limits)
        psych, n = build_practice(str(stack.scheduling_db))
        try:
            stack.start_scheduling()
            wait_serving(stack.scheduling_target, "phs.scheduling.v1.SchedulingService", 60)
            stack.start_envoy()
            token = StaticToken(stack.token(psych, "psychologist"))
            with client_channel(stack.scheduling_target, tokens=token) as ch:
                made = ss_grpc.SchedulingServiceStub(ch).RotateCalendarFeed(
                    ss.RotateCalendarFeedRequest(name=f"{psych}/calendarFeed")
                )
            path = made.url.removeprefix(stack.rest_url)
            conn = http.client.HTTPConnection("127.0.0.1", stack.ports.rest, timeout=30)
            status, headers, size = fetch(conn, path, {})  # warm-up
            assert status == 200, status
            etag = headers["etag"]
            full, unchanged = [], []
            for _ in range(ns.calls):
                t0 = time.perf_counter()
                assert fetch(conn, path, {})[0] == 200
                full.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                assert fetch(conn, path, {"if-none-match": etag})[0] == 304
                unchanged.append(time.perf_counter() - t0)
            conn.close()
        finally:
            stack.stop()
    db = "PostgreSQL" if ns.postgres else "SQLite"
    print(f"Calendar feed through Envoy, a year of appointments ({n} events, {size // 1024} KiB, {db}):")
    print(f"  200 with the calendar: {summary(full)}")
    print(f"  304 (If-None-Match):   {summary(unchanged)}")


if __name__ == "__main__":
    main()
