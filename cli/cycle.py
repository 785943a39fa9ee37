"""`dunlin plan`, `send`, `run` (plan then send) and `explain`."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from rich.table import Table
from rich.text import Text

from cli.output import (
    compact_table,
    console,
    grouped_counts,
    joined,
    local_time,
    more_line,
    progress,
)
from dunlin.app import App, RunClock, clock
from dunlin.crypto import optional_box
from dunlin.errors import NotFound
from dunlin.i18n import t
from dunlin.orgs import get_org
from reminders.core.decide import Skip
from reminders.core.policy import Policy
from reminders.planning.planner import Planned, PlanReport, explain, plan
from reminders.planning.policy_file import load_policy
from reminders.planning.policy_store import org_tags, org_templates
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.registry import ChannelSet
from reminders.sending.dispatch import SendReport, send_due
from reminders.sending.links import links_for
from reminders.sending.live import live_balances
from sync.customers import find_customers

if TYPE_CHECKING:
    from cli import CliState

log = logging.getLogger(__name__)

DATE = click.DateTime(formats=["%Y-%m-%d"])
date_option = click.option(
    "--date",
    "as_of",
    type=DATE,
    help="Act as if it were this day (YYYY-MM-DD), at noon in the org's time zone.",
)


def _org_clock(app: App, org_slug: str, as_of: datetime | None) -> RunClock:
    with app.factory() as session:
        tz = get_org(session, org_slug).timezone
    return clock(as_of.date() if as_of else None, tz)


policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Use this policy file instead of the org's active policy (preview before loading it).",
)


def _file_policy(app: App, org_slug: str, policy_file: Path | None) -> Policy | None:
    if policy_file is None:
        return None
    with app.factory() as session:
        org_id = get_org(session, org_slug).id
        tags, names = org_tags(session, org_id), org_templates(session, org_id)
    return load_policy(policy_file, known_tags=tags, templates=names)


def plan_table(report: PlanReport, limit: int, width: int) -> Table:
    """The planned rows in local time (the customer's zone, as `explain` shows it); the zone is
    named in the title, and on a row only when it differs. The recipient column only fits from
    120 columns on."""
    rows = report.planned[:limit]
    zones = Counter(p.timezone for p in rows)
    zone = zones.most_common(1)[0][0] if zones else ""
    title = t(
        f"{'Would plan' if report.dry_run else 'Planned'} for {report.today} ({report.policy})",
        f"{report.today} {'将安排' if report.dry_run else '已安排'}的提醒（{report.policy}）",
    )
    if zone:
        title += t(f"; times in {zone}", f"；时间为 {zone} 时间")
    out = compact_table(title)
    with_to = width >= 120
    out.add_column(t("customer", "客户"), ratio=1, min_width=12, overflow="fold")
    out.add_column(t("step", "节点"), min_width=10)
    out.add_column(t("channel", "渠道"), min_width=5)
    if with_to:
        out.add_column(t("to", "收件人"), no_wrap=True)
    out.add_column(t("inv.", "单据"), justify="right", no_wrap=True)
    out.add_column(t("open", "未收"), justify="right", no_wrap=True)
    out.add_column(t("at", "时间"), no_wrap=True)
    for p in rows:
        when = local_time(p.scheduled_at, p.timezone, report.today)
        if p.timezone != zone:
            when += f" {p.timezone}"
        cells = [
            Text(p.customer.name),
            Text(f"{p.decision.occurrence.name} ({p.decision.track.name})"),
            Text("+".join(c for c, _ in p.decision.deliveries) or t("(task only)", "（仅任务）")),
        ]
        if with_to:
            cells.append(Text(", ".join(a for _, a in p.decision.deliveries)))
        cells += [
            Text(str(len(p.decision.invoices))),
            Text(f"{p.decision.total:,.2f} {p.decision.currency}"),
            Text(when),
        ]
        out.add_row(*cells)
    return out


def show_plan(report: PlanReport, limit: int, more_hint: str = "--show N") -> None:
    if report.planned and limit > 0:
        console.print(plan_table(report, limit, console.width))
    more = more_line(min(limit, len(report.planned)), report.planned_count, more_hint)
    if more:
        console.print(more)
    if report.dry_run:
        console.print(
            t(
                f"Dry run: {report.planned_count} decision(s); nothing was written.",
                f"试运行：{report.planned_count} 项决定，未写入任何数据。",
            )
        )
    else:
        console.print(
            t(
                f"Planned {report.reminders_inserted} reminder(s) and {report.tasks_inserted} task(s).",
                f"已安排 {report.reminders_inserted} 条提醒和 {report.tasks_inserted} 个任务。",
            )
        )
    if report.thanks_planned:
        console.print(
            t(
                f"Thank-you messages for {report.thanks_planned} paid invoice(s).",
                f"已为 {report.thanks_planned} 张已付款单据安排感谢消息。",
            )
        )
    if report.broken_promises:
        console.print(
            t(
                f"[yellow]{report.broken_promises} broken promise(s): reminders resume and a "
                "person follows up.[/yellow]",
                f"[yellow]{report.broken_promises} 个付款承诺未兑现：恢复提醒并转人工跟进。[/yellow]",
            )
        )
    if report.invalid_timezones:
        console.print(
            t(
                f"[yellow]{len(report.invalid_timezones)} customer(s) have an invalid time zone; the org's "
                f"zone was used: {joined(sorted(report.invalid_timezones))}[/yellow]",
                f"[yellow]{len(report.invalid_timezones)} 个客户的时区无效，已改用组织时区："
                f"{joined(sorted(report.invalid_timezones))}[/yellow]",
            )
        )
    if report.skipped:
        console.print(t("Not reminded today:", "今日不提醒："))
        for line in grouped_counts(report.skipped.items()):
            console.print(line, markup=False)


def run_send(app: App, org_slug: str, now: datetime) -> SendReport:
    """Send due rows in this process through the org's configured channels."""
    with app.factory() as session:
        org = get_org(session, org_slug)
        box = optional_box(app.settings.secret_key_material)
        channels = ChannelSet.load(
            session, org.id, box, ChannelContext(app.settings.resolved_outbox_dir / org_slug)
        )
    try:
        with progress() as bar:
            task = bar.add_task(t("Sending", "发送中"), total=None)
            report = send_due(
                app.factory,
                org_slug,
                now,
                channels.get,
                links=links_for(app.settings),
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                live=lambda org: live_balances(app.factory, box, org),
            )
    finally:
        channels.close()
    return report


def run_enqueue(app: App, org_slug: str, now: datetime) -> None:
    """Queue mode: repair lost work, then hand due rows to the workers."""
    from redis import Redis

    from reminders.sending.queue import enqueue_due, sweep

    redis = Redis.from_url(app.settings.redis_url)
    swept = sweep(app.factory, redis, org_slug, now)
    queued = enqueue_due(app.factory, redis, org_slug, now)
    console.print(
        t(
            f"Queued {queued} reminder(s) for the workers"
            f" ({swept.requeued} recovered from lost jobs, {swept.uncertain} marked uncertain).",
            f"已将 {queued} 条提醒交给工作进程（其中 {swept.requeued} 条来自丢失的任务，"
            f"{swept.uncertain} 条标记为不确定）。",
        )
    )


def dispatch(app: App, org_slug: str, now: datetime, queue: bool) -> None:
    if queue:
        run_enqueue(app, org_slug, now)
    else:
        show_send(app, org_slug, run_send(app, org_slug, now))


queue_option = click.option(
    "--queue/--now",
    "queue",
    default=None,
    help="--queue: hand due reminders to the RQ workers; --now: send them in this process "
    "right now. Default: DUNLIN_DISPATCH (inline unless set to queue).",
)


def use_queue(app: App, queue: bool | None, as_of: datetime | None) -> bool:
    """Queue mode or not; with --date, only inline. The workers send by the real clock, so
    rows queued "as of" another day would sit in the queue and nothing would leave."""
    chosen = app.settings.dispatch == "queue" if queue is None else queue
    if chosen and as_of is not None:
        source = "--queue" if queue else "DUNLIN_DISPATCH=queue"
        raise click.UsageError(
            t(
                f"--date cannot be used with {source}: the workers send by the real clock, so "
                "nothing queued as of another day would be sent. Add --now to send in this "
                "process as of that day, or drop --date.",
                f"--date 不能与 {source} 同时使用：工作进程按真实时间发送，按其他日期入队的提醒"
                "不会被发出。加 --now 在本进程按该日期发送，或去掉 --date。",
            )
        )
    return chosen


def show_send(app: App, org_slug: str, report: SendReport) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or t(
        "nothing due", "没有到期的提醒"
    )
    console.print(t(f"Send: {counts}.", f"发送：{counts}。"))
    if report.marked_uncertain:
        console.print(
            t(
                f"[yellow]{report.marked_uncertain} row(s) marked uncertain (lease expired).[/yellow]",
                f"[yellow]{report.marked_uncertain} 条因租约过期标记为不确定。[/yellow]",
            )
        )
    console.print(
        t(
            f"Outbox: {app.settings.resolved_outbox_dir / org_slug}",
            f"发件箱：{app.settings.resolved_outbox_dir / org_slug}",
        )
    )


@click.command("plan")
@click.option("--dry-run", is_flag=True, help="Show what would be planned; write nothing.")
@date_option
@policy_option
@click.option("--show", default=30, show_default=True, help="How many planned rows to list.")
@click.pass_obj
def plan_command(
    state: CliState,
    dry_run: bool,
    as_of: datetime | None,
    policy_file: Path | None,
    show: int,
) -> None:
    """Decide today's reminders and write them to the ledger (idempotent)."""
    app = state.app()
    run_clock = _org_clock(app, state.org, as_of)
    report = plan(
        app.factory,
        state.org,
        run_clock.today,
        policy=_file_policy(app, state.org, policy_file),
        not_before=run_clock.not_before,
        dry_run=dry_run,
        keep=show,
    )
    show_plan(report, show)


@click.command("send")
@date_option
@queue_option
@click.option(
    "--every",
    type=click.IntRange(min=1),
    help="Keep going: repeat every N seconds (the dispatcher process of a deployment).",
)
@click.pass_obj
def send_command(
    state: CliState, as_of: datetime | None, queue: bool | None, every: int | None
) -> None:
    """Send the reminders that are due, through the configured channels (the local outbox for
    channels not configured)."""
    app = state.app()
    queued = use_queue(app, queue, as_of)
    from redis.exceptions import RedisError
    from sqlalchemy.exc import OperationalError

    while True:
        if not every:
            dispatch(app, state.org, _org_clock(app, state.org, as_of).send_until, queued)
            return
        try:
            dispatch(app, state.org, _org_clock(app, state.org, as_of).send_until, queued)
        except (OperationalError, RedisError) as exc:  # a restart of the store or of Redis
            log.warning("send cycle failed, retrying in %ss: %s", every, type(exc).__name__)
            console.print(
                t(
                    f"[yellow]Store or queue unavailable ({type(exc).__name__}); "
                    f"retrying in {every}s.[/yellow]",
                    f"[yellow]数据库或队列暂不可用（{type(exc).__name__}），{every} 秒后重试。[/yellow]",
                )
            )
        time.sleep(every)


@click.command("run")
@date_option
@queue_option
@click.option(
    "--sync/--no-sync",
    "sync_first",
    default=True,
    show_default=True,
    help="Sync every connected source before planning; a failing source is reported and the "
    "cycle goes on (exit 4 at the end).",
)
@click.option("--show", default=10, show_default=True, help="How many planned rows to list.")
@click.pass_obj
def run_command(
    state: CliState, as_of: datetime | None, queue: bool | None, sync_first: bool, show: int
) -> None:
    """One full cycle: sync the connected sources, plan today's reminders, then send the due
    ones (or queue them)."""
    app = state.app()
    queued = use_queue(app, queue, as_of)  # refused before anything is written
    failed_sources = sync_before_run(state) if sync_first else []
    run_clock = _org_clock(app, state.org, as_of)
    report = plan(
        app.factory, state.org, run_clock.today, not_before=run_clock.not_before, keep=show
    )
    show_plan(report, show)
    dispatch(app, state.org, run_clock.send_until, queued)
    if failed_sources:
        console.print(
            t(
                f"[yellow]Planned and sent without fresh data from: {', '.join(failed_sources)} "
                "(see the sync table above).[/yellow]",
                f"[yellow]以下数据源同步失败，本轮按已有数据安排和发送：{', '.join(failed_sources)}"
                "（见上方同步表）。[/yellow]",
            )
        )
        raise SystemExit(4)


def sync_before_run(state: CliState) -> list[str]:
    """Sync every connected API source (none: nothing to say); the names of those that failed.
    A source that fails must not stop the reminders of the others' customers."""
    from cli.params import secret_box
    from cli.sources import show_sync
    from sync.run import sync_sources

    app = state.app()
    reports = sync_sources(app.factory, secret_box(state), state.org)
    if reports:
        show_sync(reports)
    return [r.source for r in reports if r.status != "ok"]


@click.command("explain")
@click.argument("customer")
@date_option
@policy_option
@click.pass_obj
def explain_command(
    state: CliState, customer: str, as_of: datetime | None, policy_file: Path | None
) -> None:
    """Say why a customer (external id or exact name) does or does not get a reminder.

    Runs the planner's own decision, scheduling and caps as a dry run for that customer.
    """
    app = state.app()
    run_clock = _org_clock(app, state.org, as_of)
    with app.factory() as session:
        found = find_customers(session, get_org(session, state.org).id, customer)
        if not found:
            raise NotFound(t(f"no customer {customer!r}", f"找不到客户 {customer!r}"))
        ids = [c.id for c in found]
    verdicts = explain(
        app.factory,
        state.org,
        ids,
        run_clock.today,
        policy=_file_policy(app, state.org, policy_file),
        not_before=run_clock.not_before,
    )
    for item in verdicts:
        if item.outcome is None:
            console.print(t(f"{item.name}: nothing open.", f"{item.name}：没有未结清的应收。"))
            continue
        console.print(f"{item.name} [{item.currency}] {run_clock.today}: {_verdict(item.outcome)}")


def _verdict(outcome: Planned | Skip) -> str:
    """What explain says about one group, and the planner's reason."""
    if isinstance(outcome, Skip):
        return f"{t('no reminder', '不提醒')} — {outcome.reason}"
    decision, tz = outcome.decision, outcome.timezone
    local = outcome.scheduled_at.astimezone(ZoneInfo(tz))
    via = ", ".join(ch for ch, _ in decision.deliveries) or t("a task only", "仅创建任务")
    verdict = t(
        f"remind via {via} at {local:%Y-%m-%d %H:%M} ({tz})",
        f"于 {local:%Y-%m-%d %H:%M}（{tz}）通过 {via} 提醒",
    )
    return f"{verdict} — {decision.reason}"
