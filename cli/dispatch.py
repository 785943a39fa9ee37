"""`dunlin worker` and `dunlin channels ...`."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from cli.output import console, err_console, table
from cli.params import key_values, read_secret, secret_box
from dunlin.i18n import t
from dunlin.orgs import get_org
from dunlin.vocabulary import CHANNELS
from reminders.sending.channel_store import (
    channel_configs,
    enable_channel,
    get_channel,
    masked_secrets,
    remove_channel,
    save_channel,
    test_message,
)
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.registry import HeldChannel, build_channel, providers
from reminders.sending.queue import queue_name

if TYPE_CHECKING:
    from redis import Redis

    from cli import CliState

log = logging.getLogger(__name__)


def redis_connection(state: CliState) -> Redis:
    from redis import Redis

    return Redis.from_url(state.settings.redis_url)


@click.command("worker")
@click.option(
    "--queues",
    default=",".join((*CHANNELS, "sync")),
    show_default=True,
    help="Comma-separated channels whose queues this worker serves; `sync` runs the syncs "
    "that sources' pushes ask for.",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--fork",
    is_flag=True,
    help="Fork a child per job (rq.Worker) instead of running jobs in-process (SimpleWorker).",
)
@click.pass_obj
def worker_command(state: CliState, queues: str, burst: bool, fork: bool) -> None:
    """Run an RQ worker that sends queued reminders and pushed syncs (needs Redis:
    DUNLIN_REDIS_URL)."""
    from rq import Queue

    from reminders.sending.workers import DunlinForkWorker, DunlinSimpleWorker, freeze_heap_for_exit

    state.app()  # fail early on a missing key or an old schema
    redis = redis_connection(state)
    names = [queue_name(c.strip()) for c in queues.split(",") if c.strip()]
    worker_class = DunlinForkWorker if fork else DunlinSimpleWorker
    worker = worker_class([Queue(n, connection=redis) for n in names], connection=redis)
    console.print(
        t(
            f"Worker {worker.name} ({worker_class.__name__}) on {', '.join(names)}",
            f"工作进程 {worker.name}（{worker_class.__name__}）监听 {', '.join(names)}",
        )
    )
    worker.work(burst=burst, logging_level="DEBUG" if state.debug else "INFO")
    freeze_heap_for_exit()  # the process exits next


@click.group("channels")
def channels() -> None:
    """Configure how each policy channel (email, sms, wecom, ...) is sent.

    \b
    Examples:
      dunlin channels add email --provider smtp --set host=smtp.example.com \\
          --set from="Acme AR <ar@example.com>" --set username=ar@example.com --secret password
      dunlin channels add sms --provider aliyun_sms --set access_key_id=LTAI... \\
          --set sign_name=Acme --set templates.reminder=SMS_123 --secret access_key_secret
      dunlin channels test email --to me@example.com
    """


class ProviderHelp(click.Command):
    """`channels add --provider P --help` adds P's settings, defaults, secrets and an example
    (reminders/sending/channels/catalog.py; docs/channels.md has them all)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for i, arg in enumerate(args):
            if arg == "--provider" and i + 1 < len(args):
                ctx.meta["provider"] = args[i + 1]
            elif arg.startswith("--provider="):
                ctx.meta["provider"] = arg.partition("=")[2]
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from dunlin.i18n import ui_language
        from reminders.sending.channels.catalog import CATALOG, when

        provider = CATALOG.get(ctx.meta.get("provider", ""))
        formatter.write_paragraph()
        if provider is None:
            formatter.write_text(
                t(
                    "Providers: " + ", ".join(CATALOG) + ". Add --provider P to --help for P's "
                    "settings, defaults, secrets and an example (all in docs/channels.md).",
                    "服务商：" + "、".join(CATALOG) + "。--help 前加 --provider P 可查看其设置、"
                    "默认值、密钥与示例（全部见 docs/channels.md）。",
                )
            )
            return
        zh = ui_language() == "zh"
        formatter.write_text(f"{provider.name}: {provider.zh if zh else provider.en}")
        for title, items in (
            (t("Settings (--set KEY=VALUE)", "设置（--set KEY=VALUE）"), provider.settings),
            (
                t("Secrets (--secret NAME, stored encrypted)", "密钥（--secret NAME，加密保存）"),
                provider.secrets,
            ),
        ):
            with formatter.section(title):
                formatter.write_dl(
                    [(s.name, f"{when(s, zh)}. {s.zh if zh else s.en}") for s in items]
                    or [("-", t("none", "无"))]
                )
        for en, zh_note in provider.notes:
            formatter.write_paragraph()
            formatter.write_text(zh_note if zh else en)
        with formatter.section(t("Example", "示例")):
            formatter.write_text(provider.example)


