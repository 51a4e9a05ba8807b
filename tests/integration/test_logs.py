"""The shared JSON log writer: every record reaches stdout, in order and with its
request id, while the process runs (within the flush interval) and at exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import logging, sys, threading, time
    from phs_runtime.context import request_context
    from phs_runtime.logs import setup_logging

    setup_logging("log-test")
    log = logging.getLogger("phs.test")
    log.info("first", extra={"n": -1})
    sys.stdin.readline()  # the test reads the first line while we wait here

    def burst(t):
        for i in range(500):
            with request_context(f"rid-{t}-{i}"):
                log.info("line", extra={"n": i, "worker": t})
    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for th in threads: th.start()
    for th in threads: th.join()
    log.warning("last")
    """
)


def test_records_are_written_while_running_and_all_at_exit() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    t0 = time.monotonic()
    first = json.loads(proc.stdout.readline())
    assert time.monotonic() - t0 < 5  # written by the timer, not at exit: the process still waits
    assert first["message"] == "first" and first["service"] == "log-test"
    proc.stdin.write("\n")
    proc.stdin.flush()
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=10) == 0
    lines = [r for r in rest if r["message"] == "line"]
    assert len(lines) == 2000
    for t in range(4):  # each thread's records in the order it logged them, each with its id
        mine = [r for r in lines if r["worker"] == t]
        assert [r["n"] for r in mine] == list(range(500))
        assert all(r["request_id"] == f"rid-{t}-{r['n']}" for r in mine)
    assert rest[-1]["message"] == "last" and rest[-1]["level"] == "WARNING"
