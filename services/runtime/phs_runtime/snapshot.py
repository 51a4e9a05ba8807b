"""A value read from the database and kept by one process for a short while.

For data that is read on nearly every call and changed rarely (a catalogue): the
process reads it at most once per `ttl_s` instead of once per call.

Two rules make that safe:
- this process's own changes show at once: the writer calls `invalidate()` after
  its transaction commits, and the next `get()` reads again;
- another process's changes show within `ttl_s`: the age of a kept value counts
  from before the read that produced it.

A read that started before an `invalidate()` is returned to its caller but not
kept, so a value read just before a commit cannot outlive the invalidation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Snapshot(Generic[T]):
    def __init__(
        self, load: Callable[[], T], ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        # (value, when its read started, the generation it was read in)
        self._held: tuple[T, float, int] | None = None

    def get(self) -> T:
        held = self._held
        if held is not None and held[2] == self._generation and self._clock() - held[1] < self.ttl_s:
            return held[0]
        generation, started = self._generation, self._clock()
        value = self._load()
        with self._lock:
            if generation == self._generation:
                self._held = (value, started, generation)
        return value

    def invalidate(self) -> None:
        """What the value was read from changed: read it again next time."""
        with self._lock:
            self._generation += 1
            self._held = None
