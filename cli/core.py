"""`dunlin init`, `dunlin status`, `dunlin secret-key`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.output import console, in_zone, joined, source_health, table
from dunlin.app import clock
from dunlin.crypto import generate_key
from dunlin.db import transaction
from dunlin.i18n import t
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org, get_org
from dunlin.vocabulary import CHANNELS
from reminders.customer_actions import PAUSE_REASONS
from reminders.status import Money, StatusSummary, status_summary

if TYPE_CHECKING:
    from datetime import datetime

    from cli import CliState
    from dunlin.app import App


@click.command()
@click.option("--name", help="Display name of the org (used in messages).")
@click.pass_obj
def init(state: CliState, name: str | None) -> None:
    """Create or upgrade the database schema and create the org."""
    app = state.app(require_schema=False)
    upgrade(app.engine)
    with transaction(app.factory) as session:
        # The org named by --org, else `default`: never the only org guessed from the database
        # (after the demo that would be the demo's).
        org = ensure_org(session, state.explicit_org or "default", app.settings, name=name)
    console.print(
        t(
            f"Database ready at {app.engine.url.render_as_string(hide_password=True)}; org {org.slug!r}.",
            f"数据库已就绪：{app.engine.url.render_as_string(hide_password=True)}；组织 {org.slug!r}。",
        )
    )


@click.command("secret-key")
def secret_key() -> None:
    """Print a new key for DUNLIN_SECRET_KEY (encrypts stored credentials)."""
    click.echo(generate_key())


@click.command()
@click.argument("customer")
@click.option(
    "--until",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last day of the pause (YYYY-MM-DD); omit with --resume.",
)
@click.option(
    "--reason",
    type=click.Choice(PAUSE_REASONS),
    default="snooze",
    show_default=True,
)
@click.option("--resume", is_flag=True, help="End the pause now.")
@click.pass_obj
def pause(
    state: CliState, customer: str, until: datetime | None, reason: str, resume: bool
) -> None:
    """Pause reminders to a customer (a promise to pay, a snooze) until a date, or resume them."""
    from dunlin.errors import DunlinError, NotFound
    from reminders.customer_actions import pause as pause_customer
    from reminders.customer_actions import resume as resume_customer
    from sync.customers import find_customers

    if not resume and until is None:
        raise DunlinError(t("give --until DATE or --resume", "请指定 --until 日期 或 --resume"))
    day = None if resume or until is None else until.date()
    app = state.app()
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        today = clock(None, org.timezone).today
        if day is not None and day < today:
            raise click.BadParameter(
                t(
                    f"{day} is in the past (today is {today} in {org.timezone}); "
                    "a pause lasts until a day to come, or use --resume",
                    f"{day} 已过去（{org.timezone} 今天是 {today}）；暂停须到今后某日，"
                    "或使用 --resume",
                ),
                param_hint="--until",
            )
        rows = find_customers(session, org.id, customer)
        if not rows:
            raise NotFound(t(f"no customer {customer!r}", f"找不到客户 {customer!r}"))
        for row in rows:
            if resume:
                resume_customer(session, row)
            else:
                assert day is not None  # refused above: --until is given unless --resume
                pause_customer(session, row, day, reason)
    console.print(
        t(
            f"{customer}: " + ("resumed" if resume else f"paused until {day} ({reason})"),
            f"{customer}：" + ("已恢复提醒" if resume else f"暂停提醒至 {day}（{reason}）"),
        )
    )


def _sum_by_currency(money: Money) -> str:
    return (
        ", ".join(f"{amount:,.2f} {currency}" for currency, amount in money.totals.items()) or "0"
    )


@click.command()
@click.pass_obj
def status(state: CliState) -> None:
    """Show sources, open and overdue receivables, the reminder ledger and open tasks."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        summary = status_summary(session, org)
    console.print(
        table(
            t("Sources", "数据源"),
            [
                t("name", "名称"),
                t("kind", "类型"),
                t("status", "状态"),
                in_zone(t("last sync", "最近同步"), org.timezone),
                t("skipped", "跳过"),
            ],
            [(s.name, s.kind, *source_health(s, org.timezone), s.skipped) for s in summary.sources],
        )
    )
    console.print(
        table(
            t("Receivables", "应收"),
            [t("what", "项目"), t("count", "数量"), t("amount", "金额")],
            [
                (t("open", "未结清"), summary.open.count, _sum_by_currency(summary.open)),
                (t("overdue", "已逾期"), summary.overdue.count, _sum_by_currency(summary.overdue)),
            ],
        )
    )
    console.print(
        table(
            t("Reminder ledger", "催收记录"),
            [t("status", "状态"), t("count", "数量")],
            sorted(summary.reminders.items()),
        )
    )
    if summary.uncertain:
        console.print(
            t(
                f"[yellow]{summary.uncertain} message(s) are uncertain: the worker stopped after handing "
                "them to the provider. Check them before resending.[/yellow]",
                f"[yellow]{summary.uncertain} 条消息状态不确定：发送过程中断，请核实后再决定是否重发。[/yellow]",
            )
        )
    show_dispatch(app, summary)
    console.print(
        t(f"Open follow-up tasks: {summary.open_tasks}", f"未完成跟进任务：{summary.open_tasks}")
    )
    show_writebacks(summary)
    console.print(t(f"Active policy: {summary.policy}", f"当前催收策略：{summary.policy}"))
    bad_zones = summary.invalid_timezones
    if bad_zones:
        console.print(
            t(
                f"[yellow]{len(bad_zones)} customer(s) have an invalid time zone; the org's zone "
                f"({org.timezone}) is used for them: {joined(bad_zones)}[/yellow]",
                f"[yellow]{len(bad_zones)} 个客户时区无效，已按组织时区（{org.timezone}）处理："
                f"{joined(bad_zones)}[/yellow]",
            )
        )
    console.print(
        t(
            f"Outbox: {app.settings.resolved_outbox_dir / org.slug}",
            f"发件箱目录：{app.settings.resolved_outbox_dir / org.slug}",
        )
    )


