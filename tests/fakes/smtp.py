"""A real SMTP server on loopback (aiosmtpd) that records what it accepts.

It offers PIPELINING (RFC 2920) as Postfix, Exim and Exchange do; aiosmtpd reads commands in
order from its stream, so pipelined ones are answered in order. Options make it slow (to kill a
worker mid-batch), refuse chosen senders or recipients with a given reply, leave PIPELINING
out, speak STARTTLS with a throwaway certificate, and require AUTH. `python -m tests.fakes.smtp
--port 8025` runs one for bench/dispatch or by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    tls: bool
    authenticated: bool


@dataclass
class RecordingHandler:
    delay: float = 0.0
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → SMTP reply
    refuse_senders: dict[str, str] = field(default_factory=dict)  # MAIL FROM → SMTP reply
    pipelining: bool = True
    received: list[Received] = field(default_factory=list)
    count_only: bool = False
    count: int = 0
    distinct: set[str] = field(default_factory=set)  # count_only: recipients seen
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:  # noqa: N802
        session.host_name = hostname
        if self.pipelining:  # before the last line, which is the one without a dash
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:  # noqa: N802
        if address in self.refuse_senders:
            return self.refuse_senders[address]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.count += 1
            if self.count_only:
                for rcpt in envelope.rcpt_tos:
                    self.duplicates += rcpt in self.distinct
                    self.distinct.add(rcpt)
            else:
                self.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        email.message_from_bytes(envelope.content, policy=policy.default),
                        session.ssl is not None,
                        bool(session.authenticated),
                    )
                )
        return "250 2.0.0 queued"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for item in self.received for r in item.rcpt_tos]


def _authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            user,
            password,
        )
        return AuthResult(success=ok, handled=False)

    return check


class SmtpSink:
    """Start/stop a recording SMTP server; `port` is picked free."""

    def __init__(
        self,
        handler: RecordingHandler | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        auth: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.handler = handler or RecordingHandler()
        self.port = port or free_port()
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}  # as Postfix and Exchange do
        if tls is not None:
            kwargs["tls_context"] = tls  # STARTTLS
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls  # TLS from the first byte (port 465 style)
        if auth is not None:
            kwargs["authenticator"] = _authenticator(*auth)
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = tls is not None
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def main() -> None:
    """Counts messages, distinct and duplicate recipients; prints them as JSON on SIGTERM."""
    import json
    import signal
    import sys

    parser = argparse.ArgumentParser(description="A counting SMTP sink on loopback.")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--no-pipelining", action="store_true", help="leave PIPELINING out")
    args = parser.parse_args()
    handler = RecordingHandler(count_only=True, pipelining=not args.no_pipelining)

    def report(*_: object) -> None:
        with handler.lock:
            stats = {
                "messages": handler.count,
                "distinct": len(handler.distinct),
                "duplicates": handler.duplicates,
            }
        print(json.dumps(stats), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    with SmtpSink(handler, port=args.port) as sink:
        print(f"SMTP sink on 127.0.0.1:{sink.port}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
