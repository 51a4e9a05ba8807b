"""A raw HTTP/1.1 client: sends exactly the bytes a case describes (odd paths, raw
bytes, huge headers, bodies over the limit) and reads whatever comes back."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer (see error)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    elapsed: float = 0.0
    error: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def send(
    port: int,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    timeout: float,
    first_line: bool = False,
) -> Answer:
    """`first_line`: the call may be an open-ended stream (a watch): a success is read up
    to its first message (one line), then the connection is closed."""
    start = time.monotonic()
    head = [f"{method} {target} HTTP/1.1", f"host: 127.0.0.1:{port}", "connection: close"]
    head += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        head.append(f"content-length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape") + (body or b"")
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as err:
        return Answer(None, elapsed=time.monotonic() - start, error=f"connect: {type(err).__name__}")
    try:
        # The gateway may answer (413, 431) and close before reading it all.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            payload = resp.readline() if first_line and resp.status == 200 else resp.read()
        except TimeoutError:
            return Answer(None, elapsed=time.monotonic() - start, error="timeout")
        except (OSError, http.client.HTTPException) as err:
            return Answer(None, elapsed=time.monotonic() - start, error=type(err).__name__)
        hdrs: dict[str, str] = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        return Answer(resp.status, hdrs, payload, time.monotonic() - start)
    finally:
        sock.close()
