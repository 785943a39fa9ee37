"""The `dunlin` command line. Expected failures print a message and exit non-zero;
tracebacks only with --debug."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from cli.lazy import LazyCommand, LazyGroup
from dunlin.errors import DunlinError
from dunlin.i18n import t

if TYPE_CHECKING:
    from connectors.base import ConnectorFactory
    from dunlin.app import App
    from dunlin.settings import Settings


@dataclass
class CliState:
    """What every command shares. Heavy modules are imported when a command needs them, so
    `dunlin --help` stays fast (cli/lazy.py)."""

    explicit_org: str | None
    debug: bool
    _org: str | None = field(default=None, repr=False)
    _app: App | None = field(default=None, repr=False)
    _key_noted: bool = field(default=False, repr=False)

    @property
    def settings(self) -> Settings:
        from dunlin.settings import get_settings

        return get_settings()

    @property
    def open_connector(self) -> ConnectorFactory:
        """How commands open a source's connector: the composition root's choice, in one place."""
        from connectors.registry import open_connector

        return open_connector

    @property
    def org(self) -> str:
        """--org / DUNLIN_ORG if given; else the only org in the database; else `default`."""
        if self._org is None:
            self._org = self.explicit_org or self._only_org() or "default"
        return self._org

    def _engine_app(self) -> App:
        from dunlin.app import App

        if self._app is None:
            self._app = App(self.settings)
        return self._app

    def _only_org(self) -> str | None:
        from sqlalchemy.exc import SQLAlchemyError

        from dunlin.orgs import only_org_slug

        settings = self.settings
        if settings.database_url is None and not (settings.data_dir / "dunlin.db").exists():
            return None  # nothing initialised yet; do not create the file just to look
        try:
            with self._engine_app().factory() as session:
                return only_org_slug(session)
        except SQLAlchemyError:
            return None  # no schema yet: the command itself says to run `dunlin init`

    def app(self, *, require_key: bool = True, require_schema: bool = True) -> App:
        from dunlin.log import redacting_filter

        settings = self.settings
        if require_key:
            redacting_filter.known.add(settings.require_secret_key())
            if settings.secret_key_file is not None and not self._key_noted:
                self._key_noted = True
                _note(
                    t(
                        f"Using the secret key in {settings.secret_key_file} "
                        "(set DUNLIN_SECRET_KEY for real use).",
                        f"使用 {settings.secret_key_file} 中的密钥（正式使用请设置 DUNLIN_SECRET_KEY）。",
                    )
                )
        app = self._engine_app()
        if require_schema:
            app.require_current_schema()
        return app


def _note(message: str) -> None:
    """A remark about how the command runs: on stderr, so stdout stays the command's output."""
    click.secho(message, fg="bright_black", err=True)


