"""WatchAppointments on two scheduling processes behind Envoy (real broker, real
gateway): a change made through either process reaches watchers on both, over gRPC and
over REST, within 2 s; access rules; heartbeats on an idle watch; open watches leave
unary calls alone; a stopping process ends its watches cleanly."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import grpc
import pytest

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_devstack import Ports, Stack
from tests.helpers import auth_headers, channel, eventually, future_slot, json_lines, rest, rfc3339

HEARTBEAT_S = 1.0
DEADLINE_S = 2.0  # a change must reach every watcher within this
THERAPY = "sessionTypes/90834"


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    st = Stack(
        root=tmp_path_factory.mktemp("watch"),
        ports=Ports.free(),
        scheduling_processes=2,
        extra_env={"PHS_WATCH_HEARTBEAT_SECONDS": str(HEARTBEAT_S)},
    )
    try:
        st.start_kafka()
        st.start_scheduling()
        st.wait_scheduling()
        st.start_envoy()
        yield st
    finally:
        st.stop()


def _targets(st: Stack) -> list[str]:
    return [f"{h}:{p}" for h, p in st.scheduling_endpoints]


def _pair(st: Stack) -> tuple[str, str]:
    p = rest(st.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr W", "timeZone": "UTC"})
    c = rest(st.rest_url, "POST", "/v1/clients", {"displayName": "Client W"})
    assert p.status == c.status == 200, (p.body, c.body)
    return p.body["name"], c.body["name"]


class GrpcWatcher:
    """A watch read on a thread of its own; each message with its arrival time."""

    def __init__(self, target: str, parent: str, token: str | None = None) -> None:
        self.channel = channel(target) if token is None else channel(target, token)
        stub = s_grpc.SchedulingServiceStub(self.channel)
        self.call: Any = stub.WatchAppointments(s.WatchAppointmentsRequest(parent=parent), timeout=60)
        self.messages: queue.Queue[tuple[float, s.WatchAppointmentsResponse]] = queue.Queue()
        self.ended: queue.Queue[grpc.StatusCode] = queue.Queue()
        self.seen: list[tuple[float, ev.AppointmentEvent]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                self.messages.put((time.monotonic(), msg))
            self.ended.put(grpc.StatusCode.OK)
        except grpc.RpcError as err:
            self.ended.put(err.code())

    def live(self, timeout: float = 10) -> None:
        """Wait for the first heartbeat: from then on no change is missed."""
        _, first = self.messages.get(timeout=timeout)
        assert first.WhichOneof("kind") == "heartbeat_time", first

    def change_for(self, name: str, timeout: float) -> tuple[float, ev.AppointmentEvent]:
        """The first change to `name`; changes to others are kept (partitions differ, so
        events of different appointments may come in any order)."""
        limit = time.monotonic() + timeout
        while not any(name in (c.appointment.name, c.replacement.name) for _, c in self.seen):
            at, msg = self.messages.get(timeout=max(0.01, limit - time.monotonic()))
            if msg.WhichOneof("kind") == "change":
                self.seen.append((at, msg.change))
        return next((at, c) for at, c in self.seen if name in (c.appointment.name, c.replacement.name))

    def changes(self) -> list[ev.AppointmentEvent]:
        while not self.messages.empty():
            at, msg = self.messages.get()
            if msg.WhichOneof("kind") == "change":
                self.seen.append((at, msg.change))
        return [c for _, c in self.seen]

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def _book_via(target: str, psych: str, client: str, start: str) -> tuple[float, r.Appointment]:
    with channel(target) as ch:
        stub = s_grpc.SchedulingServiceStub(ch)
        appointment = r.Appointment(client=client, session_type=THERAPY)
        appointment.start_time.FromJsonString(start)
        done = stub.CreateAppointment(
            s.CreateAppointmentRequest(parent=psych, appointment=appointment), timeout=10
        )
        return time.monotonic(), done


def test_a_change_through_either_process_reaches_watchers_on_both(two: Stack) -> None:
    psych, client = _pair(two)
    a, b = _targets(two)
    watchers = [GrpcWatcher(t, psych) for t in (a, b)]
    try:
        for w in watchers:
            w.live()
        for i, via in enumerate((a, b)):
            start = rfc3339(future_slot(20, hour=9 + i))
            committed, booked = _book_via(via, psych, client, start)
            for w in watchers:
                at, change = w.change_for(booked.name, DEADLINE_S + 1)
                assert change.type == ev.AppointmentEvent.TYPE_CREATED
                assert change.appointment.name == booked.name
                assert at - committed < DEADLINE_S, (via, at - committed)
    finally:
        for w in watchers:
            w.close()


def test_a_psychologist_watch_carries_only_their_appointments(two: Stack) -> None:
    mine, client = _pair(two)
    other, _ = _pair(two)
    a, b = _targets(two)
    token = two.token(mine, "psychologist")
    watcher = GrpcWatcher(a, mine, token)
    staff = GrpcWatcher(b, "psychologists/-")
    try:
        watcher.live()
        staff.live()
        _, theirs = _book_via(b, other, client, rfc3339(future_slot(21)))
        _, own = _book_via(b, mine, client, rfc3339(future_slot(21, hour=11)))
        watcher.change_for(own.name, DEADLINE_S + 1)
        staff.change_for(theirs.name, DEADLINE_S + 1)
        staff.change_for(own.name, DEADLINE_S + 1)
        # Events of one psychologist arrive in order (one partition per key); another's
        # never arrives here.
        assert not any(c.appointment.name == theirs.name for c in watcher.changes())
    finally:
        watcher.close()
        staff.close()


@pytest.mark.parametrize(
    ("role", "parent", "reason"),
    [
        ("client", "own-psychologist", "ROLE_NOT_ALLOWED"),
        ("psychologist", "other", "NOT_YOUR_PSYCHOLOGIST"),
        ("psychologist", "psychologists/-", "NOT_YOUR_PSYCHOLOGIST"),
    ],
)
def test_who_may_not_watch(two: Stack, role: str, parent: str, reason: str) -> None:
    psych, client = _pair(two)
    other, _ = _pair(two)
    subject = client if role == "client" else psych
    name = {"own-psychologist": psych, "other": other}.get(parent, parent)
    watcher = GrpcWatcher(_targets(two)[0], name, two.token(subject, role))
    try:
        assert watcher.ended.get(timeout=10) == grpc.StatusCode.PERMISSION_DENIED
        assert watcher.messages.empty()
    finally:
        watcher.close()
    denied = rest(two.rest_url, "GET", f"/v1/{name}/appointments:watch", token=two.token(subject, role))
    assert denied.status == 403, denied.body
    assert denied.detail("ErrorInfo")["reason"] == reason


def test_an_idle_watch_gets_heartbeats(two: Stack) -> None:
    psych, _ = _pair(two)
    watcher = GrpcWatcher(_targets(two)[1], psych)
    try:
        watcher.live()
        beats = [watcher.messages.get(timeout=HEARTBEAT_S * 3) for _ in range(2)]
        assert all(m.WhichOneof("kind") == "heartbeat_time" for _, m in beats), beats
        gap = beats[1][0] - beats[0][0]
        assert HEARTBEAT_S * 0.5 < gap < HEARTBEAT_S * 2, gap
    finally:
        watcher.close()


def _rest_watch(st: Stack, parent: str) -> tuple[Any, queue.Queue[tuple[float, dict[str, Any]]]]:
    req = urllib.request.Request(
        f"{st.rest_url}/v1/{parent}/appointments:watch", headers=auth_headers(st.token("staff/w", "admin"))
    )
    resp = urllib.request.urlopen(req, timeout=30)
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()

    def read() -> None:
        try:
            for line in resp:
                if line.strip():
                    lines.put((time.monotonic(), json.loads(line)))
        except (OSError, ValueError, AttributeError):  # closed by the test
            return

    threading.Thread(target=read, daemon=True).start()
    return resp, lines


def test_through_the_gateway_each_message_is_one_json_line(two: Stack) -> None:
    psych, client = _pair(two)
    resp, lines = _rest_watch(two, psych)
    try:
        _, first = lines.get(timeout=10)
        assert set(first) == {"heartbeatTime"}, first
        names = []
        for i, via in enumerate(_targets(two)):
            committed, booked = _book_via(via, psych, client, rfc3339(future_slot(22, hour=9 + i)))
            names.append(booked.name)
            while True:
                at, line = lines.get(timeout=DEADLINE_S + 1)
                if "change" in line and line["change"]["appointment"]["name"] == booked.name:
                    assert at - committed < DEADLINE_S
                    assert line["change"]["type"] == "TYPE_CREATED"
                    break
        # A move carries both appointments.
        moved = rest(
            two.rest_url,
            "POST",
            f"/v1/{names[0]}:reschedule",
            {"startTime": rfc3339(future_slot(22, hour=14)), "rescheduledBy": "ACTOR_STAFF"},
        )
        assert moved.status == 200, moved.body
        while True:
            _, line = lines.get(timeout=DEADLINE_S + 1)
            if "change" in line and line["change"]["type"] == "TYPE_RESCHEDULED":
                assert line["change"]["appointment"]["name"] == names[0]
                assert line["change"]["replacement"]["name"] == moved.body["name"]
                break
    finally:
        resp.close()


# What src/api/stream.ts relies on, in the browser: fetch hands over each line as the
# gateway flushes it, long before the response ends.
_READ_LINES = """async ([path, token, most]) => {
  const res = await fetch(path, {headers: {Authorization: `Bearer ${token}`}});
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const lines = [];
  let pending = "";
  while (lines.length < most && !lines.some((l) => "change" in l)) {
    const {value, done} = await reader.read();
    if (done) break;
    pending += value;
    let i;
    while ((i = pending.indexOf("\\n")) >= 0) {
      if (lines.length < most) lines.push(JSON.parse(pending.slice(0, i)));
      pending = pending.slice(i + 1);
      if (lines.length === 1) window.firstLine = true;
    }
  }
  await reader.cancel();
  return {status: res.status, type: res.headers.get("content-type"), lines};
}"""


def test_a_browser_reads_the_watch_line_by_line(two: Stack, chromium: Any) -> None:
    psych, client = _pair(two)
    page = chromium.new_page(bypass_csp=True)
    try:
        # The API's origin; no web app runs here, and Envoy's own page forbids scripts
        # (the app's page allows fetch to its origin).
        page.goto(two.rest_url + "/")
        token = two.token(psych, "psychologist")
        path = f"/v1/{psych}/appointments:watch"
        args = json.dumps([path, token, 30])
        page.evaluate(f"() => {{ ({_READ_LINES})({args}).then((r) => {{ window.result = r; }}); }}")
        page.wait_for_function("() => window.firstLine === true", timeout=10_000)
        _, booked = _book_via(_targets(two)[1], psych, client, rfc3339(future_slot(24)))
        page.wait_for_function("() => window.result !== undefined", timeout=10_000)
        result = page.evaluate("() => window.result")
    finally:
        page.close()
    assert result["status"] == 200 and result["type"].startswith("application/json"), result
    kinds = [next(iter(line)) for line in result["lines"]]
    assert kinds[0] == "heartbeatTime", result
    changes = [line["change"] for line in result["lines"] if "change" in line]
    assert changes and changes[0]["appointment"]["name"] == booked.name, result


def test_unary_calls_answer_while_many_watches_are_open(two: Stack) -> None:
    psych, _ = _pair(two)
    a = _targets(two)[0]
    before = _finished_watches(two)
    watchers = [GrpcWatcher(a, psych) for _ in range(12)]
    try:
        for w in watchers:
            w.live()
        with channel(a) as ch:
            stub = s_grpc.SchedulingServiceStub(ch)

            def get(_: int) -> float:
                t0 = time.monotonic()
                stub.GetPsychologist(s.GetPsychologistRequest(name=psych), timeout=5)
                return time.monotonic() - t0

            with ThreadPoolExecutor(8) as pool:
                took = list(pool.map(get, range(40)))
        assert max(took) < 2, max(took)
    finally:
        for w in watchers:
            w.close()
    # Watches whose callers went away end at once: none lingers on a stream thread.
    eventually(lambda: _finished_watches(two) >= before + 12, 10, what="watches released")


def _finished_watches(st: Stack) -> int:
    """Watches the first process has finished (the interceptor logs each finished call)."""
    return sum(
        1 for x in json_lines(st.log("scheduling")) if x.get("grpc_method", "").endswith("/WatchAppointments")
    )


def test_watches_end_when_the_broker_goes_and_work_again_when_it_is_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Without the topic a watch would stay open and miss changes: it ends instead
    (UNAVAILABLE; the web app then polls), and new ones are refused until the broker is
    back. The broker here keeps no log across a restart: the feed starts again at its end."""
    st = Stack(
        root=tmp_path_factory.mktemp("watch-broker"),
        ports=Ports.free(),
        extra_env={"PHS_WATCH_HEARTBEAT_SECONDS": str(HEARTBEAT_S)},
    )
    try:
        st.start_kafka()
        st.start_scheduling()
        st.wait_scheduling()
        target = _targets(st)[0]
        psych, client = _pair_grpc(target)
        watcher = GrpcWatcher(target, psych)
        watcher.live()
        st.stop_proc("kafka", sig=signal.SIGKILL)
        assert watcher.ended.get(timeout=20) == grpc.StatusCode.UNAVAILABLE
        refused = GrpcWatcher(target, psych)
        assert refused.ended.get(timeout=20) == grpc.StatusCode.UNAVAILABLE
        refused.close()
        st.start_kafka()
        again = GrpcWatcher(target, psych)
        try:
            again.live(timeout=40)
            _, booked = _book_via(target, psych, client, rfc3339(future_slot(25)))
            again.change_for(booked.name, 15)  # the outbox relay publishes once it reconnects
        finally:
            again.close()
        watcher.close()
    finally:
        st.stop()


