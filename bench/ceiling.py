"""What a call costs here, against what it could cost: in one run, the same Envoy
(same template, routes, transcoder and Lua filter) in front of

- bare gRPC processes that answer `ListSessionTypes` with a constant (the
  constant ceiling) and `CreateAppointment` with one INSERT (the one-INSERT
  ceiling): no authentication, policy, audit, idempotency, outbox or checks;
- the real scheduling service: `GET /v1/sessionTypes` (the cheapest
  authenticated read) and a booking (as bench/rest_booking).

It prints each figure and the ratios the structure issue set as targets (read
≥ 0.7 of the constant ceiling; booking ≥ 0.6 of the one-INSERT ceiling, p99 ≤ 50 ms).

    python -m bench.ceiling [--clients 16] [--seconds 10] [--processes 2] [--postgres URL]
                            [--profile] [--rounds N] [--rates 480,...]

Those four are closed loop: each client sends its next request when the answer
arrives, so the machine is always saturated and a latency is mostly time queued
behind the other clients. Then the one-INSERT ceiling and the booking are measured
open loop at each of `--rates` requests a second (requests due at fixed intervals,
latency from when each was due, as independent users arrive): latency under a given
load, below saturation. The default rate is the booking throughput the structure
issue measured at its start.

With --rounds N the four are measured N times, interleaved, and the median of each
round's ratios is printed too: a ratio then compares figures taken a minute apart,
while this machine's speed drifts over longer spans.

With --profile (py-spy on PATH or in the venv), one real scheduling process is sampled
during the read and the booking runs (only threads holding the GIL: where its Python
time goes), and the functions in most samples are printed.

Both sides get the same number of processes and unary threads, the same database
kind and the same load generator, one measurement after the other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine

from bench import loadgen
from bench.common import Client, fresh_database, percentile, summary
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs.scheduling.v1 import scheduling_service_pb2_grpc as sg
from phs_devstack import Ports, Stack, free_port
from phs_devstack.gateway import DESCRIPTOR, ENVOY_LOG_FORMAT, envoy_binary, render_envoy_config
from phs_runtime.db import make_engine, write_transaction

SERVICE = "phs.scheduling.v1.SchedulingService"
THREADS = 3  # the scheduling service's own unary thread count (its __main__)

metadata = MetaData()
inserts = Table(
    "bare_inserts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("parent", String(200), nullable=False),
    Column("body", String(2000), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)


class Bare(sg.SchedulingServiceServicer):
    """Only the two methods measured. The INSERT goes through the runtime's own engine
    and write transaction (WAL and the writer lock on SQLite, the pool on PostgreSQL)."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url, background_checkpoints=True)
        self.constant = s.ListSessionTypesResponse(
            session_types=[r.SessionType(name="sessionTypes/90834", display_name="Psychotherapy, 45 min")]
        )

    def ListSessionTypes(
        self, request: s.ListSessionTypesRequest, context: Any
    ) -> s.ListSessionTypesResponse:
        return self.constant

    def CreateAppointment(self, request: s.CreateAppointmentRequest, context: Any) -> r.Appointment:
        aid = uuid.uuid4().hex
        with write_transaction(self.engine) as conn:
            conn.execute(
                inserts.insert().values(
                    id=aid,
                    parent=request.parent,
                    body=request.appointment.SerializeToString().hex(),
                    create_time=dt.datetime.now(dt.UTC),
                )
            )
        return r.Appointment(name=f"{request.parent}/appointments/{aid}", state=r.Appointment.STATE_BOOKED)


def serve(port: int, db_url: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS))
    # The base's other methods stay UNIMPLEMENTED, which the stubs declare abstract.
    sg.add_SchedulingServiceServicer_to_server(Bare(db_url), server)  # type: ignore[abstract]
    checks = health.HealthServicer()
    checks.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def _bookings(psych: str, client: str) -> loadgen.MakeBody:
    """Hourly slots from tomorrow on, one per request (as bench/rest_booking)."""
    base = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    path = f"/v1/{psych}/appointments"

    hours = itertools.count()  # across the warm-up and the measured run: never the same slot twice

    def make(_: int) -> tuple[str, bytes]:
        start = (base + dt.timedelta(hours=next(hours))).isoformat().replace("+00:00", "Z")
        body = {"client": client, "sessionType": "sessionTypes/90834", "startTime": start}
        return path, json.dumps(body).encode()

    return make


