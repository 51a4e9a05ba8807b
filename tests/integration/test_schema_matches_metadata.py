"""Each service's migrations (scheduling, reports, notifications) build the schema its
SQLAlchemy metadata describes, on SQLite and on PostgreSQL: `alembic revision
--autogenerate` compares the two, and anything the metadata leaves out (an index, a
column's type) it would offer to drop or change.

Checked by alembic's own comparison (tables, columns and their types, nullability,
indexes, unique and foreign keys). Triggers, check and exclusion constraints are outside
what it compares; the store tests exercise those."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Index, MetaData, String

from phs_devstack import REPO
from phs_notifications.adapters import store as notifications_store
from phs_notifications.adapters.tables import metadata as notifications_metadata
from phs_reports import store as reports_store
from phs_reports.tables import metadata as reports_metadata
from phs_runtime import db
from phs_scheduling import store as scheduling_store
from phs_scheduling.tables import metadata as scheduling_metadata

# service: (migrations, version table, metadata)
SERVICES: dict[str, tuple[Path, str, MetaData]] = {
    "scheduling": (scheduling_store.MIGRATIONS, scheduling_store.VERSION_TABLE, scheduling_metadata),
    "reports": (reports_store.MIGRATIONS, reports_store.VERSION_TABLE, reports_metadata),
    "notifications": (
        notifications_store.MIGRATIONS,
        notifications_store.VERSION_TABLE,
        notifications_metadata,
    ),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of new, empty databases of one kind."""
    if request.param == "sqlite":
        made = iter(range(1_000))
        return lambda: f"sqlite:///{tmp_path / f'schema-{next(made)}.db'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database")
    return factory


@pytest.fixture
def migrated(fresh_database: Callable[[], str]) -> Iterator[Callable[[str], Engine]]:
    """Migrates a new database of the parametrized kind to a service's head."""
    engines: list[Engine] = []

    def make(service: str) -> Engine:
        migrations, version_table, _ = SERVICES[service]
        engine = db.make_engine(fresh_database())
        engines.append(engine)
        db.upgrade_schema(engine, migrations, version_table)
        return engine

    yield make
    for engine in engines:
        db.dispose(engine)


def differences(engine: Engine, service: str, metadata: MetaData | None = None) -> list[Any]:
    """What autogenerate would write into a new migration for `service`."""
    _, version_table, own = SERVICES[service]
    with engine.connect() as conn:
        opts = {"version_table": version_table, "compare_type": True}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, own if metadata is None else metadata))


def test_every_service_with_migrations_is_compared() -> None:
    """A new service's database (a migrations folder under services/) is not left out."""
    found = {p.resolve() for p in (REPO / "services").glob("*/phs_*/**/migrations") if p.is_dir()}
    assert found == {migrations.resolve() for migrations, _, _ in SERVICES.values()}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_migrations_build_the_schema_the_metadata_describes(
    migrated: Callable[[str], Engine], service: str
) -> None:
    assert differences(migrated(service), service) == []


def test_the_comparison_notices_an_index_the_metadata_lacks(migrated: Callable[[str], Engine]) -> None:
    """The control: without one index the migrations created, the metadata no longer
    matches, and the comparison says which index autogenerate would drop."""
    engine = migrated("scheduling")
    copy = MetaData()
    for table in scheduling_metadata.sorted_tables:
        table.to_metadata(copy)
    appointments = copy.tables["appointments"]
    dropped = next(i for i in appointments.indexes if i.name == "ix_appointments_series")
    appointments.indexes.discard(dropped)

    found = differences(engine, "scheduling", copy)

    assert [(op, index.name) for op, index in found if isinstance(index, Index)] == [
        ("remove_index", "ix_appointments_series")
    ]
    assert len(found) == 1


def test_the_comparison_notices_a_column_type_the_metadata_gets_wrong(
    migrated: Callable[[str], Engine],
) -> None:
    """The control for types: a column the metadata declares shorter than the
    migrations made it is a difference (autogenerate would alter it)."""
    engine = migrated("notifications")
    copy = MetaData()
    for table in notifications_metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["calendar_entries"].c.uid.type = String(64)

    found = differences(engine, "notifications", copy)

    assert [(d[0][0], d[0][2], d[0][3]) for d in found] == [("modify_type", "calendar_entries", "uid")]
