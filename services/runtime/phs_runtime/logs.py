"""JSON logs, one object per line on stdout, each carrying the current request id.

RPC threads only enqueue records (the request id is captured in the calling
thread); one background thread formats and writes them in batches, so request
threads never queue on the stream's lock. The writer wakes on a short timer
rather than on every record: waking a thread per log line costs more CPU than
formatting it, because the two threads then trade the GIL on every request.
A record waits at most `FLUSH_INTERVAL` seconds; records at WARNING and above,
and everything at exit, are written at once. Never log client names, contact
details or notes: log resource names (ids) only.

Native code writes to file descriptor 2 behind the logger's back: gRPC's C core
(`E1201 12:00:00.000000 42 chttp2_transport.cc:1118] ...`), any C library, and
Python itself for warnings, tracebacks and "Exception ignored" notes. So
`setup_logging` puts a pipe over descriptor 2 and a thread turns each line that
comes out of it into a record (logger `grpc.core` at the line's own severity,
else `stderr` at WARNING): every line a process writes is JSON. Uncaught
exceptions (a crash at startup included) are logged with their traceback, and at
exit whatever is still in the pipe is logged before the last batch is written.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import os
import queue
import re
import select
import sys
import threading
from types import TracebackType

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

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
        # while the arguments and exception are still alive. A plain message with
        # neither (most lines) has nothing to render: it goes as it is.
        if not record.args and record.exc_info is None and type(record.msg) is str:
            return record
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


_FIELDS = "{asctime}{levelname}{name}{message}{service}{request_id}"
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class _JsonFormatter(JsonFormatter):
    """python-json-logger's lines, the common record built directly: a plain message
    with its extra fields, no exception or stack (python-json-logger's general path
    costs several times more per line). Anything else goes the general way."""

    def __init__(self) -> None:
        super().__init__(_FIELDS, style="{", rename_fields=_RENAMED, datefmt=_DATE_FORMAT)
        self._encode = JsonEncoder().encode  # what json.dumps(..., cls=JsonEncoder) builds per line
        self._second = -1
        self._time = ""

    def format(self, record: logging.LogRecord) -> str:
        if type(record.msg) is not str or record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        fields = record.__dict__
        second = int(record.created)
        if second != self._second:  # the time shows whole seconds: format it once per second
            self._time, self._second = self.formatTime(record, self.datefmt), second
        line = {
            "time": self._time,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": fields.get("service"),
            "request_id": fields.get("request_id"),
        }
        skip = self._skip_fields
        for key, value in fields.items():
            if key not in skip and key[:1] != "_":
                line[key] = value
        return self.prefix + self._encode(line)


def json_formatter() -> logging.Formatter:
    """The formatter of every line: one JSON object with time, level, logger, message,
    service, request id and the record's extra fields."""
    return _JsonFormatter()


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
        if self.writer.stopping:  # at exit, after the last batch: write it ourselves
            self.writer.drain()
        elif record.levelno >= logging.WARNING:
            self.writer.wake.set()  # problems are worth a wake-up: write them now


_listener: _Writer | None = None


def _stop_listener() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()  # drains the queue
        _listener = None


def setup_logging(service: str, level: str | None = None) -> None:
    """Configure the root logger for one process, and route what is written to file
    descriptor 2 through it. Idempotent."""
    global _listener
    _stop_listener()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    # Records carry no thread or process (no line shows them): not looking them up
    # makes each record cheaper.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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
    root.setLevel((level or os.environ.get("PHS_LOG_LEVEL") or "INFO").upper())
    # Library chatter at INFO is noise in production logs.
    for noisy in ("kafka", "alembic.runtime.migration", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _capture_stderr()


# -- file descriptor 2 ------------------------------------------------------------------

# gRPC core's (absl's) line format: severity, date, time, thread, source, message.
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ +([^\]\s]+)\] ?(.*)$")
_NATIVE_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
# gRPC's HTTP traces print request headers: never let a token through.
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
_MAX_LINE = 4096  # characters of one line kept (it is unbounded input)
_DRAINED = b"\x00phs-stderr-drained\x00"  # the exit's marker: everything before it is read


class _StderrReader(threading.Thread):
    """Reads the pipe that replaced file descriptor 2 and logs each line. Indented lines
    (a traceback's frames) and a traceback's closing exception line stay with the line
    that opened them, as one record; a block is logged when the next one starts or
    after `QUIET_S` without a line."""

    QUIET_S = 0.05

    def __init__(self, fd: int) -> None:
        super().__init__(name="stderr-reader", daemon=True)
        self.fd = fd
        self.drained = threading.Event()
        self.native = logging.getLogger("grpc.core")
        self.text = logging.getLogger("stderr")
        self.block: list[str] = []

    def run(self) -> None:
        pending = b""
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], self.QUIET_S if self.block else None)
                if not ready:
                    self._flush()
                    continue
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > _MAX_LINE:  # a line without an end: log what there is
                lines.append(pending)
                pending = b""
            for line in lines:
                self._feed(line)
        self._flush()

    def _feed(self, raw: bytes) -> None:
        if raw == _DRAINED:
            self._flush()
            self.drained.set()
            return
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if not line.strip():
            return
        if self.block and line[:1] in (" ", "\t"):
            self.block.append(line)
            return
        if len(self.block) > 1 and self.block[0].startswith("Traceback"):
            self.block.append(line)  # the exception itself ends the traceback
            self._flush()
            return
        self._flush()
        self.block = [line]

    def _flush(self) -> None:
        block, self.block = self.block, []
        self._log(block)

    def _log(self, block: list[str]) -> None:
        if not block:
            return
        text = _BEARER.sub(r"\1[redacted]", "\n".join(block))[:_MAX_LINE]
        native = _NATIVE_LINE.match(text)
        if native is None:
            self.text.warning(text)
            return
        severity, source, message = native.groups()
        self.native.log(_NATIVE_LEVELS[severity], message, extra={"source": source})


_reader: _StderrReader | None = None


def _capture_stderr() -> None:
    """Put a pipe over file descriptor 2 (once per process) and log what comes out."""
    global _reader
    if _reader is not None:
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    _reader = _StderrReader(read_end)
    _reader.start()
    logging.captureWarnings(True)  # Python warnings as records of their own (py.warnings)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """A crash (at startup, say) ends with its traceback as one record."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("phs.crash").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    logging.getLogger("phs.crash").error(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        extra={"thread": args.thread.name if args.thread else None},
    )


def _drain_stderr(timeout_s: float = 2.0) -> None:
    """Log what is still in the pipe: write a marker behind it and wait for the reader
    to reach it."""
    if _reader is None or not _reader.is_alive():
        return
    try:
        sys.stderr.flush()
        os.write(2, _DRAINED + b"\n")
    except (OSError, ValueError):
        return
    _reader.drained.wait(timeout_s)


def _at_exit() -> None:
    _drain_stderr()
    _stop_listener()


atexit.register(_at_exit)
