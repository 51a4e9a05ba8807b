"""phs_runtime.snapshot: a value kept for its time to live, read again at once after
an invalidation, and never kept when an invalidation came during its read."""

from __future__ import annotations

from collections.abc import Callable

from phs_runtime.snapshot import Snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """The stored value and how many times it was read."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0
        self.during_read: Callable[[], None] = lambda: None

    def __call__(self) -> str:
        self.reads += 1
        value = self.value  # what the read's transaction sees
        self.during_read()
        return value


def test_the_value_is_read_once_per_time_to_live() -> None:
    clock, source = Clock(), Source()
    snap = Snapshot(source, ttl_s=1.0, clock=clock)
    assert snap.get() == "v1" and snap.get() == "v1"
    assert source.reads == 1
    source.value = "v2"  # another process changed it: seen once the value expires
    clock.now += 0.99
    assert snap.get() == "v1"
    clock.now += 0.01
    assert snap.get() == "v2" and source.reads == 2


def test_the_age_counts_from_before_the_read() -> None:
    clock, source = Clock(), Source()

    def slow() -> None:
        clock.now += 0.6

    source.during_read = slow
    snap = Snapshot(source, ttl_s=1.0, clock=clock)
    snap.get()
    clock.now += 0.4  # 1.0 s after the read started, 0.4 s after it ended
    snap.get()
    assert source.reads == 2


def test_an_invalidation_makes_the_next_get_read_again() -> None:
    clock, source = Clock(), Source()
    snap = Snapshot(source, ttl_s=3600.0, clock=clock)
    snap.get()
    source.value = "v2"
    snap.invalidate()
    assert snap.get() == "v2" and source.reads == 2
    assert snap.get() == "v2" and source.reads == 2


def test_a_read_overtaken_by_an_invalidation_is_not_kept() -> None:
    """A read that started before a commit's invalidation may hold the old value: its
    caller gets it, but the next caller reads again."""
    clock, source = Clock(), Source()
    snap = Snapshot(source, ttl_s=3600.0, clock=clock)

    def commit_meanwhile() -> None:
        source.during_read = lambda: None
        source.value = "v2"
        snap.invalidate()

    source.during_read = commit_meanwhile
    assert snap.get() == "v1"
    assert snap.get() == "v2" and source.reads == 2
    assert snap.get() == "v2" and source.reads == 2


def test_a_time_to_live_of_zero_reads_every_time() -> None:
    source = Source()
    snap = Snapshot(source, ttl_s=0.0, clock=Clock())
    snap.get()
    snap.get()
    assert source.reads == 2
