"""`dunlin sources add|update|list|test|remove` and `dunlin sync`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import select

from cli.output import console, in_zone, progress, source_health, table
from cli.params import key_values, read_secret, secret_box
from connectors.base import SourceError
from dunlin.db import transaction
from dunlin.errors import DunlinError
from dunlin.events import record_event
from dunlin.i18n import t
from dunlin.orgs import get_org
from mappings import load_mapping
from sync.models import Source
from sync.run import sync_sources
from sync.sources import (
    add_source,
    credentials_of,
    get_source,
    masked_credentials,
    update_source,
)
from usecases.sources import remove_source
from usecases.writeback import write_back

if TYPE_CHECKING:
    from cli import CliState
    from connectors.base import Connector


@click.group()
def sources() -> None:
    """Connect CRMs/ERPs (Odoo, Kingdee K3Cloud, REST APIs) and manage them.

    \b
    Example (Odoo with an API key):
      dunlin sources add erp --mapping odoo --url https://erp.example.com \\
          --set database=prod --set protocol=json2 --secret api_key
      dunlin sources test erp
      dunlin sync erp
    """


@sources.command("add")
@click.argument("name")
@click.option("--mapping", "mapping_name", required=True, help="Shipped mapping or YAML path.")
@click.option("--url", required=True, help="Base URL, with any path prefix and port.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A setting such as database=prod, protocol=xmlrpc, acct_id=…, timeout_seconds=30.",
)
@click.option(
    "--credential",
    multiple=True,
    metavar="KEY=VALUE",
    help="A non-secret credential such as login=bot or username=dunlin_api.",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="NAME",
    help="A secret to store encrypted (password, api_key, app_secret); read from "
    "DUNLIN_SECRET_<NAME> or asked for without echo. Never pass secrets on the command line.",
)
@click.pass_obj
def sources_add(
    state: CliState,
    name: str,
    mapping_name: str,
    url: str,
    settings: tuple[str, ...],
    credential: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Add a source; credentials are encrypted with DUNLIN_SECRET_KEY before they are stored."""
    mapping = load_mapping(mapping_name)
    if mapping.kind == "spreadsheet":
        raise DunlinError(
            t(
                "spreadsheet mappings need no source: use `dunlin import FILE --mapping M`",
                "表格映射无需添加数据源：请使用 dunlin import",
            )
        )
    box = secret_box(state)
    credentials = key_values(credential, "--credential")
    for secret_name in secrets:
        credentials[secret_name] = read_secret(secret_name)
    app = state.app()
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        config = {"url": url, **key_values(settings, "--set", numbers=True)}
        add_source(session, box, org.id, name, mapping.kind, mapping_name, config, credentials)
    console.print(
        t(f"Added source {name!r} ({mapping.kind}).", f"已添加数据源 {name!r}（{mapping.kind}）。")
    )
    console.print(t(f"Next: dunlin sources test {name}", f"下一步：dunlin sources test {name}"))


