"""Slot computation lives in phs_scheduling.domain.slots; this name stays for the
code and tests that import it from here."""

from __future__ import annotations

from phs_scheduling.domain.slots import (
    DEFAULT_ALIGNMENT,
    DEFAULT_HORIZON,
    DEFAULT_LATE_CANCEL,
    DEFAULT_MIN_NOTICE,
    MINUTES_PER_DAY,
    UTC,
    Busy,
    Hours,
    Policy,
    Rules,
    free_slots,
    local_instant,
    working_minutes,
)

__all__ = [
    "DEFAULT_ALIGNMENT",
    "DEFAULT_HORIZON",
    "DEFAULT_LATE_CANCEL",
    "DEFAULT_MIN_NOTICE",
    "MINUTES_PER_DAY",
    "UTC",
    "Busy",
    "Hours",
    "Policy",
    "Rules",
    "free_slots",
    "local_instant",
    "working_minutes",
]
