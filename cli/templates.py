"""`dunlin templates list|show|edit|preview`: an org's own reminder texts, checked before use.

An edit is validated (sandboxed parse + a sample render, errors with line numbers) and stored
as a new version (reminders/sending/overrides.py); the newest version is used from the next send.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import click

from cli.cycle import _org_clock, date_option
from cli.output import console, table
from dunlin.errors import NotFound
from dunlin.i18n import t
from dunlin.orgs import get_org
from dunlin.vocabulary import CHANNELS
from reminders.sending.links import links_for
from reminders.sending.overrides import (
    MAX_TEXT,
    OverrideKey,
    TemplateInvalid,
    current_overrides,
    current_rows,
    history,
    override_names,
    save_override,
    validate,
)
from reminders.sending.render import ANY_CHANNEL, LOCALES, PARTS, Renderer, shipped_templates
from reminders.sending.sms import sms_length, sms_segments
from sync.customers import find_customers

if TYPE_CHECKING:
    from cli import CliState


@click.group("templates")
def templates() -> None:
    """Look at reminder templates as customers will see them, and change them for this org.

    \b
    Examples:
      dunlin templates list
      dunlin templates show reminder --locale zh_CN --part short --channel sms
      dunlin templates edit reminder --channel sms --locale zh_CN --part short --file sms.j2
      dunlin templates preview reminder --customer C0007 --channel sms
    """


LOCALE_CHOICE = click.Choice(list(LOCALES))
PART_CHOICE = click.Choice(list(PARTS))
CHANNEL_CHOICE = click.Choice([ANY_CHANNEL, *CHANNELS])


@templates.command("list")
@click.pass_obj
def templates_list(state: CliState) -> None:
    """The shipped templates, and this org's overrides (newest version of each)."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        rows = [
            (
                r.name,
                r.channel,
                r.locale,
                r.part,
                f"v{r.version}",
                r.created_by,
                f"{r.created_at:%Y-%m-%d %H:%M}",
            )
            for r in current_rows(session, org.id)
        ]
    console.print(
        t("Shipped: ", "内置模板：")
        + ", ".join(sorted(shipped_templates()))
        + t(
            f" (each in {', '.join(LOCALES)}; parts {', '.join(PARTS)})",
            f"（语言 {', '.join(LOCALES)}；部分 {', '.join(PARTS)}）",
        )
    )
    if not rows:
        console.print(t("No overrides for this org.", "本组织没有自定义模板。"))
        return
    console.print(
        table(
            t("Overrides", "自定义模板"),
            [
                t("name", "名称"),
                t("channel", "渠道"),
                t("locale", "语言"),
                t("part", "部分"),
                t("version", "版本"),
                t("by", "修改人"),
                t("at (UTC)", "时间（UTC）"),
            ],
            rows,
        )
    )


@templates.command("show")
@click.argument("name")
@click.option("--locale", type=LOCALE_CHOICE, required=True)
@click.option("--part", type=PART_CHOICE, required=True)
@click.option("--channel", type=CHANNEL_CHOICE, default=ANY_CHANNEL, show_default=True)
@click.option("--history", "show_history", is_flag=True, help="List every version of the override.")
@click.pass_obj
def templates_show(
    state: CliState, name: str, locale: str, part: str, channel: str, show_history: bool
) -> None:
    """Print the text a part is rendered from for this org (its override, else the shipped file)."""
    app = state.app()
    key = _key(name, channel, locale, part)
    with app.factory() as session:
        org = get_org(session, state.org)
        overrides = current_overrides(session, org.id)
        versions = history(session, org.id, key) if show_history else []
        try:
            where, text = Renderer().source_of(
                name, locale, part, None if channel == ANY_CHANNEL else channel, overrides
            )
        except LookupError as exc:
            raise NotFound(str(exc)) from exc
    click.echo(f"# {name} {channel} {locale} {part}: {where}", err=True)
    click.echo(text, nl=not text.endswith("\n"))  # the text alone: `> f.j2`, edit, `edit --file`
    for row in versions:
        console.print(
            f"v{row.version} {row.created_at:%Y-%m-%d %H:%M} {row.created_by}", markup=False
        )


@templates.command("edit")
@click.argument("name")
@click.option(
    "--channel",
    type=CHANNEL_CHOICE,
    default=ANY_CHANNEL,
    show_default=True,
    help="The channel it applies to; * = every channel.",
)
@click.option("--locale", type=LOCALE_CHOICE, required=True)
@click.option("--part", type=PART_CHOICE, required=True)
@click.option(
    "--file",
    "source",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the new text from this file (default: open the current text in $EDITOR).",
)
@click.pass_obj
def templates_edit(
    state: CliState, name: str, channel: str, locale: str, part: str, source: Path | None
) -> None:
    """Store a new version of one part of template NAME for this org, after checking that it
    parses and renders a sample message (errors name their line)."""
    app = state.app()
    key = _key(name, channel, locale, part)
    if source is not None:
        text = read_text_file(source)
    else:
        with app.factory() as session:
            org = get_org(session, state.org)
            try:
                _where, current = Renderer().source_of(
                    name,
                    locale,
                    part,
                    None if channel == ANY_CHANNEL else channel,
                    current_overrides(session, org.id),
                )
            except LookupError:
                current = ""
        edited = click.edit(current, extension=".j2", require_save=True)
        if edited is None:
            console.print(t("Unchanged; nothing stored.", "未修改，未保存。"))
            return
        text = edited
    with app.factory() as session, session.begin():
        org = get_org(session, state.org)
        try:
            row = save_override(
                session, org.id, key, text, f"cli:{os.environ.get('USER') or 'unknown'}"
            )
        except TemplateInvalid as exc:
            raise click.ClickException(
                t("the template is not valid:\n", "模板无效：\n") + "\n".join(exc.errors)
            ) from exc
        version = row.version
    console.print(
        t(
            f"Saved {name} {channel} {locale} {part} as version {version}; it is used from the next send.",
            f"已保存 {name} {channel} {locale} {part}，版本 {version}；下次发送起生效。",
        )
    )