def _pair_grpc(target: str) -> tuple[str, str]:
    with channel(target) as ch:
        stub = s_grpc.SchedulingServiceStub(ch)
        p = stub.CreatePsychologist(
            s.CreatePsychologistRequest(psychologist=r.Psychologist(display_name="Dr B", time_zone="UTC")),
            timeout=10,
        )
        c = stub.CreateClient(s.CreateClientRequest(client=r.Client(display_name="Client B")), timeout=10)
        return p.name, c.name


def test_a_stopping_process_ends_its_watches_cleanly(two: Stack) -> None:
    """Runs last in this module: it stops one of the two processes."""
    psych, client = _pair(two)
    ((name, port),) = two.scheduling_replicas
    watcher = GrpcWatcher(f"127.0.0.1:{port}", psych)
    watcher.live()
    statuses: list[int] = []
    stop = threading.Event()

    def keep_calling() -> None:
        while not stop.is_set():
            statuses.append(rest(two.rest_url, "GET", f"/v1/{psych}").status)

    caller = threading.Thread(target=keep_calling)
    caller.start()
    try:
        t0 = time.monotonic()
        two.stop_proc(name)
        # Ended by the server (OK), not cut off at the end of the grace period.
        assert watcher.ended.get(timeout=15) == grpc.StatusCode.OK
        assert time.monotonic() - t0 < 8
        # The other process still serves, and its watches still see changes.
        survivor = GrpcWatcher(_targets(two)[0], psych)
        survivor.live()
        _, booked = _book_via(_targets(two)[0], psych, client, rfc3339(future_slot(23) + timedelta(hours=1)))
        survivor.change_for(booked.name, DEADLINE_S + 1)
        survivor.close()
    finally:
        stop.set()
        caller.join()
        watcher.close()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))


