"""Losing a scheduling replica under load: acknowledgements per second and errors
around a SIGKILL of one of two processes and, later, a SIGTERM of the other
(PostgreSQL, eight closed-loop clients that retry a 5xx or a broken connection with
the same Idempotency-Key, the launcher restarting each process).

    python -m bench.failover --postgres URL [--runs 3] [--before-template PATH]

With --before-template (an older services/gateway/envoy.yaml.tmpl, e.g. from
`git show 6e9f536:services/gateway/envoy.yaml.tmpl`), each run pairs that gateway
with no drain on SIGTERM ("before") against the current gateway with the devstack's
drain ("after"), alternating, so that the machine's drift hits both alike.

tests/e2e/test_failover.py runs the same scenario and asserts what it must show.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import signal
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Client, fresh_database
from phs_devstack import Ports, Stack, gateway

CLIENTS = 8
BUCKET = 0.5  # seconds per throughput bucket
WARMUP = 4.0  # seconds of steady load before the first fault
BETWEEN = 8.0  # seconds from one fault to the next, and after the last
MAX_ATTEMPTS = 20  # per booking, the client's retries of a 5xx or a broken connection


@dataclass
class Load:
    """What the clients saw: acknowledgements and every answer's status, with times."""

    started: float = field(default_factory=time.monotonic)
    acks: list[tuple[float, str]] = field(default_factory=list)  # (time, appointment name)
    statuses: Counter[int] = field(default_factory=Counter)  # 0: the connection broke
    failures: list[str] = field(default_factory=list)  # bookings given up, and why
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Outcome:
    load: Load
    faults: list[tuple[float, str]]  # (time, what)
    counts: list[int]  # acknowledgements per BUCKET
    baseline: float  # acknowledgements per bucket before the first fault (median)
    dips: list[float]  # per fault: seconds in which bookings all but stopped
    gateway_counters: list[str]


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def book_forever(stack: Stack, token: str, load: Load, psych: str, client: str, first: dt.datetime) -> None:
    """One client: book the next hour of its own psychologist's calendar, again and again."""
    conn: http.client.HTTPConnection | None = None
    k = 0
    while not load.stop.is_set():
        body = json.dumps(
            {
                "client": client,
                "sessionType": "sessionTypes/90834",
                "startTime": _rfc3339(first + dt.timedelta(hours=k)),
            }
        )
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
            "idempotency-key": str(uuid.uuid4()),
        }
        k += 1
        for _attempt in range(MAX_ATTEMPTS):
            status, data = 0, b""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", stack.ports.rest, timeout=30)
                conn.request("POST", f"/v1/{psych}/appointments", body, headers)
                resp = conn.getresponse()
                status, data = resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            with load.lock:
                load.statuses[status] += 1
                if status == 200:
                    load.acks.append((load.now(), json.loads(data)["name"]))
            if status == 200:
                break
            if 0 < status < 500:
                with load.lock:
                    load.failures.append(f"{status}: {data[:200]!r}")
                break
            time.sleep(0.05)
        else:
            with load.lock:
                load.failures.append(f"gave up after {MAX_ATTEMPTS} attempts (last {status})")


def per_bucket(load: Load, until: float) -> list[int]:
    counts = [0] * (int(until / BUCKET) + 1)
    for t, _ in load.acks:
        if t < until:
            counts[int(t / BUCKET)] += 1
    return counts


def dip_seconds(counts: list[int], fault: float) -> float:
    """The longest stretch after the fault in which bookings all but stopped: fewer than
    a quarter of the rate of the two seconds before it. Losing one of two processes
    lowers the rate until the launcher has restarted it; that is capacity, not a dip."""
    first, last = int(fault / BUCKET), int((fault + BETWEEN) / BUCKET)
    before = statistics.mean(counts[max(0, first - int(2 / BUCKET)) : first])
    longest = run = 0
    for c in counts[first:last]:
        run = run + 1 if c < before / 4 else 0
        longest = max(longest, run)
    return longest * BUCKET


def around(counts: list[int], fault: float) -> list[int]:
    """Acknowledgements per second, bucket by bucket, from 2 s before a fault to 5 s after."""
    return [round(c / BUCKET) for c in counts[max(0, int((fault - 2) / BUCKET)) : int((fault + 5) / BUCKET)]]


