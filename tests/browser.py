"""Debian's Chromium under Playwright, for the tests that drive a browser. One Playwright
instance per test session (its sync API runs an event loop: a second one at the same
time fails), shared through the `chromium` fixture in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# Debian's wrapper script at /usr/bin/chromium is noisy; the binary behind it is not.
CHROMIUM_CANDIDATES = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium", "chromium-browser"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def unavailable(reason: str) -> None:
    """Skip a browser test on a machine without what it needs; fail it in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests may not skip)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for c in CHROMIUM_CANDIDATES:
        found = c if os.path.isabs(c) and os.access(c, os.X_OK) else shutil.which(c)
        if found:
            return found
    return None


def launch() -> Iterator[Any]:
    exe = chromium_path()
    if exe is None:
        unavailable("no Chromium found (Debian: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