def test_the_topic_is_read_only_while_someone_watches(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Reading every appointment event costs each process CPU that bookings need: the
    reader starts with the first watch and stops a linger after the last one ended."""
    st = Stack(
        root=tmp_path_factory.mktemp("watch-linger"),
        ports=Ports.free(),
        extra_env={"PHS_WATCH_HEARTBEAT_SECONDS": str(HEARTBEAT_S), "PHS_WATCH_LINGER_SECONDS": "1"},
    )

    def said(message: str) -> int:
        return sum(1 for x in json_lines(st.log("scheduling")) if x.get("message") == message)

    try:
        st.start_kafka()
        st.start_scheduling()
        st.wait_scheduling()
        target = _targets(st)[0]
        psych, client = _pair_grpc(target)
        _book_via(target, psych, client, rfc3339(future_slot(40)))
        time.sleep(1)
        assert said("appointment feed live") == 0  # bookings, but nobody watching
        for round_ in (1, 2):
            watcher = GrpcWatcher(target, psych)
            watcher.live()
            _, booked = _book_via(target, psych, client, rfc3339(future_slot(40, hour=8 + round_)))
            watcher.change_for(booked.name, 10)
            watcher.close()

            def idle(round_: int = round_) -> bool:
                live = said("appointment feed live")
                return said("appointment feed idle, stopped reading") == round_ and live == round_

            eventually(idle, 15, what=f"reader started and stopped {round_} time(s)")
    finally:
        st.stop()