def gateway_counters(stack: Stack) -> list[str]:
    """Envoy's view: retries, ejections, failed health checks (non-zero counters)."""
    url = f"http://127.0.0.1:{stack.ports.envoy_admin}/stats?filter=cluster%5C.scheduling%5C."
    with urllib.request.urlopen(url, timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    wanted = ("retry", "outlier_detection", "health_check.failure", "rq_5xx", "cx_connect_fail")
    return [x for x in lines if any(w in x for w in wanted) and not x.endswith(": 0")]


def back_after_restart(stack: Stack, name: str, timeout: float = 60) -> None:
    """Wait for `name` to exit and for the launcher to start it again, serving."""
    proc = stack.procs[name]
    before = proc.restarts
    deadline = time.monotonic() + timeout
    while proc.restarts == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.restarts > before, f"the launcher did not restart {name}"
    stack.wait_scheduling(timeout)


def run_scenario(stack: Stack, token: str) -> Outcome:
    """Load the stack (two scheduling processes behind Envoy), kill one, later stop the other."""
    people = []
    api = Client("127.0.0.1", stack.ports.rest, token)
    try:
        for i in range(CLIENTS):
            ps, p = api.call("POST", "/v1/psychologists", {"displayName": f"Dr F{i}", "timeZone": "UTC"})
            cs, c = api.call("POST", "/v1/clients", {"displayName": f"Client F{i}"})
            assert ps == cs == 200, (p, c)
            people.append((p["name"], c["name"]))
    finally:
        api.close()
    # Staff bookings need no working hours: hour after hour, from a whole hour ahead.
    first = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    load = Load()
    threads = [
        threading.Thread(target=book_forever, args=(stack, token, load, p, c, first), daemon=True)
        for p, c in people
    ]
    for t in threads:
        t.start()

    faults: list[tuple[float, str]] = []
    time.sleep(WARMUP)
    faults.append((load.now(), "SIGKILL of scheduling-2"))
    stack.procs["scheduling-2"].popen.send_signal(signal.SIGKILL)
    back_after_restart(stack, "scheduling-2")
    time.sleep(max(0.0, faults[-1][0] + BETWEEN - load.now()))
    faults.append((load.now(), "SIGTERM of scheduling"))
    stack.procs["scheduling"].popen.send_signal(signal.SIGTERM)
    back_after_restart(stack, "scheduling")
    time.sleep(max(0.0, faults[-1][0] + BETWEEN - load.now()))
    load.stop.set()
    for t in threads:
        t.join(60)
    counts = per_bucket(load, load.now())
    return Outcome(
        load=load,
        faults=faults,
        counts=counts,
        baseline=statistics.median(counts[int(1 / BUCKET) : int(WARMUP / BUCKET)]),
        dips=[dip_seconds(counts, at) for at, _ in faults],
        gateway_counters=gateway_counters(stack),
    )


def report(outcome: Outcome, label: str = "") -> None:
    load = outcome.load
    print(
        f"{label}baseline {outcome.baseline / BUCKET:.0f} acknowledgements/s; answers: {dict(load.statuses)}"
    )
    for (at, what), dip in zip(outcome.faults, outcome.dips, strict=True):
        acks = around(outcome.counts, at)
        print(f"{label}  {what} at t={at:.1f}s, acks/s per {BUCKET}s from t-2s to t+5s: {acks}")
        print(f"{label}    bookings all but stopped for {dip:.1f}s")
    print(f"{label}  bookings given up: {len(load.failures)}; 499 answers: {load.statuses[499]}")
    for line in outcome.gateway_counters:
        print(f"{label}  envoy {line}")


@contextmanager
def gateway_template(path: Path | None) -> Iterator[None]:
    """Render Envoy's config from `path` instead of the repository's template."""
    saved = gateway.TEMPLATE
    gateway.TEMPLATE = path or saved
    try:
        yield
    finally:
        gateway.TEMPLATE = saved


def one_run(postgres: str, template: Path | None, drain: str) -> Outcome:
    with fresh_database(postgres) as db, tempfile.TemporaryDirectory() as tmp, gateway_template(template):
        stack = Stack(
            root=Path(tmp),
            ports=Ports.free(),
            scheduling_db=db,
            scheduling_processes=2,
            extra_env={"PHS_SHUTDOWN_DRAIN_SECONDS": drain},
        )
        try:
            stack.start_kafka()
            stack.start_scheduling()
            stack.wait_scheduling()
            stack.start_envoy()
            return run_scenario(stack, stack.token("staff/bench", "admin"))
        finally:
            stack.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--postgres", required=True, help="a PostgreSQL server URL (the run makes its own databases)"
    )
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--before-template", type=Path, help="an older gateway template to compare against")
    args = ap.parse_args()
    for i in range(args.runs):
        if args.before_template:
            report(one_run(args.postgres, args.before_template, "0"), f"run {i + 1} before: ")
        report(one_run(args.postgres, None, "2"), f"run {i + 1} after:  ")


if __name__ == "__main__":
    main()
