"""The test tiers (README, "Test tiers"): every test module sits in one, and the rules
tests/conftest.py applies to unit tests hold while one runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from phs_devstack import Stack

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "e2e", "web", "k8s")


def test_every_test_module_is_in_a_tier() -> None:
    modules = [p.relative_to(TESTS) for p in TESTS.rglob("test_*.py")]
    assert len(modules) > 50
    outside = [str(p) for p in modules if p.parts[0] not in TIERS]
    assert not outside, f"move these into tests/unit, tests/integration or tests/e2e: {outside}"


def test_a_unit_test_cannot_listen_start_a_process_or_a_service(tmp_path: Path) -> None:
    with socket.socket() as s, pytest.raises(AssertionError, match="listen on a port"):
        s.bind(("127.0.0.1", 0))
    with pytest.raises(AssertionError, match="start a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    stack = Stack(root=tmp_path)  # the make-up ports, never bound: every start is refused
    for start in (stack.start, stack.start_envoy, stack.start_scheduling, stack.start_kafka):
        with pytest.raises(AssertionError, match="may not start"):
            start()
