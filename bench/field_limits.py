"""What the field-limit check costs per request, in-process: the server
interceptor's path around a no-op handler with and without the check, next to
parsing the request (which gRPC does anyway), for a booking, a client with a
name to normalize, and the largest availability a request may carry.

    python -m bench.field_limits [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_runtime import limits
from phs_runtime.pipeline import Pipeline


def booking() -> Message:
    req = ss.CreateAppointmentRequest(
        parent=f"psychologists/{uuid.uuid4()}",
        appointment=r.Appointment(client=f"clients/{uuid.uuid4()}", session_type="sessionTypes/90834"),
        request_id=str(uuid.uuid4()),
    )
    req.appointment.start_time.seconds = 1_900_000_000
    return req


def client() -> Message:
    name = unicodedata.normalize("NFD", "Zoë Ångström-Éluard")  # normalized on every call
    return ss.CreateClientRequest(
        client=r.Client(display_name=name, email="zoe@example.org", phone="+1 514 555 0100"),
        request_id=str(uuid.uuid4()),
    )


def availability() -> Message:
    a = r.Availability(name=f"psychologists/{uuid.uuid4()}/availability")
    for day in range(1, 8):
        for h in range(12):
            a.weekly_hours.add(day_of_week=day, start_time={"hours": h * 2}, end_time={"hours": h * 2 + 1})
    for i in range(400):
        o = a.date_overrides.add(date={"year": 2031, "month": 1 + i // 28, "day": 1 + i % 28})
        o.intervals.add(start_time={"hours": 9}, end_time={"hours": 12})
    req = ss.UpdateAvailabilityRequest(availability=a, request_id=str(uuid.uuid4()))
    req.update_mask.paths.extend(["weekly_hours", "date_overrides"])
    return req


class _Context:
    """The part of grpc.ServicerContext the server pipeline reads."""

    def time_remaining(self) -> None:
        return None

    def code(self) -> None:
        return None


def _per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """The mean CPU time of one call over `calls` calls, in microseconds (CPU, not wall
    time: other processes on the machine do not count)."""
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls * 1e6


def measure(name: str, request: Message, calls: int, rounds: int) -> None:
    """Rounds alternate with and without the check (the machine may be shared: the
    best round of each is the figure)."""
    raw = request.SerializeToString()
    parse = type(request).FromString
    ctx: Any = _Context()
    method = "/phs.scheduling.v1.SchedulingService/Bench"
    pipeline = Pipeline()

    def through_interceptor() -> Any:
        return pipeline.unary(pipeline.call("unary", method), ctx, request, lambda: None)

    assert limits.violations(request) == []
    real = limits.violations
    runs: dict[str, list[float]] = {"with": [], "without": [], "check": [], "parse": []}
    for _ in range(rounds):
        runs["with"].append(_per_call_us(through_interceptor, calls))
        limits.violations = lambda _request: []  # type: ignore[assignment]
        try:
            runs["without"].append(_per_call_us(through_interceptor, calls))
        finally:
            limits.violations = real
        runs["check"].append(_per_call_us(lambda: limits.violations(request), calls))
        runs["parse"].append(_per_call_us(lambda: parse(raw), calls))
    best = {k: min(v) for k, v in runs.items()}
    print(
        f"{name:<13} {len(raw):>6} B  parse {best['parse']:8.2f} us  check {best['check']:8.2f} us  "
        f"interceptor path {best['without']:8.2f} -> {best['with']:8.2f} us "
        f"(+{best['with'] - best['without']:.2f} us)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=15)
    ns = ap.parse_args()
    measure("booking", booking(), ns.calls, ns.rounds)
    measure("client (NFD)", client(), ns.calls, ns.rounds)
    measure("availability", availability(), max(ns.calls // 100, 20), ns.rounds)


if __name__ == "__main__":
    main()
