"""The audit trail: one append-only table per service database, written for every
read of client data, every change and every refused attempt.

Durability: the RPC does not answer until its audit row is committed. A change
writes its row in its own transaction (`stage`, called by idempotency.run_once),
so a committed change without its audit entry cannot exist. Other rows (reads,
refusals, replays, failures) of concurrent RPCs are committed together by one
writer thread (group commit), a fraction of a transaction per call. If such a
row cannot be written the RPC fails with UNAVAILABLE.

Append-only: no API updates or deletes rows, and the database refuses UPDATE
and DELETE on the table (triggers created by `create_guards`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import json
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from phs.audit.v1 import audit_pb2
from phs_runtime import db, paging
from phs_runtime.db import UtcDateTime, reader, write_transaction
from phs_runtime.errors import invalid_argument
from phs_runtime.resources import from_timestamp, to_timestamp

log = logging.getLogger(__name__)

# FHIR AuditEvent.action codes.
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"
_ACTIONS = {
    CREATE: audit_pb2.AuditEvent.ACTION_CREATE,
    READ: audit_pb2.AuditEvent.ACTION_READ,
    UPDATE: audit_pb2.AuditEvent.ACTION_UPDATE,
    DELETE: audit_pb2.AuditEvent.ACTION_DELETE,
    EXECUTE: audit_pb2.AuditEvent.ACTION_EXECUTE,
}
# FHIR AuditEvent.outcome codes, by gRPC status.
_MINOR = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_DENIED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
_OUTCOMES = {
    0: audit_pb2.AuditEvent.OUTCOME_SUCCESS,
    4: audit_pb2.AuditEvent.OUTCOME_MINOR_FAILURE,
    8: audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
    12: audit_pb2.AuditEvent.OUTCOME_MAJOR_FAILURE,
}
_OUTCOME_CODES = {v: k for k, v in _OUTCOMES.items()}


def outcome_of(code: grpc.StatusCode) -> int:
    if code is grpc.StatusCode.OK:
        return 0
    if code in _DENIED:
        return 8
    if code in _MINOR:
        return 4
    return 12


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_events",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("record_time", UtcDateTime, nullable=False),
        Column("action", String(1), nullable=False),
        Column("outcome", Integer, nullable=False),
        Column("status_code", String(32), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("source", String(40), nullable=False),
        Column("method", String(200), nullable=False),
        Column("entities", Text, nullable=False),  # JSON list of resource names
        Column("request_id", String(128), nullable=False),
        Index("ix_audit_events_record_time", "record_time"),
        Index("ix_audit_events_subject", "subject", "record_time"),
    )


def create_audit_log(op: Any) -> None:
    """The migration step (both services' schema version that introduced it) that creates
    the table, its indexes and its guards. A snapshot, spelled out: later changes to
    `audit_table` need migrations of their own."""
    ts = DateTime(timezone=True)
    op.create_table(
        "audit_events",
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("record_time", ts, nullable=False),
        Column("action", String(1), nullable=False),
        Column("outcome", Integer, nullable=False),
        Column("status_code", String(32), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("source", String(40), nullable=False),
        Column("method", String(200), nullable=False),
        Column("entities", Text, nullable=False),
        Column("request_id", String(128), nullable=False),
    )
    op.create_index("ix_audit_events_record_time", "audit_events", ["record_time"])
    op.create_index("ix_audit_events_subject", "audit_events", ["subject", "record_time"])
    create_guards(op)


def create_guards(op: Any) -> None:
    """Make the table append-only in the database itself (call from a migration)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )


@dataclass
class Entry:
    action: str
    code: grpc.StatusCode
    subject: str
    role: str
    method: str
    entities: Sequence[str]
    request_id: str
    record_time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def row(self, source: str) -> dict[str, Any]:
        return {
            "record_time": self.record_time,
            "action": self.action,
            "outcome": outcome_of(self.code),
            "status_code": self.code.name,
            "subject": self.subject[:200],
            "role": self.role[:20],
            "source": source,
            "method": self.method[:200],
            "entities": json.dumps(sorted({e for e in self.entities if e})[:20]),
            "request_id": self.request_id[:128],
        }


