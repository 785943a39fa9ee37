"""The SMTP channel's direct serializer writes exactly what the stdlib writes for the Message.

The stdlib's choice of body encoding is a process-wide registry: Apprise (imported by the
alerts) re-registers UTF-8 as quoted-printable on import. `message_bytes` always writes base64,
so the oracle is taken with the stdlib's own default for UTF-8."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email import charset

from hypothesis import given
from hypothesis import strategies as st

from reminders.sending.channels.base import OutgoingMessage
from reminders.sending.channels.smtp import build_message, message_bytes, new_message_id

# CJK, Latin-1, ASCII punctuation and the characters folding and base64 care about.
TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 .,;:<>@\"'\t\r\n=_-é¥€逾期提醒客户张伟\u3000")),
    max_size=300,
)
NAMES = st.text(alphabet=st.sampled_from(list("aZ .,\"'<>@()张伟é")), max_size=30)
LOCAL = st.text(alphabet=st.sampled_from(list("abc.-_+19")), min_size=1, max_size=20)
DOMAIN = st.sampled_from(["x.cn", "example.com", "mail." + "sub." * 8 + "example.org"])


@contextlib.contextmanager
def stdlib_utf8_default() -> Iterator[None]:
    saved = charset.CHARSETS["utf-8"]
    charset.CHARSETS["utf-8"] = (charset.SHORTEST, charset.BASE64, "utf-8")
    try:
        yield
    finally:
        charset.CHARSETS["utf-8"] = saved


@st.composite
def addresses(draw: st.DrawFn) -> str:
    address = f"{draw(LOCAL)}@{draw(DOMAIN)}"
    if draw(st.booleans()):
        address = draw(st.sampled_from(["用户@例子.中国", "josé@x.cn"]))
    name = draw(NAMES)
    return f"{name} <{address}>" if name.strip() else address


@given(
    key=st.text(min_size=1, max_size=40),
    recipient=addresses(),
    sender=addresses(),
    subject=TEXT,
    text=TEXT,
    html=TEXT,
    locale=st.sampled_from(["zh_CN", "en_US"]),
    reply_to=st.none() | addresses(),
    unsubscribe=st.none() | st.sampled_from(["https://pay.x.cn/u/abc", "http://h/u?k=1"]),
    mailto=st.none() | st.just("unsubscribe@x.cn"),
)
def test_message_bytes_are_the_stdlib_messages_bytes(
    key, recipient, sender, subject, text, html, locale, reply_to, unsubscribe, mailto
) -> None:
    message = OutgoingMessage(
        key, "email", recipient, locale, subject, text, html, "", datetime(2026, 3, 5, tzinfo=UTC)
    )
    message_id = new_message_id(key, "x.cn")
    with stdlib_utf8_default():
        expected = build_message(
            message, sender, "x.cn", reply_to, unsubscribe, mailto, message_id
        ).as_bytes()
    assert message_bytes(message, sender, message_id, reply_to, unsubscribe, mailto) == expected


def test_a_reminder_reads_back_as_the_message_it_was() -> None:
    import email
    from email import policy

    message = OutgoingMessage(
        "r1:overdue-10:email",
        "email",
        "张伟 <c1@x.cn>",
        "zh_CN",
        "逾期提醒 INV-1",
        "您好\n请付款\n",
        "<p>您好</p>",
        "",
        datetime(2026, 3, 5, tzinfo=UTC),
    )
    raw = message_bytes(message, "应收 <ar@x.cn>", "<m1@x.cn>", unsubscribe="https://u/1")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert (
        parsed["Subject"] == "逾期提醒 INV-1" and parsed["To"].addresses[0].display_name == "张伟"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = (part.get_content() for part in parsed.iter_parts())
    assert text == "您好\n请付款\n" and html == "<p>您好</p>"


def test_the_bytes_do_not_depend_on_the_process_wide_charset_registry() -> None:
    message = OutgoingMessage(
        "k", "email", "c@x.cn", "zh_CN", "提醒", "您好", "<p>您好</p>", "", datetime.now(UTC)
    )
    with stdlib_utf8_default():
        before = message_bytes(message, "应收 <ar@x.cn>", "<m@x.cn>")
    assert b"=?utf-8?b?" in before  # display name and subject as base64 encoded words
    saved = charset.CHARSETS["utf-8"]
    charset.add_charset("utf-8", charset.QP, charset.QP, "utf-8")  # what Apprise does on import
    try:
        assert message_bytes(message, "应收 <ar@x.cn>", "<m@x.cn>") == before
    finally:
        charset.CHARSETS["utf-8"] = saved
