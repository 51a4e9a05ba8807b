"""A local SMTP sink (aiosmtpd): accepts every message and keeps it.

`make up` runs it as a child process (`python -m phs_devstack.mailsink --port P
--dir data/mail`), each message written to the folder as an .eml file, and says
where on the console. The Helm chart's optional mail sink (mailSink.enabled, the
dev cluster's) runs the same module from its own image (docker/mail-sink.Dockerfile),
configured by PHS_MAIL_SINK_HOST, _PORT and _DIR as the services are by PHS_*.
The tests use `MailSink` in-process to read what arrived (and over which connection:
`Received.peer`), to refuse chosen addresses (550 to RCPT), and to hold a message
mid-DATA (the SMTP server has it, the client has no reply yet) while they kill
the sender.

aiosmtpd cannot bind port 0 (its start-up check connects to the port it was
given), so the port is always chosen first (phs_devstack.free_port).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float
    peer: str = ""  # the client's host:port: one per connection

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    folder: Path | None
    # False: messages go to the folder only (a long-running sink's memory stays flat).
    keep: bool = True
    received: list[Received] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While set, the next messages are kept (as an accepting server would have them)
    # and then their 250 reply waits until `release` is set.
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    hold_for: str = ""  # only messages to this address (all when empty)
    refuse: set[str] = field(default_factory=set)  # addresses answered 550 at RCPT

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        peer = ":".join(str(p) for p in session.peer) if session.peer else ""
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw), time.time(), peer)
        with self.lock:
            self.count += 1
            n = self.count
            if self.keep:
                self.received.append(item)
        if self.folder is not None:
            tmp = self.folder / f".{n:06d}.eml.tmp"
            tmp.write_bytes(item.raw)
            tmp.rename(self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{n:06d}.eml")
        if self.hold.is_set() and (not self.hold_for or self.hold_for in item.rcpt_tos):
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(
        self, port: int, folder: Path | None = None, host: str = "127.0.0.1", keep: bool = True
    ) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.host, self.port, self.folder = host, port, folder
        self.handler = _Handler(folder, keep)
        self.controller = Controller(self.handler, hostname=host, port=port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.handler.release.set()
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def main() -> None:
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default=env.get("PHS_MAIL_SINK_HOST", "127.0.0.1"), help="address to listen on")
    ap.add_argument(
        "--port", type=int, default=env.get("PHS_MAIL_SINK_PORT"), required="PHS_MAIL_SINK_PORT" not in env
    )
    ap.add_argument(
        "--dir",
        type=Path,
        default=env.get("PHS_MAIL_SINK_DIR"),
        required="PHS_MAIL_SINK_DIR" not in env,
        help="where each message is kept as an .eml file",
    )
    ns = ap.parse_args()
    sink = MailSink(ns.port, ns.dir, host=ns.host, keep=False).start()
    print(
        f"mail sink listening on {ns.host}:{ns.port}; every message is kept in {ns.dir.resolve()}",
        flush=True,
    )
    from phs_runtime.signals import stop_on_signals, wait_for

    stop = stop_on_signals()
    try:
        wait_for(stop)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
