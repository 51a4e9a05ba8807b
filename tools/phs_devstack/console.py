"""What `make up` shows in the terminal: one line per event (started, ready, exited,
restarted) and, briefly, the warnings and errors the children log. Every log line,
access log included, stays in <data>/logs/<name>.log; the terminal only points there.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

FOLLOW_INTERVAL_S = 0.5
# At most this many warnings per child per window; then one line pointing at its log.
BURST = 5
WINDOW_S = 60.0
WIDTH = 160

WARNINGS = {"WARNING", "WARN"}
ERRORS = {"ERROR", "CRITICAL", "FATAL"}
# Lines that are not JSON (Envoy's own log, the broker's, a Python traceback).
PLAIN_WARNING = re.compile(r"warn", re.IGNORECASE)
PLAIN_ERROR = re.compile(r"error|critical|fatal|panic|traceback|exception", re.IGNORECASE)
ENVOY_PREFIX = re.compile(r"^\[[^\]]*\]\[\d+\]\[(\w+)\]\[[^\]]*\] (?:\[[^\]]*\] )?")


@dataclass(frozen=True)
class Problem:
    error: bool  # else a warning
    text: str  # one short line


def problem(line: str) -> Problem | None:
    """The short form of a warning or error log line; None for anything else."""
    line = line.strip()
    if not line:
        return None
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            level = str(record.get("level", "")).upper()
            if level not in WARNINGS | ERRORS:
                return None
            text = f"{level} {record.get('message', '')}"
            if record.get("error"):
                text += f" ({record['error']})"
            return Problem(level in ERRORS, _short(text))
    envoy = ENVOY_PREFIX.match(line)
    if envoy:
        level = envoy.group(1).upper()
        if level not in WARNINGS | ERRORS:
            return None
        return Problem(level in ERRORS, _short(f"{level} {line[envoy.end() :]}"))
    if PLAIN_ERROR.search(line):
        return Problem(True, _short(line))
    if PLAIN_WARNING.search(line):
        return Problem(False, _short(line))
    return None


def _short(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


@dataclass
class _Followed:
    path: Path
    offset: int
    partial: bytes = b""
    window_start: float = 0.0
    shown: int = 0
    muted: bool = False


class Console:
    """Until `ready()`, warnings are only counted: dependencies coming up in any order
    make a few, and they are no news. Errors are shown at once."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._ready = False
        self._early_warnings = 0
        self._closed = False
        self._files: dict[str, _Followed] = {}
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # the follower thread and a final flush take turns
        self._thread: threading.Thread | None = None

    def say(self, name: str, text: str) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        with self._lock:
            print(f"{stamp} {name:>15}  {text}", file=self.out, flush=True)

    def follow(self, name: str, path: Path) -> None:
        """Show the problems `name` logs to `path` from now on (earlier runs' lines are not news)."""
        with self._lock:
            if name not in self._files:
                offset = path.stat().st_size if path.exists() else 0
                self._files[name] = _Followed(path, offset)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="devstack-console", daemon=True)
                self._thread.start()

    def ready(self, logs: Path) -> None:
        """The stack is up: from now on warnings are shown too."""
        self.flush()
        self._ready = True
        if self._early_warnings:
            n = self._early_warnings
            self.say("devstack", f"{n} warning{'s' * (n != 1)} while starting (see {logs})")

    def close(self) -> None:
        """Show what is pending, then nothing more (the stack is being stopped on purpose)."""
        self.flush()
        self._closed = True

    def flush(self) -> None:
        """Show what the children logged since the last look."""
        with self._reading:
            if not self._closed:
                self._read_all()

    def _run(self) -> None:
        while not self._closed:
            time.sleep(FOLLOW_INTERVAL_S)
            self.flush()

    def _read_all(self) -> None:
        with self._lock:
            followed = list(self._files.items())
        for name, f in followed:
            for line in self._new_lines(f):
                found = problem(line)
                if found is None:
                    continue
                if found.error or self._ready:
                    self._show(name, f, found.text)
                else:
                    self._early_warnings += 1

    @staticmethod
    def _new_lines(f: _Followed) -> list[str]:
        try:
            with open(f.path, "rb") as fh:
                fh.seek(f.offset)
                data = fh.read()
        except OSError:
            return []
        f.offset += len(data)
        data = f.partial + data
        *lines, f.partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def _show(self, name: str, f: _Followed, text: str) -> None:
        now = time.monotonic()
        if now - f.window_start > WINDOW_S:
            f.window_start, f.shown, f.muted = now, 0, False
        if f.shown < BURST:
            f.shown += 1
            self.say(name, text)
        elif not f.muted:
            f.muted = True
            self.say(name, f"more this minute, not shown here: see {f.path}")
