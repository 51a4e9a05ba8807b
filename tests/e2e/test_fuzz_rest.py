"""Property-based fuzzing of every REST route through the real gateway (Envoy) and
services, generated from the descriptor set Envoy transcodes with: a new RPC is fuzzed
with no new code here.

For every route (each `google.api.http` binding of each method) and every mode of
tests/fuzz/cases.py (well-formed, random field values, body, bytes, query, path,
method, size, header and gRPC-path mutations, in the shares plan() gives), Hypothesis
makes requests sent with tokens of every role, none, an expired and a forged one. Every
answer keeps one rule (tests/fuzz/oracle.py): never a 5xx, a google.rpc.Status JSON body
on errors, no long input echoed, within the route's timeout, and the status the case
decides (431, 413, 404, 405, 400, 401). Failures are collected, not raised, so one run
shows every class. Meanwhile a well-formed client reads without a failure, and every
service is SERVING afterwards. A summary (cases per route, failures by class with the
smallest example of each) is printed.

Knobs: PHS_FUZZ_EXAMPLES (total cases, default 2000); PHS_FUZZ_SEED (default 0; another
number, or `random`, for longer exploring runs);
PHS_FUZZ_DATABASE=postgres (both services on fresh PostgreSQL databases); PHS_FUZZ_LOG=FILE
(every case and its answer, one JSON line each, for digging into a class).
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from phs_devstack import Ports, Stack, health_status, running
from tests.fuzz.cases import Case, Context, cases, plan
from tests.fuzz.client import Answer, send
from tests.fuzz.oracle import Failure, check
from tests.fuzz.routes import Route, methods_without_route, routes, services
from tests.fuzz.values import Shapes
from tests.fuzz.world import Monitor, World, gateway_facts

EXAMPLES = int(os.environ.get("PHS_FUZZ_EXAMPLES", "2000"))
LOG = os.environ.get("PHS_FUZZ_LOG")
# A fixed seed makes `make test` reproducible (and, unlike derandomize, costs nothing per run).
SEED = os.environ.get("PHS_FUZZ_SEED", "0")

settings.register_profile(
    "phs-fuzz",
    database=None,
    deadline=None,  # each request has the route's timeout instead
    phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: nothing to shrink
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack of its own: the fuzzer changes and floods it."""
    scheduling_db = reports_db = None
    if os.environ.get("PHS_FUZZ_DATABASE") == "postgres":
        factory: Callable[[], str] = request.getfixturevalue("pg_database")
        scheduling_db, reports_db = factory(), factory()
    root = tmp_path_factory.mktemp("fuzz-stack")
    # Paths the mutations move out of /v1/ reach the web app: give it a (stand-in) build.
    (root / "web" / "assets").mkdir(parents=True)
    (root / "web" / "index.html").write_text("<!doctype html><title>PHS</title>")
    stack = Stack(
        root=root,
        ports=Ports.free(),
        scheduling_db=scheduling_db,
        reports_db=reports_db,
        web_root=root / "web",
    )
    with running(stack) as s:
        yield s


@dataclass
class FailureClass:
    count: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int | None] = field(default_factory=Counter)
    example: Case | None = None
    failure: Failure | None = None
    status: int | None = None
    body: bytes = b""


@dataclass
class Tally:
    per_route: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int | None]] = field(default_factory=dict)
    modes: Counter[str] = field(default_factory=Counter)
    classes: dict[tuple[str, str], FailureClass] = field(default_factory=dict)
    failed_cases: int = 0
    waited: float = 0.0  # seconds spent waiting for answers
    checked: float = 0.0  # seconds spent judging them
    slowest: dict[str, float] = field(default_factory=dict)

    def record(self, case: Case, answer: Answer, failures: list[Failure]) -> None:
        status, body = answer.status, answer.body
        self.waited += answer.elapsed
        self.slowest[case.route.id] = max(self.slowest.get(case.route.id, 0.0), answer.elapsed)
        self.per_route[case.route.id] += 1
        self.statuses.setdefault(case.route.id, Counter())[status] += 1
        self.modes[case.mode] += 1
        self.failed_cases += bool(failures)
        for f in failures:
            c = self.classes.setdefault((f.kind, f.detail), FailureClass())
            c.count += 1
            c.routes[case.route.id] += 1
            c.statuses[status] += 1
            if c.example is None or case.size() < c.example.size():
                c.example, c.failure, c.status, c.body = case, f, status, body


