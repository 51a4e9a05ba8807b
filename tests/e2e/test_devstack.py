"""The launcher (`make up`, and every stack the tests start) keeps its children alive:
a child that dies is reaped and started again with backoff, a deliberate stop is not
undone, a job whose worker was killed still ends SUCCEEDED once, and `make up`'s
terminal shows a short status while the logs go to files."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.reports.v1 import resources_pb2 as rr
from phs_devstack import REPO, Ports, Stack, wait_serving
from phs_devstack.console import Console, Problem, problem
from tests.e2e.test_report_recovery import _psychologist_with_bookings
from tests.helpers import channel as helpers_channel
from tests.helpers import eventually, future_slot, rest, rfc3339
from tests.netproxy import TcpProxy


def zombies(parent: int | None = None) -> list[int]:
    """The children of `parent` (this process) that died and were never reaped."""
    parent = parent or os.getpid()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def test_a_dying_child_is_reaped_and_restarted_with_backoff_and_a_stopped_one_is_not(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    said: list[tuple[str, str]] = []
    stack.supervisor.say = lambda name, text: said.append((name, text))
    stack.supervisor.stable_after_s = 1.0
    try:
        # Any child is supervised, whatever it is: this one fails at once, every time.
        stack.spawn("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"])
        # This one runs longer than stable_after_s before failing: its backoff starts over.
        stack.spawn("steady", [sys.executable, "-c", "import sys, time; time.sleep(1.2); sys.exit(4)"])
        stack.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        eventually(lambda: stack.procs["flaky"].restarts >= 4, 15, 0.05, what="four restarts of flaky")
        eventually(lambda: stack.procs["steady"].restarts >= 2, 15, 0.05, what="two restarts of steady")
        assert stack.stop_proc("sleeper") == -signal.SIGTERM
        sleeper_log = len([x for x in said if x[0] == "sleeper"])
        # A child that died since the supervisor's last look is a zombie for a moment;
        # none may stay one.
        dead = set(zombies())
        eventually(lambda: not (dead & set(zombies())), 5, 0.05, what="dead children reaped")
    finally:
        stack.stop()
    delays = [re.search(r"restarting in (\S+)s", t) for n, t in said if n == "flaky"]
    assert [m.group(1) for m in delays if m][:4] == ["0.5", "1", "2", "4"]  # doubling
    flaky = [t for n, t in said if n == "flaky"]
    assert flaky[0].startswith("exited (exit status 3)") and "flaky.log" in flaky[0]
    assert flaky[1].startswith("restarted (pid ")
    steady = [m.group(1) for n, t in said if n == "steady" and (m := re.search(r"restarting in (\S+)s", t))]
    assert steady[:2] == ["0.5", "0.5"]
    assert sleeper_log == 0 and not [x for x in said if x[0] == "sleeper"]  # stopped on purpose: left alone
    assert "sleeper" not in stack.procs and not stack.procs
    assert not zombies()


def test_a_worker_killed_mid_job_is_restarted_and_the_job_succeeds_once(tmp_path: Path) -> None:
    ports = Ports.free()
    # The worker reads scheduling through a proxy that can make the job slow enough to be killed in.
    proxy = TcpProxy(("127.0.0.1", ports.scheduling))
    stack = Stack(root=tmp_path, ports=ports, extra_env={"PHS_SCHEDULING_TARGET": proxy.address})
    try:
        stack.start()
        psych = _psychologist_with_bookings(stack, 4)
        proxy.delay_s = (
            1.0  # stays slow for the restarted worker too: the test changes nothing after the kill
        )
        params = rr.CaseloadParams(psychologist=psych)
        params.interval.start_time.FromDatetime(future_slot(1))
        params.interval.end_time.FromDatetime(future_slot(20))
        with helpers_channel(stack.reports_target) as ch:
            reports = rs_grpc.ReportServiceStub(ch)
            job = reports.CreateReport(rs.CreateReportRequest(report=rr.Report(caseload_params=params)))

            def get() -> rr.Report:
                return reports.GetReport(rs.GetReportRequest(name=job.name))

            eventually(lambda: get().state == rr.Report.State.STATE_RUNNING, 30, 0.02, what="job running")
            first = stack.procs["reports-worker"].popen.pid
            os.kill(first, signal.SIGKILL)  # mid-job: no goodbye, no commit

            def succeeded() -> rr.Report | None:
                r = get()
                return r if r.state == rr.Report.State.STATE_SUCCEEDED else None

            done = eventually(succeeded, 90, 0.2, what="job succeeded after the worker's restart")
            listed = reports.ListReports(rs.ListReportsRequest(page_size=100)).reports
        worker = stack.procs["reports-worker"]
        assert worker.restarts == 1 and worker.popen.pid != first
        assert done.attempts == 2  # the killed attempt and the one that finished
        assert done.caseload.appointments_total == 4  # counted once
        assert [r.name for r in listed] == [job.name]
        job_id = job.name.split("/")[1]

        def finished() -> list[str]:
            return [
                line
                for line in stack.log("reports-worker").read_text().splitlines()
                if '"job finished"' in line and job_id in line
            ]

        eventually(finished, 5, what="job finished logged")
        (line,) = finished()  # by both worker lives together: exactly once
        assert '"outcome": "succeeded"' in line
        assert not zombies()
    finally:
        proxy.cut()
        stack.stop()


class Launcher:
    """`python -m phs_devstack` (what `make up` runs) on free ports; its terminal, line by line."""

    def __init__(self, data: Path) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "phs_devstack", "--free-ports", "--data", str(data)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def find(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.text, re.MULTILINE)

    def close(self) -> None:
        """Stop the launcher if a failure left it running (Ctrl-C stops its children)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                names = set(re.findall(r"^\S+ +(\S+)  started \(pid", self.text, re.MULTILINE))
                for pid in [self.popen.pid, *map(self.pid, names)]:  # alive children: pids not reused
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.popen.wait(10)

    def pid(self, name: str) -> int:
        """The pid of the latest start of `name`, as the terminal said."""
        found = re.findall(
            rf"^\S+ +{re.escape(name)}  (?:started|restarted) \(pid (\d+)", self.text, re.MULTILINE
        )
        return int(found[-1])


