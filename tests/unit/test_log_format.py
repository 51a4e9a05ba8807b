"""The JSON line formatter (phs_runtime.logs): its direct path for plain records writes
exactly what python-json-logger's general path writes, and everything else goes that
general way."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import pytest
from pythonjsonlogger.json import JsonFormatter

from phs_runtime.logs import json_formatter


def _reference() -> logging.Formatter:
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}{service}{request_id}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def _record(
    msg: object, args: tuple[object, ...] = (), exc: bool = False, **extra: object
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.getLogger("phs.test").makeRecord(
        "phs.test", logging.INFO, "x.py", 1, msg, args, exc_info, extra=extra or None
    )
    record.service = "scheduling"
    record.request_id = "rid-1"
    return record


CASES = {
    "the access line": _record(
        "rpc finished", grpc_method="/a.B/C", grpc_code="OK", duration_ms=1.25, resource="clients/c1"
    ),
    "no extras": _record("started"),
    "arguments": _record("%s of %d", ("one", 2)),
    "odd values": _record(
        "values",
        when=dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        raw=b"\x00\xff",
        items=[1, "é"],
        n=None,
    ),
    "a private attribute": _record("hidden", _private=1, shown=2),
    "an exception": _record("failed", exc=True),
    "a dict message": _record({"event": "x", "n": 1}),
    "a non-text message": _record(ValueError("as message")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lines_are_python_json_loggers(name: str) -> None:
    record = CASES[name]
    ours, reference = json_formatter().format(record), _reference().format(record)
    assert ours == reference
    assert json.loads(ours)["request_id"] == "rid-1"


def test_the_time_follows_the_record() -> None:
    fmt = json_formatter()
    first, later = _record("a"), _record("b")
    later.created = first.created + 3600
    assert fmt.format(first) == _reference().format(first)
    assert fmt.format(later) == _reference().format(later)
    assert json.loads(fmt.format(first))["time"] != json.loads(fmt.format(later))["time"]
