"""SIGTERM: health turns NOT_SERVING first, in-flight work finishes, the
process exits cleanly; the worker finishes the job it is computing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.reports.v1 import resources_pb2 as rr
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import REPO, Ports, Stack, free_port, health_status, wait_serving
from tests.helpers import channel as helpers_channel
from tests.helpers import eventually, future_slot, json_lines
from tests.netproxy import TcpProxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_sigterm_drains_in_flight_rpcs_after_reporting_not_serving(tmp_path: Path) -> None:
    port, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "PHS_GRPC_PORT": str(port),
        "PHS_METRICS_PORT": str(metrics),
        "PHS_BIND_HOST": "127.0.0.1",
        "PHS_SHUTDOWN_DRAIN_SECONDS": "1",
        "PHS_SHUTDOWN_GRACE_SECONDS": "5",
    }
    log = open(tmp_path / "slow.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.slow_server"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    target = f"127.0.0.1:{port}"
    try:
        wait_serving(target, "test.Slow", 20)
        channel = helpers_channel(target)
        sleep = channel.unary_unary("/test.Slow/Sleep", None, None)
        result: dict[str, object] = {}

        def call() -> None:
            try:
                result["value"] = sleep(b"2.5", timeout=10)
            except grpc.RpcError as err:
                result["error"] = err.code()

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)  # the RPC is in flight
        proc.send_signal(signal.SIGTERM)
        # During the drain delay the server still answers, and says NOT_SERVING.
        assert eventually(
            lambda: health_status(target, "test.Slow") == NOT_SERVING,
            1,
            0.02,
            what="NOT_SERVING during drain",
        )
        assert health_status(target, "") == NOT_SERVING
        t.join(10)
        assert result == {"value": b"done"}  # finished, not cut off
        assert proc.wait(10) == 0
        channel.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    lines = json_lines(tmp_path / "slow.log")
    messages = [x["message"] for x in lines]
    assert messages.index("signal received, shutting down") < messages.index("stopped")


def test_worker_finishes_its_job_on_sigterm_and_every_service_exits_cleanly(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    proxy: TcpProxy | None = None
    try:
        stack.start_backends()
        # The worker reaches scheduling through a proxy we can slow down.
        proxy = TcpProxy(("127.0.0.1", stack.ports.scheduling))
        stack.extra_env = {"PHS_SCHEDULING_TARGET": proxy.address, "PHS_SHUTDOWN_GRACE_SECONDS": "15"}
        stack.start_worker()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 60)

        with helpers_channel(stack.scheduling_target) as ch:
            sched = ss_grpc.SchedulingServiceStub(ch)
            p = sched.CreatePsychologist(
                ss.CreatePsychologistRequest(
                    psychologist=sr.Psychologist(display_name="Dr Q", time_zone="UTC")
                )
            )
        with helpers_channel(stack.reports_target) as ch:
            reports = rs_grpc.ReportServiceStub(ch)
            params = rr.CaseloadParams(psychologist=p.name)
            params.interval.start_time.FromDatetime(future_slot(1))
            params.interval.end_time.FromDatetime(future_slot(20))
            proxy.delay_s = 1.0
            job = reports.CreateReport(rs.CreateReportRequest(report=rr.Report(caseload_params=params)))

            def state() -> int:
                return int(reports.GetReport(rs.GetReportRequest(name=job.name)).state)

            eventually(lambda: state() == rr.Report.State.STATE_RUNNING, 30, 0.02, what="job running")
            assert stack.stop_proc("reports-worker") == 0
            final = reports.GetReport(rs.GetReportRequest(name=job.name))
        assert final.state == rr.Report.State.STATE_SUCCEEDED, final
        assert final.attempts == 1
        worker_log = [x["message"] for x in json_lines(stack.log("reports-worker"))]
        assert worker_log.index("signal received, shutting down") < worker_log.index("job finished")
        assert worker_log[-1] == "stopped"
        for name in ("reports-api", "scheduling"):
            assert stack.stop_proc(name) == 0, name
            assert json_lines(stack.log(name))[-1]["message"] == "stopped"
    finally:
        if proxy is not None:
            proxy.cut()
        stack.stop()
