"""Resource names (AIP-122) and timestamps shared by the services."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from google.protobuf.timestamp_pb2 import Timestamp

# Whole-string matches (fullmatch): `$` would let a trailing newline through.
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def new_id() -> str:
    return str(uuid.uuid4())


def parse_name(name: str, collection: str, *, allow_wildcard: bool = False) -> str | None:
    """`collection/{id}` -> id (or '-' where allowed); None when malformed."""
    prefix = collection + "/"
    if not name.startswith(prefix):
        return None
    ident = name[len(prefix) :]
    if allow_wildcard and ident == "-":
        return ident
    return ident if ID_RE.fullmatch(ident) else None


def parse_child_name(name: str, parent: str, collection: str) -> tuple[str, str] | None:
    """`parent/{p}/collection/{c}` -> (p, c); None when malformed."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != parent or parts[2] != collection:
        return None
    if not ID_RE.fullmatch(parts[1]) or not ID_RE.fullmatch(parts[3]):
        return None
    return parts[1], parts[3]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_timestamp(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(dt.UTC))
    return ts


def from_timestamp(ts: Timestamp) -> dt.datetime:
    return ts.ToDatetime(tzinfo=dt.UTC)
