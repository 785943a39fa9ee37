"""Email over SMTP: one connection per batch, STARTTLS or SSL, HTML plus text, RFC 8058 headers.

The SMTP dialogue is driven by hand (MAIL, RCPT, DATA) so a dropped connection is classified by
where it dropped: before the message body nothing was accepted and the message is retried on a
fresh connection; during the body the server may have taken it, so the row becomes `uncertain`.
Where the server offers PIPELINING (RFC 2920; Postfix, Exim, Exchange and the big providers do),
MAIL, RCPT and DATA go out in one write and their replies are read in order: two round trips a
message instead of four.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
import smtplib
import ssl
from email.charset import BASE64, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from typing import Any

from reminders.sending.channels.base import (
    Outcome,
    OutgoingMessage,
    RecipientLimit,
    SendResult,
)
from reminders.sending.channels.http import ChannelContext, require

MAX_PER_CONNECTION = 100


def _utf8_base64() -> Charset:
    """UTF-8 with base64 encoded words, fixed here: the stdlib looks the encoding up in a
    process-wide registry, which Apprise (imported by the alerts) switches to
    quoted-printable, so headers would change encoding once an alert had been sent."""
    utf8 = Charset("utf-8")
    utf8.header_encoding = utf8.body_encoding = BASE64
    return utf8


UTF8 = _utf8_base64()


def build_message(
    message: OutgoingMessage,
    sender: str,
    domain: str,
    reply_to: str | None = None,
    unsubscribe: str | None = None,
    unsubscribe_mailto: str | None = None,
    message_id: str | None = None,
) -> Message:
    """multipart/alternative (text, then HTML), UTF-8, CRLF line ends.

    Built with the stdlib's `email.mime` classes (compat32 policy): the newer EmailMessage
    parses every header into a structured object and cost 0.8 ms a message, five times this;
    non-ASCII display names and subjects are RFC 2047 encoded explicitly instead. The SMTP
    channel sends `message_bytes`, which writes the same bytes without building this."""
    message_id = message_id or new_message_id(message.key, domain)
    email = MIMEMultipart("alternative", boundary=_boundary(message.key), policy=_CRLF)
    for name, value in _headers(
        message, sender, message_id, reply_to, unsubscribe, unsubscribe_mailto
    ):
        email[name] = value  # type: ignore[assignment]  # compat32 takes Header; stub says str
    email.attach(MIMEText(message.text, "plain", "utf-8", policy=_CRLF))
    email.attach(MIMEText(message.html, "html", "utf-8", policy=_CRLF))
    return email


def message_bytes(
    message: OutgoingMessage,
    sender: str,
    message_id: str,
    reply_to: str | None = None,
    unsubscribe: str | None = None,
    unsubscribe_mailto: str | None = None,
) -> bytes:
    """`build_message(...).as_bytes()` without the Message: the two parts' headers are fixed,
    their bodies plain base64, and every header goes through the same policy's fold. Building
    and flattening the Message took 0.6 ms, a fifth of a worker's CPU per reminder. A property
    test holds the two byte for byte (tests/unit/reminders/channels/test_smtp_bytes.py)."""
    boundary = _boundary(message.key)
    head = [
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ("MIME-Version", "1.0"),
        *_headers(message, sender, message_id, reply_to, unsubscribe, unsubscribe_mailto),
    ]
    delimiter = f"\r\n--{boundary}".encode("ascii")  # its CRLF ends the headers or a part
    return b"".join(
        [
            *(_CRLF.fold_binary(name, value) for name, value in head),
            delimiter + b"\r\n",
            _text_part("plain", message.text),
            delimiter + b"\r\n",
            _text_part("html", message.html),
            delimiter + b"--\r\n",
        ]
    )


def new_message_id(key: str, domain: str) -> str:
    """Unique per attempt; short, so that the header fits one line unfolded."""
    return f"<{_digest(key)}.{secrets.token_hex(4)}@{domain}>"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _boundary(key: str) -> str:
    # "_" is outside the base64 alphabet the parts are encoded in, so this boundary cannot
    # occur in them and the generator need not search the bodies for a free one.
    return f"=_dunlin_{_digest(key)[:16]}"


def _headers(
    message: OutgoingMessage,
    sender: str,
    message_id: str,
    reply_to: str | None,
    unsubscribe: str | None,
    unsubscribe_mailto: str | None,
) -> list[tuple[str, str | Header]]:
    """The top-level headers after Content-Type and MIME-Version, in the order written."""
    headers: list[tuple[str, str | Header]] = [
        ("From", _address(sender)),
        ("To", _address(message.recipient)),
        ("Subject", _words(message.subject)),
        ("Date", format_datetime(message.created_at)),
        ("Message-ID", message_id),
        ("Content-Language", message.locale.replace("_", "-")),
        ("Auto-Submitted", "auto-generated"),
    ]
    if reply_to:
        headers.append(("Reply-To", _address(reply_to)))
    targets = []
    if unsubscribe:
        targets.append(f"<{unsubscribe}>")
    if unsubscribe_mailto:
        targets.append(f"<mailto:{unsubscribe_mailto}>")
    if targets:
        headers.append(("List-Unsubscribe", _one_line(", ".join(targets))))
        if unsubscribe and unsubscribe.startswith("https://"):  # RFC 8058 needs HTTPS
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return headers


def _text_part(subtype: str, text: str) -> bytes:
    """What compat32 writes for MIMEText(text, subtype, "utf-8"): base64 in 76-column lines."""
    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + body


SHORT_HEADER = 76  # a header line up to this long is written without folding


class _Compat32FastFold(Compat32):
    """compat32, except that a short ASCII header is written as it is: compat32 runs every
    header, `MIME-Version: 1.0` included, through email.header.Header's RFC 2047 folding,
    which was a fifth of a worker's time per message. Property-tested to write the same
    bytes as compat32 (tests/unit/reminders/channels/test_smtp_fold.py)."""

    def fold(self, name: str, value: Any) -> str:
        plain = _unfolded(name, value, self.linesep)
        return super().fold(name, value) if plain is None else plain

    def fold_binary(self, name: str, value: Any) -> bytes:
        plain = _unfolded(name, value, self.linesep)
        return super().fold_binary(name, value) if plain is None else plain.encode("ascii")


def _unfolded(name: str, value: Any, linesep: str) -> str | None:
    """The header line as is, or None when compat32 must fold or encode it."""
    if (
        isinstance(value, str)
        and value.isascii()
        and len(name) + 2 + len(value) <= SHORT_HEADER
        and value.isprintable()  # no CR, LF or other control characters
        and value == value.strip()
    ):
        return f"{name}: {value}{linesep}"
    return None


_CRLF = _Compat32FastFold(linesep="\r\n")


def _one_line(text: str) -> str:
    """Header values on one line: compat32, unlike EmailMessage, would write a CR or LF inside
    a value verbatim, and a customer name from a CRM must not be able to add a header."""
    return " ".join(text.split())


def _words(text: str) -> str | Header:
    """A header text as is when ASCII, else RFC 2047 encoded words."""
    text = _one_line(text)
    return text if text.isascii() else Header(text, UTF8)


@lru_cache(maxsize=1024)  # the sender is the same on every message of a channel
def _address(value: str) -> str:
    """`Name <addr>` with a non-ASCII name encoded; the address itself is never encoded."""
    value = _one_line(value)
    name, address = parseaddr(value)
    if not address or not address.isascii():
        # An internationalised address (sent with SMTPUTF8) goes out as raw UTF-8: the
        # stdlib writes surrogate-escaped bytes in a header verbatim, and never encodes them.
        return value.encode("utf-8").decode("ascii", "surrogateescape")
    return formataddr((name, address), charset=UTF8)


def _reply_outcome(code: int) -> Outcome:
    return Outcome.RETRY_LATER if 400 <= code < 500 else Outcome.PERMANENT_RECIPIENT


class SmtpChannel:
    rate_per_second: float | None = None
    recipient_limits: tuple[RecipientLimit, ...] = ()

    def __init__(
        self,
        name: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        ctx: ChannelContext | None = None,
    ) -> None:
        require(settings, secrets, "host", "from")
        self.name = name
        self.host = settings["host"]
        self.security = settings.get("security", "starttls")  # starttls | ssl | none
        default_port = {"ssl": 465, "starttls": 587}.get(self.security, 25)
        self.port = int(settings.get("port", default_port))
        self.username = settings.get("username")
        self.password = secrets.get("password")
        self.sender = settings["from"]
        self.domain = settings.get("domain") or self.sender.rsplit("@", 1)[-1].strip("> ")
        self.reply_to = settings.get("reply_to")
        self.unsubscribe_url = settings.get("unsubscribe_url")  # may hold {key}
        self.unsubscribe_mailto = settings.get("unsubscribe_mailto")
        self.timeout = float(settings.get("timeout", 30))
        self.verify_tls = bool(settings.get("verify_tls", True))
        self.max_per_connection = int(settings.get("max_per_connection", MAX_PER_CONNECTION))
        if settings.get("rate_per_second"):
            self.rate_per_second = float(settings["rate_per_second"])
        self._conn: smtplib.SMTP | None = None
        self._sent_on_conn = 0
        self._quoted_sender = smtplib.quoteaddr(self._envelope_sender())  # parsed once

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls()
            )
            conn.ehlo()  # smtplib's mail() does not greet; without a login nothing else would
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self._tls())
                conn.ehlo()
        if self.username:
            conn.login(self.username, self.password or "")
        self._sent_on_conn = 0
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and self._sent_on_conn >= self.max_per_connection:
            self.close()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def send(self, message: OutgoingMessage) -> SendResult:
        unsubscribe = message.variables.get("unsubscribe_url") or (
            self.unsubscribe_url.format(key=message.key) if self.unsubscribe_url else None
        )
        message_id = new_message_id(message.key, self.domain)
        data = message_bytes(
            message, self.sender, message_id, self.reply_to, unsubscribe, self.unsubscribe_mailto
        )
        for attempt in (1, 2):
            try:
                conn = self._connection()
            except smtplib.SMTPAuthenticationError as exc:
                return SendResult(Outcome.CHANNEL_BROKEN, detail=f"smtp login refused: {exc}")
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return SendResult(Outcome.RETRY_LATER, detail=f"smtp connect failed: {exc}")
            try:
                return self._dialogue(conn, data, message, message_id)
            except smtplib.SMTPServerDisconnected as exc:  # before DATA: nothing was accepted
                self._drop()
                if attempt == 2:
                    return SendResult(Outcome.RETRY_LATER, detail=f"smtp disconnected: {exc}")
        raise AssertionError("unreachable")

    def _dialogue(
        self, conn: smtplib.SMTP, data: bytes, message: OutgoingMessage, message_id: str
    ) -> SendResult:
        options = ["SMTPUTF8", "BODY=8BITMIME"] if not message.recipient.isascii() else []
        # Non-ASCII recipients (rare) go step by step: smtplib's mail() owns the SMTPUTF8 rules.
        pipelined = not options and conn.has_extn("pipelining")
        if pipelined:
            refused = self._pipelined_envelope(conn, message.recipient)
        else:
            refused = self._stepwise_envelope(conn, message.recipient, options)
        if refused is not None:
            return refused
        try:
            code, reply = _send_body(conn, data) if pipelined else conn.data(data)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return SendResult(Outcome.UNKNOWN, detail=f"smtp connection lost during DATA: {exc}")
        except smtplib.SMTPDataError as exc:
            return SendResult(
                _reply_outcome(exc.smtp_code), detail=f"DATA refused: {exc.smtp_code}"
            )
        self._sent_on_conn += 1
        if code != 250:
            return SendResult(_reply_outcome(code), detail=f"DATA refused: {code}")
        return SendResult(Outcome.SENT, provider_message_id=message_id, detail=reply.decode())

    def _stepwise_envelope(
        self, conn: smtplib.SMTP, recipient: str, options: list[str]
    ) -> SendResult | None:
        """MAIL, then RCPT, each awaited. None when both were accepted; else the refusal."""
        refused = _mail_refusal(*conn.mail(self._envelope_sender(), options))
        if refused is None:
            refused = _rcpt_refusal(*conn.rcpt(recipient))
        if refused is not None:
            conn.rset()
        return refused

    def _pipelined_envelope(self, conn: smtplib.SMTP, recipient: str) -> SendResult | None:
        """MAIL, RCPT and DATA in one write (RFC 2920), their three replies read in order.
        None when the server is waiting for the body (354); else the refusal, after RSET."""
        rcpt = smtplib.quoteaddr(recipient)
        conn.send(f"MAIL FROM:{self._quoted_sender}\r\nRCPT TO:{rcpt}\r\nDATA\r\n")
        mail_code, mail_reply = conn.getreply()
        rcpt_code, rcpt_reply = conn.getreply()
        data_code, data_reply = conn.getreply()
        refused = _mail_refusal(mail_code, mail_reply) or _rcpt_refusal(rcpt_code, rcpt_reply)
        if refused is None and data_code == 354:
            return None
        if data_code == 354:  # a server that took DATA without a recipient: end it empty
            conn.send(b".\r\n")
            conn.getreply()
        conn.rset()
        return refused or SendResult(
            _reply_outcome(data_code), detail=f"DATA refused: {data_code} {data_reply.decode()}"
        )

    def _envelope_sender(self) -> str:
        return self.sender.rsplit("<", 1)[-1].rstrip(">").strip()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a dead socket may refuse even to close
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
        self._drop()


def _mail_refusal(code: int, reply: bytes) -> SendResult | None:
    """A refused MAIL FROM is about us, not the recipient: try later, or the channel is broken."""
    if code == 250:
        return None
    outcome = Outcome.RETRY_LATER if 400 <= code < 500 else Outcome.CHANNEL_BROKEN
    return SendResult(outcome, detail=f"MAIL FROM refused: {code} {reply.decode()}")


def _rcpt_refusal(code: int, reply: bytes) -> SendResult | None:
    if code in (250, 251):
        return None
    return SendResult(_reply_outcome(code), detail=f"RCPT refused: {code} {reply.decode()}")


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _send_body(conn: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
    """The message after a 354, dot-stuffed and ended as smtplib's data() does it."""
    body = _LEADING_DOT.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    conn.send(body + b".\r\n")
    return conn.getreply()
