"""Two scheduling processes behind one Envoy (what `--scheduling-processes 2`, the
booking benchmark and a two-replica deployment run), on SQLite and PostgreSQL:
both serve, the no-overlap guarantee holds across processes, and each
appointment event reaches Kafka exactly once although both run an outbox relay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.request import urlopen

import pytest

from phs.scheduling.v1 import events_pb2
from phs_devstack import Ports, Stack
from tests.helpers import audit_consumer, eventually, future_slot, json_lines, rest, rfc3339

EVENTS = "phs.scheduling.appointments.v1"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def two(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = None
    if request.param == "postgres":
        factory: Callable[[], str] = request.getfixturevalue("pg_database")
        db = factory()
    s = Stack(
        root=tmp_path_factory.mktemp(f"replicas-{request.param}"),
        ports=Ports.free(),
        scheduling_db=db,
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


def _pair(stack: Stack) -> tuple[str, str]:
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr R", "timeZone": "UTC"})
    c = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": "Client R"})
    assert p.status == c.status == 200, (p.body, c.body)
    return p.body["name"], c.body["name"]


def _book(stack: Stack, psych: str, client: str, start: str) -> int:
    body = {"client": client, "sessionType": "sessionTypes/90834", "startTime": start}
    return rest(stack.rest_url, "POST", f"/v1/{psych}/appointments", body).status


def _served(stack: Stack, name: str) -> int:
    return sum(
        1
        for r in json_lines(stack.log(name))
        if r.get("grpc_method", "").endswith("/CreateAppointment") and r.get("grpc_code") == "OK"
    )


def _envoy_sees_all_healthy(stack: Stack, cluster: str) -> bool:
    """Every host of `cluster` passes Envoy's active health check and is not ejected."""
    with urlopen(f"http://127.0.0.1:{stack.ports.envoy_admin}/clusters", timeout=5) as resp:
        flags = [
            line.rsplit("::", 1)[1]
            for line in resp.read().decode().splitlines()
            if line.startswith(f"{cluster}::") and "::health_flags::" in line
        ]
    return bool(flags) and all(f == "healthy" for f in flags)


def test_fifty_concurrent_requests_for_one_slot_across_processes_exactly_one_wins(two: Stack) -> None:
    psych, client = _pair(two)
    start = rfc3339(future_slot(9))
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = sorted(pool.map(lambda _: _book(two, psych, client, start), range(50)))
    assert statuses == [200] + [409] * 49, statuses
    listed = rest(two.rest_url, "GET", f"/v1/{psych}/appointments")
    assert len(listed.body["appointments"]) == 1


def test_both_processes_serve_and_each_event_is_published_once(two: Stack) -> None:
    psych, client = _pair(two)
    base = future_slot(10)
    names = []
    for i in range(40):
        start = rfc3339(base + timedelta(hours=i))
        resp = rest(
            two.rest_url,
            "POST",
            f"/v1/{psych}/appointments",
            {"client": client, "sessionType": "sessionTypes/90834", "startTime": start},
        )
        assert resp.status == 200, resp.body
        names.append(resp.body["name"])
    # Envoy spreads the calls over both processes.
    eventually(lambda: _served(two, "scheduling") and _served(two, "scheduling-2"), what="both served")

    consumer = audit_consumer(two.kafka_bootstrap, EVENTS, timeout_ms=5000)
    created: Counter[str] = Counter()
    try:
        for msg in consumer:
            event = events_pb2.AppointmentEvent.FromString(msg.value)
            if event.type == events_pb2.AppointmentEvent.TYPE_CREATED and event.appointment.name in names:
                created[event.appointment.name] += 1
    finally:
        consumer.close()
    assert created == Counter(dict.fromkeys(names, 1))  # every event, none twice


def test_a_stopped_process_restarts_alone_on_its_port(two: Stack) -> None:
    """Runs last in this module: it restarts one of the stack's processes."""
    primary = two.procs["scheduling"].popen.pid
    ((name, port),) = two.scheduling_replicas
    served = _served(two, name)
    two.stop_proc(name)
    two.start_scheduling()
    two.wait_scheduling()
    assert two.procs["scheduling"].popen.pid == primary  # still running: not started twice
    assert two.scheduling_replicas == [(name, port)]  # the port Envoy's config names
    assert sorted(n for n in two.procs if n.startswith("scheduling")) == ["scheduling", name]
    # Envoy takes the restarted process back after a passed health check and the end of
    # its ejection (the stop made it fail its checks and connections).
    eventually(lambda: _envoy_sees_all_healthy(two, "scheduling"), 30, what="Envoy sees both healthy")
    psych, client = _pair(two)
    starts = [rfc3339(future_slot(50, hour=h)) for h in range(8, 16)]
    assert [_book(two, psych, client, s) for s in starts] == [200] * len(starts)
    eventually(lambda: _served(two, name) > served, 10, what=f"{name} serves again")
