"""Time from `POST /v1/reports` to SUCCEEDED for a small report, through Envoy,
once the worker has joined its consumer group (the first job is a warm-up and
not counted). Polls GET every 10 ms.

    python -m bench.report_latency [--jobs 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Client, summary
from phs_devstack import Ports, Stack


def _rfc3339(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _run_job(c: Client, body: Any) -> float:
    t0 = time.perf_counter()
    status, job = c.call("POST", "/v1/reports", body, {"Idempotency-Key": str(uuid.uuid4())})
    assert status == 200, job
    while True:
        _, got = c.call("GET", f"/v1/{job['name']}")
        if got["state"] in ("STATE_SUCCEEDED", "STATE_FAILED"):
            assert got["state"] == "STATE_SUCCEEDED", got
            return time.perf_counter() - t0
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=30)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(root=Path(tmp), ports=Ports.free())
        try:
            stack.start()
            c = Client("127.0.0.1", stack.ports.rest, stack.token("staff/bench", "admin"))
            _, p = c.call("POST", "/v1/psychologists", {"displayName": "Dr Bench", "timeZone": "UTC"})
            _, cl = c.call("POST", "/v1/clients", {"displayName": "Client"})
            start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(
                minute=0, second=0, microsecond=0
            )
            for i in range(20):
                c.call(
                    "POST",
                    f"/v1/{p['name']}/appointments",
                    {
                        "client": cl["name"],
                        "sessionType": "sessionTypes/90834",
                        "startTime": _rfc3339(start + dt.timedelta(hours=2 * i)),
                    },
                )
            body = {
                "caseloadParams": {
                    "psychologist": p["name"],
                    "interval": {
                        "startTime": _rfc3339(start),
                        "endTime": _rfc3339(start + dt.timedelta(days=30)),
                    },
                }
            }
            warmup = _run_job(c, body)
            times = [_run_job(c, body) for _ in range(ns.jobs)]
            c.close()
        finally:
            stack.stop()
    print(
        f"POST /v1/reports -> SUCCEEDED ({ns.jobs} small jobs, 20 appointments each; "
        f"first job incl. consumer-group join {warmup * 1000:.0f} ms): {summary(times)}"
    )


if __name__ == "__main__":
    main()
