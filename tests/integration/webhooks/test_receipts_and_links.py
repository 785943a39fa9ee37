"""Provider receipts move the ledger forward; customers act from the links in a reminder."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.models import Event
from reminders.models import Reminder, Task
from reminders.sending.channel_store import save_channel
from reminders.sending.links import (
    LinkSigner,
    LinkTarget,
    ShortCodes,
    links_for,
    receipt_path_token,
)
from sync.models import Customer, Receivable
from tests.fakes.sealing import seal
from tests.integration.webhooks.conftest import PUBLIC_URL, seed
from webhooks.signatures import twilio_signature


def sent(app, reminder_id: int, message_id: str, channel: str = "sms") -> None:
    with transaction(app.factory) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.id == reminder_id)
            .values(status="sent", provider_message_id=message_id, channel=channel)
        )


def channel(
    app, org_id: int, provider: str, settings: dict, secrets: dict, name: str = "sms"
) -> str:
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as session:
        config = save_channel(session, box, org_id, name, provider, settings, secrets)
        return f"/hooks/receipts/{config.id}/{receipt_path_token(app.settings.require_secret_key(), config.id)}"


def status(app, reminder_id: int) -> str:
    with app.factory() as session:
        return session.get(Reminder, reminder_id).status


def test_aliyun_report_array_delivers_and_tolerates_duplicates(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "biz-1")
    url = channel(
        app,
        s.org_id,
        "aliyun_sms",
        {"sign_name": "示例", "templates": {"reminder": "SMS_1"}},
        {"access_key_id": "LTAIexample", "access_key_secret": "secret-abcdef"},
    )
    report = [
        {"biz_id": "biz-1", "success": True, "err_code": "DELIVERED", "phone_number": "1380"},
        {"biz_id": "unknown", "success": False, "err_code": "X"},
    ]
    for _ in range(2):
        response = client.post(url, json=report)
        assert response.status_code == 200 and response.json == {"code": 0, "msg": "ok"}
    assert status(app, s.reminder_id) == "delivered"
    with app.factory() as session:
        assert session.scalars(
            select(Event.kind).where(Event.kind == "reminder.delivered")
        ).all() == ["reminder.delivered"]
    # a late "failed" never downgrades a delivered message
    client.post(url, json=[{"biz_id": "biz-1", "success": False, "err_code": "MK:0001"}])
    assert status(app, s.reminder_id) == "delivered"


def test_receipt_url_with_a_wrong_token_or_another_orgs_id_is_refused(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "biz-1")
    url = channel(
        app,
        s.org_id,
        "aliyun_sms",
        {"sign_name": "示例", "templates": {"reminder": "SMS_1"}},
        {"access_key_id": "LTAIexample", "access_key_secret": "secret-abcdef"},
    )
    bad = client.post(url[:-4] + "0000", json=[{"biz_id": "biz-1", "success": True}])
    assert bad.status_code == 404
    assert status(app, s.reminder_id) == "sent"


def test_tencent_status_callback_fails_the_row(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "sid-9")
    url = channel(
        app,
        s.org_id,
        "tencent_sms",
        {"sdk_app_id": "1400000000", "sign_name": "示例", "templates": {"reminder": "1"}},
        {"secret_id": "AKIDexample", "secret_key": "secret-abcdef"},
    )
    response = client.post(
        url, json=[{"sid": "sid-9", "report_status": "FAIL", "errmsg": "MK:0005"}]
    )
    assert response.status_code == 200
    assert status(app, s.reminder_id) == "failed"


def twilio_channel(app, org_id: int) -> str:
    """A Twilio SMS channel signing with `twilio-token-1`; returns its receipt URL."""
    return channel(
        app,
        org_id,
        "twilio",
        {"account_sid": "AC123", "from": "+15005550006"},
        {"auth_token": "twilio-token-1"},
    )


def test_twilio_callback_needs_a_valid_signature(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "SM123")
    url = twilio_channel(app, s.org_id)
    form = {"MessageSid": "SM123", "MessageStatus": "delivered", "To": "+8613800000000"}
    forged = client.post(url, data=form, headers={"X-Twilio-Signature": "bm9wZQ=="})
    assert forged.status_code == 401
    sig = twilio_signature("twilio-token-1", PUBLIC_URL + url, {k: [v] for k, v in form.items()})
    ok = client.post(url, data=form, headers={"X-Twilio-Signature": sig})
    assert ok.status_code == 204
    assert status(app, s.reminder_id) == "delivered"


def twilio_json_callback(url: str, body: bytes, token: str) -> tuple[str, str]:
    """The request Twilio makes for a JSON body: bodySHA256 in the URL, the URL signed alone;
    computed with Twilio's own RequestValidator."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    signed_url = f"{url}?bodySHA256={validator.compute_hash(body.decode())}"
    return signed_url, validator.compute_signature(PUBLIC_URL + signed_url, {})


