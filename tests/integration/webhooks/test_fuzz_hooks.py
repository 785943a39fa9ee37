"""Fuzz every inbound endpoint through the Flask test client, signed where the sender signs, so
the body reaches the parser: payment hooks (Odoo, Jiandaoyun, generic), delivery receipts of
each provider, data-change pushes (Xbongbong, YonSuite) and customer links. Whatever arrives,
the answer is below 500 and JSON where the endpoint speaks JSON."""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from reminders.sending.links import LinkSigner, LinkTarget
from sync.models import Source
from tests.fakes import xbongbong, yonsuite
from tests.integration.webhooks.conftest import PUBLIC_URL, seed
from tests.integration.webhooks.test_payments import generic_headers, odoo_body
from tests.integration.webhooks.test_pushes import box_of, xbb, ys  # noqa: F401 (fixtures)
from tests.integration.webhooks.test_receipts_and_links import channel, sent
from webhooks.signatures import jiandaoyun_signature, twilio_signature, wx_signature

HOOKS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Item 4 (input bounds of public endpoints) is another branch: JSON nesting depth, ids beyond
# 64 bits and huge amounts are its input classes, so values here stay shallow, ints within
# int64 and floats within ±1e12.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(min_value=-1e12, max_value=1e12)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=12,
)
RECORD_KEYS = [
    "id",
    "_id",
    "amount_residual",
    "payment_state",
    "state",
    "name",
    "amount_total",
    "invoice_date_due",
    "currency_id",
    "partner_id",
    "write_date",
]
records = st.dictionaries(st.sampled_from(RECORD_KEYS) | st.text(max_size=8), values, max_size=8)
raw_bodies = st.binary(max_size=120) | st.text(max_size=120).map(str.encode)


def _ok(response, json_expected: bool = True) -> None:
    assert response.status_code != 429  # each example comes from its own address (fresh_address)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if json_expected and response.status_code >= 400:
        assert response.is_json and response.json["error"]["code"], response.get_data()[:300]


ADDRESSES = itertools.count(1)