def describe(case: Case, status: int | None, body: bytes) -> str:
    target = case.target if len(case.target) <= 160 else f"{case.target[:160]}… ({len(case.target)} chars)"
    lines = [f"      {case.method} {target}   [token: {case.role}, mode: {case.mode}; {case.note}]"]
    extra = [f"{k}: {v if len(v) <= 60 else v[:60] + f'… ({len(v)} chars)'}" for k, v in case.headers]
    if extra != ["content-type: application/json"]:
        more = f"; … ({len(extra) - 4} more)" if len(extra) > 4 else ""
        lines.append(f"      headers: {'; '.join(extra[:4])}{more}")
    if case.body is not None:
        shown = case.body[:200]
        more = f"… ({len(case.body)} bytes)" if len(case.body) > 200 else ""
        lines.append(f"      body: {shown!r}{more}")
    lines.append(f"      -> {status}: {body[:200]!r}")
    return "\n".join(lines)


def case_line(case: Case, answer: Answer, failures: list[Failure]) -> dict[str, object]:
    return {
        "route": case.route.id,
        "mode": case.mode,
        "role": case.role,
        "note": case.note,
        "request": f"{case.method} {case.target[:300]}",
        "body": (case.body or b"")[:300].decode("utf-8", "replace"),
        "status": answer.status,
        "answer": answer.body[:300].decode("utf-8", "replace"),
        "failures": [f"{f.kind}: {f.detail}" for f in failures],
    }


def summary(tally: Tally, seconds: float, monitor: Monitor, untestable: list[str]) -> str:
    total = sum(tally.per_route.values())
    out = [
        f"\nREST fuzzing: {total} cases over {len(tally.per_route)} routes in {seconds:.0f}s "
        f"({total / max(seconds, 1e-9) * 60:.0f} cases/min; {tally.waited:.0f}s waiting for answers, "
        f"{tally.checked:.0f}s judging them, the rest making cases); "
        f"{tally.failed_cases} cases failed"
    ]
    out.append("  cases per route (slowest answer; statuses):")
    for route_id, n in sorted(tally.per_route.items()):
        statuses = ", ".join(
            f"{s}: {k}" for s, k in sorted(tally.statuses[route_id].items(), key=lambda x: str(x[0]))
        )
        out.append(f"    {route_id:42} {n:5} {tally.slowest[route_id] * 1000:6.0f} ms   {statuses}")
    out.append("  modes: " + ", ".join(f"{m} {n}" for m, n in sorted(tally.modes.items())))
    if untestable:
        out.append("  not fuzzed (no HTTP rule): " + ", ".join(untestable))
    streams = sorted(r.id for r in routes() if r.streams)
    if streams:
        out.append(
            "  server streams (one JSON message per line; a watch read to its first): " + ", ".join(streams)
        )
    out.append("  " + monitor.summary())
    by_kind: Counter[str] = Counter()
    for (kind, _), c in tally.classes.items():
        by_kind[kind] += c.count
    out.append("  failures by class: " + (", ".join(f"{k} {n}" for k, n in by_kind.most_common()) or "none"))
    for (kind, detail), c in sorted(tally.classes.items(), key=lambda kv: -kv[1].count):
        assert c.example is not None and c.failure is not None
        routes_ = ", ".join(r for r, _ in c.routes.most_common(4)) + (" …" if len(c.routes) > 4 else "")
        statuses = ", ".join(f"{s}: {n}" for s, n in c.statuses.most_common())
        out.append(
            f"  [{kind}] {detail}: {c.count} cases on {len(c.routes)} routes ({routes_}); answered {statuses}"
        )
        out.append(f"      smallest: {c.failure.why[:200]}")
        out.append(describe(c.example, c.status, c.body))
    return "\n".join(out)


