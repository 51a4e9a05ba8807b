"""Fuzz cases for one REST route: an HTTP request built from the route's
`google.api.http` rule and its request message, well-formed or mutated, with the
statuses the gateway must answer when the mutation decides them.

Modes (each case is one): `valid` (well-formed, mostly real resource names), `random`
(any field values, ill-typed ones included), `body` (structural JSON mutations),
`bytes` (malformed JSON and encodings), `query` (unknown, repeated, misplaced and
oddly encoded parameters, a token in the URL), `path` (odd, long, extra and missing
segments, custom verbs), `method` (a method the path does not have), `size` (bodies
and values up to and over the gateway's limits), `headers` (huge, many, odd headers)
and `grpc` (the method's gRPC path sent to the REST port)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.routes import Route, allowed_methods, served
from tests.fuzz.values import (
    LONG,
    Defect,
    G,
    Long,
    Obj,
    Shapes,
    dumps,
    long_strings,
    longs,
    query_params,
    segment_ids,
    weighted,
    worst,
)

# Modes and their share of each route's cases: well-formed requests most, so that
# some reach deep code.
MODES = {
    "valid": 6,
    "random": 3,
    "body": 2,
    "query": 2,
    "path": 2,
    "bytes": 1,
    "method": 1,
    "size": 1,
    "headers": 1,
    "grpc": 1,
}
VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# A client that did not authenticate may be refused for that, or for what the
# gateway checks before any service sees the request; never served.
ANONYMOUS_OK = frozenset({400, 401, 404, 405, 413, 414, 431})
# GET and HEAD outside /v1/ are the web app's (services/web/phs_web behind the gateway), no
# token needed: index.html for a route of the app, 404 for a missing file, 400 for a
# malformed path.
WEB_STATUSES = frozenset({200, 400, 404})
# Margins around the gateway's limits where either answer is right (what Envoy
# counts as header bytes is not exactly what we count).
HEADER_MARGIN = 2048
BODY_MARGIN = 64 * 1024


@dataclass(frozen=True)
class Gateway:
    """What the rendered Envoy config says about limits and deadlines."""

    max_header_bytes: int
    max_headers: int
    max_body_bytes: int
    underscores_rejected: bool
    timeouts: dict[str, float]  # route prefix (/package.Service/) -> seconds

    def timeout(self, service: str) -> float:
        return self.timeouts.get(f"/{service}/", max(self.timeouts.values(), default=15.0))


@dataclass(frozen=True)
class Context:
    shapes: Shapes
    routes: tuple[Route, ...]
    tokens: dict[str, str | None]  # role label -> bearer token (None: no authorization)
    anonymous: frozenset[str]  # role labels whose token is missing or not valid
    gateway: Gateway

    def role_choices(self, mode: str) -> tuple[str, ...]:
        """Every role, the admin more often (most of all for well-formed requests):
        most methods serve only staff, and the deep code paths are behind them."""
        extra = ("admin",) * (6 if mode == "valid" else 3) if "admin" in self.tokens else ()
        return (*sorted(self.tokens), *extra)


@dataclass
class Case:
    route: Route
    mode: str
    role: str
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]  # authorization excluded (from role when sent)
    body: bytes | None
    note: str = ""  # what was done, for the printed examples
    longs: list[str] = field(default_factory=list)
    expect: Expect | None = None  # the statuses due, when the case decides them

    def size(self) -> int:
        return len(self.target) + len(self.body or b"") + sum(len(k) + len(v) for k, v in self.headers)

    @property
    def web_app(self) -> bool:
        """The gateway routes it to the web app, not to the API (a mutated path left /v1/)."""
        return self.method in ("GET", "HEAD") and not self.grpc and not self.target.startswith("/v1/")

    @property
    def grpc(self) -> bool:
        """Sent as gRPC (the REST port refuses it in gRPC's own framing)."""
        return any(k == "content-type" and v.startswith("application/grpc") for k, v in self.headers)


# -- the path ---------------------------------------------------------------------------------

# Encodings of a path segment that no longer keep the route's shape.
_ODD_SEGMENTS = [
    " ",
    "%",
    "é",
    "😀",
    "\x00",
    "\x7f",
    "..",
    ".",
    ";x",
    "@",
    "a:b",
    "?",
    "#",
    "a/b",
    "\\",
    "*",
    "{x}",
    "$(id)",
    "'",
]


@dataclass
class PathDraft:
    segments: list[str]  # encoded
    verb: str
    exact: bool = True  # only unreserved characters: the matcher knows which route it is
    longs: list[str] = field(default_factory=list)
    note: str = ""

    def text(self) -> str:
        return "/" + "/".join(self.segments) + (f":{self.verb}" if self.verb else "")


def _glob(pattern: tuple[str, ...], name: str) -> bool:
    parts = name.split("/")
    if "**" in pattern:
        return len(parts) >= len(pattern) - 1
    return len(parts) == len(pattern) and all(p in ("*", v) for p, v in zip(pattern, parts, strict=True))


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="-._~")


