"""The REST routes of every RPC, read from the descriptor set Envoy transcodes with
(gen/descriptors/phs.pb): HTTP method, path template and body of each
`google.api.http` rule and its additional bindings, with the request and response
message descriptors. Also a matcher that says which routes a concrete path hits, so a
mutated path knows whether the gateway must answer 404 (no such path) or 405 (no such
method on it)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2, http_pb2, resource_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from phs_devstack.gateway import DESCRIPTOR

# Streams that end only when their caller leaves (WatchReport ends with its report).
OPEN_ENDED = {"phs.scheduling.v1.SchedulingService.WatchAppointments"}
HTTP_BODY = "google.api.HttpBody"
# Methods that need no token (the request carries its own credential): a caller
# without a valid one is answered as anyone else, not 401.
OPEN = {"phs.scheduling.v1.SchedulingService.GetCalendarFeedContent"}


@dataclass(frozen=True)
class Segment:
    """One path segment of a template: a literal, `*` (one segment) or `**` (any number)."""

    text: str
    variable: str = ""  # the field path this segment is bound to, if any


@dataclass(frozen=True)
class Template:
    segments: tuple[Segment, ...]
    verb: str  # the custom method after ':', or ""

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.segments:
            if s.variable:
                seen.setdefault(s.variable)
        return tuple(seen)

    def pattern(self, variable: str) -> tuple[str, ...]:
        """The segments a variable's value must have (e.g. psychologists, *)."""
        return tuple(s.text for s in self.segments if s.variable == variable)

    def matches(self, segments: list[str], verb: str) -> bool:
        return verb == self.verb and _match(self.segments, tuple(segments))


def _match(template: tuple[Segment, ...], path: tuple[str, ...]) -> bool:
    if not template:
        return not path
    head, rest = template[0], template[1:]
    if head.text == "**":
        return any(_match(rest, path[k:]) for k in range(len(path) + 1))
    if not path:
        return False
    if head.text != "*" and head.text != path[0]:
        return False
    return _match(rest, path[1:])


_TOKEN = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}|([^/{}]+)")


def parse_template(text: str) -> Template:
    """A google.api.http path template: `/v1/{name=psychologists/*}:cancel`."""
    path, verb = text, ""
    last = text.rsplit("/", 1)[-1]
    if ":" in last and "}" not in last.split(":")[-1]:
        path, verb = text.rsplit(":", 1)
    segments: list[Segment] = []
    for match in _TOKEN.finditer(path):
        variable, pattern, literal = match.groups()
        if literal is not None:
            segments.append(Segment(literal))
        else:
            segments += [Segment(part, variable) for part in (pattern or "*").split("/")]
    return Template(tuple(segments), verb)


