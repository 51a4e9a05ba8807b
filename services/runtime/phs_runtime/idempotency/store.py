"""Request ids' records (phs_runtime.tables.keys_table): the fingerprint of a request,
looking up and writing the first response, and the transactions that write a change
together with its record and its audit entry. Below gRPC: a refusal is a
phs_runtime.refusals exception."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Insert, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from phs_runtime import audit, db
from phs_runtime.auth import current_principal
from phs_runtime.refusals import PreconditionFailed

M = TypeVar("M", bound=Message)


class RequestIdReused(PreconditionFailed):
    """The caller already used this request id for a different request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "IDEMPOTENCY_KEY_REUSED",
            "this request_id was already used with a different request",
            {"request_id": request_id},
        )


def caller(principal: str | None = None) -> str:
    """Whose request ids these are: `principal` if given, else the authenticated
    caller of the current RPC ("" outside one, e.g. in scripts and store tests)."""
    if principal is not None:
        return principal
    current = current_principal()
    return current.subject if current is not None else ""


def fingerprint(request: Message) -> str:
    """A hash of the request without its request_id (so only the content counts)."""
    if getattr(request, "request_id", ""):  # an unset proto3 string is not serialized: no copy needed
        copy = type(request)()
        copy.CopyFrom(request)
        copy.ClearField("request_id")
        request = copy
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def lookup(
    conn: Connection,
    table: Table,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    principal: str | None = None,
) -> M | None:
    """The stored response for this caller's request id, None if new; refuses a changed
    request."""
    if not request_id:
        return None
    row = conn.execute(
        select(table.c.request_hash, table.c.response).where(
            table.c.principal == caller(principal),
            table.c.method == method,
            table.c.request_id == request_id,
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise RequestIdReused(request_id)
    return response_type.FromString(row.response)


def record(
    conn: Connection,
    table: Table,
    method: str,
    request_id: str,
    request_hash: str,
    response: Message,
    now: dt.datetime,
    principal: str | None = None,
) -> None:
    if not request_id:
        return
    conn.execute(
        db.insert_into(table), _record_row(caller(principal), method, request_id, request_hash, response, now)
    )


def _record_row(
    principal: str, method: str, request_id: str, request_hash: str, response: Message, now: dt.datetime
) -> dict[str, Any]:
    return {
        "principal": principal,
        "method": method,
        "request_id": request_id,
        "request_hash": request_hash,
        "response": response.SerializeToString(deterministic=True),
        "create_time": now,
    }


# How often run_once runs a transaction again after the database aborted it as a
# deadlock's victim (db.is_retryable).
RETRIES = 3


def run_once(
    engine: Engine,
    table: Table,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    write: Callable[[Connection, dt.datetime], M],
    translate: Callable[[IntegrityError], Exception | None] = lambda _e: None,
    principal: str | None = None,
    transaction: Callable[[], AbstractContextManager[Connection]] | None = None,
) -> M:
    """Run `write` in one transaction together with its AIP-155 record (the caller's:
    see `caller`). `transaction` opens it (default: db.write_transaction on `engine`);
    a service's unit of work passes its own, so `write` works through it.

    Concurrent first uses of one request id by one caller (PostgreSQL lets both
    transactions start) all but one fail on a constraint; they are answered from
    the winner's record on the retry. A transaction the database aborted as a
    deadlock's victim runs again (up to RETRIES times). `translate` turns
    integrity errors into domain exceptions (or returns None to re-raise)."""
    principal = caller(principal)
    key_retried = False
    for attempt in range(RETRIES + 1):
        try:
            with db.write_transaction(engine) if transaction is None else transaction() as conn:
                stored = lookup(conn, table, method, request_id, request_hash, response_type, principal)
                if stored is not None:
                    return stored  # a replay: audited as such by the interceptor
                now = dt.datetime.now(dt.UTC)
                response = write(conn, now)
                record(conn, table, method, request_id, request_hash, response, now, principal)
                staged = audit.stage(conn, response)  # the change and its audit entry commit together
            audit.committed(staged)
            return response
        except IntegrityError as exc:
            # A concurrent first use of this request id may have won the race on
            # the change itself (e.g. the overlap constraint) rather than on the
            # key: look again once, the winner's record is committed by now.
            if request_id and not key_retried:
                key_retried = True
                continue
            domain = translate(exc)
            if domain is not None:
                raise domain from exc
            raise
        except DBAPIError as exc:
            if db.is_retryable(exc) and attempt < RETRIES:
                continue
            raise
    raise AssertionError("unreachable")


def insert_at_once(
    engine: Engine,
    table: Table,
    method: str,
    request_id: str,
    request_hash: str,
    response: Message,
    first: Insert,
    params: dict[str, Any],
    then: Sequence[tuple[Table, dict[str, Any]]],
    now: dt.datetime,
    principal: str | None = None,
) -> bool:
    """The short way for a change that only inserts rows whose values are all known
    before it starts: the change (`first`, guarded by its preconditions, see
    db.insert_chain), the rows that go with it (`then`), its AIP-155 record and its
    audit entry commit together. On PostgreSQL that is one statement in one round trip;
    on SQLite a transaction that holds the write lock only for its inserts (nothing is
    read or computed while other writers wait).

    False when `first` inserted nothing (a precondition did not hold) and an
    IntegrityError when the database refused a row (an overlap, an unknown reference,
    or this caller's request id already used): nothing was written then, and the caller
    runs the change with `run_once`, which finds out which and answers precisely,
    replays included. The request id's record is not read first: a first use is the
    common case and a used one makes its insert fail."""
    rows = list(then)
    if request_id:
        rows.append((table, _record_row(caller(principal), method, request_id, request_hash, response, now)))
    staged = audit.success_row(engine, response)
    if staged is not None:
        rows.append((staged[1], staged[2]))
    inserted = db.write_chain(engine, first, params, rows)
    if inserted and staged is not None:
        audit.committed(staged[0])
    return inserted > 0
