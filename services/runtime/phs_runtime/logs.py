"""JSON logs, one object per line on stdout, each carrying the current request id.

RPC threads only enqueue records (the request id is captured in the calling
thread); one background thread formats and writes them, so request threads
never queue on the stream's lock. Never log client names, contact details or
notes: log resource names (ids) only.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import os
import queue
import sys

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


_listener: logging.handlers.QueueListener | None = None


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
    front = _QueueHandler(records)
    front.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(front)
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    atexit.register(_stop_listener)
    root.setLevel((level or os.environ.get("PHS_LOG_LEVEL") or "INFO").upper())
    # Library chatter at INFO is noise in production logs.
    for noisy in ("kafka", "alembic.runtime.migration", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