def variable_values(route: Route, ctx: Context, variable: str, valid: bool) -> st.SearchStrategy[str]:
    key = ("variable", route.id, variable, valid)
    return ctx.shapes.memo(key, lambda: _variable_values(route, ctx, variable, valid))


def _variable_values(route: Route, ctx: Context, variable: str, valid: bool) -> st.SearchStrategy[str]:
    pattern = route.template.pattern(variable)
    names = ctx.shapes.names
    real = [n for n in names.all_real() if _glob(pattern, n) and n not in names.extra]
    extra = [n for n in names.extra if _glob(pattern, n)]
    shaped = st.lists(segment_ids(), min_size=len(pattern), max_size=len(pattern)).map(
        lambda ids: "/".join(p if p not in ("*", "**") else i for p, i in zip(pattern, ids, strict=True))
    )
    options = [(8, st.sampled_from(real))] if real else []
    options += [(1, st.sampled_from(extra))] if extra else []
    options.append((1, shaped))
    if not valid:
        options.append((2, st.sampled_from(names.all_real())))
    return weighted(*options)


def path_draft(route: Route, ctx: Context, valid: bool) -> st.SearchStrategy[PathDraft]:
    return ctx.shapes.memo(("path", route.id, valid), lambda: _path_draft(route, ctx, valid))


def _path_draft(route: Route, ctx: Context, valid: bool) -> st.SearchStrategy[PathDraft]:
    return _draw_path(route, ctx, valid)


# Composites live at module level: decorating one costs far more than drawing from it.
@st.composite
def _draw_path(draw: st.DrawFn, route: Route, ctx: Context, valid: bool) -> PathDraft:
    values = {v: draw(variable_values(route, ctx, v, valid)) for v in route.template.variables}
    segments: list[str] = []
    done: set[str] = set()
    for s in route.template.segments:
        if not s.variable:
            segments.append(s.text)
        elif s.variable not in done:
            done.add(s.variable)
            segments += [_quote(p) for p in values[s.variable].split("/")]
    return PathDraft(segments, route.template.verb)


def mutate_path(draw: st.DrawFn, draft: PathDraft) -> PathDraft:
    segs, verb = list(draft.segments), draft.verb
    k = draw(st.integers(0, len(segs) - 1))
    kind = draw(
        st.sampled_from(
            (
                "odd",
                "odd",
                "raw",
                "long",
                "extra",
                "drop",
                "case",
                "verb",
                "slash",
                "double",
                "dots",
                "encoded",
            )
        )
    )
    exact = True
    longs_: list[str] = []
    if kind == "odd":
        odd = draw(st.sampled_from(_ODD_SEGMENTS))
        segs[k] = _quote(odd) if draw(st.booleans()) else urllib.parse.quote(odd, safe="-._~!$&'()*+,;=:@")
        exact = False
    elif kind == "raw":  # bytes a request line should not carry as they are
        segs[k] = draw(st.sampled_from(("é", "😀", "a b", "a\tb", "%zz", "%ff", "%c0%af", "%00")))
        exact = False
    elif kind == "long":
        value = draw(long_strings(max_len=60_000))
        segs[k] = _quote(value)
        longs_.append(value)
        exact = False
    elif kind == "extra":
        segs.insert(k + 1, draw(segment_ids()))
    elif kind == "drop" and len(segs) > 1:
        del segs[k]
    elif kind == "case":
        segs[k] = segs[k].swapcase() if segs[k].swapcase() != segs[k] else segs[k] + "X"
    elif kind == "verb":
        verb = draw(st.sampled_from(("", "explode", verb.upper() if verb else "cancel", "x" * 5)))
    elif kind == "slash":
        segs.append("")
        exact = False
    elif kind == "double":
        segs.insert(k, "")
        exact = False
    elif kind == "dots":
        segs.insert(k, draw(st.sampled_from((".", "..", "%2e%2e", "%2E"))))
        exact = False
    else:  # a literal percent-encoded where it needs no encoding
        segs[k] = "".join(f"%{ord(c):02X}" if c.isalpha() else c for c in segs[k][:3]) + segs[k][3:]
        exact = False
    return PathDraft(segs, verb, exact, longs_, f"path: {kind}")


