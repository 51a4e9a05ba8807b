"""The deadline step: a call whose deadline has passed is not started."""

from __future__ import annotations

import grpc
import pytest

from phs_runtime.errors import ApiError
from phs_runtime.pipeline import deadline
from tests.unit.fakes import FakeContext


@pytest.mark.parametrize("remaining", [0.0, -1.5])
def test_a_passed_deadline_is_refused(remaining: float) -> None:
    with pytest.raises(ApiError) as err:
        deadline.check(FakeContext(remaining).as_grpc)
    assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert err.value.reason == "DEADLINE_EXCEEDED"


@pytest.mark.parametrize("remaining", [None, 0.001, 30.0])
def test_time_left_or_no_deadline_passes(remaining: float | None) -> None:
    deadline.check(FakeContext(remaining).as_grpc)
