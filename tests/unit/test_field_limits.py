"""Declared field limits (phs.api.v1.limits) and bounded errors, in-process: every
request field of every service declares its limits, the one generic validator
enforces them, and no error can grow with its input."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from phs.api.v1 import field_limits_pb2
from phs.notifications.v1 import notifications_service_pb2 as ns
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import resources_pb2 as rr
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs_runtime import limits
from phs_runtime.context import sanitize_request_id
from phs_runtime.errors import (
    MAX_STATUS_BYTES,
    MAX_VIOLATIONS,
    ApiError,
    excerpt,
    invalid_argument,
    not_found,
)

SERVICES = [
    ss.DESCRIPTOR.services_by_name["SchedulingService"],
    rs.DESCRIPTOR.services_by_name["ReportService"],
    ns.DESCRIPTOR.services_by_name["NotificationService"],
]
STRINGY = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


def _request_fields(
    desc: Any, path: str, inherited: limits.Limits | None, seen: set[tuple[str, object]]
) -> Iterator[tuple[str, FieldDescriptor, limits.Limits]]:
    """(path, field, effective limits) of every field reachable from a request type, with
    the limits a holding field passes down to a type that declares none of its own."""
    if (desc.full_name, inherited) in seen:
        return
    seen.add((desc.full_name, inherited))
    for fd in desc.fields:
        own = limits.declared(fd)
        lim = own if own.declared or inherited is None else inherited
        yield f"{path}{fd.name}", fd, lim
        msg = fd.message_type
        if msg is None:
            continue
        if msg.GetOptions().map_entry:
            for part in msg.fields:
                yield f"{path}{fd.name}.{part.name}", part, lim
            continue
        down = None if limits.declares_limits(msg) else lim
        yield from _request_fields(msg, f"{path}{fd.name}.", down, seen)


def _all_request_fields() -> list[tuple[str, FieldDescriptor, limits.Limits]]:
    out = []
    for svc in SERVICES:
        for m in svc.methods:
            out += list(_request_fields(m.input_type, f"{svc.name}.{m.name}: ", None, set()))
    return out


def test_every_request_string_and_repeated_field_declares_its_limits() -> None:
    fields = _all_request_fields()
    assert len(fields) > 100  # both services, nested messages included
    missing = []
    for path, fd, lim in fields:
        if fd.type in STRINGY and lim.max_length <= 0:
            missing.append(f"{path} (max_length)")
        if fd.is_repeated and lim.max_items <= 0:
            missing.append(f"{path} (max_items)")
        if lim.text and fd.type != FieldDescriptor.TYPE_STRING:
            missing.append(f"{path} (CONTENT_TEXT on a field that is not a string)")
    assert not missing, "request fields without a declared limit (phs.api.v1.limits):\n" + "\n".join(missing)


def test_the_walk_finds_what_lacks_a_limit() -> None:
    """The walk above sees an undeclared field (so the test can fail)."""
    fields = list(_request_fields(sr.Slot.DESCRIPTOR, "", None, set()))  # a response type
    assert fields and all(not lim.declared for _, _, lim in fields)
    mask = [lim for path, _, lim in _all_request_fields() if path.endswith("update_mask.paths")]
    assert mask and all(x.max_items and x.max_length for x in mask)  # passed down into FieldMask


# -- the validator ---------------------------------------------------------------------------


def _violations(request: Message) -> dict[str, str]:
    return dict(limits.violations(request))


def test_strings_nested_fields_repeated_fields_and_masks_are_bounded() -> None:
    ok = ss.UpdatePsychologistRequest(
        psychologist=sr.Psychologist(name="psychologists/p1", display_name="Dr A", time_zone="UTC"),
        request_id="r-1",
    )
    ok.update_mask.paths.append("time_zone")
    assert _violations(ok) == {}

    bad = ss.UpdatePsychologistRequest()
    bad.CopyFrom(ok)
    bad.psychologist.time_zone = "x" * 65
    bad.update_mask.paths[:] = ["y" * 65]
    assert _violations(bad) == {
        "psychologist.time_zone": "must be at most 64 characters",
        "update_mask.paths[0]": "must be at most 64 characters",
    }
    bad.update_mask.paths[:] = ["display_name"] * 9
    assert _violations(bad)["update_mask.paths"] == "must have at most 8 items"
    many = ss.ListAppointmentsRequest(
        parent="psychologists/-", states=[sr.Appointment.State.STATE_BOOKED] * 17
    )
    assert _violations(many) == {"states": "must have at most 16 items"}


def test_a_message_without_limits_of_its_own_gets_its_holders() -> None:
    """google.rpc.Status inside a Report: the `error` field's limits bound it all."""
    req = rs.CreateReportRequest(report=rr.Report())
    req.report.error.message = "m" * 2049
    req.report.error.details.add(type_url="t", value=b"v" * 2049)
    assert _violations(req) == {
        "report.error.message": "must be at most 2048 characters",
        "report.error.details[0].value": "must be at most 2048 bytes",
    }


