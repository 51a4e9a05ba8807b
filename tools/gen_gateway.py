"""Generate the gateway's Lua filter from the descriptor set: the REST routes of every
RPC (from `google.api.http`) and the JSON field names of every request body.

The filter (services/gateway/filter.lua) refuses, before the transcoder sees a request,
what the transcoder would let through or answer badly: a wrong method on a known path
(405 with `Allow`, where the transcoder says 404), a JSON body field the message does
not have (the transcoder drops it silently), and a bearer token in the query string.

The output is one self-contained Lua file, generated tables first, so that Envoy's
Lua filter (which loads a single source) needs no module path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool

ROOT = Path(__file__).resolve().parent.parent
FILTER_SOURCE = ROOT / "services" / "gateway" / "filter.lua"
SERVICES = (
    "phs.scheduling.v1.SchedulingService",
    "phs.reports.v1.ReportService",
    "phs.notifications.v1.NotificationService",
)

# Well-known types whose JSON form is not an object of their fields: any JSON is
# left to the transcoder's parser (it knows their formats).
OPAQUE_MESSAGES = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
    "google.protobuf.Empty",
    "google.protobuf.BoolValue",
    "google.protobuf.BytesValue",
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int32Value",
    "google.protobuf.Int64Value",
    "google.protobuf.StringValue",
    "google.protobuf.UInt32Value",
    "google.protobuf.UInt64Value",
}

_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


def load_pool(descriptor_set: Path) -> DescriptorPool:
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return pool


def _lua_literal(text: str) -> str:
    """A literal Lua pattern piece: every non-alphanumeric character escaped with %."""
    return "".join(c if c.isalnum() else "%" + c for c in text)


def path_pattern(template: str) -> str:
    """A Lua pattern for an HTTP rule path template: `*` matches one segment, `**` the
    rest. As in the transcoder, a segment may hold a ':' (`reports/R:x` is a report
    name when no method has the custom verb `:x`); a path that ends in a verb some method
    has is matched only by routes with that verb (the filter checks)."""
    out: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(template):
        out.append(_lua_literal(template[pos : m.start()]))
        segments = (m.group(2) or "*").split("/")
        out.append(
            "/".join("[^/]+" if s == "*" else ".+" if s == "**" else _lua_literal(s) for s in segments)
        )
        pos = m.end()
    out.append(_lua_literal(template[pos:]))
    return "^" + "".join(out) + "$"


def _rule_method(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return str(kind).upper(), str(getattr(rule, str(kind)))


def _body_message(request: Descriptor, body: str) -> Descriptor | None:
    """The message type the JSON body must be an object of (None: not checked)."""
    if not body:
        return None
    if body == "*":
        return request
    field = request.fields_by_name.get(body)
    if field is None or field.message_type is None or field.is_repeated:
        return None
    return field.message_type


def _schema(msg: Descriptor, out: dict[str, dict[str, str]]) -> None:
    """Every message reachable from `msg`: JSON name (and proto name) -> nested type."""
    if msg.full_name in out or msg.full_name in OPAQUE_MESSAGES:
        return
    fields: dict[str, str] = {}
    out[msg.full_name] = fields
    for f in msg.fields:
        nested = ""
        if f.message_type is not None:
            if f.message_type.GetOptions().map_entry:
                value = f.message_type.fields_by_name["value"]
                # A map's keys are data; its message values are checked like any message.
                nested = "map:" + value.message_type.full_name if value.message_type else "map"
                if value.message_type:
                    _schema(value.message_type, out)
            elif f.message_type.full_name in OPAQUE_MESSAGES:
                nested = ""
            else:
                nested = f.message_type.full_name
                _schema(f.message_type, out)
        fields[f.json_name] = nested
        fields[f.name] = nested


def collect(pool: DescriptorPool) -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    routes: list[dict[str, str]] = []
    schemas: dict[str, dict[str, str]] = {}
    for service_name in SERVICES:
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            opts = method.GetOptions()
            if not opts.HasExtension(annotations_pb2.http):
                continue
            rule = opts.Extensions[annotations_pb2.http]
            for r in [rule, *rule.additional_bindings]:
                verb, template = _rule_method(r)
                body = _body_message(method.input_type, r.body)
                if body is not None:
                    _schema(body, schemas)
                routes.append(
                    {
                        "method": verb,
                        "pattern": path_pattern(template),
                        "body": body.full_name if body is not None and body.full_name in schemas else "",
                        # Field violations name the request field the body fills.
                        "prefix": "" if r.body in ("", "*") else r.body + ".",
                        "verb": template.rsplit(":", 1)[1] if ":" in template.rsplit("/", 1)[-1] else "",
                        "rpc": f"{service_name}/{method.name}",
                    }
                )
    return routes, schemas


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def render(pool: DescriptorPool) -> str:
    routes, schemas = collect(pool)
    lines = [
        "-- GENERATED by tools/gen_gateway.py from the descriptor set and",
        "-- services/gateway/filter.lua: do not edit; run `make protos`.",
        "",
        "local ROUTES = {",
    ]
    for r in routes:
        lines.append(
            f"  {{method = {_lua_string(r['method'])}, pattern = {_lua_string(r['pattern'])}, "
            f"body = {_lua_string(r['body'])}, prefix = {_lua_string(r['prefix'])}, "
            f"verb = {_lua_string(r['verb'])}}}, -- {r['rpc']}"
        )
    verbs = sorted({r["verb"] for r in routes if r["verb"]})
    lines += ["}", "", "-- Custom verbs some method has: a path ending in one is that method's or no one's."]
    lines += ["local VERBS = {" + ", ".join(f"[{_lua_string(v)}] = true" for v in verbs) + "}"]
    lines += ["", "local MESSAGES = {"]
    for name in sorted(schemas):
        fields = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in sorted(schemas[name].items()))
        lines.append(f"  [{_lua_string(name)}] = {{{fields}}},")
    lines += ["}", "", FILTER_SOURCE.read_text()]
    return "\n".join(lines)


def generate(descriptor_set: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(load_pool(descriptor_set)))
