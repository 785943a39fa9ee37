"""The SMTP channel against a real aiosmtpd server: STARTTLS, AUTH, one connection per batch,
RFC 8058 headers, UTF-8, and refusals classified by SMTP reply class."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reminders.sending.channels.base import Outcome, OutgoingMessage
from reminders.sending.channels.smtp import SmtpChannel
from tests.fakes.smtp import RecordingHandler, SmtpSink, self_signed


def message(to: str, key: str = "r1:overdue-10:email") -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        channel="email",
        recipient=to,
        locale="zh_CN",
        subject="付款提醒：发票 INV-1 已逾期 10 天",
        text="您好，发票 INV-1 尚有 ¥1,234.50 未付。\n",
        html="<p>您好，发票 <b>INV-1</b> 尚有 ¥1,234.50 未付。</p>",
        short="INV-1 ¥1,234.50",
        created_at=datetime(2026, 12, 1, 4, tzinfo=UTC),
    )


def channel(port: int, **extra: object) -> SmtpChannel:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "Acme 应收 <ar@acme.example>",
        **extra,
    }
    return SmtpChannel("email", settings, {"password": "pw"})


def test_starttls_auth_and_one_connection_for_a_batch(tmp_path):
    handler = RecordingHandler()
    with SmtpSink(handler, tls=self_signed(tmp_path), auth=("ar", "pw")) as sink:
        mailer = channel(sink.port, security="starttls", username="ar", verify_tls=False)
        results = [mailer.send(message(f"c{i}@x.cn", key=f"r{i}:s:email")) for i in range(3)]
        mailer.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    assert all(r.tls and r.authenticated for r in handler.received)
    assert handler.recipients() == ["c0@x.cn", "c1@x.cn", "c2@x.cn"]
    ids = {r.provider_message_id for r in results}
    assert len(ids) == 3 and all(i and i.endswith("@acme.example>") for i in ids)


def test_wrong_password_is_a_broken_channel(tmp_path):
    with SmtpSink(tls=self_signed(tmp_path), auth=("ar", "pw")) as sink:
        mailer = SmtpChannel(
            "email",
            {
                "host": "127.0.0.1",
                "port": sink.port,
                "from": "ar@acme.example",
                "username": "ar",
                "verify_tls": False,
            },
            {"password": "wrong"},
        )
        result = mailer.send(message("c@x.cn"))
        mailer.close()
    assert result.outcome is Outcome.CHANNEL_BROKEN


def test_headers_utf8_html_text_and_one_click_unsubscribe():
    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        mailer = channel(
            sink.port,
            unsubscribe_url="https://pay.acme.example/u/{key}",
            unsubscribe_mailto="unsubscribe@acme.example",
            reply_to="ar+replies@acme.example",
        )
        mailer.send(message("c@x.cn"))
        mailer.close()
    got = handler.received[0].message
    assert handler.received[0].mail_from == "ar@acme.example"
    assert got["Subject"] == "付款提醒：发票 INV-1 已逾期 10 天"
    assert got["List-Unsubscribe"] == (
        "<https://pay.acme.example/u/r1:overdue-10:email>, <mailto:unsubscribe@acme.example>"
    )
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["Reply-To"] == "ar+replies@acme.example"
    parts = {p.get_content_type(): p for p in got.walk() if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "¥1,234.50" in parts["text/plain"].get_payload(decode=True).decode()


def test_names_are_encoded_and_addresses_are_not():
    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port)
        mailer.send(message("c@x.cn"))
        mailer.close()
    got = handler.received[0].message
    assert got["From"].addresses[0].display_name == "Acme 应收"
    assert got["From"].addresses[0].addr_spec == "ar@acme.example"
    assert got["Content-Language"] == "zh-CN"
    assert got["Message-ID"].endswith("@acme.example>")


def test_a_line_break_in_a_value_cannot_add_a_header():
    handler = RecordingHandler()
    evil = message("c@x.cn")
    evil = replace(evil, subject="Invoice due\r\nBcc: thief@evil.example")
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port, reply_to="ar@acme.example\nBcc: thief@evil.example")
        mailer.send(evil)
        mailer.close()
    got = handler.received[0].message
    assert got["Bcc"] is None and handler.received[0].rcpt_tos == ["c@x.cn"]
    assert got["Subject"] == "Invoice due Bcc: thief@evil.example"


def test_an_internationalised_recipient_goes_out_raw_over_smtputf8():
    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port)
        result = mailer.send(message("用户@例子.cn"))
        mailer.close()
    assert result.outcome is Outcome.SENT, result.detail
    (received,) = handler.received
    assert received.rcpt_tos == ["用户@例子.cn"]
    # raw UTF-8 on the wire (the stdlib parser keeps undecoded bytes as surrogates)
    to = str(received.message["To"]).encode("utf-8", "surrogateescape").decode("utf-8")
    assert to == "用户@例子.cn"


def test_plain_http_unsubscribe_gets_no_one_click_header():
    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port, unsubscribe_url="http://pay.acme.example/u/{key}")
        mailer.send(message("c@x.cn"))
        mailer.close()
    assert handler.received[0].message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(
    ("refusing", "address", "reply", "expected"),
    [
        ("refuse", "gone@x.cn", "550 5.1.1 no such user", Outcome.PERMANENT_RECIPIENT),
        ("refuse", "gone@x.cn", "452 4.2.2 mailbox full", Outcome.RETRY_LATER),
        ("refuse_senders", "ar@acme.example", "451 4.3.0 try again later", Outcome.RETRY_LATER),
        ("refuse_senders", "ar@acme.example", "550 5.7.1 not yours", Outcome.CHANNEL_BROKEN),
    ],
)
def test_a_refusal_is_classified_and_the_connection_goes_on(
    refusing, address, reply, expected, pipelining
):
    handler = RecordingHandler(**{refusing: {address: reply}}, pipelining=pipelining)
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port)
        refused = mailer.send(message("gone@x.cn"))
        getattr(handler, refusing).clear()
        after = mailer.send(message("ok@x.cn", key="r2:s:email"))
        mailer.close()
    assert refused.outcome is expected and reply.split()[0] in refused.detail
    assert after.outcome is Outcome.SENT and handler.recipients() == ["ok@x.cn"]


def test_server_down_is_retry_later():
    from tests.fakes.smtp import free_port

    mailer = channel(free_port())
    assert mailer.send(message("c@x.cn")).outcome is Outcome.RETRY_LATER


@pytest.mark.parametrize("pipelining", [True, False])
def test_connection_is_renewed_after_the_cap_and_after_a_drop(pipelining):
    handler = RecordingHandler(pipelining=pipelining)
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port, max_per_connection=2)
        for i in range(5):
            assert mailer.send(message(f"c{i}@x.cn", key=f"r{i}:s:email")).outcome is Outcome.SENT
        mailer._conn.sock.close()  # the server side went away between two messages
        assert mailer.send(message("late@x.cn", key="r9:s:email")).outcome is Outcome.SENT
        mailer.close()
    assert len(handler.recipients()) == 6


@pytest.mark.parametrize(("pipelining", "writes"), [(True, 2), (False, 4)])
def test_pipelining_when_offered_two_writes_a_message_and_the_body_intact(
    monkeypatch, pipelining, writes
):
    import smtplib

    sent: list[bytes | str] = []
    real_send = smtplib.SMTP.send
    monkeypatch.setattr(
        smtplib.SMTP, "send", lambda self, s: (sent.append(s), real_send(self, s))[1]
    )
    handler = RecordingHandler(pipelining=pipelining)
    with SmtpSink(handler) as sink:
        mailer = channel(sink.port)
        mailer._connection()  # greet first: count only the message's own writes
        sent.clear()
        result = mailer.send(message("c@x.cn"))
        mailer.close()
    assert result.outcome is Outcome.SENT
    assert len([s for s in sent if not str(s).startswith(("quit", "QUIT"))]) == writes
    assert handler.received[0].message["Subject"] == message("c@x.cn").subject


def test_a_body_line_that_starts_with_a_dot_arrives_as_written():
    """The parts are base64, so only a raw message can show the body's dot-stuffing."""
    import smtplib

    from reminders.sending.channels.smtp import _send_body

    handler = RecordingHandler()
    raw = b"Subject: dots\r\n\r\nfirst\r\n.second\r\n..third\r\n.\r\nlast"
    with SmtpSink(handler) as sink, smtplib.SMTP("127.0.0.1", sink.port) as conn:
        conn.ehlo()
        conn.mail("ar@acme.example")
        conn.rcpt("c@x.cn")
        conn.putcmd("data")
        assert conn.getreply()[0] == 354
        assert _send_body(conn, raw)[0] == 250
    body = handler.received[0].message.get_content()
    assert body.splitlines() == ["first", ".second", "..third", ".", "last"]


def test_implicit_tls_without_a_login_greets_before_mail(tmp_path):
    handler = RecordingHandler()
    with SmtpSink(handler, implicit_tls=self_signed(tmp_path)) as sink:
        mailer = channel(sink.port, security="ssl", verify_tls=False)
        result = mailer.send(message("c@x.cn"))
        mailer.close()
    assert result.outcome is Outcome.SENT, result.detail
    assert handler.recipients() == ["c@x.cn"]
