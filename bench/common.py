"""Shared bits for the benchmarks: a keep-alive JSON client and percentiles."""

from __future__ import annotations

import contextlib
import http.client
import json
import statistics
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, make_url, text


class Client:
    """One keep-alive HTTP/1.1 connection (what a browser or SDK would hold)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.auth = {"authorization": f"Bearer {token}"} if token else {}

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body) if body is not None else None
        self.conn.request(
            method,
            path,
            body=data,
            headers={"content-type": "application/json", **self.auth, **(headers or {})},
        )
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw.startswith(b"{") else raw

    def close(self) -> None:
        self.conn.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def summary(latencies_s: list[float]) -> str:
    ms = [x * 1000 for x in latencies_s]
    return (
        f"p50 {percentile(ms, 50):.1f} ms, p90 {percentile(ms, 90):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
    )


@contextlib.contextmanager
def fresh_database(server_url: str | None) -> Iterator[str | None]:
    """A new, empty PostgreSQL database on the server of `server_url` (any database
    there), dropped afterwards, so runs never measure a predecessor's rows; None
    (SQLite) passes through."""
    if not server_url:
        yield None
        return
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"phs_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