def test_twilio_json_status_callback_is_checked_against_body_sha256(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "SM456")
    url = twilio_channel(app, s.org_id)
    body = json.dumps({"MessageSid": "SM456", "MessageStatus": "delivered"}).encode()
    signed_url, sig = twilio_json_callback(url, body, "twilio-token-1")
    headers = {"X-Twilio-Signature": sig, "Content-Type": "application/json"}

    tampered = body.replace(b"SM456", b"SM999").replace(b"delivered", b"failed")
    refused = client.post(signed_url, data=tampered, headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "bad_signature"
    assert status(app, s.reminder_id) == "sent"

    # The URL alone signed: a JSON body without bodySHA256 binds nothing and is refused.
    bare = client.post(
        url,
        data=body,
        headers={
            **headers,
            "X-Twilio-Signature": twilio_signature("twilio-token-1", PUBLIC_URL + url, {}),
        },
    )
    assert bare.status_code == 401
    assert status(app, s.reminder_id) == "sent"

    ok = client.post(signed_url, data=body, headers=headers)
    assert ok.status_code == 204, ok.get_data(as_text=True)
    assert status(app, s.reminder_id) == "delivered"


def test_twilio_json_callback_with_a_bad_body_is_a_clear_4xx(app, client):
    s = seed(app)
    url = twilio_channel(app, s.org_id)
    for body in (b"not json", b"[1, 2]", b'{"MessageStatus": "delivered"}'):
        signed_url, sig = twilio_json_callback(url, body, "twilio-token-1")
        response = client.post(signed_url, data=body, headers={"X-Twilio-Signature": sig})
        assert response.status_code == 422, body
        assert response.get_json()["error"]["code"] == "bad_payload"
    # A forged signature header with non-ASCII text is a mismatch, not a crash.
    signed_url, _ = twilio_json_callback(url, b"{}", "twilio-token-1")
    odd = client.post(signed_url, data=b"{}", headers={"X-Twilio-Signature": "签名"})
    assert odd.status_code == 401


def test_wechat_template_event_in_safe_mode(app, client):
    from webhooks.signatures import wx_aes_key, wx_signature

    s = seed(app)
    sent(app, s.reminder_id, "200163836", channel="wechat")
    aes = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    url = channel(
        app,
        s.org_id,
        "wechat_template",
        {"app_id": "wx5823bf96d3bd56c7", "templates": {}},
        {"app_secret": "wechat-secret-1", "callback_token": "QDG6eK", "encoding_aes_key": aes},
        name="wechat",
    )
    inner = (
        b"<xml><ToUserName>gh</ToUserName><Event>TEMPLATESENDJOBFINISH</Event>"
        b"<MsgID>200163836</MsgID><Status>success</Status></xml>"
    )
    encrypt = seal(wx_aes_key(aes), inner, b"wx5823bf96d3bd56c7")
    stamp, nonce = str(int(time.time())), "263014780"
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
    bad = client.post(f"{url}?timestamp={stamp}&nonce={nonce}&msg_signature=00", data=body)
    assert bad.status_code == 401
    sig = wx_signature("QDG6eK", stamp, nonce, encrypt)
    ok = client.post(f"{url}?timestamp={stamp}&nonce={nonce}&msg_signature={sig}", data=body)
    assert ok.status_code == 200 and ok.get_data() == b"success"
    assert status(app, s.reminder_id) == "delivered"


def token_for(app, s, reminder: bool = True) -> str:
    signer = LinkSigner(app.settings.require_secret_key())
    return signer.sign(LinkTarget(s.org_id, s.customer_id, s.reminder_id if reminder else 0))


def test_click_records_and_redirects_only_to_the_invoices_own_payment_url(app, client):
    s = seed(app)
    sent(app, s.reminder_id, "m-1", channel="email")
    response = client.get(f"/c/{token_for(app, s)}?next=https://evil.example")
    assert response.status_code == 303
    assert response.headers["Location"] == "https://pay.example.com/invoice/1234"
    assert status(app, s.reminder_id) == "clicked"
    with transaction(app.factory) as session:  # a javascript: URL in the source is never followed
        session.execute(update(Receivable).values(payment_url="javascript:alert(1)"))
    again = client.get(f"/c/{token_for(app, s)}")
    assert again.headers["Location"].startswith("/s/")


def test_tampered_and_expired_links_are_refused(app, client, monkeypatch):
    s = seed(app)
    token = token_for(app, s)
    assert client.get(f"/s/{token[:-2]}xx").status_code == 404
    assert client.get(f"/s/{token}").status_code == 200
    original = LinkSigner.read

    def read_expired(self, tok):
        self.max_age_seconds = -1  # every token is now older than its limit
        return original(self, tok)

    monkeypatch.setattr(LinkSigner, "read", read_expired)
    assert client.get(f"/s/{token}").status_code == 410


def csrf_from(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def test_self_service_page_actions(app, client):
    s = seed(app)
    token = token_for(app, s)
    page = client.get(f"/s/{token}?lang=en")
    assert page.status_code == 200 and b"INV/0" in page.data and b"I have paid" in page.data
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    zh = client.get(f"/s/{token}")
    assert "我已付款".encode() in zh.data and "¥1,280.00".encode() in zh.data
    csrf = csrf_from(page.data)
    # without the CSRF token a form post is refused
    assert client.post(f"/s/{token}/paid").status_code == 400
    by = (date.today() + timedelta(days=5)).isoformat()
    promised = client.post(f"/s/{token}/promise", data={"date": by, "csrf_token": csrf})
    assert promised.status_code == 303
    too_far = client.post(f"/s/{token}/promise", data={"date": "2999-01-01", "csrf_token": csrf})
    assert too_far.status_code == 422
    disputed = client.post(
        f"/s/{token}/dispute",
        data={"invoice": str(s.receivable_id), "reason": "货物破损", "csrf_token": csrf},
    )
    assert disputed.status_code == 303
    channels = client.post(f"/s/{token}/channels", data={"opt_out": ["sms"], "csrf_token": csrf})
    assert channels.status_code == 303
    with app.factory() as session:
        customer = session.get(Customer, s.customer_id)
        assert customer.promised_on.isoformat() == by and customer.paused_until.isoformat() == by
        assert customer.opted_out_channels == ["sms"]
        assert session.get(Receivable, s.receivable_id).status == "disputed"
        assert session.get(Reminder, s.reminder_id).status == "cancelled"
        tasks = session.scalars(select(Task.summary).where(Task.customer_id == s.customer_id)).all()
        kinds = set(
            session.scalars(select(Event.kind).where(Event.actor == f"customer:{s.customer_id}"))
        )
    assert len(tasks) == 2 and any("破损" in t for t in tasks)
    assert {"customer.promised", "receivable.disputed", "customer.channels_changed"} <= kinds


def test_a_link_of_org_a_cannot_touch_org_b(app, client):
    a = seed(app)
    b = seed(app, "other", "777", n=1)
    forged = LinkSigner(app.settings.require_secret_key()).sign(
        LinkTarget(a.org_id, b.customer_id, 0)
    )
    assert client.get(f"/s/{forged}").status_code == 404
    page = client.get(f"/s/{token_for(app, a)}")
    csrf = csrf_from(page.data)
    response = client.post(
        f"/s/{token_for(app, a)}/dispute",
        data={"invoice": str(b.receivable_id), "reason": "x", "csrf_token": csrf},
    )
    assert response.status_code == 422
    with app.factory() as session:
        assert session.get(Receivable, b.receivable_id).status == "open"


def test_one_click_unsubscribe(app, client):
    s = seed(app)
    response = client.post(f"/u/{token_for(app, s)}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.factory() as session:
        assert session.get(Customer, s.customer_id).opted_out_channels == ["email"]


def test_dispatch_puts_signed_links_into_the_message(app):
    from datetime import UTC, datetime

    from reminders.sending.dispatch import send_due
    from tests.integration.webhooks.test_payments import SlowChannel

    s = seed(app)
    app_with_links = type(app)(app.settings.model_copy(update={"public_url": PUBLIC_URL}))
    captured = []

    class Capture(SlowChannel):
        def send(self, message):
            captured.append(message)
            return super().send(message)

    send_due(
        app.factory,
        "acme",
        datetime.now(UTC),
        lambda _n: Capture(),
        links=links_for(app_with_links.settings),
    )
    url = captured[0].variables["self_service_url"]
    assert url.startswith(PUBLIC_URL + "/s/")
    target = LinkSigner(app.settings.require_secret_key()).read(url.rsplit("/", 1)[1])
    assert (target.customer_id, target.reminder_id) == (s.customer_id, s.reminder_id)
    assert captured[0].variables["unsubscribe_url"].startswith(PUBLIC_URL + "/u/")
    # and the message itself shows them: the email its page, pay and unsubscribe links, the
    # short text (SMS, chat) one short link
    variables, message = captured[0].variables, captured[0]
    for key in ("self_service_url", "click_url", "unsubscribe_url"):
        assert variables[key] in message.text and variables[key] in message.html
    assert variables["short_url"].startswith(PUBLIC_URL + "/m/")
    assert message.short.count("http") == 1 and variables["short_url"] in message.short


def test_sms_short_link_opens_the_self_service_page(app, client):
    s = seed(app)
    other = seed(app, "other", "777", n=1)
    codes = ShortCodes(app.settings.require_secret_key())
    code = codes.code(LinkTarget(s.org_id, s.customer_id, s.reminder_id))
    response = client.get(f"/m/{code}")
    assert response.status_code == 303 and response.headers["Location"].startswith("/s/")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "我已付款".encode() in page.data
    org, reminder, mac = code.split(".")
    forged = [
        f"{org}.{reminder}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # a changed MAC
        f"{int(other.org_id):x}.{reminder}.{mac}",  # the same reminder claimed by another org
        codes.code(LinkTarget(s.org_id, other.customer_id, s.reminder_id)),  # another customer
        "nonsense",
        "zzzzzzzzzzzzzzzzzzzz.1.x",  # past BIGINT
        "-1.-1.x",
    ]
    for bad in forged:
        refused = client.get(f"/m/{bad}")
        assert refused.status_code == 404 and refused.json["error"]["code"] == "bad_link", bad
    with transaction(app.factory) as session:
        session.execute(
            update(Reminder)
            .where(Reminder.id == s.reminder_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=365))
        )
    assert client.get(f"/m/{code}").status_code == 410


def opt_out_choices(page: bytes) -> list[tuple[str, str]]:
    """(value, label) of each opt-out checkbox on the self-service page."""
    found = re.findall(rb'name="opt_out" value="([^"]+)"[^>]*> ([^<]+)</label>', page)
    return [(v.decode(), label.decode().strip()) for v, label in found]


def test_opt_out_lists_the_customers_own_channels_by_name_in_the_pages_language(app, client):
    s = seed(app)  # the customer has an email address only
    token = token_for(app, s)
    assert opt_out_choices(client.get(f"/s/{token}").data) == [
        ("email", "不再通过此方式提醒: 电子邮件")
    ]
    with transaction(app.factory) as session:
        customer = session.get(Customer, s.customer_id)
        customer.mobile, customer.wecom_userid = "+8613800000000", "zhangwei"
        customer.opted_out_channels = ["dingtalk"]  # from before its contact point went away
    english = opt_out_choices(client.get(f"/s/{token}?lang=en").data)
    assert english == [
        ("email", "Stop reminders on this channel: Email"),
        ("sms", "Stop reminders on this channel: Text message (SMS)"),
        ("wecom", "Stop reminders on this channel: WeCom"),
    ]
    page = client.get(f"/s/{token}")
    saved = client.post(
        f"/s/{token}/channels", data={"opt_out": ["sms"], "csrf_token": csrf_from(page.data)}
    )
    assert saved.status_code == 303
    with app.factory() as session:  # the opt-out the page did not show is kept
        assert session.get(Customer, s.customer_id).opted_out_channels == ["dingtalk", "sms"]
    unsubscribe = client.get(f"/u/{token}?lang=en")
    assert b"(Email)" in unsubscribe.data