def fresh_address(client) -> None:
    """Public endpoints are rate limited per client address; the limiter is not what is tested
    here, so every example comes from an address of its own."""
    n = next(ADDRESSES)
    client.environ_base["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _odoo_like(record: dict[str, Any]) -> dict[str, Any]:
    return {**odoo_body("1234", 0.0, "paid"), **record}


@pytest.fixture
def seeded(app):
    return seed(app)


@HOOKS
@given(body=records.map(_odoo_like) | records | values, raw=raw_bodies, use_raw=st.booleans())
def test_payment_hooks_answer_below_500(client, seeded, body, raw, use_raw):
    s = seeded
    fresh_address(client)
    data = raw if use_raw else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    _ok(client.post(f"/hooks/odoo/{s.source_id}/{s.secret}", data=data, headers=headers))

    stamp = str(int(time.time()))
    jdy = data if use_raw else json.dumps({"op": "data_update", "data": body}).encode()
    signed = {
        **headers,
        "X-JDY-Signature": jiandaoyun_signature("n1", jdy, s.secret, stamp),
        "X-JDY-DeliverId": uuid.uuid4().hex,
    }
    url = f"/hooks/jiandaoyun/{s.source_id}?nonce=n1&timestamp={stamp}"
    _ok(client.post(url, data=jdy, headers=signed))

    generic = data if use_raw else json.dumps({"record": body}).encode()
    url = f"/hooks/payments/{s.source_id}"
    _ok(
        client.post(url, data=generic, headers=generic_headers(s.secret, generic, uuid.uuid4().hex))
    )


@pytest.fixture
def receipt_urls(app):
    s = seed(app)
    sent(app, s.reminder_id, "biz-1")
    aliyun = channel(
        app,
        s.org_id,
        "aliyun_sms",
        {"sign_name": "示例", "templates": {"reminder": "SMS_1"}},
        {"access_key_id": "LTAIexample", "access_key_secret": "secret-abcdef"},
        name="sms",
    )
    tencent = channel(
        app,
        s.org_id,
        "tencent_sms",
        {"sdk_app_id": "1400000000", "sign_name": "示例", "templates": {"reminder": "1"}},
        {"secret_id": "AKIDexample", "secret_key": "secret-abcdef"},
        name="push",
    )
    twilio = channel(
        app,
        s.org_id,
        "twilio",
        {"account_sid": "AC123", "from": "+15005550006"},
        {"auth_token": "twilio-token-1"},
        name="dingtalk",
    )
    wechat = channel(
        app,
        s.org_id,
        "wechat_template",
        {"app_id": "wx5823bf96d3bd56c7", "templates": {}},
        {
            "app_secret": "wechat-secret-1",
            "callback_token": "QDG6eK",
            "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        },
        name="wechat",
    )
    webhook = channel(
        app,
        s.org_id,
        "webhook",
        {"url": "https://hooks.example.com/in"},
        {"signing_secret": "whsec-fuzz-1"},
        name="webhook",
    )
    return {
        "aliyun": aliyun,
        "tencent": tencent,
        "twilio": twilio,
        "wechat": wechat,
        "webhook": webhook,
    }


RECEIPT_KEYS = [
    "biz_id",
    "out_id",
    "success",
    "err_code",
    "sid",
    "report_status",
    "message_id",
    "status",
]
receipt_items = st.dictionaries(
    st.sampled_from(RECEIPT_KEYS) | st.text(max_size=6), values, max_size=5
)
WX_TAGS = ["ToUserName", "Event", "MsgID", "Status", "TaskId", "EventKey", "Encrypt", "x"]
wx_bodies = st.dictionaries(
    st.sampled_from(WX_TAGS),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
    max_size=5,
).map(
    lambda d: (
        "<xml>"
        + "".join(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in d.items())
        + "</xml>"
    )
)


@HOOKS
@given(
    payload=st.lists(receipt_items, max_size=3) | receipt_items | values,
    form=st.dictionaries(
        st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode"])
        | st.text(min_size=1, max_size=6),
        st.text(max_size=12),
        max_size=4,
    ),
    xml=wx_bodies | st.text(max_size=80),
    raw=raw_bodies,
    sealed=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=90
    )
    | st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20).filter(
        lambda t: "]]>" not in t
    ),
)
def test_receipts_answer_below_500(client, receipt_urls, payload, form, xml, raw, sealed):
    fresh_address(client)
    for provider in ("aliyun", "tencent"):
        _ok(client.post(receipt_urls[provider], json=payload))
        _ok(
            client.post(
                receipt_urls[provider], data=raw, headers={"Content-Type": "application/json"}
            )
        )
    body = json.dumps(payload).encode()
    url = receipt_urls["webhook"]
    _ok(
        client.post(url, data=body, headers=generic_headers("whsec-fuzz-1", body, uuid.uuid4().hex))
    )
    url = receipt_urls["twilio"]
    signature = twilio_signature(
        "twilio-token-1", PUBLIC_URL + url, {k: [v] for k, v in form.items()}
    )
    _ok(client.post(url, data=form, headers={"X-Twilio-Signature": signature}))
    stamp, nonce = str(int(time.time())), "263014780"
    query = f"timestamp={stamp}&nonce={nonce}&signature={wx_signature('QDG6eK', stamp, nonce)}"
    for data in (xml.encode(), raw):
        response = client.post(f"{receipt_urls['wechat']}?{query}", data=data)
        _ok(response)
    # safe mode, correctly signed, so the sealed part reaches the decryption
    signed = {"timestamp": stamp, "nonce": nonce, "echostr": sealed}
    signed["msg_signature"] = wx_signature("QDG6eK", stamp, nonce, sealed)
    _ok(client.get(receipt_urls["wechat"], query_string=signed))
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>"
    _ok(client.post(receipt_urls["wechat"], query_string=signed, data=body.encode()))