# -- the query string ---------------------------------------------------------------------------


def encode_query(params: list[tuple[str, Any]]) -> str:
    return "&".join(
        f"{urllib.parse.quote(str(k), safe='.')}={urllib.parse.quote(str(v), safe='')}" for k, v in params
    )


def mutate_query(draw: st.DrawFn, route: Route, ctx: Context, params: list[tuple[str, Any]]) -> tuple[str, G]:
    """A query string with one mutation, and what it makes of the request."""
    known = {f.name for f in route.input.fields} | {f.json_name for f in route.input.fields}
    kind = draw(
        st.sampled_from(("unknown", "unknown", "token", "repeat", "misplaced", "encoding", "long", "empty"))
    )
    base = encode_query(params)
    join = "&" if base else ""
    if kind == "unknown":
        key = draw(st.sampled_from(("colour", "PAGE_SIZE", "pageSize2", "a.b", "alt", "fields", "$filter")))
        assert key not in known
        return base + join + f"{urllib.parse.quote(key)}=1", G(None, Defect.BAD, "an unknown query parameter")
    if kind == "token":
        token = ctx.tokens.get("admin") or "x"
        return base + join + f"access_token={token}", G(None, Defect.BAD, "access_token in the query")
    if kind == "repeat" and params:
        key, value = draw(st.sampled_from(params))
        extra = encode_query([(key, value)])
        return base + "&" + extra, G(None, Defect.UNSURE, "a query parameter twice")
    if kind == "misplaced":
        names = sorted(route.path_fields() | ({route.body} if route.body not in ("", "*") else set()))
        if names:
            name = draw(st.sampled_from(names))
            return base + join + f"{name}=x", G(None, Defect.UNSURE, "a path or body field in the query")
        return base + join + "x=1", G(None, Defect.BAD, "an unknown query parameter")
    if kind == "encoding":
        odd = draw(st.sampled_from(("%zz", "%ff", "%c0%af", "a+b", "%00", "%2526", "%E2%80%AE", "=", "&&")))
        key = draw(st.sampled_from(sorted(known))) if known else "x"
        return base + join + f"{key}={odd}", G(None, Defect.UNSURE, "an odd encoding in the query")
    if kind == "long":
        value = draw(long_strings(max_len=60_000))
        key = draw(st.sampled_from((*sorted(known), "zz")))
        text = base + join + f"{key}={urllib.parse.quote(value, safe='')}"
        return text, G(Long(value), Defect.UNSURE, "a long query value")
    return base + join + draw(st.sampled_from(("", "=", "&", "x", "pageSize"))), G(None, Defect.UNSURE, "odd")


# -- the body -------------------------------------------------------------------------------------


def body_tree(route: Route, ctx: Context, valid: bool) -> st.SearchStrategy[G]:
    return ctx.shapes.memo(("body", route.id, valid), lambda: _body_tree(route, ctx, valid))


def _body_tree(route: Route, ctx: Context, valid: bool) -> st.SearchStrategy[G]:
    desc = route.body_message()
    if desc is None:
        if route.body:  # a scalar body field
            f = route.input.fields_by_name[route.body]
            return ctx.shapes.single(f, valid, 0)
        return st.just(G(None))
    return ctx.shapes.message(desc, valid, exclude=frozenset(route.body_excluded()))