@dataclass
class Pending:
    """The entry of the RPC in progress, until some transaction has written it."""

    log: AuditLog
    entry: Entry
    written: bool = False


_pending: contextvars.ContextVar[Pending | None] = contextvars.ContextVar("audit_pending", default=None)


def begin(log: AuditLog, entry: Entry) -> contextvars.Token[Pending | None]:
    """Mark `entry` as the current RPC's audit entry (the interceptor does this)."""
    return _pending.set(Pending(log, entry))


def end(token: contextvars.Token[Pending | None]) -> None:
    _pending.reset(token)


def current() -> Pending | None:
    return _pending.get()


def stage(conn: Any, response: Any) -> Pending | None:
    """Inside a change's transaction: write the current RPC's entry as a success, naming
    the resource the change returned. Call `committed` once the transaction commits."""
    staged = success_row(conn.engine, response)
    if staged is None:
        return None
    p, table, row = staged
    conn.execute(db.insert_into(table), row)
    return p


def success_row(engine: Engine, response: Any) -> tuple[Pending, Table, dict[str, Any]] | None:
    """The current RPC's entry as a success naming the resource the change returned,
    as a row of its table, for a change that writes it itself (`stage` does); None if
    there is none to write, or it belongs to another database. Call `committed` with
    the Pending once the change commits."""
    p = _pending.get()
    # Only in the database of the RPC's own audit log.
    if p is None or p.written or engine.url != p.log.engine.url:
        return None
    name = getattr(response, "name", "")
    entry = dataclasses.replace(
        p.entry,
        code=grpc.StatusCode.OK,
        entities=[*p.entry.entities, name] if isinstance(name, str) else p.entry.entities,
        record_time=dt.datetime.now(dt.UTC),
    )
    return p, p.log.table, entry.row(p.log.source)


def committed(p: Pending | None) -> None:
    if p is not None:
        p.written = True


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
            while len(batch) < 500:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                with write_transaction(self.engine) as conn:
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

    # -- reading ------------------------------------------------------------------------------

    def list(
        self, request: audit_pb2.ListAuditEventsRequest, log_name: str
    ) -> audit_pb2.ListAuditEventsResponse:
        if request.parent != log_name:
            raise invalid_argument([("parent", f"must be {log_name}")])
        t = self.table
        conds = []
        if request.subject:
            conds.append(t.c.subject == request.subject)
        if request.method:
            conds.append(t.c.method == request.method)
        if request.entity:
            conds.append(t.c.entities.contains(json.dumps(request.entity)))
        if request.outcome:
            if request.outcome not in _OUTCOME_CODES:
                raise invalid_argument([("outcome", "is not a known outcome")])
            conds.append(t.c.outcome == _OUTCOME_CODES[request.outcome])
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        if start and end and end <= start:
            raise invalid_argument([("end_time", "must be after start_time")])
        if start:
            conds.append(t.c.record_time >= start)
        if end:
            conds.append(t.c.record_time < end)
        filters = [request.subject, request.method, request.entity, request.outcome, str(start), str(end)]
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, filters)
        if after is not None:
            (seq,) = after
            conds.append(t.c.seq < int(seq))
        query = select(t).where(*conds).order_by(t.c.seq.desc()).limit(limit + 1)
        with reader(self.engine).connect() as conn:
            rows = conn.execute(query).all()
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = paging.encode_token([rows[-1].seq], filters)
        return audit_pb2.ListAuditEventsResponse(
            audit_events=[_event_pb(x, log_name) for x in rows], next_page_token=token
        )


def _event_pb(row: Any, log_name: str) -> audit_pb2.AuditEvent:
    ts: Timestamp = to_timestamp(row.record_time)
    return audit_pb2.AuditEvent(
        name=f"{log_name}/events/{row.seq}",
        record_time=ts,
        action=_ACTIONS.get(row.action, audit_pb2.AuditEvent.ACTION_UNSPECIFIED),
        outcome=_OUTCOMES.get(row.outcome, audit_pb2.AuditEvent.OUTCOME_UNSPECIFIED),
        status_code=row.status_code,
        agent=audit_pb2.AuditEvent.Agent(subject=row.subject, role=row.role),
        source=row.source,
        method=row.method,
        entities=json.loads(row.entities),
        request_id=row.request_id,
    )