FORBIDDEN = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"]
FORBIDDEN += ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_control_and_bidi_characters_are_refused_in_text_and_tokens(char: str) -> None:
    text = ss.CreateClientRequest(client=sr.Client(display_name=f"Ann{char}Lee"))
    assert _violations(text) == {"client.display_name": limits.FORBIDDEN_TEXT}
    token = ss.GetClientRequest(name=f"clients/c1{char}")
    assert _violations(token) == {"name": limits.FORBIDDEN_TEXT}


def test_text_is_normalized_to_nfc_before_it_is_measured() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë Ångström-Éluard ") * 10  # 200 in NFC, 230 as sent
    assert len(decomposed) > 200
    req = ss.CreateClientRequest(client=sr.Client(display_name=decomposed, email="zoë@example.org"))
    assert _violations(req) == {}
    assert req.client.display_name == unicodedata.normalize("NFC", decomposed)
    assert len(req.client.display_name) == 200
    # Identifiers are not normalized: their own patterns judge them.
    name = unicodedata.normalize("NFD", "clients/é")
    ident = ss.GetClientRequest(name=name)
    assert _violations(ident) == {} and ident.name == name
    allowed = ss.CreateClientRequest(client=sr.Client(display_name="Dr. ‎Nadia ‏Haddad — ✓"))
    assert _violations(allowed) == {}  # marks, dashes and symbols are text


def test_maps_bound_their_entries_keys_and_values() -> None:
    """No request carries a map yet; a synthetic one checks that the validator covers them."""
    pool = descriptor_pool.DescriptorPool()
    for dep in (descriptor_pb2.DESCRIPTOR, field_limits_pb2.DESCRIPTOR):
        proto = descriptor_pb2.FileDescriptorProto()
        dep.CopyToProto(proto)
        pool.Add(proto)
    f = descriptor_pb2.FileDescriptorProto(
        name="t/m.proto", package="t", syntax="proto3", dependency=["phs/api/v1/field_limits.proto"]
    )
    m = f.message_type.add(name="M")
    entry = m.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=FieldDescriptor.TYPE_STRING, label=1)
    entry.field.add(name="value", number=2, type=FieldDescriptor.TYPE_STRING, label=1)
    tags = m.field.add(name="tags", number=1, type=FieldDescriptor.TYPE_MESSAGE, label=3)
    tags.type_name = ".t.M.TagsEntry"
    extension: Any = field_limits_pb2.limits  # typed as a plain FieldDescriptor by its stub
    tags.options.Extensions[extension].max_items = 2
    tags.options.Extensions[extension].max_length = 5
    pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.M"))
    msg = cls()
    msg.tags["toolong"] = "v"  # type: ignore[attr-defined]
    assert _violations(msg) == {"tags (a key)": "must be at most 5 characters"}
    msg.tags.clear()  # type: ignore[attr-defined]
    msg.tags["k"] = "\x00"  # type: ignore[attr-defined]
    assert _violations(msg) == {"tags (a value)": limits.FORBIDDEN_TEXT}
    msg.tags.update({"a": "1", "b": "2"})  # type: ignore[attr-defined]
    assert _violations(msg) == {"tags": "must have at most 2 items"}