def _deep(depth: int, key: str) -> str:
    return (f'{{"{key}":' * depth) + "1" + ("}" * depth)


def mutate_body(draw: st.DrawFn, route: Route, base: G) -> tuple[str, G, str]:
    """A JSON body with one structural mutation: (body, what it makes of the request, note)."""
    string_fields = _string_keys(route)
    tree = base.value if isinstance(base.value, Obj) else Obj(())
    kind = draw(
        st.sampled_from(
            (
                "unknown",
                "unknown-nested",
                "array",
                "scalar",
                "null",
                "deep",
                "dupe",
                "control",
                "path-field",
            )
        )
    )
    if kind == "unknown":
        key = draw(st.sampled_from(("colour", "displayname", "Name", "@type", "", "__proto__")))
        extra = Obj((*tree.pairs, (key, draw(st.sampled_from([1, "x", None, {}, []])))))
        return dumps(extra), G(None, Defect.BAD, "an unknown body field"), f"unknown field {key!r}"
    if kind == "unknown-nested":
        nested = [(k, v) for k, v in tree.pairs if isinstance(v, Obj)]
        if nested:
            k, v = draw(st.sampled_from(nested))
            pairs = [(kk, Obj((*v.pairs, ("colour", 1))) if kk == k else vv) for kk, vv in tree.pairs]
            return (
                dumps(Obj(tuple(pairs))),
                G(None, Defect.BAD, "an unknown nested field"),
                f"unknown in {k}",
            )
        return (
            dumps(Obj((*tree.pairs, ("x", {"y": 1})))),
            G(None, Defect.BAD, "an unknown body field"),
            "x",
        )
    if kind == "array":
        return dumps([tree]), G(None, Defect.BAD, "an array for the body object"), "body is an array"
    if kind == "scalar":
        value = draw(st.sampled_from(('"x"', "1", "true", "1e400", '"' + "{}" + '"')))
        return value, G(None, Defect.BAD, "a scalar for the body object"), f"body is {value}"
    if kind == "null":
        return "null", G(None, Defect.UNSURE, "null for the body object"), "body is null"
    if kind == "deep":
        depth = draw(st.sampled_from((64, 1000, 10_000, 100_000)))
        key = draw(st.sampled_from(string_fields or ["x"]))
        text = _deep(depth, key)
        return text, G(None, Defect.BAD, f"objects nested {depth} deep"), f"nested {depth} deep"
    if kind == "dupe" and tree.pairs:
        k, v = draw(st.sampled_from(tree.pairs))
        return dumps(Obj((*tree.pairs, (k, v)))), G(None, Defect.UNSURE, "a key twice"), f"{k} twice"
    if kind == "control":
        c = chr(draw(st.integers(0, 31)))
        key = draw(st.sampled_from(string_fields or ["x"]))
        text = '{"' + key + '":"a' + c + 'b"}'
        return text, G(None, Defect.BAD, "a raw control character in a string"), f"raw {c!r} in {key}"
    if kind == "path-field" and route.body == "*" and route.path_fields():
        name = sorted(route.path_fields())[0]
        text = dumps(Obj((*tree.pairs, (name, "psychologists/x"))))
        return text, G(None, Defect.UNSURE, "a path field in the body"), f"{name} in body"
    return dumps(tree), base, "unchanged"


_GARBAGE = (
    (b"", Defect.UNSURE, "an empty body"),
    (b"   ", Defect.UNSURE, "a blank body"),
    (b"\xef\xbb\xbf{}", Defect.UNSURE, "a byte order mark"),
    (b"{'a': 1}", Defect.BAD, "single quotes"),
    (b"{}x", Defect.BAD, "bytes after the JSON"),
    (b'{"a":1,}', Defect.BAD, "a trailing comma"),
    (b"{/* c */}", Defect.BAD, "a comment"),
    (b"\x00", Defect.BAD, "a NUL byte"),
    (b'{"x":"\xff\xfe"}', Defect.BAD, "non-UTF-8 bytes"),
    (b'{"x":"\xc0\xaf"}', Defect.BAD, "an overlong UTF-8 sequence"),
    (b'{"x":"\\ud800"}', Defect.UNSURE, "a lone surrogate escape"),
    (b"\x1f\x8b\x08\x00", Defect.BAD, "gzip bytes"),
)


