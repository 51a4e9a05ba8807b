"""JSON values for the fields of a request message, derived from its descriptor.

Every generated value says what the gateway must do with it (`Defect`): nothing
(well-formed JSON for the field, whatever the service then thinks of it), refuse it
with 400 (`BAD`: not a valid proto3 JSON value for the field, an unknown field, two
members of a oneof), or we cannot say (`UNSURE`: forms the proto3 JSON mapping leaves
to the parser, and long values that declared limits may refuse before authentication).
The request builder turns that into the status a case must get.

Long free-text values are `Long` strings: an error answer must never contain one.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar, cast

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from hypothesis import strategies as st

FD = FieldDescriptor
T = TypeVar("T")
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
REQUIRED = field_behavior_pb2.REQUIRED
# Generated strings this long or longer are "long input": never to be echoed.
LONG = 64


class Defect(enum.IntEnum):
    NONE = 0
    UNSURE = 1
    BAD = 2


class Long(str):
    """A long generated string (see LONG): an error answer must not contain it."""

    __slots__ = ()


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (1e400, -0, 1.0): Python's json cannot write these."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as (key, value) pairs, so a key can appear twice."""

    pairs: tuple[tuple[str, Any], ...]


Tree: TypeAlias = Any  # None | bool | int | float | str | Raw | Obj | list[Tree]


@dataclass(frozen=True)
class G:
    value: Tree
    defect: Defect = Defect.NONE
    why: str = ""  # what makes it BAD or UNSURE, for the printed examples


def worst(*gs: G) -> tuple[Defect, str]:
    defect, why = Defect.NONE, ""
    for g in gs:
        if g.defect > defect:
            defect, why = g.defect, g.why
    return defect, why


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, in proportion to the weights (one_of drops repeats)."""
    pool_ = tuple(s for w, s in choices for _ in range(w))
    return st.sampled_from(pool_).flatmap(lambda s: s)


def ok(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[G]:
    return strategy.map(G)


def bad(why: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[G]:
    return strategy.map(lambda v: G(v, Defect.BAD, why))


def unsure(why: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[G]:
    return strategy.map(lambda v: G(v, Defect.UNSURE, why))


# -- encoding --------------------------------------------------------------------------------


def dumps(tree: Tree, ascii_only: bool = True) -> str:
    """JSON text of a tree (Raw tokens as they are, Obj pairs in order, keys repeated)."""
    if isinstance(tree, Raw):
        return tree.text
    if isinstance(tree, Obj):
        inner = ",".join(
            f"{json.dumps(k, ensure_ascii=ascii_only)}:{dumps(v, ascii_only)}" for k, v in tree.pairs
        )
        return "{" + inner + "}"
    if isinstance(tree, dict):
        return dumps(Obj(tuple(tree.items())), ascii_only)
    if isinstance(tree, list):
        return "[" + ",".join(dumps(v, ascii_only) for v in tree) + "]"
    return json.dumps(str(tree) if isinstance(tree, Long) else tree, ensure_ascii=ascii_only)


def longs(tree: Tree) -> Iterator[Long]:
    """Every Long string in a tree (keys too)."""
    if isinstance(tree, Long):
        yield tree
    elif isinstance(tree, Obj):
        for k, v in tree.pairs:
            yield from longs(k)
            yield from longs(v)
    elif isinstance(tree, dict):
        yield from longs(Obj(tuple(tree.items())))
    elif isinstance(tree, list):
        for v in tree:
            yield from longs(v)


# -- the world the values come from ----------------------------------------------------------


@dataclass
class Names:
    """Resource names for string fields: real ones made by the test's fixture (so some
    requests reach deep code paths) and the patterns of every resource type."""

    real: dict[str, list[str]]  # resource type -> names that exist
    patterns: dict[str, list[str]]  # resource type -> patterns (psychologists/{psychologist})
    extra: list[str] = field(default_factory=list)  # e.g. psychologists/- (all)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def all_real(self) -> list[str]:
        return sorted({n for names in self.real.values() for n in names} | set(self.extra))

    def type_of_field(self, f: FieldDescriptor) -> str | None:
        """The resource type a string field names: its resource_reference, the
        resource of its message for `name`, or a type whose singular is the field's name."""
        ref = f.GetOptions().Extensions[resource_pb2.resource_reference]
        if ref.type and ref.type != "*":
            return str(ref.type)
        owner = owner_of(f).GetOptions().Extensions[resource_pb2.resource]
        if f.name == "name" and owner.type:
            return str(owner.type)
        for t in self.patterns:
            if _snake(t.rsplit("/", 1)[-1]) == f.name:
                return t
        return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def message_of(f: FieldDescriptor) -> Descriptor:
    assert f.message_type is not None, f.full_name
    return f.message_type


