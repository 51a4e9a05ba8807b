"""Units of work, the part every service shares: a service's repositories over one
connection, in one transaction. A service subclasses them, naming its outbox table
and binding its repositories in `_bind`.

`UnitOfWork` is a write transaction (db.write_transaction: on SQLite the writer lock
and the shared writer connection): it commits when its block ends and rolls back if
the block raises. `run_once` runs a write in one, together with its AIP-155 record
and its audit entry (idempotency.run_once); a change's outbox messages go through
`enqueue`, so the change, its request id's record, its audit row and its messages
commit together or not at all. `ReadOnlyUnitOfWork` reads through the reader engine
(no write lock); nothing is committed."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import IntegrityError

from phs_runtime import db, idempotency
from phs_runtime.outbox import OutboxMessage, enqueue

M = TypeVar("M", bound=Message)
U = TypeVar("U", bound="UnitOfWork")


class UnitOfWork:
    """One write transaction: `with Uow(engine) as uow: uow.<repository>.add(...)`."""

    OUTBOX: ClassVar[Table]  # the service's outbox table
    connection: Connection

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._transaction: contextlib.AbstractContextManager[Connection] | None = None

    def _bind(self, conn: Connection) -> None:
        """Subclasses bind their repositories to `conn` too."""
        self.connection = conn

    def __enter__(self) -> Self:
        if self._transaction is not None:
            raise RuntimeError("this unit of work is already in progress")
        transaction = db.write_transaction(self.engine)
        self._bind(transaction.__enter__())
        self._transaction = transaction
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        transaction, self._transaction = self._transaction, None
        assert transaction is not None
        return transaction.__exit__(kind, exc, tb)

    def enqueue(self, message: OutboxMessage, now: dt.datetime) -> None:
        """A message for the outbox relay, committed with the change (transactional outbox)."""
        enqueue(self.connection, self.OUTBOX, message, now)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """This unit as a plain transaction, for runtime routines that want a connection."""
        with self:
            yield self.connection


class ReadOnlyUnitOfWork:
    """Reads in one read-only transaction; `reader` is db.reader(engine)."""

    connection: Connection

    def __init__(self, reader: Engine) -> None:
        self.reader = reader

    def _bind(self, conn: Connection) -> None:
        self.connection = conn

    def __enter__(self) -> Self:
        self._bind(self.reader.connect())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.connection.close()


def run_once(
    uow: U,
    keys: Table,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    write: Callable[[U, dt.datetime], M],
    translate: Callable[[IntegrityError], Exception | None] = lambda _e: None,
) -> M:
    """`write` in `uow` with its AIP-155 record (in `keys`) and its audit entry
    (idempotency.run_once: a replay answers the first response, a deadlock's victim
    runs again in a new transaction)."""
    return idempotency.run_once(
        uow.engine,
        keys,
        method,
        request_id,
        request_hash,
        response_type,
        lambda _conn, now: write(uow, now),
        translate=translate,
        transaction=uow.transaction,
    )
