"""`dunlin plan`, `send`, `run` (plan then send) and `explain`."""

from __future__ import annotations

from datetime import date, datetime

import click
from sqlalchemy import or_, select

from dunlin.app import App, clock
from dunlin.cli.output import console, progress, table
from dunlin.errors import NotFound
from dunlin.i18n import t
from dunlin.orgs import get_org
from reminders.channels.outbox import OutboxChannel
from reminders.decide import Decision, decide
from reminders.dispatch import SendReport, send_due
from reminders.facts import done_steps, load_groups
from reminders.planner import PlanReport, plan
from reminders.policy import default_policy
from sync.models import Customer

DATE = click.DateTime(formats=["%Y-%m-%d"])
date_option = click.option(
    "--date",
    "as_of",
    type=DATE,
    help="Act as if it were this day (YYYY-MM-DD), at noon in the org's time zone.",
)


def _org_clock(app: App, org_slug: str, as_of: datetime | None) -> tuple[date, datetime]:
    with app.factory() as session:
        tz = get_org(session, org_slug).timezone
    return clock(as_of.date() if as_of else None, tz)


def show_plan(report: PlanReport, limit: int) -> None:
    rows = [
        (
            p.customer.name,
            p.decision.step.name,
            p.decision.channel or t("(task only)", "（仅任务）"),
            p.decision.recipient or "",
            len(p.decision.invoices),
            f"{p.decision.total:,.2f} {p.decision.currency}",
            p.scheduled_at.isoformat(timespec="minutes"),
        )
        for p in report.planned[:limit]
    ]
    title = t(
        f"Would plan for {report.today}" if report.dry_run else f"Planned for {report.today}",
        f"{report.today} 将安排的提醒" if report.dry_run else f"{report.today} 已安排的提醒",
    )
    console.print(
        table(
            title,
            [
                t("customer", "客户"),
                t("step", "节点"),
                t("channel", "渠道"),
                t("to", "收件人"),
                t("invoices", "单据数"),
                t("open", "未收"),
                t("scheduled (UTC)", "计划时间 (UTC)"),
            ],
            rows,
        )
    )
    if len(report.planned) > limit:
        console.print(
            t(
                f"… and {len(report.planned) - limit} more",
                f"……另有 {len(report.planned) - limit} 条",
            )
        )
    if report.dry_run:
        console.print(
            t(
                f"Dry run: {len(report.planned)} decision(s); nothing was written.",
                f"试运行：{len(report.planned)} 项决定，未写入任何数据。",
            )
        )
    else:
        console.print(
            t(
                f"Planned {report.reminders_inserted} reminder(s) and {report.tasks_inserted} task(s).",
                f"已安排 {report.reminders_inserted} 条提醒和 {report.tasks_inserted} 个任务。",
            )
        )
    if report.skipped:
        console.print(
            t("Not reminded today:", "今日不提醒：")
            + " "
            + "; ".join(f"{reason} ×{n}" for reason, n in report.skipped.most_common())
        )


def run_send(app: App, org_slug: str, now: datetime) -> SendReport:
    outbox = OutboxChannel(app.settings.resolved_outbox_dir / org_slug)
    with progress() as bar:
        task = bar.add_task(t("Sending", "发送中"), total=None)
        report = send_due(
            app.factory,
            org_slug,
            now,
            lambda _name: outbox,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    return report


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
@click.option("--show", default=30, show_default=True, help="How many planned rows to list.")
@click.pass_obj
def plan_command(state, dry_run: bool, as_of: datetime | None, show: int) -> None:  # type: ignore[no-untyped-def]
    """Decide today's reminders and write them to the ledger (idempotent)."""
    app = state.app()
    today, _ = _org_clock(app, state.org, as_of)
    show_plan(plan(app.factory, state.org, today, dry_run=dry_run), show)


@click.command("send")
@date_option
@click.pass_obj
def send_command(state, as_of: datetime | None) -> None:  # type: ignore[no-untyped-def]
    """Send the reminders that are due (to the local outbox on embedded defaults)."""
    app = state.app()
    _, now = _org_clock(app, state.org, as_of)
    show_send(app, state.org, run_send(app, state.org, now))


@click.command("run")
@date_option
@click.option("--show", default=10, show_default=True, help="How many planned rows to list.")
@click.pass_obj
def run_command(state, as_of: datetime | None, show: int) -> None:  # type: ignore[no-untyped-def]
    """One full cycle: plan today's reminders, then send the due ones."""
    app = state.app()
    today, now = _org_clock(app, state.org, as_of)
    show_plan(plan(app.factory, state.org, today), show)
    show_send(app, state.org, run_send(app, state.org, now))


@click.command("explain")
@click.argument("customer")
@date_option
@click.pass_obj
def explain_command(state, customer: str, as_of: datetime | None) -> None:  # type: ignore[no-untyped-def]
    """Say why a customer (external id or exact name) does or does not get a reminder."""
    app = state.app()
    today, _ = _org_clock(app, state.org, as_of)
    with app.factory() as session:
        org = get_org(session, state.org)
        found = session.scalars(
            select(Customer).where(
                Customer.org_id == org.id,
                or_(Customer.external_id == customer, Customer.name == customer),
            )
        ).all()
        if not found:
            raise NotFound(t(f"no customer {customer!r}", f"找不到客户 {customer!r}"))
        done = done_steps(session, org.id)
        for c in found:
            groups = list(load_groups(session, org.id, customer_id=c.id))
            if not groups:
                console.print(t(f"{c.name}: nothing open.", f"{c.name}：没有未结清的应收。"))
            for info, currency, invoices in groups:
                outcome = decide(default_policy(), info.fact, invoices, today, done)
                verdict = (
                    t(
                        f"remind via {outcome.channel or 'task'}",
                        f"通过 {outcome.channel or '任务'} 提醒",
                    )
                    if isinstance(outcome, Decision)
                    else t("no reminder", "不提醒")
                )
                console.print(f"{c.name} [{currency}] {today}: {verdict} — {outcome.reason}")


def register(group: click.Group) -> None:
    for command in (plan_command, send_command, run_command, explain_command):
        group.add_command(command)