def owner_of(f: FieldDescriptor) -> Descriptor:
    assert f.containing_type is not None, f.full_name
    return f.containing_type


def enum_of(f: FieldDescriptor) -> EnumDescriptor:
    assert f.enum_type is not None, f.full_name
    return f.enum_type


@functools.cache
def behaviors(f: FieldDescriptor) -> frozenset[int]:
    return frozenset(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])


# -- strings ---------------------------------------------------------------------------------

_FILLERS = ["x", "é", "😀", "<b>", '"', "\\", "\u202e", "\u0000", "%", "{}"]


@functools.cache
def long_strings(max_len: int = 60_000) -> st.SearchStrategy[Long]:
    """A long value: a short random head (so values differ) and a repeated filler."""
    lengths = [n for n in (64, 65, 100, 1000, 8_000, 60_000, 1_000_000) if n <= max_len]
    return st.builds(
        lambda head, filler, n: Long((head + filler * n)[:n] if len(head) < n else head + filler * n),
        st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=4, max_size=8),
        st.sampled_from(_FILLERS),
        st.sampled_from(lengths),
    )


@functools.cache
def short_text() -> st.SearchStrategy[str]:
    """Short strings, odd ones included: controls, bidi overrides, emoji, NUL."""
    return st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
        st.sampled_from(("", " ", "-", "*", "..", "null", "0", "\u0000", "\n", "\u202e", "😀", "%00", "a/b")),
    )


@functools.cache
def plain_text() -> st.SearchStrategy[str]:
    return st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=24)


@functools.cache
def segment_ids() -> st.SearchStrategy[str]:
    """A resource id that keeps a name's shape (unreserved URL characters only)."""
    return st.one_of(
        st.uuids().map(str),
        st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-._~"), min_size=1, max_size=12).filter(
            lambda s: s not in (".", "..")
        ),
    )


