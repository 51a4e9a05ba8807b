"""Booking throughput through Envoy: N concurrent keep-alive clients POST
appointments (each on its own psychologist, every request a real insert with the
overlap check) for a fixed time, then print requests/s, latency percentiles and
the CPU each process spent per booking.

    python -m bench.rest_booking [--clients 16] [--seconds 15] [--postgres URL]

The clients are closed-loop (each waits for its answer before the next request)
and run in one asyncio process (bench/loadgen.py) that shares the machine's
cores with the stack, as a real test here must.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from bench import loadgen
from bench.common import Client, fresh_database, summary
from phs_devstack import Ports, Stack


def _rfc3339(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _bookings(psych: str, client: str) -> loadgen.MakeBody:
    """The i-th booking of one psychologist: hourly slots from tomorrow on."""
    base = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    path = f"/v1/{psych}/appointments"

    def make(i: int) -> tuple[str, bytes]:
        body = {
            "client": client,
            "sessionType": "sessionTypes/90834",
            "startTime": _rfc3339(base + dt.timedelta(hours=i)),
        }
        return path, json.dumps(body).encode()

    return make


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument(
        "--postgres",
        help="a PostgreSQL server URL: the run creates and drops its own database there "
        "(default: SQLite, the embedded default)",
    )
    ap.add_argument(
        "--processes",
        type=int,
        default=2,
        help="scheduling processes behind Envoy (default 2: one Python process is GIL-bound to one core)",
    )
    ap.add_argument(
        "--no-kafka",
        action="store_true",
        help="leave the broker out (appointment events then wait in the outbox)",
    )
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(ns.postgres) as pg_url:
        stack = Stack(
            root=Path(tmp),
            ports=Ports.free(),
            scheduling_db=pg_url,
            scheduling_processes=ns.processes,
        )
        try:
            if not ns.no_kafka:  # every booking's event is relayed to the broker, as in production
                stack.start_kafka()
            stack.start_scheduling()
            stack.wait_scheduling()
            # Only scheduling is measured; the gateway's reports route is unused here.
            stack.start_envoy()
            setup = Client("127.0.0.1", stack.ports.rest, stack.token("staff/bench", "admin"))
            clients = []
            for k in range(ns.clients):
                _, p = setup.call("POST", "/v1/psychologists", {"displayName": f"Dr {k}", "timeZone": "UTC"})
                _, c = setup.call("POST", "/v1/clients", {"displayName": f"Client {k}"})
                # The psychologist books into their own agenda.
                clients.append((stack.token(p["name"], "psychologist"), _bookings(p["name"], c["name"])))
            setup.close()
            pids = {name: proc.popen.pid for name, proc in stack.procs.items()}
            pids["load generator"] = os.getpid()
            before = {name: loadgen.cpu_seconds(pid) for name, pid in pids.items()}
            # PostgreSQL's backends are not ours to start, but their CPU is part of a booking.
            pg_before = loadgen.postgres_cpu_seconds() if ns.postgres else 0.0
            result, elapsed = loadgen.run(stack.ports.rest, clients, ns.seconds)
            cpu = {name: loadgen.cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            if ns.postgres:
                cpu["postgres"] = loadgen.postgres_cpu_seconds() - pg_before
        finally:
            stack.stop()
    n = len(result.latencies)
    db = "PostgreSQL" if ns.postgres else "SQLite"
    broker = "no broker" if ns.no_kafka else "events to Kafka"
    print(
        f"REST booking via Envoy ({db}, {broker}, {ns.processes} scheduling process(es), "
        f"{ns.clients} clients, {elapsed:.1f} s): {n / elapsed:.0f} req/s, {summary(result.latencies)}, "
        f"errors {result.errors}/{n}"
    )
    per_call = ", ".join(f"{name} {secs / max(n, 1) * 1000:.2f} ms" for name, secs in sorted(cpu.items()))
    print(f"  CPU per booking: {per_call}; machine {sum(cpu.values()) / elapsed * 100:.0f}% of one core")
    for status, body in result.samples:
        print(f"  e.g. HTTP {status}: {body.decode(errors='replace')}")


if __name__ == "__main__":
    main()
