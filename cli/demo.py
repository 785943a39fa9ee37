"""`dunlin demo`: generate a sample, import it, plan and send one cycle into the outbox."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import SecretStr
from sqlalchemy import func, select

from cli.cycle import run_send, show_plan, show_send
from cli.data import estimate_rows
from cli.output import console, progress
from cli.sample.generator import DEMO_ANCHOR, generate
from dunlin.app import App, clock
from dunlin.crypto import load_or_create_demo_key
from dunlin.db import transaction
from dunlin.i18n import t
from dunlin.log import redacting_filter
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org, get_org, only_org_slug
from reminders.core.statuses import SENT
from reminders.models import Reminder
from reminders.planning.planner import plan
from sync.importer import import_file

if TYPE_CHECKING:
    from cli import CliState

DEMO_ORG = "demo"
# Where `dunlin serve` listens by default: the demo's messages carry working self-service,
# click and unsubscribe links (unless DUNLIN_PUBLIC_URL names another place).
DEMO_PUBLIC_URL = "http://127.0.0.1:8000"


@click.command()
@click.option(
    "--customers", default=240, show_default=True, help="How many sample customers to generate."
)
@click.pass_obj
def demo(state: CliState, customers: int) -> None:
    """Run Dunlin end to end on a generated sample (SQLite + local outbox, no setup).

    Running it again changes nothing: the import updates the same rows and the ledger already
    holds every message, so the outbox keeps the same files.
    """
    settings = state.settings
    if settings.secret_key is None:
        key, created = load_or_create_demo_key(settings.data_dir)
        redacting_filter.known.add(key)
        settings = settings.model_copy(update={"secret_key": SecretStr(key)})  # signs the links
        if created:
            console.print(
                t(
                    f"Generated a demo secret key in {settings.data_dir / 'secret.key'} "
                    "(set DUNLIN_SECRET_KEY for real use).",
                    f"已生成演示密钥：{settings.data_dir / 'secret.key'}（正式使用请设置 DUNLIN_SECRET_KEY）。",
                )
            )
    if not settings.public_url:
        settings = settings.model_copy(update={"public_url": DEMO_PUBLIC_URL})
    app = App(settings)
    upgrade(app.engine)
    with transaction(app.factory) as session:
        ensure_org(session, DEMO_ORG, settings, name="示例贸易 Demo Trading")
    sample = settings.data_dir / "demo" / "receivables.csv"
    rows = generate(sample, customers=customers)
    console.print(
        t(
            f"Sample: {rows} receivables for {customers} customers → {sample}",
            f"样例数据：{customers} 个客户、{rows} 张应收单 → {sample}",
        )
    )
    with progress() as bar:
        task = bar.add_task(t("Importing", "导入中"), total=estimate_rows(sample))
        report = import_file(
            app.factory,
            DEMO_ORG,
            sample,
            "spreadsheet-zh",
            source_name="demo-sheet",
            on_progress=lambda n: bar.update(task, completed=n),
        )
    console.print(
        t(f"Imported {report.receivables} receivables.", f"已导入 {report.receivables} 张应收单。")
    )
    with app.factory() as session:
        tz = get_org(session, DEMO_ORG).timezone
    run_clock = clock(DEMO_ANCHOR, tz)
    today = run_clock.today
    console.print(
        t(f"Acting as of {today} (the sample's anchor date).", f"以样例基准日 {today} 运行。")
    )
    planned = plan(app.factory, DEMO_ORG, today, not_before=run_clock.not_before, keep=10)
    show_plan(planned, 10, more_hint="")  # the demo has no --show
    send_report = run_send(app, DEMO_ORG, run_clock.send_until)
    show_send(app, DEMO_ORG, send_report)
    _summary(app, settings.resolved_outbox_dir / DEMO_ORG)


def _summary(app: App, outbox: Path) -> None:
    settings = app.settings
    with app.factory() as session:
        org = get_org(session, DEMO_ORG)
        by_channel = Counter(
            dict(
                session.execute(
                    select(Reminder.channel, func.count())
                    .where(Reminder.org_id == org.id, Reminder.status == SENT)
                    .group_by(Reminder.channel)
                )
                .tuples()
                .all()
            )
        )
    files = sum(1 for p in outbox.rglob("*") if p.is_file()) if outbox.exists() else 0
    sent = ", ".join(f"{channel} {n}" for channel, n in sorted(by_channel.items())) or "0"
    with app.factory() as session:
        only = only_org_slug(session) == DEMO_ORG
    # Exactly the command that works next: --org only when other orgs share the database.
    hint = "dunlin status" if only else f"dunlin --org {DEMO_ORG} status"
    console.print(
        t(
            f"[bold green]Done.[/bold green] Sent so far by channel: {sent}; {files} file(s) in "
            f"{outbox}. Open an .eml in a mail client, or try `{hint}`; run `dunlin serve` to "
            f"open the links in the messages ({settings.public_url}).",
            f"[bold green]完成。[/bold green]各渠道已发送：{sent}；{outbox} 中共 {files} 个文件。"
            f"可用邮件客户端打开 .eml，或运行 `{hint}`；运行 `dunlin serve` 即可打开消息中的链接"
            f"（{settings.public_url}）。",
        )
    )