@pytest.fixture
def push_sources(app, xbb, ys):  # noqa: F811
    from tests.integration.sync.conftest import add_rest_source

    credentials = {
        "corpid": xbongbong.CORPID,
        "token": xbongbong.TOKEN,
        "webhook_token": xbongbong.WEBHOOK_TOKEN,
    }
    add_rest_source(
        app,
        box_of(app),
        "xbb",
        "xbongbong",
        {"url": xbb.url, "customer_form_id": xbongbong.CUSTOMER_FORM},
        credentials,
    )
    add_rest_source(
        app,
        box_of(app),
        "ys",
        "yonsuite",
        {"url": ys.url, "token_url": ys.url},
        {"app_key": yonsuite.APP_KEY, "app_secret": yonsuite.APP_SECRET},
    )
    with app.factory() as session:
        return dict(session.execute(select(Source.name, Source.id)).all())


PUSH_KEYS = ["formId", "operate", "corpid", "dataId", "type", "saasMark", "eventId", "tenantId"]
push_events = st.dictionaries(st.sampled_from(PUSH_KEYS) | st.text(max_size=6), values, max_size=6)


@HOOKS
@given(
    event=push_events,
    kind=st.sampled_from(["payment", "customer", "contract", "x"]),
    raw=raw_bodies,
)
def test_pushes_answer_below_500(web, client, push_sources, xbb, event, kind, raw):  # noqa: F811
    import hashlib

    fresh_address(client)
    url = f"/hooks/push/{push_sources['xbb']}"
    base, _ = xbongbong.data_push(xbb.payments[0], kind)
    for payload in ({**json.loads(base), **event}, event):
        body = json.dumps(payload, separators=(",", ":")).encode()
        sign = hashlib.sha256(body + xbongbong.WEBHOOK_TOKEN.encode()).hexdigest()
        _ok(client.post(url, data=body, headers={"sign": sign, "Content-Type": "application/json"}))
    _ok(client.post(url, data=raw, headers={"sign": "0", "Content-Type": "application/json"}))

    url = f"/hooks/push/{push_sources['ys']}"
    _ok(client.post(url, json=yonsuite.event_push(event)), json_expected=False)
    _ok(client.post(url, json=event))
    envelope = {**yonsuite.event_push({"type": "RECEIPT_AUDIT"}), **event}
    _ok(client.post(url, json=envelope))
    syncs = web.extensions.get("dunlin_push_syncs")
    if syncs is not None:
        syncs.inline.wait()


ACTIONS = ["paid", "promise", "dispute", "channels", "nope"]
forms = st.dictionaries(
    st.sampled_from(["date", "invoice", "reason", "opt_out", "prefer"]),
    # an invoice id beyond 64 bits is item 4's input class (another branch): not drawn here
    st.text(max_size=20) | st.sampled_from(["2026-13-01", "2026-12-31", "-1", "0", "sms", ""]),
    max_size=4,
)


@HOOKS
@given(
    token=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"),
        max_size=60,
    ),
    action=st.sampled_from(ACTIONS),
    form=forms,
    lang=st.text(max_size=6),
)
def test_links_answer_below_500(app, client, seeded, token, action, form, lang):
    s = seeded
    fresh_address(client)
    for path in (f"/c/{token}", f"/s/{token}", f"/u/{token}"):
        assert client.get(path).status_code < 500
    good = LinkSigner(app.settings.require_secret_key()).sign(
        LinkTarget(s.org_id, s.customer_id, s.reminder_id)
    )
    page = client.get(f"/s/{good}", query_string={"lang": lang})
    assert page.status_code == 200
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    response = client.post(f"/s/{good}/{action}", data={**form, "csrf_token": csrf})
    assert response.status_code < 500, response.get_data(as_text=True)[:300]


def test_a_date_far_out_of_range_in_a_payment_is_not_a_500(client, seeded):
    """Found by the fuzz pass: a negative int64 (or 1e17) in a date field of a payment record
    raised OSError/OverflowError from datetime.fromtimestamp: a 500 that Odoo never resends."""
    for due in (-(2**63), 1e17):
        body = {**odoo_body("1234", 0.0, "paid"), "invoice_date_due": due}
        response = client.post(f"/hooks/odoo/{seeded.source_id}/{seeded.secret}", json=body)
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