def assert_serving(stack: Stack) -> list[str]:
    """Every gRPC process answers SERVING, and so does every service of the descriptor
    set on the process that has it; Envoy is ready."""
    problems = [f"{name} exited" for name in stack.procs if not stack.running(name)]
    targets = {
        "scheduling": stack.scheduling_target,
        "reports-api": stack.reports_target,
        "reports-worker": stack.worker_target,
        "notifications": stack.notifications_target,
    }
    found = set()
    for name, target in targets.items():
        if not stack.running(name):
            continue
        for service in ("", *services()):
            try:
                if health_status(target, service, timeout=5) == 1:  # SERVING
                    found.add(service)
                elif service == "":
                    problems.append(f"{name} not SERVING")
            except Exception as err:  # noqa: BLE001 - NOT_FOUND for a service this process lacks
                if service == "":
                    problems.append(f"{name}: {type(err).__name__}")
    problems += [f"{s} not SERVING anywhere" for s in services() if s not in found]
    ready = urllib.request.urlopen(f"http://127.0.0.1:{stack.ports.envoy_admin}/ready", timeout=5)
    if ready.status != 200:
        problems.append(f"envoy /ready answered {ready.status}")
    return problems


def error_lines(stack: Stack) -> dict[str, int]:
    """ERROR lines each service logged (printed, not judged: the answers are)."""
    out = {}
    for name in stack.procs:
        path: Path = stack.log(name)
        if path.exists():
            out[name] = sum('"level": "ERROR"' in line or '"level":"ERROR"' in line for line in path.open())
    return out


@pytest.mark.slow
def test_fuzz_every_rest_route(fuzz_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(fuzz_stack)
    world.setup()
    gateway = gateway_facts(fuzz_stack)
    all_routes = routes()
    ctx = Context(Shapes(world.names), all_routes, world.tokens, world.anonymous, gateway)
    per_route = math.ceil(EXAMPLES / len(all_routes))  # spread over the modes by plan()
    tally = Tally()
    port = fuzz_stack.ports.rest
    monitor = Monitor(world, max(gateway.timeouts.values(), default=15.0))

    def run(route: Route, mode: str, examples: int) -> None:
        deadline = gateway.timeout(route.service)

        @settings(settings.get_profile("phs-fuzz"), max_examples=examples)
        @given(cases(route, ctx, mode))
        def fuzz(case: Case) -> None:
            token = ctx.tokens[case.role]
            auth = [("authorization", f"Bearer {token}")] if token else []
            open_ended = case.route.open_ended or ":watch" in case.target
            headers = auth + case.headers
            answer = send(port, case.method, case.target, headers, case.body, deadline + 5, open_ended)
            checking = time.monotonic()
            failures = check(case, answer, deadline, case.role in ctx.anonymous)
            tally.checked += time.monotonic() - checking
            tally.record(case, answer, failures)
            if log is not None:
                log.write(json.dumps(case_line(case, answer, failures)) + "\n")

        if SEED != "random":
            fuzz = seed(int(SEED))(fuzz)
        fuzz()

    log = open(LOG, "w") if LOG else None  # noqa: SIM115 - closed below
    started = time.monotonic()
    monitor.start()
    try:
        for route in all_routes:
            world.restore()
            for mode, examples in plan(per_route).items():
                run(route, mode, examples)
    finally:
        monitor.stop()
        if log is not None:
            log.close()
    seconds = time.monotonic() - started
    problems = assert_serving(fuzz_stack)
    report = summary(tally, seconds, monitor, methods_without_route())
    report += f"\n  health afterwards: {'; '.join(problems) or 'every service SERVING'}"
    report += f"\n  ERROR log lines: {error_lines(fuzz_stack)}"
    with capsys.disabled():
        print(report)

    assert set(tally.per_route) == {r.id for r in all_routes}, "a route was not fuzzed"
    assert not problems, problems
    assert not monitor.failures, monitor.failures
    assert not tally.classes, (
        f"{tally.failed_cases} of {sum(tally.per_route.values())} cases failed; see the summary"
    )