def _reads(i: int) -> tuple[str, bytes]:
    return "/v1/sessionTypes", b""


class BareGateway:
    """`processes` bare servers on free ports behind an Envoy of their own."""

    def __init__(self, root: Path, processes: int, db_url: str) -> None:
        engine = create_engine(db_url)
        metadata.create_all(engine)
        engine.dispose()
        self.rest, admin = free_port(), free_port()
        ports = [free_port() for _ in range(processes)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "bench.ceiling", "--serve"]
        self.procs = [subprocess.Popen([*cmd, str(p), db_url], env=env) for p in ports]
        config = root / "bare-envoy.yaml"
        config.write_text(
            render_envoy_config(
                listen_port=self.rest,
                admin_port=admin,
                scheduling=[("127.0.0.1", p) for p in ports],
                reports=("127.0.0.1", free_port()),  # unused here
                descriptor=DESCRIPTOR,
                web=("127.0.0.1", free_port()),
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    envoy_binary(),
                    *("-c", str(config), "--disable-hot-restart", "--log-level", "error"),
                    *("--log-format", ENVOY_LOG_FORMAT, "--base-id", str(admin)),
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = Client("127.0.0.1", self.rest)
                status, _ = c.call("GET", "/v1/sessionTypes")
                c.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the bare gateway did not answer within 30 s")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = _py_spy()
    if spy is None:
        print("  (--profile: py-spy not found; pip install py-spy)")
        return None
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--gil"]
    return subprocess.Popen(
        [*cmd, "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _frame(raw: str) -> str:
    """`fn (path/to/module.py:123)` -> `fn (module.py)`."""
    fn, _, where = raw.partition(" (")
    return f"{fn} ({Path(where.split(':')[0]).name})"


def print_profile(path: Path, top: int = 12) -> None:
    """Collapsed stacks -> the frames present in most samples (inclusive) and the
    leaves (where the time is spent itself), each as a share of all samples."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a sample py-spy could not read whole (--nonblocking)
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        for f in set(frames):
            if not f.endswith(("(threading.py)", "(thread.py)")):  # every worker's own frames
                inclusive[f] += n
        leaf[frames[-1]] += n
    if not total:
        print("    (no busy samples)")
        return
    print(f"    busy samples: {total}")
    print("    inclusive: " + "; ".join(f"{f} {n / total:.0%}" for f, n in inclusive.most_common(top)))
    print("    self:      " + "; ".join(f"{f} {n / total:.0%}" for f, n in leaf.most_common(top)))


def _line(label: str, result: loadgen.Result, elapsed: float) -> float:
    n = len(result.latencies)
    rate = n / elapsed
    print(f"  {label:<44} {rate:7.0f} req/s  {summary(result.latencies)}  errors {result.errors}/{n}")
    for status, body in result.samples:
        print(f"    e.g. HTTP {status}: {body.decode(errors='replace')}")
    return rate


@dataclass(frozen=True)
class Round:
    """One measurement of all four, one after the other: a ratio compares figures taken
    within a minute of each other, while this machine's speed drifts over longer spans."""

    constant: float
    read: float
    one_insert: float
    booking: float
    booking_p99: float
    open_p99: dict[float, float]  # booking p99 (ms) at each open-loop rate

    @property
    def read_ratio(self) -> float:
        return self.read / self.constant

    @property
    def booking_ratio(self) -> float:
        return self.booking / self.one_insert

    def print(self) -> None:
        print(f"  read / constant ceiling:    {self.read_ratio:.2f} (target ≥ 0.70)")
        print(
            f"  booking / one-INSERT ceiling: {self.booking_ratio:.2f} (target ≥ 0.60); "
            f"booking p99 {self.booking_p99:.1f} ms (target ≤ 50)"
        )
        for rate, p99 in self.open_p99.items():
            print(f"  booking p99 at {rate:.0f} req/s, open loop: {p99:.1f} ms")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--processes", type=int, default=2, help="gRPC processes behind each Envoy")
    ap.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite, the embedded default)")
    ap.add_argument("--profile", action="store_true", help="sample one real process with py-spy")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure all four this many times, interleaved, and print each round's ratios and their median",
    )
    ap.add_argument(
        "--rates",
        default="480",
        help="open-loop rates (requests a second, comma-separated) for the one-INSERT ceiling "
        "and the booking; '' for none",
    )
    ns = ap.parse_args()
    rates = [float(x) for x in ns.rates.split(",") if x.strip()]
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(ns.postgres) as real_pg,
        fresh_database(ns.postgres) as bare_pg,
    ):
        root = Path(tmp)
        stack = Stack(root=root, ports=Ports.free(), scheduling_db=real_pg, scheduling_processes=ns.processes)
        bare: BareGateway | None = None
        try:
            stack.start_kafka()  # a booking's event goes through the outbox to the broker, as in production
            stack.start_scheduling()
            stack.wait_scheduling()
            stack.start_envoy()
            bare = BareGateway(root, ns.processes, bare_pg or f"sqlite:///{root / 'bare.db'}")
            setup = Client("127.0.0.1", stack.ports.rest, stack.token("staff/bench", "admin"))
            bookers, insert_makers = [], []
            for k in range(ns.clients):
                _, p = setup.call("POST", "/v1/psychologists", {"displayName": f"Dr {k}", "timeZone": "UTC"})
                _, c = setup.call("POST", "/v1/clients", {"displayName": f"Client {k}"})
                bookers.append((stack.token(p["name"], "psychologist"), _bookings(p["name"], c["name"])))
                insert_makers.append(("-", _bookings(f"psychologists/bare{k}", f"clients/bare{k}")))
            setup.close()
            reader = stack.token("staff/bench", "admin")
            runs: list[tuple[str, int, list[tuple[str, loadgen.MakeBody]]]] = [
                ("constant ceiling (bare GET /v1/sessionTypes)", bare.rest, [("-", _reads)] * ns.clients),
                (
                    "authenticated read (GET /v1/sessionTypes)",
                    stack.ports.rest,
                    [(reader, _reads)] * ns.clients,
                ),
                ("one-INSERT ceiling (bare POST …/appointments)", bare.rest, insert_makers),
                ("booking (POST …/appointments)", stack.ports.rest, bookers),
            ]
            db = "PostgreSQL" if ns.postgres else "SQLite"
            print(
                f"Call ceilings via Envoy ({db}, {ns.processes} process(es) of {THREADS} threads each side, "
                f"{ns.clients} closed-loop clients, {ns.seconds:.0f} s each):"
            )
            rounds: list[Round] = []
            for n in range(ns.rounds):
                if ns.rounds > 1:
                    print(f" round {n + 1} of {ns.rounds}:")
                closed, booking = [], loadgen.Result()
                for label, port, clients in runs:
                    loadgen.run(port, clients, 1.0)  # warm connections and caches
                    spy = None
                    if ns.profile and n == 0 and port == stack.ports.rest:
                        spy = _start_profile(
                            stack.procs["scheduling"].popen.pid, ns.seconds, root / "profile.txt"
                        )
                    result, elapsed = loadgen.run(port, clients, ns.seconds)
                    closed.append(_line(label, result, elapsed))
                    if spy is not None and spy.wait(30) == 0:
                        print_profile(root / "profile.txt")
                    booking = result
                open_p99 = {}
                for rate in rates:
                    for label, port, clients in (runs[2], runs[3]):
                        result, elapsed = loadgen.run_at_rate(port, clients, rate, ns.seconds)
                        _line(f"{label.split(' (')[0]} at {rate:.0f} req/s, open loop", result, elapsed)
                    open_p99[rate] = percentile([x * 1000 for x in result.latencies], 99)
                constant, read, one_insert, book = closed
                p99 = percentile([x * 1000 for x in booking.latencies], 99)
                rounds.append(Round(constant, read, one_insert, book, p99, open_p99))
                rounds[-1].print()
        finally:
            if bare is not None:
                bare.stop()
            stack.stop()
    if len(rounds) > 1:
        print(
            f"  median of {len(rounds)} rounds: "
            f"read / constant {statistics.median(x.read_ratio for x in rounds):.2f}, "
            f"booking / one-INSERT {statistics.median(x.booking_ratio for x in rounds):.2f}, "
            f"booking p99 {statistics.median(x.booking_p99 for x in rounds):.1f} ms"
            + "".join(
                f", booking p99 at {rate:.0f} req/s open loop "
                f"{statistics.median(x.open_p99[rate] for x in rounds):.1f} ms"
                for rate in rates
            )
        )


if __name__ == "__main__":
    main()
