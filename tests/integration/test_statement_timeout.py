"""A server-side deadline on PostgreSQL statements (PHS_DB_STATEMENT_TIMEOUT_MS); the
request-size and page-size bounds, through the servers: tests/e2e/test_limits.py."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from phs_runtime.config import DatabaseConfig
from phs_runtime.db import make_engine


def test_postgres_statements_have_a_deadline(pg_database: object, monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_database()  # type: ignore[operator]
    monkeypatch.setenv("PHS_DB_STATEMENT_TIMEOUT_MS", "200")
    config = DatabaseConfig.from_env(url)  # as a process's settings read it
    engine = make_engine(config.url, statement_timeout_ms=config.statement_timeout_ms)
    try:
        with pytest.raises(DBAPIError, match="statement timeout"), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(2)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
