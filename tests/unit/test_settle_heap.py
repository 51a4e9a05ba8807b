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


def _seen_by_the_collector(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_what_start_up_made_leaves_the_collectors_generations(unfrozen: None) -> None:
    made_at_start = {"descriptors": ["and", "statements"]}  # a container the collector tracks
    assert _seen_by_the_collector(made_at_start)
    frozen = settle_heap()
    assert frozen > 0  # (other threads may free frozen objects meanwhile: no exact count)
    assert not _seen_by_the_collector(made_at_start)
    made_later = {"serving": ["a", "call"]}
    assert _seen_by_the_collector(made_later)


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
