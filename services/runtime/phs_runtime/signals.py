"""Stopping on SIGTERM and SIGINT from the main thread."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets (install from the main thread)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def wait_for(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set. In short timed waits: a signal the kernel
    hands to another thread (any thread may take it) runs its Python handler only when the
    main thread next runs bytecode, which an untimed wait never does."""
    while not stop.wait(0.2):
        pass