COMMANDS = {
    # name: where it lives, and its short help as `dunlin --help` lists it (a test keeps the two
    # in step), so listing the commands imports none of them.
    "channels": LazyCommand(
        "cli.dispatch",
        "channels",
        "Configure how each policy channel (email, sms, wecom, ...) is sent.",
    ),
    "demo": LazyCommand(
        "cli.demo",
        "demo",
        "Run Dunlin end to end on a generated sample (SQLite + local outbox, no setup).",
    ),
    "explain": LazyCommand(
        "cli.cycle",
        "explain_command",
        "Say why a customer (external id or exact name) does or does not get a reminder.",
    ),
    "import": LazyCommand(
        "cli.data", "import_command", "Import customers and receivables from a CSV or XLSX file."
    ),
    "init": LazyCommand(
        "cli.core", "init", "Create or upgrade the database schema and create the org."
    ),
    "mappings": LazyCommand("cli.data", "mappings", "Inspect and validate mapping files."),
    "pause": LazyCommand(
        "cli.core",
        "pause",
        "Pause reminders to a customer (a promise to pay, a snooze) until a date, or resume them.",
    ),
    "plan": LazyCommand(
        "cli.cycle",
        "plan_command",
        "Decide today's reminders and write them to the ledger (idempotent).",
    ),
    "policies": LazyCommand(
        "cli.policies",
        "policies",
        "Write, check, load and inspect reminder policies (YAML, versioned per org).",
    ),
    "run": LazyCommand(
        "cli.cycle",
        "run_command",
        "One full cycle: sync the connected sources, plan today's reminders, then send the due ones (or queue them).",
    ),
    "secret-key": LazyCommand(
        "cli.core",
        "secret_key",
        "Print a new key for DUNLIN_SECRET_KEY (encrypts stored credentials).",
    ),
    "send": LazyCommand(
        "cli.cycle",
        "send_command",
        "Send the reminders that are due, through the configured channels (the local outbox for channels not configured).",
    ),
    "serve": LazyCommand(
        "cli.web",
        "serve_command",
        "Serve payment webhooks, delivery receipts, customer links and the admin API (gunicorn).",
    ),
    "sources": LazyCommand(
        "cli.sources",
        "sources",
        "Connect CRMs/ERPs (Odoo, Kingdee K3Cloud, REST APIs) and manage them.",
    ),
    "status": LazyCommand(
        "cli.core",
        "status",
        "Show sources, open and overdue receivables, the reminder ledger and open tasks.",
    ),
    "sync": LazyCommand(
        "cli.sources",
        "sync_command",
        "Pull customers and receivables from API sources (all, or the NAMES given).",
    ),
    "tasks": LazyCommand("cli.policies", "tasks", "Follow-up and review tasks for salespeople."),
    "templates": LazyCommand(
        "cli.templates",
        "templates",
        "Look at reminder templates as customers will see them, and change them for this org.",
    ),
    "tokens": LazyCommand("cli.web", "tokens", "API tokens (stored hashed; shown once)."),
    "users": LazyCommand(
        "cli.web", "users", "People who may use the admin API (roles: admin, finance, sales)."
    ),
    "worker": LazyCommand(
        "cli.dispatch",
        "worker_command",
        "Run an RQ worker that sends queued reminders and pushed syncs (needs Redis: DUNLIN_REDIS_URL).",
    ),
    "writeback": LazyCommand(
        "cli.sources",
        "writeback_command",
        "Write sent reminders (as notes) and follow-up tasks into the sources they came from.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--org",
    envvar="DUNLIN_ORG",
    default=None,
    help="Which org (tenant) to act for. Default: the only org, when there is one; else `default`.",
)
@click.option(
    "--debug", is_flag=True, envvar="DUNLIN_DEBUG", help="Verbose logs and full tracebacks."
)
@click.version_option(package_name="dunlin")
@click.pass_context
def cli(ctx: click.Context, org: str | None, debug: bool) -> None:
    """Dunlin gets companies paid: it pulls customers and open receivables from your CRM/ERP or a
    spreadsheet, reminds customers on the channels they read, and stops when they pay.

    \b
    First steps:
      dunlin demo                       try it on a generated sample (no setup)
      dunlin init                       create the database and the org
      dunlin import FILE --mapping M    import a spreadsheet through a mapping
      dunlin sources add NAME ...       connect Odoo, Kingdee K3Cloud or a REST API
      dunlin sync                       pull customers and receivables from them
      dunlin channels add email ...     send email over your SMTP server (else: local outbox)
      dunlin run                        sync, plan today's reminders, send the due ones
      dunlin worker                     send queued reminders (DUNLIN_DISPATCH=queue, Redis)
      dunlin status                     what is planned, sent, uncertain or failing
      dunlin serve                      webhooks, customer links and the admin API
    """
    from dunlin.alerts import install_alerts
    from dunlin.log import setup_logging
    from dunlin.settings import get_settings
    from usecases.wiring import wire

    setup_logging(debug)
    wire()  # sync's settlements reach the reminders ledger (invariant 2)
    # Invalid settings are reported, with the reason, by the command that needs them.
    with contextlib.suppress(DunlinError):
        install_alerts(get_settings().alert_url_list)
    ctx.obj = CliState(explicit_org=org, debug=debug)


def main() -> None:
    debug = "--debug" in sys.argv or os.environ.get("DUNLIN_DEBUG", "") not in ("", "0", "false")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(t("Aborted.", "已取消。"), err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DunlinError as exc:
        if debug:
            raise
        click.secho(f"{t('Error', '错误')}: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        click.secho(
            f"{t('Unexpected error', '意外错误')}: {type(exc).__name__}: {exc}\n"
            + t("Run again with --debug for the traceback.", "加 --debug 重新运行可查看详细信息。"),
            fg="red",
            err=True,
        )
        sys.exit(1)
