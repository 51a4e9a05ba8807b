"""The mechanism every service's error table shares (phs_runtime.error_table): the
nearest kind's rule applies, anything else passes through untouched, and a
servicer's handlers (unary and streaming) are wrapped, its helpers are not."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from phs_runtime.error_table import ErrorTable, coded
from phs_runtime.errors import ApiError, not_found
from phs_runtime.refusals import Refused


class Base(Refused):
    pass


class Missing(Base):
    def __init__(self, name: str) -> None:
        super().__init__("RESOURCE_NOT_FOUND", f"{name} not found")
        self.name = name


class Late(Base):
    pass


class VeryLate(Late):
    pass


TABLE = ErrorTable(
    Base,
    {
        Missing: lambda e: not_found("Thing", e.name),
        Late: coded(grpc.StatusCode.FAILED_PRECONDITION),
        VeryLate: coded(grpc.StatusCode.ABORTED),
    },
)


def test_the_nearest_kind_decides_and_the_refusal_keeps_its_reason_and_metadata() -> None:
    late = TABLE.to_api_error(Late("TOO_LATE", "too late", {"by": "1h"}))
    assert (late.code, late.reason, late.message, late.metadata) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TOO_LATE",
        "too late",
        {"by": "1h"},
    )
    assert TABLE.to_api_error(VeryLate("WAY_TOO_LATE", "m")).code is grpc.StatusCode.ABORTED
    assert TABLE.to_api_error(Missing("things/t")).code is grpc.StatusCode.NOT_FOUND
    with pytest.raises(TypeError):
        TABLE.to_api_error(Base("UNMAPPED", "m"))


def test_translated_maps_the_tables_kinds_only() -> None:
    with pytest.raises(ApiError) as err, TABLE.translated():
        raise Missing("things/t")
    assert err.value.reason == "RESOURCE_NOT_FOUND"
    with pytest.raises(ValueError), TABLE.translated():
        raise ValueError("a bug stays a bug")
    with pytest.raises(Refused) as other, TABLE.translated():
        raise Refused("ANOTHER_TABLES", "not this table's kind")
    assert not isinstance(other.value, ApiError)


@TABLE.handlers
class Servicer:
    def Get(self, name: str) -> str:
        raise Missing(name)

    def Watch(self, name: str) -> Iterator[str]:
        yield name
        raise Late("ENDED", "it ended")

    def helper(self) -> None:
        raise Missing("things/h")


def test_handlers_unary_and_streaming_raise_the_mapped_error_and_helpers_are_left_alone() -> None:
    s = Servicer()
    with pytest.raises(ApiError) as err:
        s.Get("things/t")
    assert err.value.code is grpc.StatusCode.NOT_FOUND
    stream = s.Watch("things/t")
    assert next(stream) == "things/t"
    with pytest.raises(ApiError) as err:
        next(stream)
    assert err.value.reason == "ENDED"
    with pytest.raises(Missing):
        s.helper()
