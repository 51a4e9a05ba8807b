"""Keeps the stack's child processes alive: any child that exits without being asked
to is reaped and started again with the same command, environment and ports, after a
backoff that doubles while it keeps dying and starts over once it has run a while.

Generic on purpose: whatever the Stack spawns (services, worker, broker, Envoy, and
children added later) is supervised the same way. Stopping a child through `release`
takes it out of supervision first, so a deliberate stop is never undone.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
# A child that ran this long before dying was healthy: its next restart is quick again.
STABLE_AFTER_S = 30.0
POLL_S = 0.1


@dataclass
class Proc:
    """One supervised child. `popen` is replaced when the child is restarted."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    backoff_s: float = BACKOFF_MIN_S
    restart_at: float | None = None  # set while a dead child waits for its restart

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


def launch(
    argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path | None
) -> subprocess.Popen[bytes]:
    """Start a child whose stdout and stderr append to its log file."""
    with open(log_path, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches the launcher, not the children
        )


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Watches `procs` (shared with the Stack) from one thread; `say(name, text)` reports."""

    def __init__(self, procs: dict[str, Proc], say: Callable[[str, str], None]) -> None:
        self.procs = procs
        self.say = say
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._halted = False
        self.backoff_min_s = BACKOFF_MIN_S
        self.backoff_max_s = BACKOFF_MAX_S
        self.stable_after_s = STABLE_AFTER_S

    def spawn(
        self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path | None
    ) -> Proc:
        proc = Proc(name, launch(argv, env, log_path, cwd), log_path, list(argv), dict(env), cwd)
        proc.backoff_s = self.backoff_min_s
        with self.lock:
            self._halted = False
            self.procs[name] = proc
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="devstack-supervisor", daemon=True)
                self._thread.start()
        return proc

    def release(self, name: str) -> Proc | None:
        """Take a child out of supervision (it is about to be stopped on purpose)."""
        with self.lock:
            return self.procs.pop(name, None)

    def halt(self) -> None:
        """No more restarts (the whole stack is stopping)."""
        with self.lock:
            self._halted = True

    def _watch(self) -> None:
        while True:
            with self.lock:
                if not self.procs:
                    self._thread = None  # spawn starts a new watcher when needed
                    return
                if not self._halted:
                    for proc in list(self.procs.values()):
                        self._check(proc, time.monotonic())
            time.sleep(POLL_S)

    def _check(self, proc: Proc, now: float) -> None:
        if proc.restart_at is None:
            code = proc.popen.poll()  # reaps a dead child: no zombie waits for Ctrl-C
            if code is None:
                return
            ran = now - proc.started
            if ran >= self.stable_after_s:
                proc.backoff_s = self.backoff_min_s
            delay = proc.backoff_s
            proc.backoff_s = min(self.backoff_max_s, delay * 2)
            proc.restart_at = now + delay
            self.say(
                proc.name,
                f"exited ({describe_exit(code)}) after {ran:.1f}s; restarting in {delay:g}s "
                f"(log: {proc.log_path})",
            )
        elif now >= proc.restart_at:
            try:
                proc.popen = launch(proc.argv, proc.env, proc.log_path, proc.cwd)
            except OSError as err:  # e.g. the binary vanished: try again later
                proc.restart_at = now + proc.backoff_s
                proc.backoff_s = min(self.backoff_max_s, proc.backoff_s * 2)
                self.say(proc.name, f"restart failed ({err}); trying again")
                return
            proc.restart_at = None
            proc.started = now
            proc.restarts += 1
            self.say(proc.name, f"restarted (pid {proc.popen.pid}, restart {proc.restarts})")
