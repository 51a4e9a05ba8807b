"""Email over SMTP (plain, STARTTLS or implicit TLS; credentials from the
environment, i.e. a Kubernetes Secret), and the SMS provider interface.

A session sends messages one after another over one connection (`SmtpMailer.session`);
its `send` says what is known about each outcome: SMTP's refusal of a message (a 4xx
or 5xx reply before or after DATA) means it was not taken; a lost connection or a
timeout before the DATA command means it was not taken either (a connection the
server dropped while idle is replaced, once, and the message sent over the new one);
a lost connection or a timeout once DATA is under way leaves it unknown whether the
server accepted it, which the dispatcher treats as a possible send.
"""

from __future__ import annotations

import datetime as dt
import enum
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Protocol

from phs_notifications.domain.model import Message


class Security(enum.StrEnum):
    NONE = "none"  # only for a local sink
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS (port 465)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: Security
    username: str
    password: str
    sender: str  # the From address
    sender_name: str
    timeout_s: float
    ca_file: str = ""
    # Sessions a dispatcher keeps open at once while it works through a batch.
    connections: int = 1

    @property
    def mail_domain(self) -> str:
        """The Message-ID domain: the sender's."""
        return self.sender.rpartition("@")[2] or "phs.health"


class Outcome(enum.StrEnum):
    SENT = "SENT"
    REFUSED = "REFUSED"  # permanently: this message will not go out (e.g. a bad address)
    NOT_SENT = "NOT_SENT"  # temporarily: try again later; certainly not accepted
    UNKNOWN = "UNKNOWN"  # perhaps accepted: the reply to DATA never arrived


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str  # a code for logs and metrics (never the address)


def message_id_of(delivery_id: str, cfg: SmtpConfig) -> str:
    """A delivery's Message-ID: the same for every attempt at it."""
    return f"<{delivery_id}@{cfg.mail_domain}>"


def build_email(
    message: Message, to: str, to_name: str, cfg: SmtpConfig, message_id: str, now: dt.datetime
) -> EmailMessage:
    """multipart/mixed: (text/plain | text/html) alternatives, plus text/calendar."""
    mail = EmailMessage()
    mail["From"] = formataddr((cfg.sender_name, cfg.sender))
    mail["To"] = formataddr((to_name, to))
    mail["Subject"] = message.subject
    mail["Message-ID"] = message_id
    mail["Date"] = format_datetime(now)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    mail.add_attachment(
        message.ics.encode("utf-8"),
        maintype="text",
        subtype="calendar",
        filename="invite.ics",
        params={"method": message.method.value, "charset": "utf-8"},
    )
    return mail


class MailSession(Protocol):
    # Set once connecting failed: the server cannot be reached now.
    down: Result | None

    def send(self, mail: EmailMessage) -> Result: ...

    def close(self) -> None: ...


class Mailer(Protocol):
    def session(self) -> MailSession: ...

    def check(self) -> None: ...


class _Tracked(smtplib.SMTP):
    """smtplib's client, noting when a message's DATA command starts: a failure before
    it means the server cannot have taken the message."""

    data_started = False

    def data(self, msg: Any) -> tuple[int, bytes]:  # smtplib's own: bytes or str
        self.data_started = True
        return super().data(msg)


class _TrackedSSL(_Tracked, smtplib.SMTP_SSL):
    pass


class SmtpMailer:
    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file or None)

    def _connect(self) -> _Tracked:
        c = self.cfg
        server: _Tracked
        if c.security is Security.TLS:
            server = _TrackedSSL(c.host, c.port, timeout=c.timeout_s, context=self._context())
        else:
            server = _Tracked(c.host, c.port, timeout=c.timeout_s)
            if c.security is Security.STARTTLS:
                server.starttls(context=self._context())
        if c.username:
            server.login(c.username, c.password)
        return server

    def session(self) -> SmtpSession:
        return SmtpSession(self)

    def check(self) -> None:
        """Raise unless the server answers EHLO/NOOP (for a startup log line, not health)."""
        server = self._connect()
        try:
            server.noop()
        finally:
            server.quit()


class SmtpSession:
    """One connection, opened at the first message and kept for the next ones (not
    thread-safe: one per sending thread). `down` is set when connecting failed: the
    server cannot be reached now, and the caller stops giving this session messages."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.down: Result | None = None
        self._server: _Tracked | None = None
        self._used = False  # the connection has carried a message: the server may have dropped it since

    def send(self, mail: EmailMessage) -> Result:
        reused = self._server is not None and self._used
        result = self._send_once(mail)
        if result is None and reused:
            result = self._send_once(mail)  # a connection dropped while idle: one fresh try
        return result or Result(Outcome.NOT_SENT, "SMTP_LOST_BEFORE_DATA")

    def _send_once(self, mail: EmailMessage) -> Result | None:
        """The outcome, or None when the connection failed before DATA (not taken)."""
        if self._server is None:
            try:
                self._server = self.mailer._connect()
            except smtplib.SMTPAuthenticationError:
                self.down = Result(Outcome.NOT_SENT, "SMTP_AUTH")
                return self.down
            except (OSError, smtplib.SMTPException) as exc:
                self.down = Result(Outcome.NOT_SENT, f"SMTP_CONNECT_{type(exc).__name__}"[:32])
                return self.down
            self._used = False
        server = self._server
        server.data_started = False
        try:
            refused = server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            result = Result(Outcome.REFUSED if code >= 500 else Outcome.NOT_SENT, f"SMTP_RCPT_{code}")
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            result = Result(
                Outcome.REFUSED if exc.smtp_code >= 500 else Outcome.NOT_SENT, f"SMTP_{exc.smtp_code}"
            )
        except smtplib.SMTPNotSupportedError:  # an address needs SMTPUTF8, which the server lacks
            result = Result(Outcome.REFUSED, "SMTP_NO_SMTPUTF8")
        except (OSError, smtplib.SMTPException) as exc:
            # The connection's state is unknown: never used again.
            self._drop()
            if not server.data_started:
                return None
            return Result(Outcome.UNKNOWN, f"SMTP_LOST_{type(exc).__name__}"[:32])
        else:
            self._used = True
            if refused:  # one recipient per message: refused means not delivered
                return Result(Outcome.REFUSED, "SMTP_RCPT_REFUSED")
            return Result(Outcome.SENT, "")
        # A refusal: smtplib has reset the transaction, or closed the connection (421).
        self._used = True
        if server.sock is None:
            self._drop()
        return result

    def _drop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def close(self) -> None:
        """QUIT, if connected."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()


class SmsProvider(Protocol):
    """Text messages, behind an interface: no provider is built in yet. An
    implementation sends one short text (no calendar part) to a number from the
    client's record and reports the outcome as `Result`."""

    def send_text(self, to_number: str, text: str) -> Result: ...
