"""The notifications service's SMTP sessions against a real SMTP server (aiosmtpd, the
devstack's mail sink): messages of a batch share one connection; each message's
outcome is its own (a refused address, a connection lost before or after DATA); a
connection that fails is replaced for the next message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from phs_devstack import free_port
from phs_devstack.mailsink import MailSink
from phs_notifications.adapters.smtp import Outcome, Security, SmtpConfig, SmtpMailer, SmtpSession


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink(free_port()).start()
    try:
        yield s
    finally:
        s.stop()


def config(port: int, timeout_s: float = 5.0) -> SmtpConfig:
    return SmtpConfig(
        host="127.0.0.1",
        port=port,
        security=Security.NONE,
        username="",
        password="",
        sender="appointments@practice.example",
        sender_name="Appointments",
        timeout_s=timeout_s,
    )


def mail(to: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "appointments@practice.example"
    m["To"] = to
    m["Subject"] = "Reminder: your appointment"
    m["Message-ID"] = f"<{uuid.uuid4().hex}@practice.example>"
    m.set_content("See you soon.")
    return m


def addresses(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"client-{tag}-{k}@example.org" for k in range(n)]


def session(port: int, timeout_s: float = 5.0) -> SmtpSession:
    return SmtpMailer(config(port, timeout_s)).session()


def test_the_messages_of_a_session_share_one_connection(sink: MailSink) -> None:
    to = addresses(4)
    s = session(sink.port)
    try:
        results = [s.send(mail(a)) for a in to]
    finally:
        s.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    got = [r for r in sink.received if r.rcpt_tos[0] in to]
    assert sorted(r.rcpt_tos[0] for r in got) == sorted(to)
    assert len({r.peer for r in got}) == 1


def test_a_refused_address_fails_alone_and_the_connection_goes_on(sink: MailSink) -> None:
    first, refused, last = addresses(3)
    sink.handler.refuse.add(refused)
    s = session(sink.port)
    try:
        results = [s.send(mail(a)) for a in (first, refused, last)]
    finally:
        s.close()
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.SENT, ""),
        (Outcome.REFUSED, "SMTP_RCPT_550"),
        (Outcome.SENT, ""),
    ]
    assert sink.to(refused) == []
    assert sink.to(first)[0].peer == sink.to(last)[0].peer


def test_a_connection_the_server_dropped_is_replaced_and_the_message_goes() -> None:
    before, after = addresses(2)
    first = MailSink(free_port()).start()
    s = session(first.port)
    try:
        assert s.send(mail(before)).outcome is Outcome.SENT
        # The server goes away and comes back while the session holds its connection.
        first.stop()
        again = MailSink(first.port).start()
        try:
            result = s.send(mail(after))
            assert (result.outcome, s.down) == (Outcome.SENT, None)
            assert len(again.to(after)) == 1
        finally:
            again.stop()
    finally:
        s.close()
    assert len(first.to(before)) == 1 and first.to(after) == []


def test_no_server_means_not_sent_and_the_session_is_down() -> None:
    s = session(free_port(), timeout_s=2)
    try:
        result = s.send(mail(addresses(1)[0]))
    finally:
        s.close()
    assert result.outcome is Outcome.NOT_SENT and result.reason.startswith("SMTP_CONNECT_")
    assert s.down == result


def test_a_reply_to_data_that_never_comes_is_unknown_and_the_next_message_has_a_new_connection(
    sink: MailSink,
) -> None:
    held, following = addresses(2)
    sink.handler.hold_for = held
    sink.handler.hold.set()  # the server keeps the message and never answers its DATA
    s = session(sink.port, timeout_s=1)
    try:
        lost = s.send(mail(held))
        sink.handler.release.set()
        nxt = s.send(mail(following))
    finally:
        s.close()
    assert lost.outcome is Outcome.UNKNOWN and lost.reason.startswith("SMTP_LOST_")
    assert nxt.outcome is Outcome.SENT and s.down is None
    assert len(sink.to(held)) == 1  # the server did take it: which is why it is UNKNOWN, not NOT_SENT
    assert sink.to(held)[0].peer != sink.to(following)[0].peer