def _answers(base: str) -> bool:
    try:
        return rest(base, "GET", "/v1/sessionTypes").status == 200
    except OSError:  # not listening yet
        return False


def test_make_up_shows_a_short_status_and_brings_back_a_killed_broker_and_gateway(tmp_path: Path) -> None:
    up = Launcher(tmp_path)
    try:
        eventually(lambda: up.find(r"^PHS is up after") or up.popen.poll() is not None, 120, what="PHS is up")
        assert up.popen.poll() is None, up.text
        rest_url = up.find(r"REST gateway \(Envoy\) +(http://\S+)")
        reports = up.find(r"reports gRPC +(\S+)")
        worker = up.find(r"reports worker health +(\S+)")
        assert rest_url and reports and worker, up.text
        base = rest_url.group(1)
        names = ["kafka", "scheduling", "reports-api", "reports-worker", "envoy"]
        assert all(up.pid(n) for n in names)
        assert up.find(rf"logs +{re.escape(str(tmp_path / 'logs'))}/<name>\.log")
        assert rest(base, "GET", "/v1/sessionTypes").status == 200

        os.kill(up.pid("kafka"), signal.SIGKILL)
        eventually(lambda: up.find(r"kafka  restarted \(pid"), 20, what="broker restarted")
        wait_serving(worker.group(1), "phs.reports.v1.ReportWorker", 60)
        wait_serving(reports.group(1), "phs.reports.v1.ReportService", 60)
        psych = rest(base, "POST", "/v1/psychologists", {"displayName": "Dr U", "timeZone": "UTC"}).body
        window = {"startTime": rfc3339(future_slot(1)), "endTime": rfc3339(future_slot(9))}
        job = rest(
            base,
            "POST",
            "/v1/reports",
            {"caseloadParams": {"psychologist": psych["name"], "interval": window}},
        ).body
        eventually(
            lambda: rest(base, "GET", f"/v1/{job['name']}").body["state"] == "STATE_SUCCEEDED",
            60,
            0.2,
            what="a report after the broker's restart",
        )

        os.kill(up.pid("envoy"), signal.SIGKILL)
        eventually(lambda: up.find(r"envoy  restarted \(pid"), 20, what="gateway restarted")
        assert not zombies(up.popen.pid)
        eventually(lambda: _answers(base), 20, what="gateway answers")

        up.popen.send_signal(signal.SIGINT)
        assert up.popen.wait(60) == 0
    finally:
        up.close()
    for name in names:
        assert up.find(rf"^\S+ +{name}  started \(pid \d+, log {re.escape(str(tmp_path))}/logs/{name}\.log\)")
    assert up.find(r"kafka  exited \(killed by SIGKILL\)") and up.find(r"envoy  exited \(killed by SIGKILL\)")
    # The terminal is a status, not the logs: no JSON lines, no access log, yet the files have them.
    assert not [line for line in up.lines if line.lstrip().startswith("{") or "http request" in line]
    assert '"message":"http request"' in (tmp_path / "logs" / "envoy.log").read_text()
    assert "stopping" in up.text


def test_the_terminal_shows_problems_briefly_and_not_the_rest(tmp_path: Path) -> None:
    access = '{"level":"INFO","logger":"envoy.access","message":"http request","status":500}'
    assert problem(access) is None  # the access log stays in the file
    assert problem('{"level": "INFO", "message": "serving"}') is None
    warning = problem('{"level": "WARNING", "message": "consumer error; retrying", "error": "NoBrokers"}')
    assert warning == Problem(False, "WARNING consumer error; retrying (NoBrokers)")
    envoy = "[2026-12-01 14:38:19.385][12222][error][config] [source/x.cc:10] bad cluster"
    assert problem(envoy) == Problem(True, "ERROR bad cluster")
    assert problem("[2026-12-01 14:38:19.385][12222][info][main] [source/x.cc:10] hello") is None
    traceback = "Traceback (most recent call last):"
    assert problem(traceback) == Problem(True, traceback)
    assert problem("ready in 4ms") is None

    out = io.StringIO()
    console = Console(out)
    log = tmp_path / "svc.log"
    log.write_text('{"level": "WARNING", "message": "from an earlier run"}\n')
    console.follow("svc", log)
    with log.open("a") as f:
        f.write('{"level": "WARNING", "message": "while starting"}\n')
        f.write('{"level": "ERROR", "message": "broken at start"}\n')
    console.ready(tmp_path)
    with log.open("a") as f:
        for i in range(8):
            f.write(f'{{"level": "WARNING", "message": "w{i}"}}\n')
        f.write('{"level": "WARNING", "message": "half a li')  # the rest is not written yet
    console.flush()
    shown = [re.sub(r"^\S+ +", "", line) for line in out.getvalue().splitlines()]
    assert shown == [
        "svc  ERROR broken at start",  # errors at once, warnings only counted until ready
        f"devstack  1 warning while starting (see {tmp_path})",
        # at most five lines a minute from one child, then where to read the rest
        *[f"svc  WARNING w{i}" for i in range(4)],
        f"svc  more this minute, not shown here: see {log}",
    ]
