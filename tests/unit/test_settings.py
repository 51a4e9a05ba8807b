"""One typed settings object per process, read from the environment once at start:
the environment is read only by `from_env` constructors of typed configurations (and
the few places that run before or outside a process's settings, named below)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from phs_reports.settings import ApiSettings, WorkerSettings
from phs_runtime.config import ConfigError, KafkaConfig, OutboxConfig
from phs_runtime.outbox import OutboxRelay
from phs_runtime.tables import outbox_table
from phs_scheduling.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ENV_READERS = {"env_str", "env_int", "env_float", "env_bool"}
# Where reading the environment directly is the point.
ALLOWED = {
    ("phs_runtime/__init__.py", "<module>"),  # gRPC's own verbosity, before grpc is imported
    ("phs_runtime/logs.py", "setup_logging"),  # runs first, so a bad setting is logged as JSON
    ("phs_runtime/db.py", "run_alembic_env"),  # the alembic command line
    ("phs_scheduling/seed.py", "main"),  # a command-line tool's default
}


def _env_reads(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every environment read in a module."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            reads = (isinstance(child, ast.Attribute) and child.attr == "environ") or (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Name)
                and child.func.id in ENV_READERS
            )
            if reads and isinstance(child, ast.expr):
                found.append((function, child.lineno))
            visit(child, function)

    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return found


def test_the_environment_is_read_only_by_typed_configurations() -> None:
    strays = []
    for path in (ROOT / "services").rglob("*.py"):
        if "node_modules" in path.parts or path.name == "config.py":
            continue
        short = "/".join(path.parts[-2:])
        for function, line in _env_reads(path):
            if not function.endswith("from_env") and (short, function) not in ALLOWED:
                strays.append(f"{short}:{line} in {function}")
    assert not strays, "read the environment in a from_env of the process's settings instead: " + ", ".join(
        strays
    )


def test_the_check_finds_a_read_outside_from_env(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\ndef handler():\n    return os.environ.get('PHS_X')\n")
    assert _env_reads(module) == [("handler", 3)]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PHS_DATABASE_URL", "PHS_GRPC_MAX_WORKERS", "PHS_WATCH_LINGER_SECONDS", "PHS_AUTH_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHS_AUTH_JWKS_FILE", "/keys/jwks.json")
    monkeypatch.setenv("PHS_AUTH_SIGNING_KEY_FILE", "/keys/signing.pem")
    monkeypatch.setenv("PHS_AUTH_SIGNING_KEY_ID", "k1")
    return monkeypatch


def test_each_process_reads_its_settings_with_their_defaults(env: pytest.MonkeyPatch) -> None:
    s = Settings.from_env()
    assert (s.server.service, s.server.max_workers, s.database.url) == (
        "scheduling",
        3,
        "sqlite:///data/scheduling.db",
    )
    assert s.watch_linger_s == 60.0 and s.auth.jwks_file == "/keys/jwks.json"
    api, worker = ApiSettings.from_env(), WorkerSettings.from_env()
    assert api.database.url == worker.database.url == "sqlite:///data/reports.db"
    assert api.server.service == "reports-api" and worker.signing.key_id == "k1"


def test_a_bad_value_stops_the_process_naming_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("PHS_WATCH_LINGER_SECONDS", "a minute")
    with pytest.raises(ConfigError, match="PHS_WATCH_LINGER_SECONDS"):
        Settings.from_env()
    env.delenv("PHS_AUTH_SIGNING_KEY_ID")
    with pytest.raises(ConfigError, match="PHS_AUTH_SIGNING_KEY_ID"):
        WorkerSettings.from_env()


def test_the_outbox_relay_has_one_set_of_defaults(env: pytest.MonkeyPatch) -> None:
    env.delenv("PHS_OUTBOX_RETENTION_HOURS", raising=False)
    env.delenv("PHS_OUTBOX_CHECK_SECONDS", raising=False)
    assert OutboxConfig.from_env() == OutboxConfig() == OutboxConfig(dt.timedelta(hours=24), 2.0)
    env.setenv("PHS_OUTBOX_RETENTION_HOURS", "48")
    assert OutboxConfig.from_env().retention == dt.timedelta(hours=48)
    # A relay built without them (tests, tools) takes the same ones.
    engine = create_engine("sqlite://")
    relay = OutboxRelay(engine, outbox_table(MetaData()), KafkaConfig.from_env(), {})
    assert (relay._retention, relay._check_s) == (OutboxConfig().retention, OutboxConfig().check_s)
    engine.dispose()