def show_writebacks(summary: StatusSummary) -> None:
    """Write-back never blocks sending, so its failures must be visible here."""
    failed, pending = summary.writebacks.get("failed", 0), summary.writebacks.get("pending", 0)
    if failed or pending:
        console.print(
            t(
                f"[yellow]Write-back: {failed} failed, {pending} waiting for a retry[/yellow]",
                f"[yellow]回写：失败 {failed}，待重试 {pending}[/yellow]",
            )
        )


def show_dispatch(app: App, summary: StatusSummary) -> None:
    """In flight, failing channels, and queue depths when Redis answers."""
    from reminders.sending.queue import queue_depths

    in_flight = summary.in_flight
    console.print(t(f"In flight: {in_flight}", f"发送中：{in_flight}"))
    for broken in summary.broken_channels:
        name, provider, reason = broken.name, broken.provider, broken.reason
        console.print(
            t(
                f"[red]Channel {name} ({provider}) is broken: {reason}. "
                f"Fix it, then `dunlin channels enable {name}`.[/red]",
                f"[red]渠道 {name}（{provider}）故障：{reason}。"
                f"修复后执行 dunlin channels enable {name}。[/red]",
            )
        )
    try:
        from redis import Redis

        redis = Redis.from_url(app.settings.redis_url, socket_connect_timeout=0.5)
        depths = queue_depths(redis, list(CHANNELS))
    except Exception:  # noqa: BLE001 - no Redis is normal on embedded defaults
        console.print(t("Queue: Redis not reachable.", "队列：无法连接 Redis。"))
        return
    waiting = ", ".join(f"{c} {n}" for c, n in depths.items() if n) or "0"
    console.print(t(f"Queue depth: {waiting}", f"队列长度：{waiting}"))
