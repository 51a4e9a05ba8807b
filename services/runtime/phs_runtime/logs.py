"""JSON logs, one object per line on stdout, each carrying the current request id.

RPC threads only enqueue records (the request id is captured in the calling
thread); one background thread formats and writes them in batches, so request
threads never queue on the stream's lock. The writer wakes on a short timer
rather than on every record: waking a thread per log line costs more CPU than
formatting it, because the two threads then trade the GIL on every request.
A record waits at most `FLUSH_INTERVAL` seconds; records at WARNING and above,
and everything at exit, are written at once. Never log client names, contact
details or notes: log resource names (ids) only.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import os
import queue
import sys
import threading

from pythonjsonlogger.json import JsonFormatter

from phs_runtime.context import current_request_id


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class _QueueHandler(logging.handlers.QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Keep the record's extra fields; render the message and traceback now,
        # while the arguments and exception are still alive.
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


FLUSH_INTERVAL = 0.05


class _Writer(threading.Thread):
    """Formats queued records and writes each batch with one write and flush."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord], handler: logging.StreamHandler) -> None:  # type: ignore[type-arg]
        super().__init__(name="log-writer", daemon=True)
        self.records = records
        self.handler = handler
        self.wake = threading.Event()
        self.stopping = False
        self.lock = threading.Lock()  # one drain at a time (the timer, a warning, exit)

    def run(self) -> None:
        while not self.stopping:
            self.wake.wait(FLUSH_INTERVAL)
            self.wake.clear()
            self.drain()

    def drain(self) -> None:
        with self.lock:
            lines = []
            while True:
                try:
                    record = self.records.get_nowait()
                except queue.Empty:
                    break
                try:
                    lines.append(self.handler.format(record))
                except Exception:  # noqa: BLE001 - a bad record must not stop the writer
                    self.handler.handleError(record)
            if lines:
                stream = self.handler.stream
                stream.write("\n".join(lines) + "\n")
                stream.flush()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.join(timeout=5)
        self.drain()


class _BatchQueueHandler(_QueueHandler):
    def __init__(self, records: queue.SimpleQueue[logging.LogRecord], writer: _Writer) -> None:
        super().__init__(records)
        self.writer = writer

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait(record)
        if record.levelno >= logging.WARNING:
            self.writer.wake.set()  # problems are worth a wake-up: write them now


_listener: _Writer | None = None


def _stop_listener() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()  # drains the queue
        _listener = None


def setup_logging(service: str, level: str | None = None) -> None:
    """Configure the root logger for one process. Idempotent."""
    global _listener
    _stop_listener()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = _Writer(records, handler)
    front = _BatchQueueHandler(records, writer)
    front.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(front)
    _listener = writer
    writer.start()
    atexit.register(_stop_listener)
    root.setLevel((level or os.environ.get("PHS_LOG_LEVEL") or "INFO").upper())
    # Library chatter at INFO is noise in production logs.
    for noisy in ("kafka", "alembic.runtime.migration", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