def test_violations_are_capped_and_never_quote_the_value() -> None:
    req = rs.CreateReportRequest(report=rr.Report())
    for _ in range(16):
        req.report.error.details.add(type_url="SECRET-" + "s" * 3000)
    found = limits.violations(req)
    assert len(found) == MAX_VIOLATIONS
    err = invalid_argument(found)
    raw = err.to_status().SerializeToString()
    assert b"SECRET" not in raw and len(raw) <= MAX_STATUS_BYTES
    with pytest.raises(ApiError) as caught:
        limits.check(req)
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT


# -- bounded errors ----------------------------------------------------------------------------


def test_excerpt_is_short_one_line_ascii() -> None:
    assert excerpt("Europe/Paris") == "Europe/Paris"
    hostile = 'A\x00\x1b[31m\n{"forged":1}\u202e' + "x" * 100
    out = excerpt(hostile)
    assert out.endswith("…") and out[:-1].isascii() and out[:-1].isprintable()
    assert "\n" not in out and "\x1b" not in out and "\\x1b" in out and "\\u202e" in out
    assert len(excerpt("é" * 10_000)) <= 40 * 6 + 1
    assert excerpt("x" * 41) == "x" * 40 + "…"


def test_not_found_quotes_a_bounded_sanitized_name() -> None:
    status = not_found("Client", "clients/" + "\x1b" * 60_000).to_status()
    assert status.ByteSize() < 2048 and "\x1b" not in status.message


def test_a_status_stays_within_its_budget_whatever_was_put_in() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="f", description="d" * 200) for _ in range(100)
        ]
    )
    err = ApiError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "m" * 100_000,
        "REASON",
        {f"k{i}": "v" * 10_000 for i in range(100)},
        [bad, error_details_pb2.ResourceInfo(resource_name="small")],
    )
    status = err.to_status()
    assert status.ByteSize() <= MAX_STATUS_BYTES
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.metadata["omitted_details"] == "1"
    assert len(status.details) == 2  # the small detail still fits


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("3f2c6a0e-5b7d-4d61-9a38-0e6f1c2b9d47", True),
        ("trace.123:abc_DEF-9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("abc\n", False),
        ("a b", False),
        ('{"forged":1}', False),
        ("é", False),
        ("", False),
    ],
)
def test_request_ids_are_taken_only_as_short_safe_tokens(value: str, kept: bool) -> None:
    assert (sanitize_request_id(value) == value) is kept


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (0, 0, True),
        (253_402_300_799, 999_999_999, True),
        (-62_135_596_800, 0, True),
        (253_402_300_800, 0, False),
        (-62_135_596_801, 0, False),
        (0, -1, False),
        (0, 1_000_000_000, False),
    ],
)
def test_timestamps_must_lie_in_their_types_range(seconds: int, nanos: int, valid: bool) -> None:
    req = rs.CreateReportRequest(report=rr.Report(caseload_params=rr.CaseloadParams(psychologist="p")))
    req.report.caseload_params.interval.start_time.seconds = seconds
    req.report.caseload_params.interval.start_time.nanos = nanos
    expected = {} if valid else {"report.caseload_params.interval.start_time": "is not a valid timestamp"}
    assert _violations(req) == expected


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [(60, 0, True), (-1, -5, True), (315_576_000_000, 0, True), (315_576_000_001, 0, False), (1, -1, False)],
)
def test_durations_must_lie_in_their_types_range(seconds: int, nanos: int, valid: bool) -> None:
    req = ss.UpdateSessionTypeRequest(session_type=sr.SessionType(name="sessionTypes/90834"))
    req.session_type.duration.seconds = seconds
    req.session_type.duration.nanos = nanos
    assert _violations(req) == ({} if valid else {"session_type.duration": "is not a valid duration"})
