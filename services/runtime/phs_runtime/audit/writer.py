"""The audit log of one service database: appends entries with group commit (one writer
thread commits the rows of concurrent RPCs together), and lists them."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine, Table

from phs.audit.v1 import audit_pb2
from phs_runtime import db
from phs_runtime.audit.entry import Entry
from phs_runtime.audit.query import list_events

log = logging.getLogger("phs_runtime.audit")

# The most rows one transaction of the writer commits.
MAX_BATCH = 500


class AuditLog:
    """Appends entries with group commit: `record` blocks until its row is durable."""

    def __init__(self, engine: Engine, table: Table, source: str, timeout_s: float = 10.0) -> None:
        self.engine, self.table, self.source, self.timeout_s = engine, table, source, timeout_s
        self._queue: queue.Queue[tuple[dict[str, Any], Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, entry: Entry) -> None:
        done: Future[None] = Future()
        self._queue.put((entry.row(self.source), done))
        done.result(timeout=self.timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                with db.write_transaction(self.engine) as conn:
                    conn.execute(db.insert_into(self.table), [row for row, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter learns of it
                log.error("audit write failed", extra={"error": type(exc).__name__, "rows": len(batch)})
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for _, fut in batch:
                fut.set_result(None)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def list(
        self, request: audit_pb2.ListAuditEventsRequest, log_name: str
    ) -> audit_pb2.ListAuditEventsResponse:
        """ListAuditEvents over this log (audit.query)."""
        return list_events(self.engine, self.table, request, log_name)
