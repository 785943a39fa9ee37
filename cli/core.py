"""`dunlin init`, `dunlin status`, `dunlin secret-key`."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import click
from sqlalchemy import func, select

from cli.output import console, in_zone, joined, source_health, table
from dunlin.app import clock
from dunlin.crypto import generate_key
from dunlin.db import transaction
from dunlin.i18n import t
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org, get_org
from dunlin.vocabulary import CHANNELS
from reminders.models import Reminder, Task
from reminders.planning.planner import valid_timezone
from reminders.planning.policy_store import active_policy
from sync.models import Customer, Receivable, Source


@click.command()
@click.option("--name", help="Display name of the org (used in messages).")
@click.pass_obj
def init(state, name: str | None) -> None:  # type: ignore[no-untyped-def]
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


def invalid_timezone_customers(session, org_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    """External ids of customers whose time zone is set but unknown."""
    rows = session.execute(
        select(Customer.external_id, Customer.timezone).where(
            Customer.org_id == org_id, Customer.timezone.is_not(None)
        )
    )
    return sorted(ext for ext, zone in rows if not valid_timezone(zone))


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
    type=click.Choice(["promise", "snooze", "other"]),
    default="snooze",
    show_default=True,
)
@click.option("--resume", is_flag=True, help="End the pause now.")
@click.pass_obj
def pause(state, customer: str, until, reason: str, resume: bool) -> None:  # type: ignore[no-untyped-def]
    """Pause reminders to a customer (a promise to pay, a snooze) until a date, or resume them."""
    from dunlin.errors import DunlinError, NotFound
    from dunlin.events import record_event

    if not resume and until is None:
        raise DunlinError(t("give --until DATE or --resume", "请指定 --until 日期 或 --resume"))
    app = state.app()
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        today = clock(None, org.timezone).today
        if not resume and until.date() < today:
            raise click.BadParameter(
                t(
                    f"{until.date()} is in the past (today is {today} in {org.timezone}); "
                    "a pause lasts until a day to come, or use --resume",
                    f"{until.date()} 已过去（{org.timezone} 今天是 {today}）；暂停须到今后某日，"
                    "或使用 --resume",
                ),
                param_hint="--until",
            )
        rows = session.scalars(
            select(Customer).where(
                Customer.org_id == org.id,
                (Customer.external_id == customer) | (Customer.name == customer),
            )
        ).all()
        if not rows:
            raise NotFound(t(f"no customer {customer!r}", f"找不到客户 {customer!r}"))
        for row in rows:
            row.paused_until = None if resume else until.date()
            record_event(
                session,
                org.id,
                "customer.resumed" if resume else f"customer.paused.{reason}",
                row.name,
                subject=("customer", row.id),
                data={"until": None if resume else until.date().isoformat()},
            )
    console.print(
        t(
            f"{customer}: " + ("resumed" if resume else f"paused until {until.date()} ({reason})"),
            f"{customer}："
            + ("已恢复提醒" if resume else f"暂停提醒至 {until.date()}（{reason}）"),
        )
    )


def _sum_by_currency(rows) -> str:  # type: ignore[no-untyped-def]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in rows:
        totals[currency] += amount
    return (
        ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(totals.items())) or "0"
    )


@click.command()
@click.pass_obj
def status(state) -> None:  # type: ignore[no-untyped-def]
    """Show sources, open and overdue receivables, the reminder ledger and open tasks."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        today = clock(None, org.timezone).today
        sources = session.scalars(
            select(Source).where(Source.org_id == org.id).order_by(Source.name)
        ).all()
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
                [
                    (
                        s.name,
                        s.kind,
                        *source_health(s, org.timezone),
                        (s.last_report or {}).get("skipped", "-"),
                    )
                    for s in sources
                ],
            )
        )
        open_rows = session.execute(
            select(Receivable.currency, Receivable.amount_open, Receivable.due_on).where(
                Receivable.org_id == org.id, Receivable.status == "open"
            )
        ).all()
        overdue = [(c, a) for c, a, d in open_rows if d < today]
        console.print(
            table(
                t("Receivables", "应收"),
                [t("what", "项目"), t("count", "数量"), t("amount", "金额")],
                [
                    (
                        t("open", "未结清"),
                        len(open_rows),
                        _sum_by_currency((c, a) for c, a, _ in open_rows),
                    ),
                    (t("overdue", "已逾期"), len(overdue), _sum_by_currency(overdue)),
                ],
            )
        )
        by_status = dict(
            session.execute(
                select(Reminder.status, func.count())
                .where(Reminder.org_id == org.id)
                .group_by(Reminder.status)
            )
            .tuples()
            .all()
        )
        console.print(
            table(
                t("Reminder ledger", "催收记录"),
                [t("status", "状态"), t("count", "数量")],
                sorted(by_status.items()),
            )
        )
        if by_status.get("uncertain"):
            console.print(
                t(
                    f"[yellow]{by_status['uncertain']} message(s) are uncertain: the worker stopped after handing "
                    "them to the provider. Check them before resending.[/yellow]",
                    f"[yellow]{by_status['uncertain']} 条消息状态不确定：发送过程中断，请核实后再决定是否重发。[/yellow]",
                )
            )
        show_dispatch(app, session, org.id, by_status)
        tasks = session.scalar(
            select(func.count()).where(Task.org_id == org.id, Task.status == "open")
        )
        console.print(t(f"Open follow-up tasks: {tasks}", f"未完成跟进任务：{tasks}"))
        show_writebacks(session, org.id)
        console.print(
            t(
                f"Active policy: {active_policy(session, org.id).label}",
                f"当前催收策略：{active_policy(session, org.id).label}",
            )
        )
        bad_zones = invalid_timezone_customers(session, org.id)
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


def show_writebacks(session, org_id: int) -> None:  # type: ignore[no-untyped-def]
    """Write-back never blocks sending, so its failures must be visible here."""
    from sync.models import Writeback

    counts = dict(
        session.execute(
            select(Writeback.status, func.count())
            .where(Writeback.org_id == org_id, Writeback.status.in_(("pending", "failed")))
            .group_by(Writeback.status)
        ).all()
    )
    if counts.get("failed") or counts.get("pending"):
        failed, pending = counts.get("failed", 0), counts.get("pending", 0)
        console.print(
            t(
                f"[yellow]Write-back: {failed} failed, {pending} waiting for a retry[/yellow]",
                f"[yellow]回写：失败 {failed}，待重试 {pending}[/yellow]",
            )
        )


def show_dispatch(app, session, org_id: int, by_status: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """In flight, failing channels, and queue depths when Redis answers."""
    from reminders.sending.channel_store import channel_configs
    from reminders.sending.queue import queue_depths

    in_flight = by_status.get("queued", 0) + by_status.get("sending", 0)
    console.print(t(f"In flight: {in_flight}", f"发送中：{in_flight}"))
    for name, config in sorted(channel_configs(session, org_id).items()):
        if config.broken_reason:
            console.print(
                t(
                    f"[red]Channel {name} ({config.provider}) is broken: {config.broken_reason}. "
                    f"Fix it, then `dunlin channels enable {name}`.[/red]",
                    f"[red]渠道 {name}（{config.provider}）故障：{config.broken_reason}。"
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
