"""Customer-facing links from a reminder: the click tracker, the self-service page, unsubscribe.

Tokens are signed and expire (reminders.sending.links); the only redirect goes to the invoice's own
payment URL from our database (http/https only), never to a URL taken from the request.
Forms carry a CSRF token (Flask-WTF); each action is an event and, where a person must act,
a task (reminders.customer_actions).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from dunlin.db import transaction, utcnow
from dunlin.events import record_event
from dunlin.models import Org
from reminders import customer_actions as actions
from reminders.core.zones import customer_zone
from reminders.models import Reminder
from reminders.sending.links import LinkError, LinkSigner, LinkTarget, ShortCodes
from reminders.sending.receipts import Receipt, apply_receipts
from reminders.sending.render import format_day, format_money
from sync.models import Customer
from webhooks.edge import dunlin_app, parse_id, refuse

bp = Blueprint("links", __name__, template_folder="templates")
TEXT = {
    "zh_CN": {
        "title": "付款与账单",
        "open": "未结发票",
        "number": "发票号",
        "due": "到期日",
        "amount": "未付金额",
        "pay": "去付款",
        "paid": "我已付款",
        "promise": "我将在此日期前付款",
        "promise_button": "提交承诺",
        "dispute": "对此发票有异议",
        "reason": "原因",
        "dispute_button": "提交异议",
        "channels": "提醒方式",
        "stop": "不再通过此方式提醒",
        "save": "保存",
        "none": "没有未结发票，谢谢！",
        "done": "已收到，谢谢。",
        "unsubscribed": "已退订该渠道的提醒。",
        "unsubscribe_confirm": "确认不再通过此渠道接收提醒？",
        "confirm": "确认退订",
        "channel_names": {
            "email": "电子邮件",
            "sms": "短信",
            "wecom": "企业微信",
            "wechat": "微信",
            "dingtalk": "钉钉",
            "push": "App 推送通知",
            "webhook": "系统对接",
        },
    },
    "en_US": {
        "title": "Your invoices",
        "open": "Open invoices",
        "number": "Invoice",
        "due": "Due",
        "amount": "Open amount",
        "pay": "Pay now",
        "paid": "I have paid",
        "promise": "I will pay by",
        "promise_button": "Send promise",
        "dispute": "Dispute this invoice",
        "reason": "Reason",
        "dispute_button": "Send dispute",
        "channels": "How we remind you",
        "stop": "Stop reminders on this channel",
        "save": "Save",
        "none": "Nothing is open. Thank you!",
        "done": "Received, thank you.",
        "unsubscribed": "You will no longer get reminders on this channel.",
        "unsubscribe_confirm": "Stop getting reminders on this channel?",
        "confirm": "Unsubscribe",
        "channel_names": {
            "email": "Email",
            "sms": "Text message (SMS)",
            "wecom": "WeCom",
            "wechat": "WeChat",
            "dingtalk": "DingTalk",
            "push": "App notification",
            "webhook": "System integration",
        },
    },
}


def _target(token: str) -> LinkTarget:
    settings = dunlin_app().settings
    signer = LinkSigner(settings.require_secret_key(), settings.link_max_age_days)
    try:
        return signer.read(token)
    except LinkError as exc:
        refuse(410 if exc.code == "link_expired" else 404, exc.code, str(exc))


def _load(session: Session, target: LinkTarget) -> tuple[Org, Customer, Reminder | None]:
    customer = session.scalar(
        select(Customer).where(Customer.org_id == target.org_id, Customer.id == target.customer_id)
    )
    org = session.get(Org, target.org_id)
    if customer is None or org is None:
        refuse(404, "bad_link", "this link is not valid / 链接无效")
    reminder = None
    if target.reminder_id:
        reminder = session.scalar(
            select(Reminder).where(
                Reminder.org_id == org.id,
                Reminder.customer_id == customer.id,
                Reminder.id == target.reminder_id,
            )
        )
    return org, customer, reminder


def _locale(org: Org, customer: Customer) -> str:
    wanted = request.args.get("lang") or customer.language or org.language
    return "en_US" if (wanted or "").startswith("en") else "zh_CN"


def _today(org: Org, customer: Customer) -> date:
    return utcnow().astimezone(ZoneInfo(customer_zone(customer.timezone, org.timezone))).date()


def _clicked(session: Session, org: Org, reminder: Reminder | None, what: str) -> None:
    if reminder is not None:
        apply_receipts(
            session, org.id, reminder.channel, [Receipt(reminder.idempotency_key, "clicked", what)]
        )


@bp.get("/c/<token>")
def click(token: str) -> ResponseReturnValue:
    """Record the click, then go to the invoice's payment page (or the self-service page)."""
    target = _target(token)
    with transaction(dunlin_app().factory) as session:
        org, customer, reminder = _load(session, target)
        _clicked(session, org, reminder, "payment link")
        invoices = actions.open_invoices(session, customer)
        if reminder is not None:
            wanted = {reminder.target_receivable_id}
            invoices = [i for i in invoices if i.id in wanted] or invoices
        url = next((i.payment_url for i in invoices if _safe_url(i.payment_url)), None)
    return redirect(url or url_for("links.page", token=token), code=303)


