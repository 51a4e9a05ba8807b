"""The migration step (each service's) that made request ids their caller's, and the way
back. Snapshots, spelled out: later changes to `phs_runtime.tables.keys_table` need
migrations of their own."""

from __future__ import annotations

from typing import Any


def scope_keys_to_callers(op: Any) -> None:
    """Add the caller to the key.

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
