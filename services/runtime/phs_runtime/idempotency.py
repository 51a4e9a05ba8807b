"""AIP-155 request ids: a retried request returns the first response; the same id
with a different request is refused. The record is written in the same database
transaction as the change, so a crash can never keep one without the other.

A request id belongs to its caller (the authenticated principal's subject), as at
Stripe and in AIP-155 servers: records are keyed by (caller, method, request id), so
another caller who sends the same id makes a request of their own, and learns
nothing about whether the id was used before. The caller is the principal the
server interceptor authenticated (`auth.current_principal`) unless given."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from sqlalchemy import Column, Connection, Engine, Insert, LargeBinary, MetaData, String, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from phs_runtime import audit, db
from phs_runtime.auth import current_principal
from phs_runtime.context import IDEMPOTENCY_KEY_HEADER
from phs_runtime.errors import failed_precondition, invalid_argument

M = TypeVar("M", bound=Message)

_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def keys_table(metadata: MetaData) -> Table:
    """The first successful response of each (caller, method, request id), written in
    the same transaction as the change it describes. One per service database."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(200), primary_key=True),  # the caller's subject
        Column("method", String(64), primary_key=True),
        Column("request_id", String(128), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("response", LargeBinary, nullable=False),
        Column("create_time", db.UtcDateTime, nullable=False),
    )


def scope_keys_to_callers(op: Any) -> None:
    """The migration step (each service's) that adds the caller to the key. A snapshot,
    spelled out: later changes to `keys_table` need migrations of their own.

    Records written before it belong to no caller ("") and so answer nobody: a retry
    that straddles the upgrade is a new request. Which caller wrote them is not known,
    and guessing would hand one caller's response to another."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE idempotency_keys ADD COLUMN principal VARCHAR(200) NOT NULL DEFAULT '', "
            "DROP CONSTRAINT idempotency_keys_pkey, "
            "ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal, method, request_id)"
        )
        return
    _rebuild_sqlite_keys(op, ("principal", "method", "request_id"))


def unscope_keys(op: Any) -> None:
    """The way back: keys without callers. Two callers' records of one id cannot share
    a key, so every record goes (each only serves retries of a recent request)."""
    op.execute("DELETE FROM idempotency_keys")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey, "
            "ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (method, request_id), "
            "DROP COLUMN principal"
        )
        return
    _rebuild_sqlite_keys(op, ("method", "request_id"))


def _rebuild_sqlite_keys(op: Any, key: tuple[str, ...]) -> None:
    """SQLite cannot change a primary key in place: copy the rows into a table keyed by
    `key`, with the caller's column exactly when the key has it (old rows: "")."""
    import sqlalchemy as sa

    columns: list[sa.Column[Any]] = [
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    ]
    kept = [c.name for c in columns]
    old = sa.table("idempotency_keys", *[sa.column(n) for n in kept])
    values: list[Any] = list(old.c)
    if "principal" in key:
        columns.insert(0, sa.Column("principal", sa.String(200), nullable=False, server_default=""))
        values.insert(0, sa.literal(""))
    op.create_table("idempotency_keys_new", *columns, sa.PrimaryKeyConstraint(*key))
    new = sa.table("idempotency_keys_new", *[sa.column(c.name) for c in columns])
    op.execute(new.insert().from_select([c.name for c in columns], sa.select(*values)))
    op.drop_table("idempotency_keys")
    op.rename_table("idempotency_keys_new", "idempotency_keys")


def caller(principal: str | None = None) -> str:
    """Whose request ids these are: `principal` if given, else the authenticated
    caller of the current RPC ("" outside one, e.g. in scripts and store tests)."""
    if principal is not None:
        return principal
    current = current_principal()
    return current.subject if current is not None else ""


def effective_request_id(request_id: str, context: grpc.ServicerContext, field: str = "request_id") -> str:
    """The body's request_id, else the Idempotency-Key header (REST through Envoy)."""
    value = request_id
    if not value:
        for k, v in context.invocation_metadata() or ():
            if k == IDEMPOTENCY_KEY_HEADER:
                value = v if isinstance(v, str) else v.decode("ascii", "replace")
                field = "Idempotency-Key"
                break
    if value and not _VALID.match(value):
        raise invalid_argument([(field, "must be 1-128 characters of letters, digits, '.', '_', ':', '-'")])
    return value


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
        raise failed_precondition(
            "IDEMPOTENCY_KEY_REUSED",
            "this request_id was already used with a different request",
            {"request_id": request_id},
        )
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
) -> M:
    """Run `write` in one transaction together with its AIP-155 record (the caller's:
    see `caller`).

    Concurrent first uses of one request id by one caller (PostgreSQL lets both
    transactions start) all but one fail on a constraint; they are answered from
    the winner's record on the retry. A transaction the database aborted as a
    deadlock's victim runs again (up to RETRIES times). `translate` turns
    integrity errors into domain exceptions (or returns None to re-raise)."""
    principal = caller(principal)
    key_retried = False
    for attempt in range(RETRIES + 1):
        try:
            with db.write_transaction(engine) as conn:
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
    if db.is_sqlite(engine):
        with db.write_transaction(engine) as conn:
            inserted = db.insert_chain(conn, first, params, rows)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            inserted = db.insert_chain(conn, first, params, rows)
    if inserted and staged is not None:
        audit.committed(staged[0])
    return inserted > 0
