"""A closed-loop HTTP/1.1 load generator: N clients, each on its own keep-alive
connection, each sending its next request only after the previous answer arrived
(what N browsers or SDK clients do), all in one asyncio process.

It is written for its cost, not its features: on a 2-core machine the generator
shares the cores with what it measures, and sixteen `http.client` processes cost
about as much CPU per request as Envoy itself. Requests are pre-rendered bytes;
responses are read by Content-Length or chunked framing, their status checked,
and their bodies kept only for the first few failures.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MakeBody = Callable[[int], tuple[str, bytes]]  # i -> (path, JSON body) of the i-th request; b"" for a GET


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[tuple[int, bytes]] = field(default_factory=list)  # first failures, for the report

    def record(self, latency: float, status: int, payload: bytes) -> None:
        self.latencies.append(latency)
        if status != 200:
            self.errors += 1
            if len(self.samples) < 3:
                self.samples.append((status, payload[:300]))


def _request(host: str, path: str, body: bytes, token: str) -> bytes:
    method = "POST" if body else "GET"
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = -1
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent here
                break
            parts.append(await reader.readexactly(size + 2))
        return status, b"".join(p[:-2] for p in parts)
    return status, await reader.readexactly(length) if length > 0 else b""


async def _client(
    port: int, token: str, make: MakeBody, deadline: float, out: Result, host: str = "127.0.0.1"
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.monotonic() < deadline:
            path, body = make(i)
            i += 1
            t0 = time.perf_counter()
            writer.write(_request(f"{host}:{port}", path, body, token))
            status, payload = await _read_response(reader)
            out.record(time.perf_counter() - t0, status, payload)
    finally:
        writer.close()


def run(port: int, clients: list[tuple[str, MakeBody]], seconds: float) -> tuple[Result, float]:
    """Run one closed-loop client per (token, body maker) for `seconds`; (result, elapsed)."""
    out = Result()

    async def main() -> float:
        deadline = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, token, make, deadline, out) for token, make in clients))
        return time.perf_counter() - started

    return out, asyncio.run(main())


def run_at_rate(
    port: int, clients: list[tuple[str, MakeBody]], rate: float, seconds: float, max_connections: int = 256
) -> tuple[Result, float]:
    """Open loop: requests go out at `rate` a second, evenly spaced, whatever the answers
    take (as independent users arrive), the i-th as `clients[i % len(clients)]`, each on
    a keep-alive connection that is idle at that moment (a new one if none is, up to
    `max_connections`). A latency runs from the moment its request was due, so a stall
    counts for every request it holds back (no coordinated omission); (result, elapsed)."""
    out = Result()
    host = "127.0.0.1"

    async def main() -> float:
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        opened: list[asyncio.StreamWriter] = []

        async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if idle.empty() and len(opened) < max_connections:
                reader, writer = await asyncio.open_connection(host, port)
                opened.append(writer)
                return reader, writer
            return await idle.get()

        async def one(i: int, due: float) -> None:
            token, make = clients[i % len(clients)]
            reader, writer = await connection()
            path, body = make(i)
            writer.write(_request(f"{host}:{port}", path, body, token))
            status, payload = await _read_response(reader)
            out.record(time.perf_counter() - due, status, payload)
            idle.put_nowait((reader, writer))

        started = time.perf_counter()
        sent: list[asyncio.Task[None]] = []
        for i in range(int(rate * seconds)):
            due = started + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            sent.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*sent)
        elapsed = time.perf_counter() - started
        for writer in opened:
            writer.close()
        return elapsed

    return out, asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process (its threads included) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU used so far by every local PostgreSQL process (server and backends).
    Backends that exit in between are missed, which only lowers the figure."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += cpu_seconds(int(entry))
        except OSError:  # the process has exited
            continue
    return total
