"""Losing a scheduling replica costs no client an error (PostgreSQL, two processes
behind Envoy, a steady closed-loop booking load that retries a 5xx with the same
Idempotency-Key, as a well-behaved client does).

One process is SIGKILLed and, later, the other is stopped with SIGTERM; the launcher
brings each back. Afterwards: no booking failed for good, no request was answered 499,
every acknowledged booking is in the database exactly once, nothing overlaps, and the
bookings all but stop for at most about two seconds around each fault."""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import json
import signal
import statistics
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text

from phs_devstack import Ports, Stack
from tests import helpers
from tests.helpers import rest, rfc3339

CLIENTS = 8
BUCKET = 0.5  # seconds per throughput bucket
WARMUP = 4.0  # seconds of steady load before the first fault
BETWEEN = 8.0  # seconds from one fault to the next, and after the last
MAX_DIP = 2.0  # seconds of low throughput allowed per fault
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


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory, pg_database: Callable[[], str]) -> Iterator[Stack]:
    s = Stack(
        root=tmp_path_factory.mktemp("failover"),
        ports=Ports.free(),
        scheduling_db=pg_database(),
        scheduling_processes=2,
    )
    try:
        s.start_kafka()
        s.start_scheduling()
        s.wait_scheduling()
        s.start_envoy()
        yield s
    finally:
        s.stop()


def _book_forever(stack: Stack, load: Load, psych: str, client: str, first: dt.datetime) -> None:
    """One client: book the next hour of its own psychologist's calendar, again and again."""
    conn: http.client.HTTPConnection | None = None
    k = 0
    while not load.stop.is_set():
        body = json.dumps(
            {
                "client": client,
                "sessionType": "sessionTypes/90834",
                "startTime": rfc3339(first + dt.timedelta(hours=k)),
            }
        )
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {helpers.ADMIN_TOKEN}",
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


def _per_bucket(load: Load, until: float) -> list[int]:
    counts = [0] * (int(until / BUCKET) + 1)
    for t, _ in load.acks:
        if t < until:
            counts[int(t / BUCKET)] += 1
    return counts


def _dip_seconds(counts: list[int], fault: float) -> float:
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


def _print_around(counts: list[int], fault: float, what: str) -> None:
    first = max(0, int((fault - 2) / BUCKET))
    last = int((fault + 5) / BUCKET)
    per_second = [f"{c / BUCKET:.0f}" for c in counts[first:last]]
    print(f"\n{what} at t={fault:.1f}s; acknowledgements/s per {BUCKET}s, t-2s to t+5s:", *per_second)


def _print_gateway_counters(stack: Stack) -> None:
    """Envoy's view: retries, ejections, failed health checks (non-zero counters)."""
    url = f"http://127.0.0.1:{stack.ports.envoy_admin}/stats?filter=cluster%5C.scheduling%5C."
    with urllib.request.urlopen(url, timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    wanted = ("retry", "outlier_detection", "health_check.failure", "rq_5xx", "cx_connect_fail")
    print("\n".join(x for x in lines if any(w in x for w in wanted) and not x.endswith(": 0")))


def _back_after_restart(stack: Stack, name: str, timeout: float = 60) -> None:
    """Wait for `name` to exit and for the launcher to start it again, serving."""
    proc = stack.procs[name]
    before = proc.restarts
    deadline = time.monotonic() + timeout
    while proc.restarts == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.restarts > before, f"the launcher did not restart {name}"
    stack.wait_scheduling(timeout)


@pytest.mark.postgres
def test_a_replica_killed_then_one_stopped_costs_no_client_an_error(pair: Stack) -> None:
    stack = pair
    people = []
    for i in range(CLIENTS):
        p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": f"Dr F{i}", "timeZone": "UTC"})
        c = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": f"Client F{i}"})
        assert p.status == c.status == 200, (p.body, c.body)
        people.append((p.body["name"], c.body["name"]))
    # Staff bookings need no working hours: hour after hour, from a whole hour ahead.
    first = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    load = Load()
    threads = [
        threading.Thread(target=_book_forever, args=(stack, load, p, c, first), daemon=True)
        for p, c in people
    ]
    for t in threads:
        t.start()

    faults: list[tuple[float, str]] = []
    time.sleep(WARMUP)
    faults.append((load.now(), "SIGKILL of scheduling-2"))
    stack.procs["scheduling-2"].popen.send_signal(signal.SIGKILL)
    _back_after_restart(stack, "scheduling-2")
    time.sleep(max(0.0, faults[-1][0] + BETWEEN - load.now()))
    faults.append((load.now(), "SIGTERM of scheduling"))
    stack.procs["scheduling"].popen.send_signal(signal.SIGTERM)
    _back_after_restart(stack, "scheduling")
    time.sleep(max(0.0, faults[-1][0] + BETWEEN - load.now()))
    load.stop.set()
    for t in threads:
        t.join(60)
    end = load.now()
    _print_gateway_counters(stack)

    counts = _per_bucket(load, end)
    baseline = statistics.median(counts[int(1 / BUCKET) : int(WARMUP / BUCKET)])
    print(f"\nbaseline {baseline / BUCKET:.0f} acknowledgements/s; answers: {dict(load.statuses)}")
    dips = []
    for at, what in faults:
        _print_around(counts, at, what)
        dips.append(_dip_seconds(counts, at))
    print(f"longest stretch below a quarter of the rate before each fault (s): {dips}")

    assert not load.failures, load.failures[:5]
    assert load.statuses[499] == 0, "a request was cancelled by a stopping server"
    assert baseline > 0
    for (_, what), dip in zip(faults, dips, strict=True):
        assert dip <= MAX_DIP, f"{what}: bookings all but stopped for {dip}s"

    # Every acknowledged booking is in the database exactly once; nothing else is.
    assert stack.scheduling_db is not None
    engine = create_engine(stack.scheduling_db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT psychologist_id, id, start_time, end_time FROM appointments ORDER BY 1, 3")
            ).all()
    finally:
        engine.dispose()
    acked = Counter(name for _, name in load.acks)
    assert all(n == 1 for n in acked.values()), [n for n, k in acked.items() if k > 1][:5]
    stored = {f"psychologists/{r.psychologist_id}/appointments/{r.id}" for r in rows}
    assert stored == set(acked), (len(stored), len(acked))
    for a, b in itertools.pairwise(rows):
        if a.psychologist_id == b.psychologist_id:
            assert a.end_time <= b.start_time, (a, b)
