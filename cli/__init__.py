"""The `dunlin` command line. Expected failures print a message and exit non-zero;
tracebacks only with --debug."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

import click

from connectors.base import ConnectorFactory
from connectors.registry import open_connector
from dunlin.alerts import install_alerts
from dunlin.app import App
from dunlin.errors import DunlinError
from dunlin.i18n import t
from dunlin.log import redacting_filter, setup_logging
from dunlin.settings import Settings, get_settings
from usecases.wiring import wire


@dataclass
class CliState:
    org: str
    debug: bool
    # How commands open a source's connector: the composition root's choice, in one place.
    open_connector: ConnectorFactory = open_connector

    @property
    def settings(self) -> Settings:
        return get_settings()

    def app(self, *, require_key: bool = True, require_schema: bool = True) -> App:
        settings = self.settings
        if require_key:
            redacting_filter.known.add(settings.require_secret_key())
        app = App(settings)
        if require_schema:
            app.require_current_schema()
        return app


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--org",
    envvar="DUNLIN_ORG",
    default="default",
    show_default=True,
    help="Which org (tenant) to act for.",
)
@click.option(
    "--debug", is_flag=True, envvar="DUNLIN_DEBUG", help="Verbose logs and full tracebacks."
)
@click.version_option(package_name="dunlin")
@click.pass_context
def cli(ctx: click.Context, org: str, debug: bool) -> None:
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
      dunlin run                        plan today's reminders and send the due ones
      dunlin worker                     send queued reminders (DUNLIN_DISPATCH=queue, Redis)
      dunlin status                     what is planned, sent, uncertain or failing
      dunlin serve                      webhooks, customer links and the admin API
    """
    setup_logging(debug)
    wire()  # sync's settlements reach the reminders ledger (invariant 2)
    # Invalid settings are reported, with the reason, by the command that needs them.
    with contextlib.suppress(DunlinError):
        install_alerts(get_settings().alert_url_list)
    ctx.obj = CliState(org=org, debug=debug)


def _register() -> None:
    from cli import core, cycle, data, demo, dispatch, policies, sources, templates, web

    for module in (core, data, sources, cycle, dispatch, policies, templates, demo, web):
        module.register(cli)


_register()


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
