"""The demo practice: realistic, deterministic, consistent with every rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from phs_scheduling.seed import PSYCHOLOGISTS, seed, seed_if_empty
from phs_scheduling.store import Store
from phs_scheduling.tables import ACTIVE_STATES, appointments, availability, series

pytestmark = pytest.mark.clock  # see tests/clock/faketime.py


def test_seed_fills_a_year_of_practice(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        counts = seed(store, clients_per_psychologist=6)
        a = appointments.c
        with store.engine.connect() as conn:
            by_state: dict[str, int] = {
                s: n for s, n in conn.execute(select(a.state, func.count()).group_by(a.state)).all()
            }
            late = conn.execute(select(func.count()).where(a.cancel_late.is_(True))).scalar_one()
            zones = conn.execute(select(func.count()).select_from(availability)).scalar_one()
            n_series = conn.execute(select(func.count()).select_from(series)).scalar_one()
            span = conn.execute(select(func.min(a.start_time), func.max(a.start_time))).one()
    finally:
        store.close()
    assert counts["psychologists"] == zones == len(PSYCHOLOGISTS)
    assert n_series == counts["series"] > 0
    assert sum(by_state.values()) == counts["appointments"]
    assert {"COMPLETED", "CANCELLED", "NO_SHOW", "BOOKED", "PENDING"} <= by_state.keys()
    assert late > 0 and by_state["COMPLETED"] > by_state["NO_SHOW"]
    assert (span[1] - span[0]).days > 200  # months of history and months ahead
    assert all(s in by_state for s in ACTIVE_STATES)


def test_seed_if_empty_seeds_a_first_start_only(tmp_path: Path) -> None:
    """What `make up` does on its first start: an empty database gets the practice, a
    database holding one (seeded or not) is left alone."""
    url = f"sqlite:///{tmp_path / 'scheduling.db'}"
    counts = seed_if_empty(url, clients_per_psychologist=2)
    assert counts is not None and counts["psychologists"] == len(PSYCHOLOGISTS)
    assert seed_if_empty(url, clients_per_psychologist=2) is None
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(appointments)).scalar_one()
    finally:
        store.close()
    assert total == counts["appointments"]
