"""Provider channels over `responses`: the request each sends, and how each answer is classified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reminders.sending.channels.aliyun_sms import AliyunSms
from reminders.sending.channels.base import Outcome, OutgoingMessage
from reminders.sending.channels.dingtalk import DingtalkRobot, DingtalkWorkNotice
from reminders.sending.channels.fcm import FcmPush
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.jpush import JPush
from reminders.sending.channels.tencent_sms import TencentSms
from reminders.sending.channels.twilio_sms import TwilioSms
from reminders.sending.channels.webhook import WebhookChannel
from reminders.sending.channels.wechat import WechatTemplate
from reminders.sending.channels.wecom import WecomApp, WecomRobot

VECTORS = Path(__file__).resolve().parents[4] / "fixtures" / "vectors"
VARIABLES = {"customer_name": "华东贸易", "total": "¥1,234.50", "days_overdue": "10"}


def msg(recipient: str = "+8613800138000", template: str = "reminder") -> OutgoingMessage:
    return OutgoingMessage(
        key="r7:overdue-10:sms",
        channel="sms",
        recipient=recipient,
        locale="zh_CN",
        subject="付款提醒",
        text="您有 ¥1,234.50 逾期未付。\n",
        html="<p>您有 ¥1,234.50 逾期未付。</p>",
        short="您有 ¥1,234.50 逾期未付。",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        metadata={"reminder_id": 7},
        template=template,
        variables=VARIABLES,
    )


@pytest.fixture
def ctx(tmp_path) -> ChannelContext:
    return ChannelContext(outbox_dir=tmp_path)


# --- Aliyun -------------------------------------------------------------------------------


def aliyun(ctx, **extra):
    settings = {
        "access_key_id": "LTAI5tTest",
        "sign_name": "Acme",
        "templates": {"reminder": "SMS_001"},
        "params": {"name": "customer_name", "amount": "total"},
        **extra,
    }
    return AliyunSms("sms", settings, {"access_key_secret": "secret"}, ctx)


@responses.activate
def test_aliyun_sends_signed_query_with_string_params_and_keeps_bizid(ctx):
    responses.post("https://dysmsapi.aliyuncs.com/", json={"Code": "OK", "BizId": "biz-9"})
    result = aliyun(ctx).send(msg())
    assert result.outcome is Outcome.SENT and result.provider_message_id == "biz-9"
    request = responses.calls[0].request
    query = parse_qs(urlsplit(request.url).query)
    assert json.loads(query["TemplateParam"][0]) == {"name": "华东贸易", "amount": "¥1,234.50"}
    assert query["TemplateCode"] == ["SMS_001"] and query["OutId"] == ["7"]
    assert request.headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI5tTest,")
    assert request.headers["x-acs-action"] == "SendSms"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", Outcome.RETRY_TOMORROW),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", Outcome.RETRY_LATER),
        ("isv.MOBILE_NUMBER_ILLEGAL", "bad", Outcome.PERMANENT_RECIPIENT),
        ("isv.OUT_OF_SERVICE", "arrears", Outcome.CHANNEL_BROKEN),
        ("isv.SMS_TEMPLATE_ILLEGAL", "bad template", Outcome.CHANNEL_BROKEN),
        ("isp.SYSTEM_ERROR", "busy", Outcome.RETRY_LATER),
    ],
)
@responses.activate
def test_aliyun_business_failures_in_http_200_are_classified(ctx, code, message, expected):
    responses.post("https://dysmsapi.aliyuncs.com/", json={"Code": code, "Message": message})
    result = aliyun(ctx).send(msg())
    assert result.outcome is expected and code in result.detail


@responses.activate
def test_aliyun_without_a_mapped_template_is_a_config_break_without_a_call(ctx):
    result = aliyun(ctx).send(msg(template="final-notice"))
    assert result.outcome is Outcome.CHANNEL_BROKEN and "final-notice" in result.detail
    assert len(responses.calls) == 0


@responses.activate
def test_transport_failures_split_by_whether_the_request_left(ctx):
    responses.post("https://dysmsapi.aliyuncs.com/", body=requests.ConnectTimeout("no route"))
    assert aliyun(ctx).send(msg()).outcome is Outcome.RETRY_LATER
    responses.replace(
        responses.POST, "https://dysmsapi.aliyuncs.com/", body=requests.ReadTimeout("slow")
    )
    assert aliyun(ctx).send(msg()).outcome is Outcome.UNKNOWN


# --- Tencent ------------------------------------------------------------------------------


def tencent(ctx):
    settings = {
        "secret_id": "AKIDtest",
        "sdk_app_id": "1400000000",
        "sign_name": "Acme",
        "templates": {"reminder": "100001"},
        "params": ["customer_name", "total"],
    }
    return TencentSms("sms", settings, {"secret_key": "key"}, ctx)


@responses.activate
def test_tencent_positional_params_ascii_body_and_per_number_status(ctx):
    responses.post(
        "https://sms.tencentcloudapi.com/",
        json={"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": "s-1"}]}},
    )
    result = tencent(ctx).send(msg())
    assert result.outcome is Outcome.SENT and result.provider_message_id == "s-1"
    request = responses.calls[0].request
    assert request.body.isascii()  # ensure_ascii, as the SDK signs it
    body = json.loads(request.body)
    assert body["TemplateParamSet"] == ["华东贸易", "¥1,234.50"]
    assert body["PhoneNumberSet"] == ["+8613800138000"]
    assert request.headers["X-TC-Action"] == "SendSms"
    assert ", SignedHeaders=content-type;host, Signature=" in request.headers["Authorization"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit"}]},
            Outcome.RETRY_TOMORROW,
        ),
        (
            {"SendStatusSet": [{"Code": "FailedOperation.PhoneNumberInBlacklist"}]},
            Outcome.PERMANENT_RECIPIENT,
        ),
        ({"Error": {"Code": "AuthFailure.SignatureFailure"}}, Outcome.CHANNEL_BROKEN),
        ({"Error": {"Code": "RequestLimitExceeded"}}, Outcome.RETRY_LATER),
    ],
)
@responses.activate
def test_tencent_failures_are_classified(ctx, answer, expected):
    responses.post("https://sms.tencentcloudapi.com/", json={"Response": answer})
    assert tencent(ctx).send(msg()).outcome is expected


# --- Twilio -------------------------------------------------------------------------------

TWILIO = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"


def twilio(ctx):
    settings = {"account_sid": "AC1", "from": "+15005550006", "status_callback": "https://d/cb"}
    return TwilioSms("sms", settings, {"auth_token": "tok"}, ctx)


@responses.activate
def test_twilio_form_post_with_basic_auth_and_callback(ctx):
    responses.post(TWILIO, status=201, json={"sid": "SM1", "status": "queued"})
    result = twilio(ctx).send(msg())
    assert result.outcome is Outcome.SENT and result.provider_message_id == "SM1"
    request = responses.calls[0].request
    form = parse_qs(request.body)
    assert form["To"] == ["+8613800138000"] and form["StatusCallback"] == ["https://d/cb"]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC1:tok").decode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 21610, Outcome.PERMANENT_RECIPIENT),
        (400, 21211, Outcome.PERMANENT_RECIPIENT),
        (401, 20003, Outcome.CHANNEL_BROKEN),
        (400, 21608, Outcome.CHANNEL_BROKEN),
        (429, 20429, Outcome.RETRY_LATER),
        (503, 0, Outcome.RETRY_LATER),
    ],
)
@responses.activate
def test_twilio_errors(ctx, status, code, expected):
    responses.post(TWILIO, status=status, json={"code": code, "message": "x"})
    assert twilio(ctx).send(msg()).outcome is expected


# --- WeCom --------------------------------------------------------------------------------

WECOM_TOKEN = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"
WECOM_SEND = "https://qyapi.weixin.qq.com/cgi-bin/message/send"


def wecom(ctx):
    return WecomApp("wecom", {"corp_id": "ww1", "agent_id": "1000002"}, {"secret": "s"}, ctx)


@responses.activate
def test_wecom_token_is_cached_across_sends_and_refreshed_once_on_42001(ctx):
    responses.get(WECOM_TOKEN, json={"errcode": 0, "access_token": "T1", "expires_in": 7200})
    responses.post(WECOM_SEND, json={"errcode": 0, "msgid": "m1"})
    channel = wecom(ctx)
    assert channel.send(msg("zhangsan")).outcome is Outcome.SENT
    assert channel.send(msg("lisi")).outcome is Outcome.SENT
    assert [c.request.method for c in responses.calls] == ["GET", "POST", "POST"]
    body = json.loads(responses.calls[1].request.body)
    assert body["touser"] == "zhangsan" and body["agentid"] == 1000002
    assert body["msgtype"] == "textcard"

    responses.replace(responses.POST, WECOM_SEND, json={"errcode": 42001, "errmsg": "expired"})
    responses.add(responses.POST, WECOM_SEND, json={"errcode": 0, "msgid": "m3"})
    responses.replace(
        responses.GET, WECOM_TOKEN, json={"errcode": 0, "access_token": "T2", "expires_in": 7200}
    )
    assert channel.send(msg("wangwu")).outcome is Outcome.SENT
    assert "access_token=T2" in responses.calls[-1].request.url


@responses.activate
def test_wecom_token_refused_twice_is_broken_not_a_loop(ctx):
    responses.get(WECOM_TOKEN, json={"errcode": 0, "access_token": "T1", "expires_in": 7200})
    responses.post(WECOM_SEND, json={"errcode": 40014, "errmsg": "invalid token"})
    result = wecom(ctx).send(msg("zhangsan"))
    assert result.outcome is Outcome.CHANNEL_BROKEN
    assert sum(1 for c in responses.calls if c.request.method == "POST") == 2


@responses.activate
def test_wecom_invalid_user_is_permanent_and_bad_secret_is_broken(ctx):
    responses.get(WECOM_TOKEN, json={"errcode": 0, "access_token": "T1", "expires_in": 7200})
    responses.post(WECOM_SEND, json={"errcode": 0, "invaliduser": "ghost"})
    assert wecom(ctx).send(msg("ghost")).outcome is Outcome.PERMANENT_RECIPIENT
    fresh = ChannelContext(outbox_dir=ctx.outbox_dir)
    responses.replace(responses.GET, WECOM_TOKEN, json={"errcode": 40001, "errmsg": "bad secret"})
    assert wecom(fresh).send(msg("x")).outcome is Outcome.CHANNEL_BROKEN


def test_wecom_enforces_the_per_member_limits():
    assert [(lim.count, lim.seconds) for lim in WecomApp.recipient_limits] == [
        (30, 60),
        (1000, 3600),
    ]


@responses.activate
def test_wecom_robot_checks_errcode_in_http_200(ctx):
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    responses.post(url, json={"errcode": 45009, "errmsg": "freq"})
    robot = WecomRobot("wecom", {}, {"key": "K"}, ctx)
    assert robot.send(msg()).outcome is Outcome.RETRY_LATER
    assert "key=K" in responses.calls[0].request.url


# --- WeChat -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [(0, Outcome.SENT), (43004, Outcome.PERMANENT_RECIPIENT), (40037, Outcome.CHANNEL_BROKEN)],
)
@responses.activate
def test_wechat_template_message(ctx, errcode, expected):
    responses.post(
        "https://api.weixin.qq.com/cgi-bin/stable_token",
        json={"access_token": "W", "expires_in": 7200},
    )
    responses.post(
        "https://api.weixin.qq.com/cgi-bin/message/template/send",
        json={"errcode": errcode, "errmsg": "x", "msgid": 42},
    )
    settings = {
        "app_id": "wx1",
        "templates": {"reminder": {"code": "TPL", "params": {"thing1": "customer_name"}}},
    }
    result = WechatTemplate("wechat", settings, {"app_secret": "s"}, ctx).send(msg("openid-1"))
    assert result.outcome is expected
    body = json.loads(responses.calls[1].request.body)
    assert body == {
        "touser": "openid-1",
        "template_id": "TPL",
        "data": {"thing1": {"value": "华东贸易"}},
    }


# --- DingTalk -----------------------------------------------------------------------------


@responses.activate
def test_dingtalk_robot_signs_the_url_and_waits_ten_minutes_when_too_fast(ctx):
    responses.post("https://oapi.dingtalk.com/robot/send", json={"errcode": 130101})
    robot = DingtalkRobot("dingtalk", {}, {"access_token": "A", "secret": "SEC1"}, ctx)
    result = robot.send(msg())
    assert result.outcome is Outcome.RETRY_LATER and result.retry_after == 600
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    expected = base64.b64encode(
        hmac.new(b"SEC1", f"{query['timestamp'][0]}\nSEC1".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected] and query["access_token"] == ["A"]


@responses.activate
def test_dingtalk_work_notice_keeps_the_task_id(ctx):
    responses.get("https://oapi.dingtalk.com/gettoken", json={"errcode": 0, "access_token": "D"})
    responses.post(
        "https://oapi.dingtalk.com/topapi/message/corpconversation/asyncsend_v2",
        json={"errcode": 0, "task_id": 99},
    )
    notice = DingtalkWorkNotice(
        "dingtalk", {"app_key": "k", "agent_id": 5}, {"app_secret": "s"}, ctx
    )
    result = notice.send(msg("user1"))
    assert result.outcome is Outcome.SENT and result.provider_message_id == "99"
    assert json.loads(responses.calls[1].request.body)["userid_list"] == "user1"


# --- FCM ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service_account() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "client_email": "push@demo.iam.gserviceaccount.com",
        "private_key": pem,
        "project_id": "demo-dunning",
        "token_uri": "https://oauth2.googleapis.com/token",
        "_public": public,
    }


@responses.activate
def test_fcm_exchanges_a_signed_jwt_then_sends_v1(ctx, service_account):
    responses.post(
        "https://oauth2.googleapis.com/token", json={"access_token": "ya29.X", "expires_in": 3600}
    )
    responses.post(
        "https://fcm.googleapis.com/v1/projects/demo-dunning/messages:send",
        json={"name": "projects/demo-dunning/messages/1"},
    )
    account = {k: v for k, v in service_account.items() if not k.startswith("_")}
    push = FcmPush("push", {}, {"service_account": json.dumps(account)}, ctx)
    result = push.send(msg("device-token"))
    assert result.outcome is Outcome.SENT
    grant = parse_qs(responses.calls[0].request.body)
    claims = jwt.decode(
        grant["assertion"][0],
        service_account["_public"],
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
    )
    assert claims["iss"] == account["client_email"] and claims["exp"] - claims["iat"] == 3600
    send = responses.calls[1].request
    assert send.headers["Authorization"] == "Bearer ya29.X"
    assert json.loads(send.body)["message"]["token"] == "device-token"


@responses.activate
def test_fcm_unregistered_token_is_permanent(ctx, service_account):
    responses.post("https://oauth2.googleapis.com/token", json={"access_token": "t"})
    responses.post(
        "https://fcm.googleapis.com/v1/projects/demo-dunning/messages:send",
        status=404,
        json={
            "error": {
                "status": "NOT_FOUND",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": "UNREGISTERED",
                    }
                ],
            }
        },
    )
    account = {k: v for k, v in service_account.items() if not k.startswith("_")}
    push = FcmPush("push", {}, {"service_account": account}, ctx)
    result = push.send(msg("gone"))
    assert result.outcome is Outcome.PERMANENT_RECIPIENT and "UNREGISTERED" in result.detail


# --- JPush --------------------------------------------------------------------------------


@responses.activate
def test_jpush_basic_auth_matches_the_vector_and_1011_is_permanent(ctx):
    vector = json.loads((VECTORS / "jpush.json").read_text())["vectors"][0]
    given = vector["inputs"]
    responses.post("https://api.jpush.cn/v3/push", json={"sendno": "0", "msg_id": "54"})
    channel = JPush(
        "push", {"app_key": given["app_key"]}, {"master_secret": given["master_secret"]}, ctx
    )
    assert channel.send(msg("160a3797c80d9d1e3f5")).provider_message_id == "54"
    request = responses.calls[0].request
    assert request.headers["Authorization"] == vector["expected"]["basic_auth"]
    assert json.loads(request.body)["audience"] == {"registration_id": ["160a3797c80d9d1e3f5"]}
    responses.replace(
        responses.POST,
        "https://api.jpush.cn/v3/push",
        status=400,
        json={"error": {"code": 1011, "message": "cannot find user"}},
    )
    assert channel.send(msg("x")).outcome is Outcome.PERMANENT_RECIPIENT


# --- Webhook ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Outcome.SENT),
        (410, Outcome.PERMANENT_RECIPIENT),
        (401, Outcome.CHANNEL_BROKEN),
        (408, Outcome.RETRY_LATER),
        (502, Outcome.RETRY_LATER),
    ],
)
@responses.activate
def test_webhook_is_signed_and_classified(ctx, status, expected):
    responses.post("https://hooks.example/r", status=status)
    hook = WebhookChannel(
        "webhook", {"url": "https://hooks.example/r"}, {"signing_secret": "k"}, ctx
    )
    assert hook.send(msg("acct-1")).outcome is expected
    request = responses.calls[0].request
    parts = dict(p.split("=", 1) for p in request.headers["X-Dunlin-Signature"].split(","))
    mac = hmac.new(b"k", parts["t"].encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert parts["v1"] == mac and request.headers["X-Dunlin-Event-Id"] == "r7:overdue-10:sms"


@responses.activate
def test_dingtalk_work_notice_refetches_an_expired_token_once(ctx):
    send = "https://oapi.dingtalk.com/topapi/message/corpconversation/asyncsend_v2"
    responses.get("https://oapi.dingtalk.com/gettoken", json={"errcode": 0, "access_token": "D1"})
    responses.post(send, json={"errcode": 42001, "errmsg": "expired"})
    responses.post(send, json={"errcode": 0, "task_id": 7})
    notice = DingtalkWorkNotice(
        "dingtalk", {"app_key": "k", "agent_id": 5}, {"app_secret": "s"}, ctx
    )
    assert notice.send(msg("user1")).provider_message_id == "7"
    assert [c.request.method for c in responses.calls] == ["GET", "POST", "GET", "POST"]