@sources.command("update")
@click.argument("name")
@click.option("--url", help="A new base URL.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Change a setting.")
@click.option(
    "--credential", multiple=True, metavar="KEY=VALUE", help="Change a non-secret credential."
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="NAME",
    help="Replace or add a secret (e.g. a rotated api_key, Xbongbong's webhook_token); read "
    "from DUNLIN_SECRET_<NAME> or asked for without echo.",
)
@click.pass_obj
def sources_update(
    state: CliState,
    name: str,
    url: str | None,
    settings: tuple[str, ...],
    credential: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Change a source's URL, settings or credentials; what is not named stays as it was."""
    box = secret_box(state)
    credentials = key_values(credential, "--credential")
    for secret_name in secrets:
        credentials[secret_name] = read_secret(secret_name)
    config = key_values(settings, "--set", numbers=True)
    if url:
        config["url"] = url
    if not config and not credentials:
        raise click.UsageError(t("nothing to change", "没有要修改的内容"))
    app = state.app()
    with transaction(app.factory) as session:
        source = get_source(session, get_org(session, state.org).id, name)
        update_source(session, box, source, config, credentials)
        changed = ", ".join(sorted([*config, *credentials]))
        record_event(session, source.org_id, "source.updated", f"{name}: {changed}", actor="cli")
    console.print(t(f"Updated {name!r}: {changed}.", f"已更新 {name!r}：{changed}。"))


@sources.command("list")
@click.pass_obj
def sources_list(state: CliState) -> None:
    """List sources with their status; credentials are shown masked."""
    app = state.app()
    box = secret_box(state)
    with app.factory() as session:
        org = get_org(session, state.org)
        rows = session.scalars(
            select(Source).where(Source.org_id == org.id).order_by(Source.name)
        ).all()
        console.print(
            table(
                t("Sources", "数据源"),
                [
                    t("name", "名称"),
                    t("kind", "类型"),
                    "url",
                    t("credentials", "凭据"),
                    t("status", "状态"),
                    in_zone(t("last sync", "最近同步"), org.timezone),
                ],
                [
                    (
                        s.name,
                        s.kind,
                        (s.settings or {}).get("url", "-"),
                        masked_credentials(box, s),
                        *source_health(s, org.timezone),
                    )
                    for s in rows
                ],
            )
        )


def _connect(state: CliState, name: str, mapping_name: str | None = None) -> Connector:
    app = state.app()
    box = secret_box(state)
    with app.factory() as session:
        source = get_source(session, get_org(session, state.org).id, name)
        mapping = load_mapping(mapping_name or source.mapping)
        return state.open_connector(mapping, source.settings or {}, credentials_of(box, source))


def check_source_fields(state: CliState, name: str, mapping_name: str | None = None) -> None:
    """Connect, report the server and capabilities, fail naming any field the source lacks."""
    connector = _connect(state, name, mapping_name)
    try:
        info = connector.test()
    except SourceError as exc:
        raise DunlinError(t(f"{name}: {exc}", f"{name}：{exc}")) from exc
    finally:
        connector.close()
    console.print(
        t(
            f"{name}: connected to version {info.server_version} as {info.user}",
            f"{name}：已连接，版本 {info.server_version}，用户 {info.user}",
        )
    )
    for key, value in sorted(info.capabilities.items()):
        if key != "fields":
            console.print(f"  {key}: {value}")
    if info.missing_fields:
        lines = [
            f"  {entity}: {', '.join(fields)}" for entity, fields in info.missing_fields.items()
        ]
        raise DunlinError(
            t(
                "the mapping reads fields this source does not have:",
                "映射引用了数据源中不存在的字段：",
            )
            + "\n"
            + "\n".join(lines)
        )
    console.print(t("  every mapped field exists ✓", "  所有映射字段均存在 ✓"))


@sources.command("test")
@click.argument("name")
@click.pass_obj
def sources_test(state: CliState, name: str) -> None:
    """Log in, show the server version and what it can do, check the mapping's fields."""
    check_source_fields(state, name)
    show_push(state, name)


def show_push(state: CliState, name: str) -> None:
    """Where the source's data-change pushes go, and whether their secret is stored."""
    app = state.app()
    with app.factory() as session:
        source = get_source(session, get_org(session, state.org).id, name)
        push = getattr(getattr(load_mapping(source.mapping), "source", None), "push", None)
        if push is None:
            return
        stored = bool(push.first(credentials_of(secret_box(state), source), push.secret))
        secret = " or ".join(push.names(push.secret))  # YonSuite: app_secret or suite_secret
        source_id = source.id
    base = (app.settings.public_url or "https://<DUNLIN_PUBLIC_URL>").rstrip("/")
    console.print(
        t(
            f"  push ({push.scheme}): {base}/hooks/push/{source_id}",
            f"  数据推送（{push.scheme}）：{base}/hooks/push/{source_id}",
        )
    )
    if not stored:
        console.print(
            t(
                f"  [yellow]pushes are refused until `{secret}` is stored:[/yellow]"
                f" dunlin sources update {name} --secret {secret}",
                f"  [yellow]存储 `{secret}` 之前推送会被拒绝：[/yellow]"
                f"dunlin sources update {name} --secret {secret}",
            )
        )


@sources.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def sources_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove a source and everything synced from it."""
    if not yes:
        click.confirm(
            t(
                f"Remove {name!r} and all customers, receivables and reminders synced from it?",
                f"删除 {name!r} 及其同步的全部客户、应收和催收记录？",
            ),
            abort=True,
        )
    app = state.app()
    with transaction(app.factory) as session:
        source = get_source(session, get_org(session, state.org).id, name)
        counts = remove_source(session, source)
    console.print(t(f"Removed {name!r}: {counts}", f"已删除 {name!r}：{counts}"))


@click.command("sync")
@click.argument("names", nargs=-1)
@click.option("--full", is_flag=True, help="Re-read everything and reconcile deletions.")
@click.pass_obj
def sync_command(state: CliState, names: tuple[str, ...], full: bool) -> None:
    """Pull customers and receivables from API sources (all, or the NAMES given)."""
    app = state.app()
    box = secret_box(state)
    with progress() as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def advance(source: str, entity: str, count: int) -> None:
            key = (source, entity)
            if key not in tasks:
                tasks[key] = bar.add_task(f"{source} {entity}", total=None)
            bar.advance(tasks[key], count)

        reports = sync_sources(
            app.factory,
            box,
            state.org,
            list(names) or None,
            full=full,
            on_progress=advance,
            open_connector=state.open_connector,
        )
    if not reports:
        console.print(
            t(
                "No API sources to sync (add one with `dunlin sources add`).",
                "没有可同步的数据源（用 dunlin sources add 添加）。",
            )
        )
        return
    show_sync(reports)
    if any(r.status != "ok" for r in reports):
        raise SystemExit(4)


def show_sync(reports: list[Any]) -> None:
    """One row per source with its outcome; a sample of the skipped records under it."""
    console.print(
        table(
            t("Sync", "同步"),
            [
                t("source", "数据源"),
                t("status", "状态"),
                t("records", "记录"),
                t("skipped", "跳过"),
                t("reminders stopped", "已停止催收"),
            ],
            [
                (
                    r.source,
                    r.status + (f": {r.detail}" if r.detail else ""),
                    r.records,
                    r.skipped,
                    r.reminders_cancelled,
                )
                for r in reports
            ],
        )
    )
    for r in reports:
        for line in r.skipped_sample:
            console.print(f"[yellow]{r.source}: {t('skipped', '跳过')} {line}[/yellow]")


@click.command("writeback")
@click.argument("names", nargs=-1)
@click.pass_obj
def writeback_command(state: CliState, names: tuple[str, ...]) -> None:
    """Write sent reminders (as notes) and follow-up tasks into the sources they came from."""
    app = state.app()
    reports = write_back(
        app.factory,
        secret_box(state),
        state.org,
        list(names) or None,
        open_connector=state.open_connector,
    )
    console.print(
        table(
            t("Write-back", "回写"),
            [
                t("source", "数据源"),
                t("status", "状态"),
                t("notes", "备注"),
                t("tasks created", "新建任务"),
                t("tasks closed", "关闭任务"),
                t("failed", "失败"),
            ],
            [
                (
                    r.source,
                    r.status + (f": {r.detail}" if r.detail else ""),
                    r.notes,
                    r.tasks_created,
                    r.tasks_closed,
                    r.failed,
                )
                for r in reports
            ],
        )
    )
    if any(r.status != "ok" for r in reports):
        raise SystemExit(4)


def _add_web_commands() -> None:
    """`sources webhook-secret` lives with the web commands; it is listed here."""
    from cli.web import webhook_secret

    sources.add_command(webhook_secret)


_add_web_commands()