def _safe_url(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@bp.get("/m/<code>")
def short(code: str) -> ResponseReturnValue:
    """An SMS's short link: check its code against the reminder it names, then go on to the
    self-service page under a full signed token (which its forms post back to)."""
    settings = dunlin_app().settings
    key = settings.require_secret_key()
    codes = ShortCodes(key)
    bad = "this link is not valid / 链接无效"
    try:
        org_id, reminder_id = codes.parse(code)
    except LinkError as exc:
        refuse(404, exc.code, str(exc))
    if not (0 < org_id < 2**63 and 0 < reminder_id < 2**63):
        refuse(404, "bad_link", bad)
    with dunlin_app().factory() as session:
        row = session.scalar(
            select(Reminder).where(Reminder.org_id == org_id, Reminder.id == reminder_id)
        )
        if row is None:
            refuse(404, "bad_link", bad)
        target = LinkTarget(row.org_id, row.customer_id, row.id)
        created = row.created_at
    try:
        codes.verify(code, target)
    except LinkError as exc:
        refuse(404, exc.code, str(exc))
    if created is not None and utcnow() - created > timedelta(days=settings.link_max_age_days):
        refuse(410, "link_expired", "this link has expired / 链接已过期")
    token = LinkSigner(key, settings.link_max_age_days).sign(target)
    return redirect(url_for("links.page", token=token), code=303)


@bp.get("/s/<token>")
def page(token: str) -> ResponseReturnValue:
    target = _target(token)
    with transaction(dunlin_app().factory) as session:
        org, customer, reminder = _load(session, target)
        _clicked(session, org, reminder, "self-service page")
        return _render(session, org, customer, token, request.args.get("done"))


def _render(session: Session, org: Org, customer: Customer, token: str, notice: str | None) -> str:
    locale = _locale(org, customer)
    invoices = [
        {
            "id": i.id,
            "number": i.number,
            "due": format_day(i.due_on, locale),
            "amount": format_money(i.amount_open, i.currency, locale),
            "pay_url": i.payment_url if _safe_url(i.payment_url) else None,
        }
        for i in actions.open_invoices(session, customer)
    ]
    return render_template(
        "selfservice.html",
        text=TEXT[locale],
        lang="zh-CN" if locale == "zh_CN" else "en",
        org=org,
        customer=customer,
        invoices=invoices,
        token=token,
        notice=notice,
        channels=actions.own_channels(customer),
        today=_today(org, customer).isoformat(),
    )


@bp.post("/s/<token>/<action>")
def act(token: str, action: str) -> ResponseReturnValue:
    target = _target(token)
    settings = dunlin_app().settings
    with transaction(dunlin_app().factory) as session:
        org, customer, reminder = _load(session, target)
        actor = actions.Actor(customer, reminder.id if reminder else 0)
        today = _today(org, customer)
        try:
            _do(session, actor, action, today, request.form, settings)
        except actions.ActionRefused as exc:
            refuse(422, "refused", str(exc))
        except ValueError as exc:
            refuse(422, "bad_form", f"{exc}")
    return redirect(url_for("links.page", token=token, done=action), code=303)


def _do(
    session: Session, actor: actions.Actor, action: str, today: date, form: Any, settings: Any
) -> None:
    if action == "paid":
        actions.claim_paid(session, actor, today, settings.paid_claim_pause_days)
    elif action == "promise":
        by = date.fromisoformat(form.get("date", ""))
        actions.promise(session, actor, today, by, settings.promise_max_days)
    elif action == "dispute":
        actions.dispute(
            session, actor, today, parse_id(form.get("invoice", "0")), form.get("reason", "")
        )
    elif action == "channels":
        opted_out = form.getlist("opt_out")
        kept = list(actor.customer.channel_preferences or [])
        preferred = [c for c in form.getlist("prefer") if c] if "prefer" in form else kept
        actions.set_channels(session, actor, preferred, opted_out)
    else:
        refuse(404, "unknown_action", "no such action / 无此操作")


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET asks; POST (a form, or a mail client's RFC 8058 one-click) opts the customer out of
    the channel the reminder came by."""
    target = _target(token)
    with transaction(dunlin_app().factory) as session:
        org, customer, reminder = _load(session, target)
        locale = _locale(org, customer)
        text, lang = TEXT[locale], "zh-CN" if locale == "zh_CN" else "en"
        if reminder is None:
            refuse(404, "bad_link", "this link is not valid / 链接无效")
        if request.method == "GET":
            return render_template(
                "unsubscribe.html",
                text=text,
                token=token,
                done=False,
                channel=reminder.channel,
                lang=lang,
            )
        opted = sorted({*(customer.opted_out_channels or []), reminder.channel})
        customer.opted_out_channels = opted
        record_event(
            session,
            org.id,
            "customer.unsubscribed",
            f"{customer.name} unsubscribed from {reminder.channel}",
            subject=("customer", customer.id),
            actor=f"customer:{customer.id}",
            data={"channel": reminder.channel, "reminder_id": reminder.id},
        )
        return render_template(
            "unsubscribe.html",
            text=text,
            token=token,
            done=True,
            channel=reminder.channel,
            lang=lang,
        )