@dataclass(frozen=True)
class Route:
    service: str  # full name
    method: MethodDescriptor
    http_method: str  # GET, POST, ...
    template_text: str
    template: Template
    body: str  # "", "*" or a top-level field name
    binding: int  # 0 for the main rule, k for the k-th additional binding

    @property
    def id(self) -> str:
        suffix = f"#{self.binding}" if self.binding else ""
        return f"{self.method.containing_service.name}.{self.method.name}{suffix}"

    @property
    def input(self) -> Descriptor:
        return self.method.input_type

    @property
    def output(self) -> Descriptor:
        return self.method.output_type

    @property
    def streams(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def open_ended(self) -> bool:
        """A stream that lasts until the caller leaves (a watch): judged by its first message."""
        return self.method.full_name in OPEN_ENDED

    @property
    def open(self) -> bool:
        return self.method.full_name in OPEN

    @property
    def raw_output(self) -> bool:
        """The answer is google.api.HttpBody: a file of its own content type, not JSON."""
        return self.output.full_name == HTTP_BODY

    def path_fields(self) -> set[str]:
        return {v.split(".")[0] for v in self.template.variables}

    def body_message(self) -> Descriptor | None:
        """The message the JSON body holds (for `*`, the request less its path fields)."""
        if self.body == "*":
            return self.input
        if self.body:
            field = self.input.fields_by_name[self.body]
            return field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None
        return None

    def body_excluded(self) -> set[str]:
        """Fields of body_message() that the body must not carry (they are in the path)."""
        if self.body == "*":
            return self.path_fields()
        prefix = self.body + "."
        return {v[len(prefix) :] for v in self.template.variables if v.startswith(prefix)}

    def query_fields(self) -> list[FieldDescriptor]:
        """Fields sent as query parameters: neither in the path nor in the body."""
        if self.body == "*":
            return []
        skip = self.path_fields() | ({self.body} if self.body else set())
        return [f for f in self.input.fields if f.name not in skip]


@functools.cache
def pool(path: Path = DESCRIPTOR) -> descriptor_pool.DescriptorPool:
    fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    out = descriptor_pool.DescriptorPool()
    for f in fds.file:
        out.Add(f)
    return out


@functools.cache
def services(path: Path = DESCRIPTOR) -> tuple[str, ...]:
    """Every service of the descriptor set with at least one HTTP rule."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    names = []
    for f in fds.file:
        for s in f.service:
            if any(m.options.HasExtension(annotations_pb2.http) for m in s.method):
                names.append(f"{f.package}.{s.name}")
    return tuple(names)


@functools.cache
def resource_patterns(path: Path = DESCRIPTOR) -> dict[str, list[str]]:
    """Every resource type of the descriptor set and its name patterns."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    out: dict[str, list[str]] = {}
    for f in fds.file:
        for m in f.message_type:
            r = m.options.Extensions[resource_pb2.resource]
            if r.type:
                out[str(r.type)] = [str(p) for p in r.pattern]
    return out


def _bindings(rule: http_pb2.HttpRule) -> list[http_pb2.HttpRule]:
    out = [rule]
    for extra in rule.additional_bindings:
        out += _bindings(extra)
    return out


@functools.cache
def routes(path: Path = DESCRIPTOR) -> tuple[Route, ...]:
    """Every (method, binding) of every service, in descriptor order."""
    out: list[Route] = []
    p = pool(path)
    for service_name in services(path):
        service = p.FindServiceByName(service_name)
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            for k, binding in enumerate(_bindings(rule)):
                kind = binding.WhichOneof("pattern")
                if kind is None:
                    continue
                if kind == "custom":
                    verb, text = binding.custom.kind, binding.custom.path
                else:
                    verb, text = kind.upper(), getattr(binding, kind)
                out.append(Route(service_name, method, verb, text, parse_template(text), binding.body, k))
    return tuple(out)


def methods_without_route(path: Path = DESCRIPTOR) -> list[str]:
    """RPCs of the transcoded services that have no HTTP rule (and so cannot be fuzzed)."""
    p = pool(path)
    have = {r.method.full_name for r in routes(path)}
    return [
        m.full_name
        for name in services(path)
        for m in p.FindServiceByName(name).methods
        if m.full_name not in have
    ]


def split_path(path: str, verbs: frozenset[str]) -> tuple[list[str], str]:
    """The segments and custom verb of a concrete path (no query), as the gateway's
    matcher sees them: a verb is what follows the last ':' of the last segment when
    some route has that verb; otherwise the ':' belongs to the segment."""
    parts = path.lstrip("/").split("/")
    head, sep, verb = parts[-1].rpartition(":")
    if sep and verb in verbs:
        parts[-1] = head
        return parts, verb
    return parts, ""


def verbs_of(all_routes: tuple[Route, ...]) -> frozenset[str]:
    return frozenset(r.template.verb for r in all_routes if r.template.verb)


def allowed_methods(path: str, all_routes: tuple[Route, ...]) -> set[str]:
    """The HTTP methods some route has for this path; empty when no route has it."""
    segments, verb = split_path(path, verbs_of(all_routes))
    return {r.http_method for r in all_routes if r.template.matches(segments, verb)}


def served(path: str, method: str, all_routes: tuple[Route, ...]) -> list[Route]:
    """The routes of this method that match the path."""
    segments, verb = split_path(path, verbs_of(all_routes))
    return [r for r in all_routes if r.http_method == method and r.template.matches(segments, verb)]
