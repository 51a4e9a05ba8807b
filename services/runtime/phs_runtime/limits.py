"""The declared field limits (phs.api.v1.limits), enforced on every request.

The server interceptor runs it on every request before anything else reads it:
before authorization, the handler and the database. It is driven by the
descriptors alone: a plan per message type, built once, lists the fields that
need a look and what to look at. A string must fit its max_length (counted after
NFC normalization for free text, which is normalized in place so the handler
stores the normalized form) and must not contain control or bidirectional
formatting characters; a repeated field or map must fit its max_items.

A message-typed field whose type declares no limits of its own (FieldMask,
google.rpc.Status) passes its limits down to every field inside it. Timestamps and
Durations must lie in the ranges their types define (no handler can use one outside).

Violations state the limit and never quote the value.
"""

from __future__ import annotations

import contextlib
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from phs.api.v1 import field_limits_pb2
from phs_runtime.errors import MAX_VIOLATIONS, FieldViolation, invalid_argument

# The generated stub types the extension as a plain FieldDescriptor.
_EXTENSION: Any = field_limits_pb2.limits
_TEXT = field_limits_pb2.FieldLimits.CONTENT_TEXT
# C0 controls (tab and newline included: no field holds more than one line), DEL, C1
# controls, the line and paragraph separators, bidirectional embeddings and overrides
# (U+202A-U+202E) and isolates (U+2066-U+2069).
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
_search = FORBIDDEN.search
FORBIDDEN_TEXT = "must not contain control characters or bidirectional formatting characters"

_STRING = FieldDescriptor.TYPE_STRING
_BYTES = FieldDescriptor.TYPE_BYTES


@dataclass(frozen=True, slots=True)
class Limits:
    max_length: int = 0  # 0: no limit declared
    max_items: int = 0
    text: bool = False

    @property
    def declared(self) -> bool:
        return bool(self.max_length or self.max_items)


@dataclass(eq=False, slots=True)
class _Field:
    name: str
    limits: Limits
    repeated: bool
    kind: int  # a FieldDescriptor.TYPE_*
    inner: _Plan | None = None  # the plan of a message type (of a map: its value's)
    is_map: bool = False
    key_kind: int = 0
    # A singular string: most fields, so checked inline (see _Walk.message).
    plain_string: bool = False


@dataclass(eq=False)
class _Plan:
    """The fields of one message type that need a look; for a well-known type whose
    values have a valid range, the check of that range instead."""

    fields: list[_Field] = field(default_factory=list)
    valid: Callable[[Any], str | None] | None = None


def _timestamp(ts: Any) -> str | None:
    # The range google.protobuf.Timestamp defines (0001-01-01 to 9999-12-31); outside
    # it no conversion works, and a handler would fail with INTERNAL.
    if -62_135_596_800 <= ts.seconds <= 253_402_300_799 and 0 <= ts.nanos < 1_000_000_000:
        return None
    return "is not a valid timestamp"


def _duration(d: Any) -> str | None:
    # The range google.protobuf.Duration defines (about 10,000 years), one sign.
    s, n = d.seconds, d.nanos
    if abs(s) <= 315_576_000_000 and abs(n) < 1_000_000_000 and not (s > 0 > n or s < 0 < n):
        return None
    return "is not a valid duration"


_WELL_KNOWN = {"google.protobuf.Timestamp": _timestamp, "google.protobuf.Duration": _duration}


def declared(fd: FieldDescriptor) -> Limits:
    """The limits a field declares in the contract (empty when it declares none)."""
    options = fd.GetOptions()
    if not options.HasExtension(_EXTENSION):
        return Limits()
    x: field_limits_pb2.FieldLimits = options.Extensions[_EXTENSION]
    return Limits(x.max_length, x.max_items, x.content == _TEXT)


def declares_limits(desc: Descriptor) -> bool:
    """Whether a message type declares limits on any of its own fields."""
    return any(declared(fd).declared for fd in desc.fields)


_Memo = dict[tuple[str, Limits | None], _Plan]
_READY: dict[str, _Plan] = {}
_BUILDING = threading.Lock()


def plan_of(desc: Any) -> _Plan:
    """The plan of a request type, built once (under a lock: a plan half built by one
    thread must never be used by another)."""
    plan = _READY.get(desc.full_name)
    if plan is None:
        with _BUILDING:
            plan = _READY.get(desc.full_name) or _plan(desc, None, {}, set())
            _READY[desc.full_name] = plan
    return plan


def _plan(desc: Descriptor, inherited: Limits | None, memo: _Memo, open_: set[int]) -> _Plan:
    """The plan of `desc`; `inherited` are the limits of the field that holds a type
    declaring none of its own (None for a type that declares its own)."""
    key = (desc.full_name, inherited)
    plan = memo.get(key)
    if plan is not None:
        return plan
    plan = memo[key] = _Plan(valid=_WELL_KNOWN.get(desc.full_name))  # registered first: recursion finds it
    open_.add(id(plan))
    for fd in desc.fields:
        f = _field_plan(fd, inherited, memo, open_)
        if f is not None:
            plan.fields.append(f)
    open_.discard(id(plan))
    return plan