@channels.command("add", cls=ProviderHelp)
@click.argument("name", type=click.Choice(CHANNELS))
@click.option(
    "--provider",
    required=True,
    help="Which provider serves it; `--provider P --help` lists P's settings and secrets.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A provider setting, e.g. host=smtp.example.com or templates.reminder=SMS_1 "
    "(see --provider P --help, docs/channels.md).",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="NAME",
    help="A secret to store encrypted; read from DUNLIN_SECRET_<NAME> or asked for without echo.",
)
@click.pass_obj
def channels_add(
    state: CliState, name: str, provider: str, settings: tuple[str, ...], secrets: tuple[str, ...]
) -> None:
    """Configure (or replace) the provider for a channel; secrets are stored encrypted."""
    app = state.app()
    values = _nested(key_values(settings, "--set", numbers=True))
    warn_unknown_settings(provider, values, secrets)
    secret_values = {s: read_secret(s) for s in secrets}
    box = secret_box(state)
    with app.factory() as session, session.begin():
        org = get_org(session, state.org)
        config = save_channel(session, box, org.id, name, provider, values, secret_values)
        # Build it once now so a missing setting is reported here (and nothing is stored),
        # not at send time.
        built = build_channel(config, name, box, ChannelContext(app.settings.resolved_outbox_dir))
        built.close()
        if isinstance(built, HeldChannel):
            raise click.UsageError(built.reason)  # rolls the transaction back
    console.print(t(f"Channel {name} → {provider} saved.", f"渠道 {name} → {provider} 已保存。"))


def warn_unknown_settings(
    provider: str, values: dict[str, object], secrets: tuple[str, ...]
) -> None:
    """A misspelt setting is ignored by the provider; say so instead of failing at send time."""
    from reminders.sending.channels.catalog import CATALOG

    spec = CATALOG.get(provider)
    if spec is None:
        return
    known = {s.name for s in spec.settings}
    unknown = sorted(set(values) - known)
    secret_names = {s.name for s in spec.secrets}
    unknown_secrets = sorted(set(secrets) - secret_names)
    for kind, names, listed in (
        ("setting", unknown, known),
        ("secret", unknown_secrets, secret_names),
    ):
        if names:
            err_console.print(
                t(
                    f"[yellow]{provider} has no {kind} {', '.join(names)}; it reads: "
                    f"{', '.join(sorted(listed)) or '-'}.[/yellow]",
                    f"[yellow]{provider} 没有{'设置' if kind == 'setting' else '密钥'} "
                    f"{', '.join(names)}；可用：{', '.join(sorted(listed)) or '-'}。[/yellow]",
                )
            )


def _nested(values: dict[str, object]) -> dict[str, object]:
    """templates.reminder=SMS_1 → {"templates": {"reminder": "SMS_1"}}; JSON lists allowed."""
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        node: dict[str, Any] = out  # each part down is a dict this loop made
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


@channels.command("list")
@click.pass_obj
def channels_list(state: CliState) -> None:
    """Show which provider serves each channel, and which are broken."""
    app = state.app()
    box = secret_box(state)
    with app.factory() as session:
        org = get_org(session, state.org)
        configs = channel_configs(session, org.id)
        rows = []
        for name in CHANNELS:
            config = configs.get(name)
            if config is None:
                rows.append((name, t("outbox (not configured)", "发件箱（未配置）"), "-", "-", ""))
                continue
            rows.append(
                (
                    name,
                    config.provider,
                    ", ".join(f"{k}={v}" for k, v in sorted(config.settings.items())) or "-",
                    masked_secrets(box, config),
                    f"[red]{t('broken', '故障')}: {config.broken_reason}[/red]"
                    if config.broken_reason
                    else t("ok", "正常"),
                )
            )
    console.print(
        table(
            t("Channels", "发送渠道"),
            [t("channel", "渠道"), t("provider", "服务商"), t("settings", "设置"), "secrets", ""],
            rows,
        )
    )
    console.print(t("Providers: ", "可用服务商：") + ", ".join(sorted(providers())))


@channels.command("test")
@click.argument("name", type=click.Choice(CHANNELS))
@click.option("--to", "address", required=True, help="Where to send the test message.")
@click.pass_obj
def channels_test(state: CliState, name: str, address: str) -> None:
    """Send one real test message and print the provider's answer."""
    app = state.app()
    box = secret_box(state)
    with app.factory() as session:
        org = get_org(session, state.org)
        configs = channel_configs(session, org.id)
    ctx = ChannelContext(app.settings.resolved_outbox_dir / org.slug)
    channel = build_channel(configs.get(name), name, box, ctx)
    message = test_message(org, name, address, datetime.now(UTC))
    try:
        result = channel.send(message)
    finally:
        channel.close()
    colour = "green" if result.outcome.value == "sent" else "red"
    console.print(f"[{colour}]{result.outcome.value}[/{colour}] {result.provider_message_id or ''}")
    if result.detail:
        console.print(result.detail)
    if result.outcome.value != "sent":
        raise SystemExit(1)


@channels.command("enable")
@click.argument("name", type=click.Choice(CHANNELS))
@click.pass_obj
def channels_enable(state: CliState, name: str) -> None:
    """Clear a channel's broken mark after fixing it; held reminders become due now."""
    app = state.app()
    with app.factory() as session, session.begin():
        org = get_org(session, state.org)
        released = enable_channel(session, org.id, name, datetime.now(UTC))
    console.print(
        t(
            f"Channel {name} enabled; {released} held reminder(s) are due now.",
            f"渠道 {name} 已启用；{released} 条暂停的提醒即刻到期。",
        )
    )


@channels.command("remove")
@click.argument("name", type=click.Choice(CHANNELS))
@click.pass_obj
def channels_remove(state: CliState, name: str) -> None:
    """Remove a channel's config (it falls back to the outbox)."""
    app = state.app()
    with app.factory() as session, session.begin():
        org = get_org(session, state.org)
        get_channel(session, org.id, name)
        remove_channel(session, org.id, name)
    console.print(t(f"Channel {name} removed.", f"渠道 {name} 已删除。"))
