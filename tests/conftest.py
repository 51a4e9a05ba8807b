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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from phs_devstack import Ports, Stack, dev_token, ensure_dev_keys
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
    """The development signing keys for every stack of the session (PHS_DEV_KEYS), and
    an admin token signed with the developers' key that the helpers send by default."""
    keys = tmp_path_factory.mktemp("dev-keys")
    ensure_dev_keys(keys)
    os.environ["PHS_DEV_KEYS"] = str(keys)
    helpers.ADMIN_TOKEN = token_for(keys, "staff/test-admin", "admin")
    return keys


token_for = dev_token  # tests mint with the session's shared dev key


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, one for the whole session (tests/browser.py)."""
    yield from browser.launch()


class Databases:
    """Makes fresh, empty PostgreSQL databases (call it) and drops them: one a test is
    done with (`drop_soon`) on a thread while the next tests run, the rest at the end.
    (A DROP DATABASE waits for every backend of the server to acknowledge it: a second
    or more each when the server is busy, too long to wait for one at a time.)"""

    def __init__(self) -> None:
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_size=4)
        self.created: set[str] = set()
        self.dropper = ThreadPoolExecutor(2, thread_name_prefix="pg-drop")
        self.drops: list[Future[None]] = []

    def __call__(self) -> str:
        name = f"phs_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.add(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop_soon(self, url: str) -> None:
        name = make_url(url).database
        if name in self.created:
            self.created.discard(name)
            self.drops.append(self.dropper.submit(self._drop, name))

    def close(self) -> None:
        self.drops += [self.dropper.submit(self._drop, name) for name in self.created]
        self.dropper.shutdown(wait=True)
        self.admin.dispose()
        for drop in self.drops:
            drop.result()  # a database left behind fails the session, as before


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Databases]:
    """A factory of fresh, empty PostgreSQL databases (dropped when done)."""
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(reason)
    databases = Databases()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on SQLite and on PostgreSQL (a database of its own,
    dropped once the test is done)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    databases: Databases = request.getfixturevalue("pg_database")
    url = databases()
    yield url
    databases.drop_soon(url)


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
    "spawn_web",
    "start_oidc",
    "spawn_oidc",
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


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: it selects on the `web` mark too
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        tier = _tier(item)
        if tier == "web":
            item.add_marker(pytest.mark.web)
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
