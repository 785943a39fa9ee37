"""`dunlin policies …` and `dunlin tasks …`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import func, select

from cli.output import console, in_zone, local_time, more_line, one_language, table
from dunlin.db import transaction
from dunlin.errors import NotFound
from dunlin.events import record_event
from dunlin.i18n import t
from dunlin.orgs import get_org
from dunlin.yamlsource import ConfigFileError, read_config
from reminders.models import PolicyVersion, Task
from reminders.planning.policy_file import load_policy
from reminders.planning.policy_store import (
    BUILTIN_NAME,
    active_policy,
    builtin_policy_text,
    org_tags,
    org_templates,
    save_version,
    versions,
)

if TYPE_CHECKING:
    from cli import CliState

FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def _print_issues(exc: ConfigFileError) -> None:
    for issue in exc.issues:
        click.secho(str(issue), fg="red", err=True)
    raise SystemExit(exc.exit_code)


@click.group()
def policies() -> None:
    """Write, check, load and inspect reminder policies (YAML, versioned per org)."""


@policies.command("check")
@click.argument("file", type=FILE)
@click.pass_obj
def policies_check(state: CliState, file: Path) -> None:
    """Validate a policy file against the org's templates, channels and customer tags."""
    app = state.app()
    with app.factory() as session:
        org_id = get_org(session, state.org).id
        tags, names = org_tags(session, org_id), org_templates(session, org_id)
    try:
        policy = load_policy(file, known_tags=tags, templates=names)
    except ConfigFileError as exc:
        _print_issues(exc)
    console.print(
        t(
            f"{file}: OK — {len(policy.tracks)} track(s): {', '.join(tr.name for tr in policy.tracks)}",
            f"{file}：有效 —— {len(policy.tracks)} 个方案：{', '.join(tr.name for tr in policy.tracks)}",
        )
    )


@policies.command("load")
@click.argument("file", type=FILE)
@click.pass_obj
def policies_load(state: CliState, file: Path) -> None:
    """Store the file as a new version of its policy and make it the active one."""
    app = state.app()
    try:
        with transaction(app.factory) as session:
            org = get_org(session, state.org)
            version, created = save_version(session, org.id, read_config(file), str(file))
            record_event(
                session,
                org.id,
                "policy.loaded",
                f"{version.name}@v{version.version} active",
                subject=("policy_version", version.id),
                data={"file": str(file), "new": created},
            )
    except ConfigFileError as exc:
        _print_issues(exc)
    label = f"{version.name}@v{version.version}"
    console.print(
        t(
            f"{label} is active" + ("" if created else " (unchanged; re-activated)"),
            f"{label} 已启用" + ("" if created else "（内容未变，重新启用）"),
        )
    )


@policies.command("list")
@click.pass_obj
def policies_list(state: CliState) -> None:
    """Every stored version, newest first; the active one is marked."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        rows = [
            (
                v.name,
                v.version,
                "✓" if v.active else "",
                v.created_by,
                local_time(v.created_at, org.timezone),
            )
            for v in versions(session, org.id)
        ]
        label = active_policy(session, org.id).label
    console.print(
        table(
            t(f"Policies (active: {label})", f"催收策略（当前：{label}）"),
            [
                t("name", "名称"),
                t("version", "版本"),
                t("active", "启用"),
                t("by", "操作人"),
                in_zone(t("created", "创建时间"), org.timezone),
            ],
            rows,
        )
    )


@policies.command("show")
@click.argument("name")
@click.option("--version", "number", type=int, help="Default: the newest.")
@click.pass_obj
def policies_show(state: CliState, name: str, number: int | None) -> None:
    """Print a stored version's YAML exactly as it was loaded."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        query = select(PolicyVersion).where(
            PolicyVersion.org_id == org.id, PolicyVersion.name == name
        )
        if number is not None:
            query = query.where(PolicyVersion.version == number)
        row = session.scalar(query.order_by(PolicyVersion.version.desc()).limit(1))
        if row is None and name == BUILTIN_NAME and number is None:
            # What `policies list` calls "default (built-in)": never stored, so written out.
            click.echo(builtin_policy_text(), nl=False)
            return
        if row is None:
            stored = sorted({v.name for v in versions(session, org.id)} | {BUILTIN_NAME})
            raise NotFound(
                t(
                    f"no policy {name!r}"
                    + (f" version {number}" if number is not None else "")
                    + f"; the policies are: {', '.join(stored)}",
                    f"找不到策略 {name!r}"
                    + (f" 版本 {number}" if number is not None else "")
                    + f"；现有策略：{', '.join(stored)}",
                )
            )
        click.echo(row.source_text)


@click.group()
def tasks() -> None:
    """Follow-up and review tasks for salespeople."""


@tasks.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include done and vetoed tasks.")
@click.option("--limit", default=50, show_default=True, help="How many tasks to list.")
@click.pass_obj
def tasks_list(state: CliState, show_all: bool, limit: int) -> None:
    """Tasks, soonest due first."""
    app = state.app()
    with app.factory() as session:
        org = get_org(session, state.org)
        query = select(Task).where(Task.org_id == org.id)
        if not show_all:
            query = query.where(Task.status == "open")
        rows = [
            (
                task.id,
                task.data.get("kind", ""),
                task.assignee,
                task.due_on,
                task.status,
                one_language(task.summary),
            )
            for task in session.scalars(query.order_by(Task.due_on, Task.id).limit(limit))
        ]
        total = session.scalar(select(func.count()).select_from(query.subquery()))
    console.print(
        table(
            t("Tasks", "任务"),
            [
                "id",
                t("kind", "类型"),
                t("assignee", "负责人"),
                t("due", "截止"),
                t("status", "状态"),
                t("summary", "内容"),
            ],
            rows,
            compact=True,
        )
    )
    more = more_line(len(rows), total or 0, "--limit N")
    if more:
        console.print(more)


def _set_status(
    state: CliState, task_id: int, status: str, allowed_kind: str | None = None
) -> None:
    app = state.app()
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        task = session.scalar(select(Task).where(Task.org_id == org.id, Task.id == task_id))
        if task is None or (allowed_kind and task.data.get("kind") != allowed_kind):
            raise NotFound(
                t(
                    f"no {allowed_kind or ''} task {task_id}".replace("  ", " "),
                    f"找不到任务 {task_id}",
                )
            )
        task.status = status
        record_event(session, org.id, f"task.{status}", task.summary, subject=("task", task.id))
    console.print(t(f"task {task_id}: {status}", f"任务 {task_id}：{status}"))


@tasks.command("veto")
@click.argument("task_id", type=int)
@click.pass_obj
def tasks_veto(state: CliState, task_id: int) -> None:
    """Stop the reminder a review task is holding; it will not be sent."""
    _set_status(state, task_id, "vetoed", allowed_kind="veto")


@tasks.command("done")
@click.argument("task_id", type=int)
@click.pass_obj
def tasks_done(state: CliState, task_id: int) -> None:
    """Mark a task done."""
    _set_status(state, task_id, "done")
