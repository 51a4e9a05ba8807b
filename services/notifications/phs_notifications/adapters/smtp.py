"""Email over SMTP (plain, STARTTLS or implicit TLS; credentials from the
environment, i.e. a Kubernetes Secret), and the SMS provider interface.

`send` says what is known about the outcome: SMTP's refusal of a message (a 4xx
or 5xx reply before or after DATA) means it was not taken; a lost connection
or a timeout once DATA is under way leaves it unknown whether the server
accepted it, which the dispatcher treats as a possible send.
"""

from __future__ import annotations

import datetime as dt
import enum
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol

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


class Mailer(Protocol):
    def send(self, mail: EmailMessage) -> Result: ...

    def check(self) -> None: ...


class SmtpMailer:
    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        c = self.cfg
        server: smtplib.SMTP
        if c.security is Security.TLS:
            server = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self._context())
        else:
            server = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            if c.security is Security.STARTTLS:
                server.starttls(context=self._context())
        if c.username:
            server.login(c.username, c.password)
        return server

    def send(self, mail: EmailMessage) -> Result:
        try:
            server = self._connect()
        except smtplib.SMTPAuthenticationError:
            return Result(Outcome.NOT_SENT, "SMTP_AUTH")
        except (OSError, smtplib.SMTPException) as exc:
            return Result(Outcome.NOT_SENT, f"SMTP_CONNECT_{type(exc).__name__}"[:32])
        try:
            refused = server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            return Result(Outcome.REFUSED if code >= 500 else Outcome.NOT_SENT, f"SMTP_RCPT_{code}")
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return Result(
                Outcome.REFUSED if exc.smtp_code >= 500 else Outcome.NOT_SENT, f"SMTP_{exc.smtp_code}"
            )
        except (OSError, smtplib.SMTPException) as exc:
            return Result(Outcome.UNKNOWN, f"SMTP_LOST_{type(exc).__name__}"[:32])
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
        if refused:  # one recipient per message: refused means not delivered
            return Result(Outcome.REFUSED, "SMTP_RCPT_REFUSED")
        return Result(Outcome.SENT, "")

    def check(self) -> None:
        """Raise unless the server answers EHLO/NOOP (for a startup log line, not health)."""
        server = self._connect()
        try:
            server.noop()
        finally:
            server.quit()


class SmsProvider(Protocol):
    """Text messages, behind an interface: no provider is built in yet. An
    implementation sends one short text (no calendar part) to a number from the
    client's record and reports the outcome as `Result`."""

    def send_text(self, to_number: str, text: str) -> Result: ...
