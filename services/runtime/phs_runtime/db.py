"""Database plumbing shared by the services: engines for PostgreSQL (production)
and SQLite (the embedded default), a UTC timestamp column type, and Alembic
migrations run safely from several processes at once.

SQLite notes: WAL mode so readers never block the writer; every write
transaction starts with BEGIN IMMEDIATE, which takes the database's single
write lock up front, so a check-then-insert inside one transaction is
serialized against every other writer (the SQLite equivalent of PostgreSQL's
exclusion constraint, enforced together with triggers).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Insert,
    Select,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeDecorator

from phs_runtime.config import DatabaseConfig

log = logging.getLogger(__name__)

UTC = dt.UTC


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC instants in, timezone-aware UTC instants out.

    PostgreSQL stores timestamptz. SQLite stores naive UTC text of one fixed
    format, so text comparison (used by the overlap triggers) is time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


READ_ONLY = "phs_read_only"


@functools.cache
def insert_into(table: Table) -> Insert:
    """One INSERT statement object per table, for hot paths: SQLAlchemy memoizes a
    statement's cache key on the object, so reusing it skips rebuilding and
    re-hashing the statement on every call (a new `insert(table)` costs both)."""
    return insert(table)


def insert_chain(
    conn: Connection,
    first: Insert,
    params: dict[str, Any],
    then: Sequence[tuple[Table, dict[str, Any]]],
) -> int:
    """Run `first` (an INSERT ... SELECT whose SELECT checks the change's preconditions
    and may yield no row) and, if it inserted, insert the rows of `then`, in the caller's
    transaction. Returns how many rows `first` inserted: 0 means nothing was written.

    On PostgreSQL this is one statement of data-modifying CTEs: one round trip, and on
    an autocommit connection one implicit transaction, instead of BEGIN, a statement per
    row and COMMIT; any error rolls the whole statement back. SQLite has no
    data-modifying CTEs: there it is a statement each (see `write_chain`).
    """
    if conn.dialect.name == "sqlite":
        return _sqlite_chain(conn, _sqlite_steps(conn.dialect, first, params, then), first, params, then)
    shape = tuple((table, tuple(row)) for table, row in then)
    bound = dict(params)
    for i, (_table, row) in enumerate(then):
        bound.update({f"then{i}_{k}": v for k, v in row.items()})
    inserted: int = conn.execute(_chained(first, shape), bound).scalar_one()
    return inserted


def write_chain(
    engine: Engine,
    first: Insert,
    params: dict[str, Any],
    then: Sequence[tuple[Table, dict[str, Any]]],
) -> int:
    """`insert_chain` as a transaction of its own. On PostgreSQL, its one statement on an
    autocommit connection. On SQLite, every statement's SQL and values are computed
    before the write slot is taken, and under it the writers' shared connection runs
    BEGIN IMMEDIATE, the inserts and COMMIT with nothing else: the slot is what all
    writers of every process queue for, so whatever runs while it is held is paid by
    each of them."""
    if not is_sqlite(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return insert_chain(conn, first, params, then)
    steps = _sqlite_steps(engine.dialect, first, params, then)
    lock = _writer_lock(engine)
    with lock.held():
        shared = lock.connection(engine)
        if steps is None or shared is None:
            with _slot_transaction(engine, shared) as conn:
                return _sqlite_chain(conn, steps, first, params, then)
        return _run_steps(_sqlite3(shared), steps, transaction=True)


def write_statements(engine: Engine, statements: Sequence[tuple[UpdateBase, dict[str, Any]]]) -> int:
    """Run `statements` (with their parameters) as one transaction; returns the rows
    they changed in all. On SQLite, like `write_chain`: each statement's SQL and values
    are computed before the write slot is taken (expanding IN lists included), so that
    none of SQLAlchemy's work, nor the waits for the interpreter lock that come with it
    while other threads run, is paid by the writers queued for the slot."""
    if not statements:
        return 0
    if not is_sqlite(engine):
        return _execute_all(engine, statements)
    steps = [_sqlite_step(st, params, engine.dialect) for st, params in statements]
    lock = _writer_lock(engine)
    with lock.held():
        shared = lock.connection(engine)
        if shared is None:  # an in-memory database: no shared connection
            return _execute_all(engine, statements)
        return _run_steps(_sqlite3(shared), steps, transaction=True, chained=False)


def _execute_all(engine: Engine, statements: Sequence[tuple[UpdateBase, dict[str, Any]]]) -> int:
    with engine.begin() as conn:
        return sum(int(conn.execute(st, params).rowcount or 0) for st, params in statements)


def _sqlite_step(statement: UpdateBase, params: dict[str, Any], dialect: Dialect) -> Step:
    """The SQL and values SQLAlchemy would send to sqlite3 for `statement`."""
    compiled, processors = _compiled(statement, dialect, frozenset(params))
    state = compiled.construct_expanded_state(params)
    expanded = state.processors  # those of an expanding IN list's items, by item
    values = []
    for name, value in zip(state.positiontup or (), state.positional_parameters, strict=True):
        process = expanded.get(name) or processors.get(name)
        values.append(value if process is None else process(value))
    return state.statement, tuple(values)


@functools.lru_cache(maxsize=256)
def _compiled(
    statement: UpdateBase, dialect: Dialect, names: frozenset[str]
) -> tuple[SQLCompiler, dict[str, Callable[[Any], Any]]]:
    """`statement` compiled for `names`, and its parameters' bind processors."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
    assert isinstance(compiled, SQLCompiler)
    processors: dict[str, Callable[[Any], Any]] = {}
    # The dialect's own form of each type (dialect_impl), as SQLAlchemy's execute uses:
    # the generic type's processor leaves a datetime to sqlite3, which writes
    # "HH:MM:SS" without the fraction SQLAlchemy writes, and text comparisons between
    # the two forms disagree at equal instants.
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    return compiled, processors


