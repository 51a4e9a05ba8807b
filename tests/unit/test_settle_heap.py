"""settle_heap: what start-up made is out of the cyclic collector's sight, so a full
collection while serving walks only what serving made."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from phs_runtime.server import settle_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the other tests run with the collector as usual


def _full_collection_objects() -> int:
    return len(gc.get_objects())


def test_start_up_objects_leave_the_collectors_generations(unfrozen: None) -> None:
    before = _full_collection_objects()
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count()
    assert frozen >= before // 2  # the test process's modules and fixtures at least
    assert _full_collection_objects() < before // 10


def test_cycles_made_while_serving_are_still_collected(unfrozen: None) -> None:
    settle_heap()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None
