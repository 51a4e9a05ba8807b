"""Practice summary at scale: N appointments (default 1,000,000) over one year
and 50 psychologists, summarized by the real worker through the scheduling
service's streaming export. Prints the wall time from CreateReport to SUCCEEDED
and the worker's peak RSS (VmHWM), to compare across sizes (memory must not grow
with N).

    python -m bench.practice_summary [--appointments 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.reports.v1 import resources_pb2 as rr
from phs_devstack import Ports, Stack
from phs_runtime.auth import StaticToken
from phs_runtime.interceptors import client_channel
from phs_scheduling.store import Store

FMT = "%Y-%m-%d %H:%M:%S.%f"
STATES = ["COMPLETED"] * 80 + ["CANCELLED"] * 10 + ["NO_SHOW"] * 6 + ["DECLINED"] * 4
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def build(path: Path, n: int, psychologists: int = 50) -> None:
    """Schema by the real migrations, rows by raw executemany (history rows are not
    active, so the overlap triggers let them through without a check)."""
    Store.open(f"sqlite:///{path}").close()
    rng = random.Random(1)
    db = sqlite3.connect(path)
    now = dt.datetime.now(dt.UTC).strftime(FMT)
    pids = [str(uuid.uuid4()) for _ in range(psychologists)]
    cids = [str(uuid.uuid4()) for _ in range(psychologists * 40)]
    db.executemany(
        "INSERT INTO psychologists VALUES (?, ?, 'UTC', 1, ?, ?)",
        [(p, f"Dr {i}", now, now) for i, p in enumerate(pids)],
    )
    db.executemany(
        "INSERT INTO clients (id, display_name, email, phone, psychologist_id, create_time, "
        "update_time) VALUES (?, 'Client', '', '', ?, ?, ?)",
        [(c, pids[i % psychologists], now, now) for i, c in enumerate(cids)],
    )

    def rows() -> object:
        for i in range(n):
            start = START + dt.timedelta(minutes=rng.randrange(0, 365 * 24 * 60 // 15) * 15)
            end = start + dt.timedelta(minutes=45)
            state = STATES[i % len(STATES)]
            late = 1 if state == "CANCELLED" and i % 3 == 0 else None
            yield (
                str(uuid.UUID(int=rng.getrandbits(128))),
                pids[i % psychologists],
                cids[i % len(cids)],
                "90834",
                start.strftime(FMT),
                end.strftime(FMT),
                start.strftime(FMT),
                (end + dt.timedelta(minutes=15)).strftime(FMT),
                state,
                1,
                now,
                now,
                "CLIENT_REQUEST" if state == "CANCELLED" else None,
                "CLIENT" if state == "CANCELLED" else None,
                late,
                now if state == "CANCELLED" else None,
            )

    db.executemany(
        "INSERT INTO appointments (id, psychologist_id, client_id, session_type_code, start_time, end_time, "
        "block_start, block_end, state, version, create_time, update_time, cancel_reason, cancelled_by, "
        "cancel_late, cancel_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),  # type: ignore[arg-type]
    )
    db.commit()
    db.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--appointments", type=int, default=1_000_000)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build(root / "scheduling.db", ns.appointments)
        built = time.perf_counter() - t0
        stack = Stack(root=root, ports=Ports.free(), extra_env={"PHS_REPORT_RPC_TIMEOUT_SECONDS": "600"})
        try:
            stack.start()
            worker_pid = stack.procs["reports-worker"].popen.pid
            rss_idle = peak_rss_mb(worker_pid)
            params = rr.PracticeSummaryParams()
            params.interval.start_time.FromDatetime(START)
            params.interval.end_time.FromDatetime(START + dt.timedelta(days=366))
            token = StaticToken(stack.token("staff/bench", "admin"))
            with client_channel(stack.reports_target, tokens=token) as ch:
                stub = rs_grpc.ReportServiceStub(ch)
                # A one-day warm-up job first, so the worker's consumer-group join is not timed.
                warm = rr.PracticeSummaryParams()
                warm.interval.start_time.FromDatetime(START)
                warm.interval.end_time.FromDatetime(START + dt.timedelta(days=1))
                first = stub.CreateReport(
                    rs.CreateReportRequest(report=rr.Report(practice_summary_params=warm))
                )
                for _ in stub.WatchReport(rs.WatchReportRequest(name=first.name), timeout=120):
                    pass
                t1 = time.perf_counter()
                job = stub.CreateReport(
                    rs.CreateReportRequest(report=rr.Report(practice_summary_params=params))
                )
                for report in stub.WatchReport(rs.WatchReportRequest(name=job.name), timeout=1800):
                    final = report
                elapsed = time.perf_counter() - t1
            assert final.state == rr.Report.State.STATE_SUCCEEDED, final
            total = final.practice_summary.total.appointments_total
            rss_peak = peak_rss_mb(worker_pid)
        finally:
            stack.stop()
    print(
        f"Practice summary over {total:,} appointments (50 psychologists, one year; data built in "
        f"{built:.0f} s): {elapsed:.1f} s from CreateReport to SUCCEEDED (worker joined); "
        f"worker peak RSS {rss_peak:.0f} MB "
        f"(after start-up {rss_idle:.0f} MB)"
    )


if __name__ == "__main__":
    main()