Step = tuple[str, tuple[Any, ...]]


def _sqlite_steps(
    dialect: Dialect, first: Insert, params: dict[str, Any], then: Sequence[tuple[Table, dict[str, Any]]]
) -> list[Step] | None:
    """Each statement of a chain as the SQL and values SQLAlchemy would send to
    sqlite3 (compiled once per shape); None when one needs a value SQLAlchemy computes
    (a column default)."""
    steps = []
    for statement, values in ((first, params), *((insert_into(table), row) for table, row in then)):
        form = _sqlite_form(statement, dialect, frozenset(values))
        if form is None:
            return None
        sql, binds = form
        steps.append(
            (sql, tuple(values[n] if process is None else process(values[n]) for n, process in binds))
        )
    return steps


def _sqlite_chain(
    conn: Connection,
    steps: list[Step] | None,
    first: Insert,
    params: dict[str, Any],
    then: Sequence[tuple[Table, dict[str, Any]]],
) -> int:
    """insert_chain on SQLite in the caller's transaction, its steps computed already
    (`_sqlite_steps`; None: through SQLAlchemy, which computes a default)."""
    if steps is not None:
        return _run_steps(_sqlite3(conn), steps, transaction=False)
    rowcount = int(conn.execute(first, params).rowcount)
    if rowcount:
        for table, row in then:
            conn.execute(insert_into(table), row)
    return rowcount


def _sqlite3(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _run_steps(
    raw: sqlite3.Connection, steps: Sequence[Step], *, transaction: bool, chained: bool = True
) -> int:
    """Run steps on sqlite3 directly (SQLAlchemy's per-statement work costs more than
    SQLite's own); with `transaction`, between BEGIN IMMEDIATE and COMMIT. `chained`
    (a chain): the rest only if the first changed a row, and the first's row count is
    returned; otherwise every step, and the rows they changed in all.
    The database's refusals are raised as SQLAlchemy raises them (IntegrityError...),
    without the values."""
    sql: str = "BEGIN IMMEDIATE"
    values: tuple[Any, ...] = ()
    cur = raw.cursor()
    try:
        if transaction:
            cur.execute(sql)
        sql, values = steps[0]
        counted = int(cur.execute(sql, values).rowcount)
        if counted or not chained:
            for sql, values in steps[1:]:
                changed = cur.execute(sql, values).rowcount
                if not chained:
                    counted += changed
        if transaction:
            sql, values = "COMMIT", ()
            cur.execute(sql)
        return counted
    except BaseException as exc:
        if transaction and raw.in_transaction:
            raw.rollback()  # never leave the writers' shared connection inside a transaction
        if isinstance(exc, sqlite3.Error):
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error, hide_parameters=True) from exc
        raise
    finally:
        cur.close()


