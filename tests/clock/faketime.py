"""Run a command, and every process it starts, with the wall clock moved to another instant.

    python -m tests.clock.faketime --at 2027-03-14T06:30:00Z -- pytest tests/unit/test_slots.py
    python -m tests.clock.faketime --matrix -- pytest -m clock   # each instant of MATRIX in turn

Debian's libfaketime is preloaded through the environment, so the services, Envoy and
the reports worker that the tests start share the faked clock. How, and why this way:

- FAKETIME="+N" (an offset in seconds), not "@instant": with "@", every process starts its
  own clock at that instant when it starts, so a service started a minute after pytest
  would run a minute behind it. An offset is the same in every process.
- The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): libfaketime 0.9.10
  does not translate sem_clockwait(), so with a faked monotonic clock every Python lock or
  Event wait with a timeout would sleep the offset too. monotonic_sleep.c, compiled here
  and preloaded first, fixes libfaketime's clock_nanosleep() for that setting
  (time.sleep() would fail with EINVAL).
- NO_FAKE_STAT=1 is set, yet libfaketime 0.9.10 still shifts stat() times by the offset
  (seen in a failure message): harmless, every faked process shifts them alike, and
  nothing compares file times with the clock.
- The Tansu broker is a static binary: LD_PRELOAD does not reach it, so it keeps the real
  clock. Nothing in it depends on the date (memory storage, group timeouts measured on
  its own clock). PostgreSQL is not a child either: the code takes "now" from Python.

Where libfaketime is missing the run is skipped with a message, except under CI=true,
where it fails: CI must run the clock matrix (.ci/run installs the package).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIM_SOURCE = Path(__file__).with_name("monotonic_sleep.c")
LIBFAKETIME_GLOBS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)

# The instants `make test` runs the clock-marked tests at (see README, "Tests and the clock").
MATRIX = (
    # A Sunday, half an hour before Toronto springs forward (07:00 UTC): the week ahead has
    # a 23-hour day in America/*, and Europe changes two weeks later.
    "2027-03-14T06:30:00Z",
    # The last day of a month and of a year, minutes before midnight UTC: Toronto and
    # Vancouver are still on Dec 31, Paris and Tokyo already on Jan 1, and the run crosses
    # midnight UTC while it goes.
    "2026-12-31T23:57:00Z",
)


# What a faked process needs in its environment: processes started with an environment
# of their own (tests/k8s/local.py's pods) pass these on to share the faked clock.
CLOCK_VARS = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "NO_FAKE_STAT", "FAKETIME_SHARED")


def parse_instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone (Z or +hh:mm)")
    return value.astimezone(dt.UTC)


def libfaketime() -> str | None:
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def shim() -> Path:
    """monotonic_sleep.c compiled once per content under build/ (ignored by git)."""
    digest = hashlib.sha256(SHIM_SOURCE.read_bytes()).hexdigest()[:12]
    out = REPO / "build" / "faketime" / f"monotonic_sleep-{digest}.so"
    if not out.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise SystemExit("clock matrix: no C compiler (cc) to build tests/clock/monotonic_sleep.c")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SHIM_SOURCE), "-ldl"], check=True)
        tmp.replace(out)
    return out


def faked_env(at: dt.datetime, library: str) -> dict[str, str]:
    offset = round(at.timestamp() - time.time())
    preload = f"{shim()}:{library}"
    if os.environ.get("LD_PRELOAD"):
        preload += ":" + os.environ["LD_PRELOAD"]
    env = {k: v for k, v in os.environ.items() if k != "FAKETIME_SHARED"}
    env.update(
        FAKETIME=f"{offset:+d}",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        NO_FAKE_STAT="1",
        LD_PRELOAD=preload,
        PHS_FAKETIME_AT=at.isoformat().replace("+00:00", "Z"),
    )
    return env


PROBE = """
import datetime as dt, threading, time
t0 = time.monotonic()
time.sleep(0.05)
threading.Event().wait(0.05)
assert 0.09 < time.monotonic() - t0 < 5, "sleeps and timed waits must take real time"
print(dt.datetime.now(dt.UTC).timestamp())
"""


def check(env: dict[str, str], at: dt.datetime) -> None:
    """Fail unless a child process sees the faked date and can still sleep and wait."""
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(f"clock matrix: faked clock is broken:\n{out.stderr}")
    seen = float(out.stdout.strip())
    if abs(seen - at.timestamp()) > 60:
        raise SystemExit(f"clock matrix: a child saw {seen}, not about {at.timestamp()}")


def run(at: dt.datetime, command: list[str], library: str) -> int:
    env = faked_env(at, library)
    check(env, at)
    print(f"== clock {env['PHS_FAKETIME_AT']} (FAKETIME={env['FAKETIME']}): {' '.join(command)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env)
    code = proc.wait()
    # The first faked process owns libfaketime's semaphore and shared memory and removes
    # them when it exits normally; after a kill they would stay in /dev/shm.
    for stale in (f"/dev/shm/faketime_shm_{proc.pid}", f"/dev/shm/sem.faketime_sem_{proc.pid}"):
        Path(stale).unlink(missing_ok=True)
    took = time.monotonic() - started
    print(f"== clock {env['PHS_FAKETIME_AT']}: exit {code} in {took:.0f} s", flush=True)
    return code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    when = ap.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=parse_instant, action="append", help="e.g. 2027-03-14T06:30:00Z")
    when.add_argument("--matrix", action="store_true", help="each instant of MATRIX in turn")
    ap.add_argument("command", nargs="+", help="the command (after --)")
    ns = ap.parse_args()
    library = libfaketime()
    if library is None:
        if os.environ.get("CI", "").lower() == "true":
            print("clock matrix: libfaketime is not installed; CI must run it (apt-get install faketime)")
            return 1
        print("clock matrix SKIPPED: libfaketime is not installed (apt-get install faketime to run it)")
        return 0
    instants = [parse_instant(x) for x in MATRIX] if ns.matrix else ns.at
    failed = [at for at in instants if run(at, ns.command, library) != 0]
    for at in failed:
        print(f"clock matrix: FAILED at {at.isoformat()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
