"""Losing a scheduling replica costs no client an error (PostgreSQL, two processes
behind Envoy, a steady closed-loop booking load that retries a 5xx with the same
Idempotency-Key, as a well-behaved client does).

One process is SIGKILLed and, later, the other is stopped with SIGTERM; the launcher
brings each back. Afterwards: no booking failed for good, no request was answered 499,
every acknowledged booking is in the database exactly once, nothing overlaps, and the
bookings all but stop for at most about two seconds around each fault. The scenario is
bench/failover.py's, which also compares it with an older gateway."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from bench.failover import report, run_scenario
from phs_devstack import Ports, Stack
from tests import helpers

MAX_DIP = 2.0  # seconds of low throughput allowed per fault


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


@pytest.mark.postgres
def test_a_replica_killed_then_one_stopped_costs_no_client_an_error(pair: Stack) -> None:
    stack = pair
    outcome = run_scenario(stack, helpers.ADMIN_TOKEN)
    report(outcome)
    load = outcome.load
    assert not load.failures, load.failures[:5]
    assert load.statuses[499] == 0, "a request was cancelled by a stopping server"
    assert outcome.baseline > 0
    for (_, what), dip in zip(outcome.faults, outcome.dips, strict=True):
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
