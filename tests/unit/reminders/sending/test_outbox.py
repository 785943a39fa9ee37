import email
import json
from datetime import UTC, datetime
from email import policy

from reminders.sending.channels.base import Outcome, OutgoingMessage
from reminders.sending.channels.outbox import OutboxChannel


def message(channel: str = "email", key: str = "r1:overdue-3:email") -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        channel=channel,
        recipient="客户 <a@x.cn>" if channel == "email" else "+8613812345678",
        locale="zh_CN",
        subject="【付款提醒】合计 ¥1,234.50",
        text="正文\n",
        html="<p>正文</p>",
        short="短信正文",
        created_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
    )


def test_email_is_a_parseable_rfc5322_message_with_both_parts(tmp_path):
    result = OutboxChannel(tmp_path).send(message())
    assert result.outcome is Outcome.SENT
    path = tmp_path / result.provider_message_id
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "【付款提醒】合计 ¥1,234.50"
    assert parsed["Message-ID"].endswith("@dunlin.local>")
    assert parsed.get_body(("plain",)).get_content() == "正文\n"
    assert "<p>正文</p>" in parsed.get_body(("html",)).get_content()


def test_same_message_gives_identical_bytes(tmp_path):
    outbox = OutboxChannel(tmp_path)
    first = (tmp_path / outbox.send(message()).provider_message_id).read_bytes()
    second = (tmp_path / outbox.send(message()).provider_message_id).read_bytes()
    assert first == second
    assert len(list(tmp_path.rglob("*.eml"))) == 1


def test_other_channels_write_json(tmp_path):
    result = OutboxChannel(tmp_path).send(message("sms", "r1:overdue-3:sms"))
    body = json.loads((tmp_path / result.provider_message_id).read_text())
    assert body == {**body, "channel": "sms", "to": "+8613812345678", "text": "短信正文"}


def test_unwritable_folder_is_a_retryable_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = OutboxChannel(blocker).send(message())
    assert result.outcome is Outcome.RETRY_LATER and "outbox write failed" in result.detail