def mutate_bytes(draw: st.DrawFn, body: str) -> tuple[bytes, G, str]:
    raw = body.encode("utf-8", "surrogatepass")
    kind = draw(st.sampled_from(("truncate", "truncate", "non-utf8", "garbage", "garbage")))
    if kind == "truncate" and len(raw) > 1:
        cut = draw(st.integers(1, len(raw) - 1))
        return raw[:cut], G(None, Defect.BAD, "truncated JSON"), f"cut at {cut} of {len(raw)}"
    if kind == "non-utf8":
        bad = draw(st.sampled_from((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80")))
        inside = raw.replace(b'":"', b'":"' + bad, 1) if b'":"' in raw else b'{"x":"' + bad + b'"}'
        return inside, G(None, Defect.BAD, "non-UTF-8 bytes"), f"{bad!r} in a string"
    data, defect, why = draw(st.sampled_from(_GARBAGE))
    return data, G(None, defect, why), why


# -- the case ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The statuses a case must get, and why."""

    statuses: frozenset[int]
    why: str

    def __str__(self) -> str:
        return f"{' or '.join(str(s) for s in sorted(self.statuses))} due ({self.why})"


def _anonymous(expect: Expect | None, defect: Defect, exact: bool) -> Expect:
    if expect is not None and expect.statuses & {413, 431}:
        return expect
    if expect is not None:
        return Expect(expect.statuses | {401}, expect.why + "; or no valid token")
    if defect == Defect.NONE and exact:
        return Expect(frozenset({401}), "no valid token")
    return Expect(ANONYMOUS_OK, "no valid token: refused, never served")


def expectation(case: Case, ctx: Context, defect: Defect, why: str, exact: bool) -> Expect | None:
    """The statuses the gateway must answer, as far as the case decides them."""
    gw = ctx.gateway
    token = ctx.tokens.get(case.role)
    header_bytes = len(case.method) + len(case.target) + sum(len(k) + len(v) + 4 for k, v in case.headers)
    header_bytes += len(token or "") + 60  # authorization, host, connection, content-length
    header_count = len(case.headers) + 4 + bool(token)
    if header_bytes > gw.max_header_bytes + HEADER_MARGIN:
        return Expect(frozenset({431}), "headers over the gateway's size limit")
    if header_count > gw.max_headers:
        return Expect(frozenset({431}), "more headers than the gateway's limit")
    near: set[int] = set()
    if header_bytes > gw.max_header_bytes - HEADER_MARGIN or header_count > gw.max_headers - 5:
        exact = False  # near a limit: either side of it is right
        defect = max(defect, Defect.UNSURE)
        near.add(431)
    size = len(case.body or b"")
    if size > gw.max_body_bytes + BODY_MARGIN:
        return Expect(frozenset({413}), "a body over the gateway's limit")
    if size > gw.max_body_bytes - BODY_MARGIN:
        near.add(413)
    if case.web_app:
        return Expect(WEB_STATUSES | near, "outside /v1/: the web app's")
    expect: Expect | None = None
    if size > gw.max_body_bytes - BODY_MARGIN:
        exact = False
    elif exact:
        allowed = allowed_methods(case.target.split("?", 1)[0], ctx.routes)
        if not allowed:
            expect = Expect(frozenset({404}), "no route has this path")
        elif case.method not in allowed:
            expect = Expect(frozenset({405}), "the path has other methods")
    if expect is None and exact and defect == Defect.BAD:
        expect = Expect(frozenset({400}), why)
    if case.role in ctx.anonymous and not case.route.open:
        return _anonymous(expect, defect, exact)
    return expect


def plan(total: int) -> dict[str, int]:
    """How many cases of each mode make about `total` (at least one of each)."""
    weights = sum(MODES.values())
    return {mode: max(1, round(total * w / weights)) for mode, w in MODES.items()}


@dataclass
class Draft:
    """A request being built: a well-formed (or, in `random` mode, any) request of the
    route, which the mode then mutates."""

    route: Route
    mode: str
    method: str
    path: PathDraft
    params: list[tuple[str, Any]]
    query: str
    body_text: str
    body: bytes | None = None
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("content-type", "application/json")])
    parts: list[G] = field(default_factory=list)  # what the pieces make of the request
    found: list[str] = field(default_factory=list)  # long values sent
    note: str = ""


def _body(draw: st.DrawFn, d: Draft) -> None:
    d.body_text, g, d.note = mutate_body(draw, d.route, d.parts[1])
    d.parts = [d.parts[0], g]


def _bytes(draw: st.DrawFn, d: Draft) -> None:
    d.body, g, d.note = mutate_bytes(draw, d.body_text or "{}")
    d.parts = [d.parts[0], g]


def _query(draw: st.DrawFn, d: Draft, ctx: Context) -> None:
    d.query, g = mutate_query(draw, d.route, ctx, d.params)
    if isinstance(g.value, Long):
        d.found.append(g.value)
    d.parts.append(g)
    d.note = g.why


def _path(draw: st.DrawFn, d: Draft) -> None:
    d.path = mutate_path(draw, d.path)
    d.found += d.path.longs
    d.note = d.path.note


def _method(draw: st.DrawFn, d: Draft, ctx: Context) -> None:
    allowed = allowed_methods(d.path.text(), ctx.routes)
    d.method = draw(st.sampled_from([v for v in VERBS if v not in allowed]))
    d.note = f"{d.method} on a path that has {', '.join(sorted(allowed))}"


def _size(draw: st.DrawFn, d: Draft) -> None:
    """A long value in the body (or the query), or a body near and over the limit."""
    route = d.route
    kind = draw(st.sampled_from(("string", "string", "pad", "over")))
    if kind == "string" or not route.body:
        value = draw(long_strings(max_len=60_000 if route.body else 30_000))
        d.found.append(value)
        if route.body:
            d.body_text = dumps(Obj(((draw(st.sampled_from(_string_keys(route) or ["x"])), value),)))
        else:
            d.query = encode_query([*d.params, (draw(st.sampled_from(_query_keys(route) or ["x"])), value)])
        d.parts = [d.parts[0], G(None, Defect.UNSURE, "a long value")]
        d.note = f"a value of {len(value)} characters"
        return
    pad = Long("p" * draw(st.sampled_from((900_000, 1_000_000) if kind == "pad" else (1_200_000, 3_000_000))))
    d.found.append(pad)
    d.body_text = dumps(Obj((("padding", pad),)))
    d.parts = [G(None, Defect.BAD, "an unknown body field")]
    d.note = f"a body of {len(d.body_text)} bytes"


def _headers(draw: st.DrawFn, d: Draft, ctx: Context) -> None:
    extra, g, found = mutate_headers(draw, ctx)
    d.headers += extra
    d.found += found
    d.parts.append(g)
    d.note = g.why


def _grpc(draw: st.DrawFn, d: Draft) -> None:
    """The method's gRPC path on the REST port, as a gRPC or JSON request."""
    d.method = "POST"
    d.path = PathDraft([d.route.service, d.route.method.name], "", exact=False)
    ctype = draw(st.sampled_from(("application/json", "application/grpc", "application/grpc+json")))
    d.headers = [("content-type", ctype)]
    d.body = draw(st.sampled_from((b"", b"\x00\x00\x00\x00\x00", b"{}", b"\x00\x00\x00\x00\x05hello")))
    d.note = f"the gRPC path with {ctype}"


def mutate(draw: st.DrawFn, d: Draft, ctx: Context) -> None:
    """Apply the draft's mode."""
    if d.mode == "body":
        _body(draw, d)
    elif d.mode == "bytes":
        _bytes(draw, d)
    elif d.mode == "query":
        _query(draw, d, ctx)
    elif d.mode == "path":
        _path(draw, d)
    elif d.mode == "method":
        _method(draw, d, ctx)
    elif d.mode == "size":
        _size(draw, d)
    elif d.mode == "headers":
        _headers(draw, d, ctx)
    elif d.mode == "grpc":
        _grpc(draw, d)
    if d.mode in ("body", "bytes") and not d.route.body:
        d.parts = [d.parts[0], G(None, Defect.UNSURE, "a body for a method that takes none")]


def finish(d: Draft, ctx: Context, role: str) -> Case:
    """The case a draft makes, with the statuses it decides."""
    body = d.body
    if body is None and (d.route.body or d.mode in ("body", "size")):
        body = d.body_text.encode("utf-8", "surrogatepass")
    parts = d.parts
    exact = d.path.exact and d.mode != "grpc"
    if not exact:
        parts = [*parts, G(None, Defect.UNSURE, "an odd path")]
    elif (body or d.query) and d.route not in served(d.path.text(), d.method, ctx.routes):
        # The path names another method's resource: the body and query were made
        # for this route's message, not for the one that reads them.
        parts = [G(None, Defect.UNSURE, "another method's path")]
    defect, why = worst(*parts)
    target = d.path.text() + (f"?{d.query}" if d.query else "")
    case = Case(d.route, d.mode, role, d.method, target, d.headers, body, d.note or why)
    case.longs = sorted({str(v) for v in d.found if len(v) >= LONG}, key=len)
    case.expect = expectation(case, ctx, defect, why, exact)
    return case


def cases(route: Route, ctx: Context, mode: str) -> st.SearchStrategy[Case]:
    """Fuzz cases of one mode for one route."""
    return _draw_case(route, ctx, mode, mode != "random" and mode in MODES)


@st.composite
def _draw_case(draw: st.DrawFn, route: Route, ctx: Context, mode: str, valid: bool) -> Case:
    role = draw(st.sampled_from(ctx.role_choices(mode)))
    path = draw(path_draft(route, ctx, valid))
    params, query_made = draw(query_params(route.query_fields(), ctx.shapes, valid))
    tree = draw(body_tree(route, ctx, valid))
    body_text = dumps(tree.value, ascii_only=draw(st.booleans())) if route.body else ""
    d = Draft(route, mode, route.http_method, path, params, encode_query(params), body_text)
    d.parts = [query_made, tree]
    d.found = [*longs(tree.value), *(v for _, v in params if isinstance(v, Long))]
    mutate(draw, d, ctx)
    return finish(d, ctx, role)


def _string_keys(route: Route) -> list[str]:
    desc = route.body_message()
    return [f.json_name for f in desc.fields if f.type == f.TYPE_STRING] if desc else []


def _query_keys(route: Route) -> list[str]:
    return [f.json_name for f in route.query_fields() if f.type == f.TYPE_STRING and not f.is_repeated]


def mutate_headers(draw: st.DrawFn, ctx: Context) -> tuple[list[tuple[str, str]], G, list[str]]:
    kind = draw(
        st.sampled_from(("huge", "huge", "many", "underscore", "idempotency", "request-id", "accept"))
    )
    if kind == "huge":
        size = draw(st.sampled_from((40 * 1024, 33 * 1024, 60 * 1024, 8 * 1024)))
        pad = Long("h" * size)
        return [("x-fuzz-pad", pad)], G(None, Defect.NONE, f"a header of {size} bytes"), [pad]
    if kind == "many":
        n = draw(st.sampled_from((50, 100)))
        return [(f"x-fuzz-{k}", "v" * 20) for k in range(n)], G(None, Defect.NONE, f"{n} headers"), []
    if kind == "underscore":
        defect = Defect.BAD if ctx.gateway.underscores_rejected else Defect.NONE
        return [("x_fuzz", "1")], G(None, defect, "a header name with an underscore"), []
    if kind == "idempotency":
        key: str = draw(
            st.one_of(
                st.uuids().map(str),
                st.sampled_from(("", "not-a-uuid", "é", "\t")),
                long_strings(max_len=8000),
            )
        )
        why = "an odd Idempotency-Key"
        return (
            [("idempotency-key", key)],
            G(None, Defect.UNSURE, why),
            [key] if isinstance(key, Long) else [],
        )
    if kind == "request-id":
        rid = draw(st.sampled_from(("", "x" * 200, "é", "a b", "<script>", "../../etc")))
        return [("x-request-id", rid)], G(None, Defect.UNSURE, "an odd X-Request-ID"), []
    accept = draw(st.sampled_from(("text/html", "application/xml", "*/*", "", "application/json;q=0")))
    return [("accept", accept)], G(None, Defect.NONE, f"Accept: {accept}"), []