def _key(name: str, channel: str, locale: str, part: str) -> OverrideKey:
    try:
        return OverrideKey(name, channel, locale, part).check()
    except TemplateInvalid as exc:
        raise click.UsageError("; ".join(exc.errors)) from exc


def read_text_file(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > MAX_TEXT * 4:
        raise click.UsageError(t(f"{path} is too large", f"{path} 过大"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.UsageError(t(f"{path} is not UTF-8 text", f"{path} 不是 UTF-8 文本")) from exc


@templates.command("preview")
@click.argument("name")
@click.option("--customer", required=True, help="Customer external id or exact name.")
@click.option("--locale", type=LOCALE_CHOICE, help="Default: the customer's.")
@click.option(
    "--channel", type=click.Choice(CHANNELS), help="Use the org's overrides for this channel."
)
@click.option(
    "--draft",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Render this file in place of --part (checked, not stored): preview before `edit`.",
)
@click.option("--part", type=PART_CHOICE, help="The part --draft replaces.")
@click.option("--html", "show_html", is_flag=True, help="Print the HTML part too.")
@date_option
@click.pass_obj
def templates_preview(
    state: CliState,
    name: str,
    customer: str,
    locale: str | None,
    channel: str | None,
    draft: Path | None,
    part: str | None,
    show_html: bool,
    as_of,
) -> None:
    """Render template NAME for what the customer's next message would list, without sending
    anything: its planned reminder's invoices, else today's decision (as `dunlin explain`),
    with this org's overrides and, when DUNLIN_PUBLIC_URL is set, the customer's links."""
    from reminders.planning.preview import preview_context

    if (draft is None) != (part is None):
        raise click.UsageError(t("--draft and --part go together", "--draft 与 --part 须同时使用"))
    app = state.app()
    now = _org_clock(app, state.org, as_of).not_before if as_of else None
    with app.factory() as session:
        org = get_org(session, state.org)
        matches = find_customers(session, org.id, customer)
        found = matches[0] if matches else None
        if found is None:
            raise NotFound(t(f"no customer {customer!r}", f"找不到客户 {customer!r}"))
        known = shipped_templates() | override_names(session, org.id)
        if name not in known and draft is None:
            raise NotFound(
                t(
                    f"no template {name!r}; the templates are: {', '.join(sorted(known))}",
                    f"找不到模板 {name!r}；可用模板：{', '.join(sorted(known))}",
                )
            )
        preview = preview_context(session, org, found, now)
        overrides = dict(current_overrides(session, org.id))
    if preview is None:
        raise NotFound(t("the customer has nothing open", "该客户没有未结清的应收"))
    renderer = Renderer()
    chosen = renderer.pick_locale(locale or found.language, org.language)
    if draft is not None and part is not None:
        key = _key(name, channel or ANY_CHANNEL, chosen, part)
        text = read_text_file(draft)
        try:
            validate(renderer, key, text)
        except TemplateInvalid as exc:
            raise click.ClickException(
                t("the draft is not valid:\n", "草稿无效：\n") + "\n".join(exc.errors)
            ) from exc
        overrides[key.as_tuple()] = text
    context = preview.context
    links = links_for(app.settings)
    if links is not None:
        context = {
            **context,
            **links(
                SimpleNamespace(org_id=org.id, customer_id=found.id, id=preview.reminder_id or 0)
            ),
        }
    console.print(f"{t('Invoices from', '应收来源')}: {preview.basis}", markup=False)
    try:
        rendered = renderer.render(name, chosen, context, channel=channel, overrides=overrides)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    encoding, units = sms_length(rendered.short)
    console.print(f"[bold]{t('Subject', '主题')}:[/bold] {rendered.subject}")
    console.print(rendered.text, markup=False)
    console.print(
        f"[bold]{t('Short (SMS / chat)', '短消息（短信/聊天）')}:[/bold] "
        + t(
            f"{units} {encoding} characters, {sms_segments(rendered.short)} SMS segment(s)",
            f"{units} 个 {encoding} 字符，{sms_segments(rendered.short)} 条短信",
        )
    )
    console.print(rendered.short, markup=False)
    console.print(f"[bold]{t('Provider template parameters', '服务商模板参数')}:[/bold]")
    console.print(
        json.dumps(renderer.variables(context, chosen), ensure_ascii=False, indent=2),
        markup=False,
    )
    if show_html:
        console.print(rendered.html, markup=False)
