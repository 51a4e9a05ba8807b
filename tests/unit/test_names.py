"""Resource names: each kind parses to its typed name, formats back, and refuses
with one message style."""

from __future__ import annotations

import grpc
import pytest

from phs_runtime.errors import ApiError, Violations
from phs_scheduling import names


@pytest.mark.parametrize(
    ("kind", "value", "parsed"),
    [
        (names.PSYCHOLOGIST, "psychologists/p-1", names.Psychologist("p-1")),
        (names.PSYCHOLOGISTS, "psychologists/-", names.Psychologist("-")),
        (names.PSYCHOLOGISTS, "psychologists/p-1", names.Psychologist("p-1")),
        (names.CLIENT, "clients/c1", names.Client("c1")),
        (names.SESSION_TYPE, "sessionTypes/90834", names.SessionType("90834")),
        (names.SESSION_TYPE, "sessionTypes/Intake-A", names.SessionType("Intake-A")),
        (names.APPOINTMENT, "psychologists/p/appointments/a", names.Appointment("p", "a")),
        (names.SERIES, "psychologists/p/series/s", names.Series("p", "s")),
        (names.AVAILABILITY, "psychologists/p/availability", names.Availability("p")),
    ],
)
def test_a_name_parses_and_formats_back(kind: names.Kind[object], value: str, parsed: object) -> None:
    assert kind.require("f", value) == parsed
    assert str(parsed) == value


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (names.PSYCHOLOGIST, "psychologists/-"),
        (names.PSYCHOLOGIST, "clients/c"),
        (names.PSYCHOLOGIST, "psychologists/P"),
        (names.PSYCHOLOGIST, "psychologists/p/x"),
        (names.CLIENT, "clients/c\n"),
        (names.SESSION_TYPE, "90834"),
        (names.SESSION_TYPE, "sessionTypes/" + "9" * 33),
        (names.APPOINTMENT, "psychologists/p/series/s"),
        (names.SERIES, "psychologists/p/series/s/x"),
        (names.AVAILABILITY, "psychologists/p"),
        (names.AVAILABILITY, "psychologists/p/q/availability"),
    ],
)
def test_a_malformed_name_must_look_like_the_pattern(kind: names.Kind[object], value: str) -> None:
    v = Violations()
    assert kind.parse(v, "field", value) is None
    assert v.items == [("field", f"must look like {kind.pattern}")]


def test_an_empty_name_is_required() -> None:
    with pytest.raises(ApiError) as err:
        names.CLIENT.require("appointment.client", "")
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "appointment.client: is required, like clients/{id}" in err.value.message
