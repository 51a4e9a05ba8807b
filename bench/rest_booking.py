"""Booking throughput through Envoy: N concurrent keep-alive clients POST
appointments (each on its own psychologist, every request a real insert with the
overlap check) for a fixed time, then print requests/s and latency percentiles.

    python -m bench.rest_booking [--clients 16] [--seconds 15] [--postgres URL]

Load generators run as separate processes so the client's GIL does not cap the
figure; they share the machine's 2 cores with the stack, as a real test here must.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Client, summary
from phs_devstack import Ports, Stack, free_port, wait_serving


def _rfc3339(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _load(port: int, token: str, psych: str, client: str, deadline: float, out: Any) -> None:
    c = Client("127.0.0.1", port, token)  # the psychologist books into their own agenda
    base = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    latencies: list[float] = []
    errors = 0
    i = 0
    while time.time() < deadline:
        body = {
            "client": client,
            "sessionType": "sessionTypes/90834",
            "startTime": _rfc3339(base + dt.timedelta(hours=i)),
        }
        i += 1
        t0 = time.perf_counter()
        status, _ = c.call("POST", f"/v1/{psych}/appointments", body)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            errors += 1
    c.close()
    out.put((latencies, errors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--postgres", help="scheduling database URL (default: SQLite, the embedded default)")
    ap.add_argument("--processes", type=int, default=1, help="scheduling processes sharing the port")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(root=Path(tmp), ports=Ports.free(), scheduling_db=ns.postgres)
        try:
            if ns.processes > 1:
                stack.extra_env = {"PHS_GRPC_REUSE_PORT": "true"}
            stack.start_scheduling()
            for k in range(1, ns.processes):  # more processes on the same gRPC port
                env = stack.service_env(
                    "scheduling", stack.ports.scheduling, free_port(), stack.scheduling_db
                )
                stack.spawn(f"scheduling-{k}", [sys.executable, "-m", "phs_scheduling"], env)
            wait_serving(stack.scheduling_target, "phs.scheduling.v1.SchedulingService", 60)
            # Only scheduling is measured; the gateway's reports route is unused here.
            stack.start_envoy()
            setup = Client("127.0.0.1", stack.ports.rest, stack.token("staff/bench", "admin"))
            pairs = []
            for k in range(ns.clients):
                _, p = setup.call("POST", "/v1/psychologists", {"displayName": f"Dr {k}", "timeZone": "UTC"})
                _, c = setup.call("POST", "/v1/clients", {"displayName": f"Client {k}"})
                pairs.append((p["name"], c["name"]))
            setup.close()
            q: Any = mp.Queue()
            deadline = time.time() + ns.seconds
            procs = [
                mp.Process(
                    target=_load, args=(stack.ports.rest, stack.token(p, "psychologist"), p, c, deadline, q)
                )
                for p, c in pairs
            ]
            started = time.perf_counter()
            for pr in procs:
                pr.start()
            results = [q.get() for _ in procs]
            elapsed = time.perf_counter() - started
            for pr in procs:
                pr.join()
        finally:
            stack.stop()
    latencies = [x for lat, _ in results for x in lat]
    errors = sum(e for _, e in results)
    db = "PostgreSQL" if ns.postgres else "SQLite"
    print(
        f"REST booking via Envoy ({db}, {ns.processes} scheduling process(es), {ns.clients} clients, "
        f"{elapsed:.1f} s): "
        f"{len(latencies) / elapsed:.0f} req/s, {summary(latencies)}, errors {errors}/{len(latencies)}"
    )


if __name__ == "__main__":
    main()
