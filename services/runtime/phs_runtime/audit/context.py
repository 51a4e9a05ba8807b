"""The audit entry of the RPC in progress (a context variable the interceptor sets), and
writing it as a success inside the transaction of the change it describes."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from sqlalchemy import Engine, Table

from phs_runtime import db
from phs_runtime.audit.entry import Entry

if TYPE_CHECKING:
    from phs_runtime.audit.writer import AuditLog


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