def _field_plan(fd: FieldDescriptor, inherited: Limits | None, memo: _Memo, open_: set[int]) -> _Field | None:
    limits = declared(fd)
    if not limits.declared and inherited is not None:
        limits = inherited
    repeated = fd.is_repeated
    f = _Field(fd.name, limits, repeated, fd.type)
    msg = fd.message_type
    if msg is not None:
        if msg.GetOptions().map_entry:
            f.is_map = True
            f.key_kind = msg.fields_by_name["key"].type
            value = msg.fields_by_name["value"]
            f.kind = value.type
            if value.message_type is not None:
                f.inner = _inner(value.message_type, limits, memo, open_)
            return f
        f.inner = _inner(msg, limits, memo, open_)
        return f if f.inner is not None or (repeated and limits.max_items) else None
    if fd.type in (_STRING, _BYTES) or (repeated and limits.max_items):
        f.plain_string = fd.type == _STRING and not repeated and limits.max_length > 0
        return f if limits.declared else None
    return None


def _inner(msg: Descriptor, limits: Limits, memo: _Memo, open_: set[int]) -> _Plan | None:
    """The plan of a nested message type; None when nothing inside needs a look
    (Timestamp, Date ...)."""
    plan = _plan(msg, None if declares_limits(msg) else limits, memo, open_)
    return plan if plan.fields or plan.valid or id(plan) in open_ else None


class _Found(Exception):
    """Enough violations collected: stop walking."""


class _Walk:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, path: str, description: str) -> None:
        self.violations.append((path, description))
        if len(self.violations) >= MAX_VIOLATIONS:
            raise _Found

    def message(self, msg: Message, plan: _Plan, prefix: str) -> None:
        # Attribute reads of the planned fields only: cheaper than ListFields, and a
        # field's path is built only for a violation. A plain string that is short
        # enough, needs no normalizing and has no forbidden character costs one test.
        if plan.valid is not None:
            problem = plan.valid(msg)
            if problem:
                self.add(prefix.removesuffix("."), problem)
            return
        for f in plan.fields:
            if f.plain_string:
                value = getattr(msg, f.name)
                if value and (f.limits.text or len(value) > f.limits.max_length or _search(value)):
                    fixed = self.scalar(_STRING, f.limits, value, prefix, f.name)
                    if fixed is not None:
                        setattr(msg, f.name, fixed)
            elif f.repeated:
                items = getattr(msg, f.name)
                if items:
                    self.repeated(f, items, prefix + f.name)
            elif f.inner is not None:
                if msg.HasField(f.name):
                    self.message(getattr(msg, f.name), f.inner, f"{prefix}{f.name}.")
            else:
                value = getattr(msg, f.name)
                if value:
                    fixed = self.scalar(f.kind, f.limits, value, prefix, f.name)
                    if fixed is not None:
                        setattr(msg, f.name, fixed)

    def repeated(self, f: _Field, items: Any, path: str) -> None:
        lim = f.limits
        if lim.max_items and len(items) > lim.max_items:
            self.add(path, f"must have at most {lim.max_items} items")
        elif f.is_map:
            self.map(f, items, path)
        elif f.inner is not None:
            for i, item in enumerate(items):
                self.message(item, f.inner, f"{path}[{i}].")
        elif f.kind in (_STRING, _BYTES):
            for i, item in enumerate(items):
                fixed = self.scalar(f.kind, lim, item, path, f"[{i}]")
                if fixed is not None:
                    items[i] = fixed

    def map(self, f: _Field, entries: Any, path: str) -> None:
        lim = f.limits
        for key in list(entries):
            if f.key_kind == _STRING:
                self.scalar(_STRING, Limits(lim.max_length), key, path, " (a key)")
            if f.inner is not None:
                self.message(entries[key], f.inner, f"{path} (a value).")
            elif f.kind in (_STRING, _BYTES):
                fixed = self.scalar(f.kind, lim, entries[key], path, " (a value)")
                if fixed is not None:
                    entries[key] = fixed

    def scalar(self, kind: int, lim: Limits, value: Any, prefix: str, name: str) -> str | None:
        """Check one string or bytes value (at `prefix + name`); the NFC form of free
        text when it differs."""
        if kind == _BYTES:
            if lim.max_length and len(value) > lim.max_length:
                self.add(prefix + name, f"must be at most {lim.max_length} bytes")
            return None
        if kind != _STRING:
            return None
        fixed = None
        if lim.text and not unicodedata.is_normalized("NFC", value):
            value = fixed = unicodedata.normalize("NFC", value)
        if lim.max_length and len(value) > lim.max_length:
            self.add(prefix + name, f"must be at most {lim.max_length} characters")
        elif FORBIDDEN.search(value):
            self.add(prefix + name, FORBIDDEN_TEXT)
        return fixed


def violations(request: Message) -> list[FieldViolation]:
    """The request's violations of its declared limits (at most MAX_VIOLATIONS), with
    free text normalized to NFC in place."""
    walk = _Walk()
    with contextlib.suppress(_Found):
        walk.message(request, plan_of(request.DESCRIPTOR), "")
    return walk.violations


def check(request: Message) -> None:
    """INVALID_ARGUMENT when the request breaks a declared limit."""
    found = violations(request)
    if found:
        raise invalid_argument(found)
