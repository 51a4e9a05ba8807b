"""Test sessions side by side (`make test`) pick ports from disjoint parts of the range."""

from __future__ import annotations

import itertools

import pytest

import phs_devstack
from phs_devstack import PORT_SLICE_ENV


def test_slices_are_disjoint_and_inside_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PORT_SLICE_ENV, raising=False)
    low, high = phs_devstack._port_range()
    ranges = []
    for k in range(3):
        monkeypatch.setenv(PORT_SLICE_ENV, f"{k}/3")
        ranges.append(phs_devstack._port_range())
    for a, b in ranges:
        assert low <= a < b <= high
        assert b - a > 3000  # room for a session's hundreds of ports
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end < start


@pytest.mark.parametrize("value", ["2/2", "-1/2", "x/2", "1"])
def test_a_bad_slice_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PORT_SLICE_ENV, value)
    with pytest.raises(ValueError):
        phs_devstack._port_range()