@functools.lru_cache(maxsize=256)
def _sqlite_form(
    statement: Insert, dialect: Dialect, names: frozenset[str]
) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]] | None:
    """The SQL of `statement` given parameters `names`, and each of its positional
    parameters' name and bind processor (the same SQLAlchemy applies); None when it
    needs a value the parameters do not hold (a default SQLAlchemy computes)."""
    compiled, processors = _compiled(statement, dialect, names)
    order = compiled.positiontup or []
    if not set(order) <= names or compiled.insert_prefetch:
        return None
    return compiled.string, tuple((n, processors.get(n)) for n in order)


@functools.cache
def _chained(first: Insert, then: tuple[tuple[Table, tuple[str, ...]], ...]) -> Select[Any]:
    """The statement of `insert_chain`, built once per shape (see `insert_into`)."""
    head = first.returning(*first.table.primary_key.columns).cte("first")  # type: ignore[attr-defined]
    ctes = []
    for i, (table, columns) in enumerate(then):
        values = select(*[bindparam(f"then{i}_{c}", type_=table.c[c].type) for c in columns])
        ctes.append(insert(table).from_select(list(columns), values.select_from(head)).cte(f"then{i}"))
    return select(func.count()).select_from(head).add_cte(*ctes)


# PostgreSQL's verdicts on a transaction that may simply run again: deadlock_detected
# (two bookings of one slot, each checking the exclusion constraint against the
# other's uncommitted row, can wait on each other) and serialization_failure.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    """Whether the database aborted the transaction only to have it run again."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def reader(engine: Engine) -> Engine:
    """The same pool, for read-only transactions (no write lock on SQLite)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_file(database: str | None) -> str | None:
    """The file of a SQLite URL's database; None for an in-memory one (each connection
    then has a database of its own, and there is nothing to lock or checkpoint)."""
    return database if database and database != ":memory:" else None


def make_engine(
    url: str, *, pool_size: int = 10, background_checkpoints: bool = False, statement_timeout_ms: int = 30_000
) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and BEGIN IMMEDIATE.

    `background_checkpoints` (SQLite files; BaseStore asks for it): a thread copies
    the WAL into the database (WalCheckpoints) instead of the commit that crosses
    SQLite's threshold, which would do it while every other writer waits. Stop it
    with `dispose`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed.database)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        background_checkpoints = background_checkpoints and path is not None
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if path is None else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if background_checkpoints:
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Readers take no lock (WAL gives them a snapshot); writers take the
            # write lock up front so their checks cannot interleave.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        if background_checkpoints and path is not None:
            _CHECKPOINTS[id(engine)] = WalCheckpoints(
                path, _writer_lock(engine), CHECKPOINT_INTERVAL_S, CHECKPOINT_RESTART_PAGES
            )
        return engine
    # A server-side deadline for every statement: a runaway query ends with an error
    # instead of holding a connection and a worker thread forever.
    timeout_ms = statement_timeout_ms
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"options": f"-c statement_timeout={timeout_ms}"} if timeout_ms > 0 else {},
    )
    _ping_when_idle(engine, IDLE_PING_S)
    return engine


# A pooled connection idle longer than this is pinged before use. One used a moment
# ago is alive; pinging it too (pool_pre_ping) costs a round trip per transaction, a
# share of a booking's CPU that bench/rest_booking.py --postgres shows. Should the
# server restart within that window, the next statement fails, that call answers
# UNAVAILABLE and SQLAlchemy discards the whole pool.
IDLE_PING_S = 5.0


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # new (just connected) or recently used
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool replaces the connection and tries again
            raise DisconnectionError("stale pooled connection") from exc
        if not alive:
            raise DisconnectionError("stale pooled connection")


class _WriterLock:
    """The write slot of one SQLite file, for threads of this process (a mutex) and
    for other processes (flock on a lock file beside the database: the kernel wakes
    the next waiter the moment the slot frees).

    The writers of this process also share one connection per engine, used by one of
    them at a time under the slot: checking a connection out of the pool and back in
    for every transaction cost a large share of a booking's write, all of it while the
    other writers waited."""

    def __init__(self, path: str | None) -> None:
        self._mutex = threading.Lock()
        self._fd = os.open(f"{path}.write.lock", os.O_RDWR | os.O_CREAT, 0o600) if path else None
        self._connections: dict[int, Connection] = {}  # by id(engine); each holds its engine
        # Cleared while a `first` holder waits: new writers then let it go first. The
        # mutex is not fair, and a busy writer thread takes it straight back.
        self._open = threading.Event()
        self._open.set()

    def connection(self, engine: Engine) -> Connection | None:
        """The writers' connection to `engine` (call with the slot held); None for an
        in-memory database, where every connection is a database of its own."""
        if self._fd is None:
            return None
        conn = self._connections.get(id(engine))
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._connections[id(engine)] = engine.connect()
        return conn

    def close(self, engine: Engine) -> None:
        with self.held():
            conn = self._connections.pop(id(engine), None)
            if conn is not None:
                conn.close()

    @contextlib.contextmanager
    def held(self, first: bool = False) -> Iterator[None]:
        """The slot; `first`: ahead of writers that have not queued yet (the checkpoint
        thread's short turn, which would otherwise wait for a lull in the writes)."""
        if first:
            self._open.clear()
        elif not self._open.is_set():
            self._open.wait()
        try:
            self._mutex.acquire()
        finally:
            if first:
                self._open.set()
        try:
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


_WRITER_LOCKS: dict[str, _WriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> _WriterLock:
    """The write slot of the SQLite file of `engine`: one per file in this process."""
    path = sqlite_file(engine.url.database)
    key = path if path is not None else f"pool-{id(engine.pool)}"
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = _WriterLock(path)
        return lock


# How often the checkpoint thread copies a SQLite WAL, and at what size (pages of
# 4 KiB) it makes sure the file starts over (see WalCheckpoints).
CHECKPOINT_INTERVAL_S = 0.5
CHECKPOINT_RESTART_PAGES = 8000


class WalCheckpoints:
    """SQLite writes commits to its WAL file and copies them into the database file
    at checkpoints. By default the commit that takes the WAL past 1000 pages runs the
    checkpoint itself while it holds the write slot: about every 100 bookings, every
    writer stalled for its duration; bench/rest_booking.py serves fewer bookings
    that way than with this thread (README, "Benchmarks").

    Here a thread copies the WAL every `interval_s` without the write slot (a PASSIVE
    checkpoint runs beside readers and writers). A WAL file is only started over when
    a writer finds it entirely copied, which never happens while commits keep coming;
    so once it passes `restart_pages` the thread copies again and then, holding the
    write slot, copies the little that came in meanwhile (a few milliseconds).
    The next writer then starts the WAL over, and the file stays bounded."""

    def __init__(self, path: str, lock: _WriterLock, interval_s: float, restart_pages: int) -> None:
        self._path, self._lock = path, lock
        self._interval_s, self._restart_pages = interval_s, restart_pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.wait(self._interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
                self.checkpoint(conn)
            except sqlite3.Error as exc:  # the next round tries again; the WAL only grows meanwhile
                log.warning("sqlite checkpoint failed", extra={"error": type(exc).__name__})
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> int:
        """One round; returns the WAL's size in pages before it."""
        _busy, pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if pages >= self._restart_pages:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # what came in during the first
            with self._lock.held(first=True):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # and the rest, with no writer
        return int(pages)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_CHECKPOINTS: dict[int, WalCheckpoints] = {}


def dispose(engine: Engine) -> None:
    """Close `engine`'s connections (the writers' one included) and stop its
    checkpoint thread, if any."""
    checkpoints = _CHECKPOINTS.pop(id(engine), None)
    if checkpoints is not None:
        checkpoints.stop()
    if is_sqlite(engine):
        _writer_lock(engine).close(engine)
    engine.dispose()


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-write transaction. On SQLite, writers queue on a lock before BEGIN
    IMMEDIATE: SQLite's own busy handler sleeps with growing back-off (up to
    100 ms a try), which under load turns into long tail latencies; the lock
    hands the write slot over at once, in order, across threads and processes."""
    if not is_sqlite(engine):
        with engine.begin() as conn:
            yield conn
        return
    lock = _writer_lock(engine)
    with lock.held(), _slot_transaction(engine, lock.connection(engine)) as conn:
        yield conn


@contextlib.contextmanager
def _slot_transaction(engine: Engine, shared: Connection | None) -> Iterator[Connection]:
    """A SQLite write transaction, the write slot held: on the writers' shared
    connection, or a pooled one for an in-memory database (no shared connection)."""
    if shared is None:
        with engine.begin() as conn:
            yield conn
        return
    with shared.begin():
        yield shared


def ping(engine: Engine) -> None:
    """Raise unless the database answers (a health check)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@contextlib.contextmanager
def _migration_lock(engine: Engine, name: str) -> Iterator[Any]:
    """Serialize migrations across processes: an advisory lock on PostgreSQL,
    a lock file beside the database on SQLite."""
    if is_sqlite(engine):
        path = sqlite_file(engine.url.database)
        if path is None:
            with engine.connect() as conn:
                yield conn
            return
        with open(f"{path}.migrate.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with engine.connect() as conn:
                    yield conn
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    key = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "big") & 0x7FFFFFFFFFFFFFFF
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield conn
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def upgrade_schema(engine: Engine, migrations_dir: Path, version_table: str) -> None:
    """Upgrade the schema to head (safe to call from several processes at once)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["version_table"] = version_table
    with _migration_lock(engine, version_table) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
    log.info("schema at head", extra={"version_table": version_table})


def run_alembic_env(target_metadata: Any) -> None:
    """The body of every service's migrations/env.py.

    Called by `upgrade_schema` (with a connection) or by the alembic CLI for
    `alembic revision --autogenerate` (with PHS_DATABASE_URL)."""
    import os

    from alembic import context

    cfg = context.config
    version_table = cfg.attributes.get("version_table") or cfg.get_main_option("version_table")
    conn = cfg.attributes.get("connection")
    if conn is None:
        engine = make_engine(os.environ["PHS_DATABASE_URL"])
        with engine.connect() as c:
            context.configure(
                connection=c,
                target_metadata=target_metadata,
                version_table=version_table,
                render_as_batch=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


S = TypeVar("S", bound="BaseStore")


class BaseStore:
    """What every service's store shares: an engine, a read-only view of it, schema
    migration on open, a health ping. Subclasses set MIGRATIONS and VERSION_TABLE."""

    MIGRATIONS: Path
    VERSION_TABLE: str

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    @classmethod
    def open(cls: type[S], url: str, *, migrate: bool = True, statement_timeout_ms: int = 30_000) -> S:
        engine = make_engine(url, background_checkpoints=True, statement_timeout_ms=statement_timeout_ms)
        if migrate:
            upgrade_schema(engine, cls.MIGRATIONS, cls.VERSION_TABLE)
        return cls(engine)

    @classmethod
    def from_config(cls: type[S], config: DatabaseConfig) -> S:
        return cls.open(config.url, migrate=config.migrate, statement_timeout_ms=config.statement_timeout_ms)

    def ping(self) -> None:
        ping(self.reader)

    def close(self) -> None:
        dispose(self.engine)
