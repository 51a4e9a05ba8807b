"""JSON logs, one object per line on stdout, each carrying the current request id.

Never log client names, contact details or notes: log resource names (ids) only.
"""

from __future__ import annotations

import logging
import os
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


def setup_logging(service: str, level: str | None = None) -> None:
    """Configure the root logger for one process. Idempotent."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("PHS_LOG_LEVEL") or "INFO").upper())
    # Library chatter at INFO is noise in production logs.
    for noisy in ("kafka", "alembic.runtime.migration", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