def shaped_name(pattern: str, ids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A name of the pattern (`psychologists/{psychologist}`) with generated ids."""
    n = pattern.count("{")
    return st.lists(ids, min_size=n, max_size=n).map(lambda vs: _fill_pattern(pattern, vs))


def _fill_pattern(pattern: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _: next(it), pattern)


def resource_names(names: Names, rtype: str | None) -> st.SearchStrategy[str]:
    real = names.real.get(rtype, []) if rtype else names.all_real()
    patterns = names.patterns.get(rtype, []) if rtype else [p for ps in names.patterns.values() for p in ps]
    shaped = st.one_of([shaped_name(p, segment_ids()) for p in patterns]) if patterns else st.uuids().map(str)
    if not real:
        return shaped
    return weighted((6, st.sampled_from(real)), (1, shaped))  # mostly real names: they reach deep code


_ZONES = ["UTC", "America/Toronto", "Europe/Paris", "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns"]


def string_values(f: FieldDescriptor, names: Names) -> st.SearchStrategy[G]:
    """Well-formed JSON for a string field, shaped by what it holds."""
    rtype = names.type_of_field(f)
    if rtype or f.name in ("parent", "name"):
        main = resource_names(names, rtype)
    elif f.name == "request_id":
        main = st.uuids().map(str)
    elif f.name == "etag":  # AIP-154: only the server knows it; none means "whatever it is now"
        return weighted((4, ok(st.just(""))), (1, ok(plain_text())))
    elif f.name == "time_zone":
        main = st.sampled_from(_ZONES)
    elif f.name == "email":
        main = st.sampled_from(("a@example.org", "x+y@example.org"))
    elif f.name == "phone":
        main = st.sampled_from(("+1 555 0100", "555-0100"))
    else:
        main = plain_text()
    return weighted((12, ok(main)), (1, ok(short_text())), (1, ok(resource_names(names, None))))


def odd_strings() -> st.SearchStrategy[G]:
    """Strings that still parse: nonsense names, unknown zones, long values."""
    return st.one_of(
        ok(short_text()),
        ok(st.sampled_from(("Mars/Olympus", "+05:00", "psychologists/", "psychologists/-", "clients/*"))),
        unsure("a long string (limits may refuse it first)", long_strings()),
    )


# -- numbers, booleans, enums -----------------------------------------------------------------

_INT_RANGE = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
_SAFE = 2**53  # integers a JSON number carries exactly everywhere


def int_values(t: int) -> st.SearchStrategy[G]:
    lo, hi = _INT_RANGE[t]
    small = st.integers(max(lo, -1000), min(hi, 1000))
    edges = st.sampled_from((lo, hi, 0, -1 if lo < 0 else 1)).filter(lambda v: lo <= v <= hi)
    return weighted(
        (3, ok(st.integers(1, 10))),  # counts and sizes as people use them
        (1, ok(small)),
        (1, ok(edges.filter(lambda v: abs(v) <= _SAFE))),
        (1, ok(st.one_of(small, edges).map(str))),  # the JSON mapping allows a string
    )


def bad_ints(t: int) -> st.SearchStrategy[G]:
    lo, hi = _INT_RANGE[t]
    return st.one_of(
        bad("an integer out of range", st.sampled_from((hi + 1, lo - 1, 2**64, -(2**64)))),
        bad("an integer out of range", st.sampled_from((str(hi + 1), str(lo - 1), "9" * 30))),
        bad("1e400 for an integer", st.just(Raw("1e400"))),
        bad("a fraction for an integer", st.sampled_from((1.5, -0.25, Raw("0.5")))),
        bad("not a number", st.sampled_from(["abc", "", "0x10", "NaN", True, [1], {"a": 1}])),
        unsure(
            "an integer written as a float", st.sampled_from((Raw("1e2"), Raw("1.0"), Raw("-0"), "1e2", " 7"))
        ),
    )


def float_values(t: int) -> st.SearchStrategy[G]:
    finite = st.floats(allow_nan=False, allow_infinity=False, width=32 if t == FD.TYPE_FLOAT else 64)
    return st.one_of(ok(finite), ok(st.sampled_from(("NaN", "Infinity", "-Infinity", 0, -1))))


def bad_floats() -> st.SearchStrategy[G]:
    return st.one_of(
        unsure("1e400 for a number", st.just(Raw("1e400"))),
        bad("not a number", st.sampled_from(["abc", True, [1.5], {"x": 1}])),
    )


def bool_values() -> st.SearchStrategy[G]:
    return ok(st.booleans())


def bad_bools() -> st.SearchStrategy[G]:
    return st.one_of(
        bad("not a boolean", st.sampled_from(["yes", 2, [True], {"a": True}])),
        unsure("a boolean as a string or number", st.sampled_from(("true", "false", 0, 1))),
    )


def enum_values(f: FieldDescriptor) -> st.SearchStrategy[G]:
    values = enum_of(f).values
    named = [v.name for v in values if v.number] or [v.name for v in values]
    return weighted(
        (3, ok(st.sampled_from(named))),  # the zero value is "unspecified": rarely accepted
        (1, ok(st.sampled_from([v.name for v in values]))),
        (1, ok(st.sampled_from([v.number for v in values]))),
    )


def bad_enums(f: FieldDescriptor) -> st.SearchStrategy[G]:
    first = enum_of(f).values[-1].name
    return st.one_of(
        bad("an unknown enum name", st.sampled_from(("NOPE", first.lower(), first + "X", ""))),
        unsure("an unknown enum number", st.sampled_from((99, -1, 2**31 - 1))),
        bad("not an enum", st.sampled_from([1.5, True, [first], {"a": 1}])),
    )


def bytes_values() -> st.SearchStrategy[G]:
    return ok(st.binary(max_size=32).map(lambda b: base64.b64encode(b).decode()))


# -- well-known types --------------------------------------------------------------------------


def _rfc3339(value: dt.datetime, digits: int, offset_minutes: int) -> str:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = value.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}{'000'}"[:digits]
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    h, m = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{h:02d}:{m:02d}"


def timestamps(names: Names) -> st.SearchStrategy[str]:
    """Valid RFC 3339 instants: mostly whole hours in the coming weeks (bookable),
    else any instant of years 1-9999; with fractions and offsets."""
    soon = st.builds(
        lambda d, h: (names.now + dt.timedelta(days=d)).replace(hour=h, minute=0, second=0, microsecond=0),
        st.integers(1, 90),
        st.integers(0, 23),
    )
    anywhere = st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)).map(
        lambda v: v.replace(tzinfo=dt.UTC)
    )
    return st.builds(
        _rfc3339,
        weighted((3, soon), (1, anywhere)),
        st.sampled_from((0, 0, 3, 6, 9)),
        st.sampled_from((0, 0, 0, 60, -300, 330, 765)),
    )


_BAD_TIMESTAMPS = [
    "not-a-date",
    "10000-01-01T00:00:00Z",
    "2027-02-30T10:00:00Z",
    "2027-13-01T00:00:00Z",
    "2027-01-01T24:00:01Z",
    "2027-01-01",
    "2027-01-01T00:00:00",
    "0000-01-01T00:00:00Z",
    "2027-01-01T00:00:00+25:00",
]


def timestamp_values(names: Names) -> st.SearchStrategy[G]:
    return ok(timestamps(names))


def bad_timestamps() -> st.SearchStrategy[G]:
    return st.one_of(
        bad("not an RFC 3339 timestamp", st.sampled_from(_BAD_TIMESTAMPS)),
        bad("a number for a timestamp", st.sampled_from((0, 1_700_000_000))),
        unsure(
            "an odd timestamp",
            st.sampled_from(
                ["2027-06-30T23:59:60Z", "2027-01-01t00:00:00z", "2027-01-01T00:00:00.1234567891Z", ""]
            ),
        ),
    )


def durations() -> st.SearchStrategy[str]:
    return weighted(
        (3, st.integers(0, 480).map(lambda m: f"{m * 60}s")),  # whole minutes, as policies use
        (1, st.integers(-86400, 10**8).map(lambda s: f"{s}s")),
        (1, st.builds(lambda s, n: f"{s}.{n:09d}s", st.integers(0, 3600), st.integers(0, 999_999_999))),
        (1, st.sampled_from(("0s", "1.5s", "3000s", "86400s", "315576000000s"))),
    )


def bad_durations() -> st.SearchStrategy[G]:
    return st.one_of(
        bad("not a duration", st.sampled_from(("1h", "abc", "5", "s", "315576000001s", 5, "--1s"))),
        unsure("an odd duration", st.sampled_from(("", "1.0000000001s", "+5s"))),
    )


def _camel(path: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def field_masks(sibling: Descriptor | None) -> st.SearchStrategy[str]:
    """Comma-separated paths: fields of the message the mask is about, and unknown ones."""
    known = [f.json_name for f in sibling.fields] if sibling else []
    return st.lists(st.sampled_from((*known, "nope", "a.b", "name")), max_size=4).map(",".join)


def bad_field_masks() -> st.SearchStrategy[G]:
    return st.one_of(
        bad("not a field mask", st.sampled_from([5, ["displayName"], {"paths": 1}])),
        unsure("an odd field mask", st.sampled_from(("display_name", ",", "a..b", "*"))),
    )


WRAPPERS = {
    "google.protobuf.DoubleValue": FD.TYPE_DOUBLE,
    "google.protobuf.FloatValue": FD.TYPE_FLOAT,
    "google.protobuf.Int64Value": FD.TYPE_INT64,
    "google.protobuf.UInt64Value": FD.TYPE_UINT64,
    "google.protobuf.Int32Value": FD.TYPE_INT32,
    "google.protobuf.UInt32Value": FD.TYPE_UINT32,
    "google.protobuf.BoolValue": FD.TYPE_BOOL,
    "google.protobuf.StringValue": FD.TYPE_STRING,
    "google.protobuf.BytesValue": FD.TYPE_BYTES,
}

json_any: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _instant(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def order_ranges(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A well-formed range starts before it ends: swap `start_X` and `end_X` (either
    spelling) when both are instants in the wrong order."""
    index = {(k.rpartition(".")[0], _snake(k.rpartition(".")[2])): i for i, (k, _) in enumerate(pairs)}
    out = list(pairs)
    for (prefix, name), i in index.items():
        j = index.get((prefix, "end_" + name[len("start_") :])) if name.startswith("start_") else None
        if j is None:
            continue
        start, end = _instant(out[i][1]), _instant(out[j][1])
        if start is not None and end is not None and start > end:
            out[i], out[j] = (out[i][0], out[j][1]), (out[j][0], out[i][1])
    return out


# -- messages ----------------------------------------------------------------------------------


def scalar_values(
    t: int, f: FieldDescriptor | None, names: Names
) -> tuple[st.SearchStrategy[G], st.SearchStrategy[G]]:
    """(well-formed, ill-formed) JSON values of a scalar type; `f` shapes strings and
    enums (None for a wrapper type's value)."""
    if t == FD.TYPE_STRING:
        good = string_values(f, names) if f is not None else ok(short_text())
        return good, st.one_of(
            odd_strings(), bad("not a string", st.sampled_from([5, True, ["a"], {"a": "b"}]))
        )
    if t in _INT_RANGE:
        return int_values(t), bad_ints(t)
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return float_values(t), bad_floats()
    if t == FD.TYPE_BOOL:
        return bool_values(), bad_bools()
    if t == FD.TYPE_ENUM and f is not None:
        return enum_values(f), bad_enums(f)
    if t == FD.TYPE_BYTES:
        return bytes_values(), bad("not base64", st.sampled_from(["!!!", 5, ["x"]]))
    raise AssertionError(f"no scalar values for type {t}")


@dataclass
class Shapes:
    """Strategies for the JSON of any message of the descriptor pool."""

    names: Names
    max_depth: int = 4
    # Strategies are built once per key: building one costs far more than drawing from it.
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def memo(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = build()
        return cast(T, self._cache[key])

    def message(
        self, desc: Descriptor, valid: bool, depth: int = 0, exclude: frozenset[str] = frozenset()
    ) -> st.SearchStrategy[G]:
        """A JSON object for `desc`. Valid: every value well-formed, required fields
        mostly present, output-only ones mostly absent. Otherwise anything goes."""
        return self.memo(
            ("message", desc.full_name, valid, depth, exclude),
            lambda: self._message(desc, valid, depth, exclude),
        )

    def _message(
        self, desc: Descriptor, valid: bool, depth: int, exclude: frozenset[str]
    ) -> st.SearchStrategy[G]:
        special = self._well_known(desc, valid)
        if special is not None:
            return special
        fields = [f for f in desc.fields if f.name not in exclude] if depth < self.max_depth else []
        return st.deferred(lambda: self._object(fields, valid, depth))

    def _object(self, fields: list[FieldDescriptor], valid: bool, depth: int) -> st.SearchStrategy[G]:
        return _draw_object(self, fields, valid, depth)

    def field(self, f: FieldDescriptor, valid: bool, depth: int) -> st.SearchStrategy[G]:
        return self.memo(("field", f.full_name, valid, depth), lambda: self._field(f, valid, depth))

    def _field(self, f: FieldDescriptor, valid: bool, depth: int) -> st.SearchStrategy[G]:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = self.single(message_of(f).fields_by_name["value"], valid, depth + 1)
            return st.lists(st.tuples(st.text(max_size=8), value), max_size=3).map(
                lambda kvs: G(Obj(tuple((k, g.value) for k, g in kvs)), *worst(*(g for _, g in kvs)))
            )
        if f.is_repeated:
            element = self.single(f, valid, depth + 1)
            lists = st.lists(element, max_size=3 if valid else 5).map(_list)
            if valid:
                return lists
            return st.one_of(
                lists,
                ok(st.none()),
                element.map(
                    lambda g: G(g.value, max(g.defect, Defect.UNSURE), "one value for a repeated field")
                ),
                bad("an object for a repeated field", st.just({"a": 1})),
            )
        return self.single(f, valid, depth + 1)

    def single(self, f: FieldDescriptor, valid: bool, depth: int) -> st.SearchStrategy[G]:
        """One value of the field's type (an element, for a repeated field)."""
        return self.memo(("single", f.full_name, valid, depth), lambda: self._single(f, valid, depth))

    def _single(self, f: FieldDescriptor, valid: bool, depth: int) -> st.SearchStrategy[G]:
        if f.type != FD.TYPE_MESSAGE:
            good, wrong = scalar_values(f.type, f, self.names)
            return good if valid else st.one_of(good, wrong)
        desc = message_of(f)
        name = desc.full_name
        if name == "google.protobuf.FieldMask":
            good = ok(field_masks(self.sibling(f)))
            return good if valid else st.one_of(good, bad_field_masks())
        good = self.message(desc, valid, depth)
        if valid:
            return good
        if name.startswith("google.protobuf."):
            return self.message(desc, False, depth)
        return st.one_of(
            self.message(desc, False, depth),
            ok(st.none()),
            bad("not an object", st.sampled_from(["x", 1, [{}], True])),
        )

    @staticmethod
    def sibling(f: FieldDescriptor) -> Descriptor:
        """The message a FieldMask is about: the other message field of its request."""
        for other in owner_of(f).fields:
            if other is not f and other.message_type is not None and not _is_well_known(other):
                return message_of(other)
        return owner_of(f)

    def _well_known(self, desc: Descriptor, valid: bool) -> st.SearchStrategy[G] | None:
        name = desc.full_name
        good: st.SearchStrategy[G]
        wrong: st.SearchStrategy[G]
        if name == "google.protobuf.Timestamp":
            good, wrong = timestamp_values(self.names), bad_timestamps()
        elif name == "google.protobuf.Duration":
            good, wrong = ok(durations()), bad_durations()
        elif name == "google.protobuf.FieldMask":
            good, wrong = ok(field_masks(None)), bad_field_masks()
        elif name == "google.protobuf.Struct":
            good = ok(st.dictionaries(st.text(max_size=6), json_any, max_size=3))
            wrong = bad("not an object", st.just(5))
        elif name == "google.protobuf.Value":
            good = wrong = ok(json_any)
        elif name == "google.protobuf.ListValue":
            good, wrong = ok(st.lists(json_any, max_size=3)), bad("not a list", st.just({"a": 1}))
        elif name == "google.protobuf.Empty":
            good, wrong = ok(st.just({})), bad("not an object", st.just(5))
        elif name == "google.protobuf.Any":
            good = ok(st.sampled_from(_ANYS))
            wrong = bad(
                "an Any without a known @type", st.sampled_from(({"a": 1}, {"@type": "x.example/nope.Nope"}))
            )
        elif name in WRAPPERS:
            good, wrong = scalar_values(WRAPPERS[name], None, self.names)
        else:
            return None
        return good if valid else st.one_of(good, wrong)


# Composites live at module level: decorating one costs far more than drawing from it.
@st.composite
def _draw_object(
    draw: st.DrawFn, shapes: Shapes, fields: list[FieldDescriptor], valid: bool, depth: int
) -> G:
    pairs: list[tuple[str, Any]] = []
    parts: list[G] = []
    used_oneofs: set[str] = set()
    for f in fields:
        b = behaviors(f)
        percent = 90 if REQUIRED in b else 5 if OUTPUT_ONLY in b else 40
        if draw(st.integers(0, 99)) >= (percent if valid else 50):
            continue
        oneof = f.containing_oneof
        second = oneof is not None and oneof.name in used_oneofs
        if second and (valid or draw(st.integers(0, 3))):
            continue
        g = draw(shapes.field(f, valid, depth))
        if oneof is not None:
            used_oneofs.add(oneof.name)
            if second and g.value is not None:
                g = G(g.value, Defect.BAD, f"two members of oneof {oneof.name}")
        # Both spellings of a field name are proto3 JSON.
        key = f.json_name if valid or draw(st.integers(0, 4)) else f.name
        pairs.append((key, g.value))
        parts.append(g)
    return G(Obj(tuple(order_ranges(pairs) if valid else pairs)), *worst(*parts))


_ANYS = [
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X", "domain": "d"},
    {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"},
]


def _is_well_known(f: FieldDescriptor) -> bool:
    return f.message_type is not None and f.message_type.full_name.startswith("google.protobuf.")


def _list(gs: list[G]) -> G:
    return G([g.value for g in gs], *worst(*gs))


# -- query-string forms ------------------------------------------------------------------------


def query_value(f: FieldDescriptor, shapes: Shapes, valid: bool) -> st.SearchStrategy[G]:
    """One query-string value (text) for a scalar or well-known-type field."""
    return shapes.memo(("query", f.full_name, valid), lambda: _query_value(f, shapes, valid))


def _query_value(f: FieldDescriptor, shapes: Shapes, valid: bool) -> st.SearchStrategy[G]:
    names = shapes.names
    t = f.type
    msg = f.message_type.full_name if f.message_type is not None else ""
    good: st.SearchStrategy[G]
    wrong: st.SearchStrategy[G]
    if msg == "google.protobuf.Timestamp":
        good, wrong = ok(timestamps(names)), bad_timestamps().filter(lambda g: isinstance(g.value, str))
    elif msg == "google.protobuf.Duration":
        good, wrong = ok(durations()), bad_durations().filter(lambda g: isinstance(g.value, str))
    elif msg == "google.protobuf.FieldMask":
        good, wrong = ok(field_masks(Shapes.sibling(f))), unsure("an odd field mask", st.just("a..b"))
    elif msg in WRAPPERS:
        return unsure("a wrapper type in the query", st.just("1"))
    elif msg:
        return unsure("a message field as one query value", st.just("x"))
    elif t == FD.TYPE_STRING:
        good, wrong = string_values(f, names), odd_strings()
    elif t in _INT_RANGE:
        lo, hi = _INT_RANGE[t]
        good = ok(st.integers(max(lo, -1000), min(hi, 1000)).map(str))
        wrong = st.one_of(
            bad(
                "not an integer", st.sampled_from(("abc", "1e400", "1.5", str(hi + 1), str(lo - 1), "9" * 30))
            ),
            unsure("an odd integer", st.sampled_from(("", " 1", "+1", "1e2", "0x10"))),
        )
    elif t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        good = ok(st.floats(allow_nan=False, allow_infinity=False).map(repr))
        wrong = bad("not a number", st.sampled_from(("abc", "1,5")))
    elif t == FD.TYPE_BOOL:
        good = ok(st.sampled_from(("true", "false")))
        wrong = st.one_of(
            bad("not a boolean", st.sampled_from(("yes", "2"))),
            unsure("a boolean as 0, 1 or nothing", st.sampled_from(("0", "1", ""))),
        )
    elif t == FD.TYPE_ENUM:
        values = enum_of(f).values
        good = ok(st.sampled_from([v.name for v in values] + [str(v.number) for v in values]))
        wrong = st.one_of(
            bad("an unknown enum name", st.sampled_from(["NOPE", values[-1].name.lower()])),
            unsure("an unknown enum number", st.just("99")),
        )
    else:  # bytes
        good, wrong = ok(st.just("AAEC")), bad("not base64", st.just("!!!"))
    return good if valid else st.one_of(good, wrong)


Params: TypeAlias = list[tuple[str, Any]]


def query_params(
    fields: list[FieldDescriptor], shapes: Shapes, valid: bool, prefix: str = "", depth: int = 0
) -> st.SearchStrategy[tuple[Params, G]]:
    """Query parameters for `fields`: (key, text) pairs, a key per element of a
    repeated field, dotted keys for the fields of a nested message, json or proto
    spelling of the names; with the worst defect among the values."""
    key = ("params", tuple(f.full_name for f in fields), valid, prefix, depth)
    return shapes.memo(key, lambda: _query_params(fields, shapes, valid, prefix, depth))


@st.composite
def _query_params(
    draw: st.DrawFn, fields: list[FieldDescriptor], shapes: Shapes, valid: bool, prefix: str, depth: int
) -> tuple[Params, G]:
    out: Params = []
    parts: list[G] = []
    for f in fields:
        b = behaviors(f)
        percent = 85 if REQUIRED in b else 5 if OUTPUT_ONLY in b else 35
        if draw(st.integers(0, 99)) >= (percent if valid else 50):
            continue
        key = prefix + (f.json_name if draw(st.integers(0, 3)) else f.name)
        plain_message = f.message_type is not None and not _is_well_known(f)
        if plain_message and f.is_repeated:
            parts.append(G(None, Defect.UNSURE, "a repeated message in the query"))
            out.append((key, "x"))
        elif plain_message and depth < 3:
            sub, g = draw(query_params(list(message_of(f).fields), shapes, valid, key + ".", depth + 1))
            out += sub
            parts.append(g)
        else:
            count = draw(st.integers(1, 3)) if f.is_repeated else 1
            for _ in range(count):
                g = draw(query_value(f, shapes, valid))
                out.append((key, g.value))
                parts.append(g)
    return order_ranges(out) if valid else out, G(None, *worst(*parts))
