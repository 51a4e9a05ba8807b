"""Every line a service process writes is JSON, whoever writes it: gRPC's C core
(traces and warnings), Python warnings, tracebacks printed to sys.stderr, bare
writes to file descriptor 2, a crash at startup, and lines written just before the
process exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from phs_devstack import REPO, Ports, Stack

FIELDS = {"time", "level", "logger", "message", "service", "request_id"}
BURST = 300

# Runs inside the scheduling process (Python imports sitecustomize at startup): once the
# test says go (the process serves, so gRPC core has traced connections), write to
# descriptor 2 every way there is, then ask the process to stop while the last lines
# are still in the pipe.
INJECT = textwrap.dedent(
    f"""
    import os, signal, sys, threading, time, traceback, warnings

    def inject():
        while not os.path.exists(os.environ["INJECT_GO"]):
            time.sleep(0.05)
        warnings.warn("injected python warning", UserWarning)
        print("injected plain line from sys.stderr", file=sys.stderr, flush=True)
        try:
            raise ValueError("injected failure")
        except ValueError:
            traceback.print_exc()
        os.write(2, b"I1201 12:00:00.000000   42 chttp2_transport.cc:1234] "
                    b"HDR:SVR: authorization: Bearer eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln\\n")
        os.write(2, b"E1201 12:00:00.000001   42 tcp_posix.cc:99] injected native error\\n")
        for i in range({BURST}):
            os.write(2, b"injected burst line %d\\n" % i)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=inject, daemon=True).start()
    """
)


def _records(text: str) -> list[dict[str, Any]]:
    """Every line as JSON with the logger's fields; fails on the first line that is not."""
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:300]!r}") from None
        assert isinstance(obj, dict) and obj.keys() >= FIELDS, line[:300]
        out.append(obj)
    return out


def test_native_warnings_tracebacks_and_last_lines_are_json(tmp_path: Path) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT)
    path = os.pathsep.join(p for p in (str(inject), os.environ.get("PYTHONPATH", "")) if p)
    # GRPC_VERBOSITY / GRPC_TRACE: gRPC core writes its own lines for the whole run.
    stack = Stack(
        root=tmp_path / "stack",
        ports=Ports.free(),
        extra_env={
            "PYTHONPATH": path,
            "INJECT_GO": str(inject / "go"),
            "GRPC_VERBOSITY": "debug",
            "GRPC_TRACE": "http",
        },
    )
    try:
        stack.start_kafka()
        stack.start_scheduling()
        stack.wait_scheduling()
        (inject / "go").touch()
        proc = stack.procs["scheduling"].popen
        assert proc.wait(60) == 0  # the injected SIGTERM: a graceful stop
    finally:
        stack.stop()
    records = _records(stack.log("scheduling").read_text())
    assert all(r["service"] == "scheduling" for r in records)

    core = [r for r in records if r["logger"] == "grpc.core"]
    assert any(r["message"].startswith("Log level DEBUG") and r["level"] == "WARNING" for r in core)
    assert sum(1 for r in core if r["source"].startswith("chttp2_transport.cc")) >= 3  # real traces
    header = next(r for r in core if "HDR:SVR" in r["message"])
    assert header["level"] == "INFO" and header["source"] == "chttp2_transport.cc:1234"
    assert "[redacted]" in header["message"] and "c2VjcmV0" not in json.dumps(records)
    assert any(r["level"] == "ERROR" and r["message"] == "injected native error" for r in core)

    warned = [r for r in records if r["logger"] == "py.warnings"]
    assert len(warned) == 1 and "injected python warning" in warned[0]["message"]
    plain = [r for r in records if r["logger"] == "stderr"]
    assert any(r["message"] == "injected plain line from sys.stderr" for r in plain)
    traceback = next(r for r in plain if r["message"].startswith("Traceback"))
    assert "raise ValueError" in traceback["message"]  # the frames stay with their traceback
    assert traceback["message"].endswith("ValueError: injected failure")
    burst = [r["message"] for r in plain if r["message"].startswith("injected burst line")]
    assert burst == [f"injected burst line {i}" for i in range(BURST)]  # none lost at exit
    assert any(r["message"] == "stopped" for r in records)


def test_a_crash_at_startup_is_one_json_record_with_its_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PHS_DATABASE_URL": "nosuchdialect://nowhere/db",
        # Settings are read whole first: the rest is valid, so the database is what fails.
        "PHS_AUTH_JWKS_FILE": str(tmp_path / "jwks.json"),
        "PHS_GRPC_PORT": "0",
        "PHS_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "phs_scheduling"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    records = _records(done.stdout)
    crash = [r for r in records if r["logger"] == "phs.crash"]
    assert len(crash) == 1 and crash[0]["level"] == "CRITICAL", records
    assert "NoSuchModuleError" in crash[0]["exc_info"] and "Traceback" in crash[0]["exc_info"]


def test_grpc_core_stays_quiet_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, GRPC_VERBOSITY would let gRPC core's traces through: the service packages
    default it to ERROR before grpc loads."""
    monkeypatch.delenv("GRPC_VERBOSITY", raising=False)
    stack = Stack(root=tmp_path, ports=Ports.free(), extra_env={"GRPC_TRACE": "http"})
    try:
        stack.start_kafka()
        stack.start_scheduling()
        stack.wait_scheduling()
    finally:
        stack.stop()
    records = _records(stack.log("scheduling").read_text())
    assert any(r["message"] == "stopped" for r in records)
    assert [r for r in records if r["logger"] == "grpc.core"] == []
