"""Shared fixtures: real SQLite and PostgreSQL databases, and the real stack
(Tansu broker, services, Envoy) on free loopback ports; and the rules of the test
tiers (README, "Test tiers"), checked on every test of tests/unit and tests/integration."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from phs_devstack import DEV_KID, Ports, Stack, dev_token
from phs_runtime.auth import generate_keys
from tests import browser, helpers

PG_ADMIN_URL = os.environ.get("PHS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({type(exc).__name__})"


@pytest.fixture(scope="session", autouse=True)
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One development signing key for every stack of the session (PHS_DEV_KEYS), and
    an admin token for it that the helpers send by default."""
    keys = tmp_path_factory.mktemp("dev-keys")
    generate_keys(keys, DEV_KID)
    os.environ["PHS_DEV_KEYS"] = str(keys)
    helpers.ADMIN_TOKEN = token_for(keys, "staff/test-admin", "admin")
    return keys


token_for = dev_token  # tests mint with the session's shared dev key


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, one for the whole session (tests/browser.py)."""
    yield from browser.launch()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (dropped at the end)."""
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(reason)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = f"phs_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database")
    return factory()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack, shared by the end-to-end tests: once on the embedded default
    (SQLite), once on PostgreSQL (a fresh database per service)."""
    scheduling_db = reports_db = None
    if request.param == "postgres":
        factory: Callable[[], str] = request.getfixturevalue("pg_database")
        scheduling_db, reports_db = factory(), factory()
    s = Stack(
        root=tmp_path_factory.mktemp(f"stack-{request.param}"),
        ports=Ports.free(),
        scheduling_db=scheduling_db,
        reports_db=reports_db,
    )
    try:
        s.start()
        yield s
    finally:
        s.stop()


# -- the tiers ----------------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
# What each tier may not use. Unit: in-process only (a throwaway SQLite file at most).
# Integration: real databases, the broker, tools and in-process servers on loopback ports,
# but no service process and no Envoy. Everything else is e2e (tests/e2e, tests/web).
SERVICE_STARTS = (
    "start",
    "start_backends",
    "start_scheduling",
    "start_reports_api",
    "start_worker",
    "start_envoy",
    "start_web",
    "start_oidc",
)
NOT_IN = {
    "unit": {"stack", "pg_database", "db_url", "chromium"},
    "integration": {"stack", "chromium"},
}


def _tier(item: pytest.Item) -> str | None:
    try:
        parts = item.path.resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        tier = _tier(item)
        used = NOT_IN.get(tier or "", set()) & set(getattr(item, "fixturenames", ()))
        if used:
            wrong.append(f"{item.nodeid} uses {', '.join(sorted(used))}")
    if wrong:
        raise pytest.UsageError("tests outside their tier (README, Test tiers):\n" + "\n".join(wrong))


@contextlib.contextmanager
def _tier_rules(tier: str | None) -> Iterator[None]:
    def refuse(what: str) -> Callable[..., Any]:
        def refused(*_args: Any, **_kwargs: Any) -> Any:
            raise AssertionError(f"a test in tests/{tier} may not {what} (README, Test tiers)")

        return refused

    with contextlib.ExitStack() as rules:
        if tier in ("unit", "integration"):
            for name in SERVICE_STARTS:
                rules.enter_context(
                    mock.patch.object(Stack, name, refuse("start a service process or Envoy"))
                )
        if tier == "unit":
            rules.enter_context(mock.patch.object(Stack, "start_kafka", refuse("start the broker")))
            rules.enter_context(mock.patch.object(socket.socket, "bind", refuse("listen on a port")))
            rules.enter_context(mock.patch.object(subprocess, "Popen", refuse("start a process")))
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _tier_rules(_tier(item)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _tier_rules(_tier(item)):
        yield
