"""`dunlin serve` (webhooks, customer links, admin API), its people and tokens, and the URLs
sources and providers call."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from cli.output import console
from cli.params import read_secret, secret_box
from dunlin.db import transaction
from dunlin.events import record_event
from dunlin.i18n import t
from dunlin.orgs import get_org
from dunlin.users import ROLES, ApiToken, User
from sync.sources import get_source, new_webhook_secret

if TYPE_CHECKING:
    from cli import CliState


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--dev", is_flag=True, help="Flask's development server (auto-reload, one process).")
@click.pass_obj
def serve_command(state: CliState, host: str, port: int, workers: int, dev: bool) -> None:
    """Serve payment webhooks, delivery receipts, customer links and the admin API (gunicorn)."""
    state.app()  # fail here, readably, on a missing key or an old schema
    if dev:
        from webhooks import create_app

        create_app().run(host=host, port=port, debug=state.debug)
        return
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"{host}:{port}",
        "--access-logfile",
        "-",
        # Masks URL secrets, link tokens and credentials in the access and error logs.
        "--logger-class",
        "webhooks.serving.RedactingLogger",
        "webhooks.wsgi:app",
    ]
    os.execv(sys.executable, args)


@click.group("users")
def users() -> None:
    """People who may use the admin API (roles: admin, finance, sales)."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--name", default="")
@click.option("--salesperson-ref", help="For sales users: the CRM user id their customers carry.")
@click.option(
    "--password",
    "with_password",
    is_flag=True,
    help="Ask for a console password (or read DUNLIN_SECRET_PASSWORD).",
)
@click.pass_obj
def users_add(
    state: CliState,
    email: str,
    role: str,
    name: str,
    salesperson_ref: str | None,
    with_password: bool,
) -> None:
    app = state.app()
    password = read_secret("password") if with_password else None
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        if session.scalar(select(User.id).where(User.org_id == org.id, User.email == email)):
            raise click.ClickException(t(f"{email} exists", f"{email} 已存在"))
        user = User(
            org_id=org.id,
            email=email,
            name=name,
            role=role,
            salesperson_ref=salesperson_ref,
            password_hash=generate_password_hash(password) if password else None,
            active=True,
        )
        session.add(user)
        session.flush()
        record_event(session, org.id, "user.created", email, subject=("user", user.id), actor="cli")
    console.print(t(f"added {email} ({role})", f"已添加 {email}（{role}）"))


@click.group("tokens")
def tokens() -> None:
    """API tokens (stored hashed; shown once)."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True)
@click.pass_obj
def tokens_create(state: CliState, email: str, name: str) -> None:
    from webhooks.api.auth import new_token

    app = state.app()
    with transaction(app.factory) as session:
        org = get_org(session, state.org)
        user = session.scalar(select(User).where(User.org_id == org.id, User.email == email))
        if user is None:
            raise click.ClickException(t(f"no user {email}", f"没有用户 {email}"))
        token, digest = new_token()
        session.add(
            ApiToken(
                org_id=org.id, user_id=user.id, name=name, prefix=token[:10], token_hash=digest
            )
        )
        record_event(session, org.id, "token.created", name, actor="cli")
    click.echo(token)
    console.print(
        t("Store it now: it is not shown again.", "请立即保存：不会再次显示。"), style="dim"
    )


@click.command("webhook-secret")
@click.argument("source")
@click.pass_obj
def webhook_secret(state: CliState, source: str) -> None:
    """Issue a new payment-webhook secret for SOURCE and print the URLs to configure."""
    app = state.app()
    with transaction(app.factory) as session:
        found = get_source(session, get_org(session, state.org).id, source)
        secret = new_webhook_secret(secret_box(state), found)
        record_event(session, found.org_id, "source.webhook_secret", found.name, actor="cli")
        source_id = found.id
    base = (app.settings.public_url or "https://<DUNLIN_PUBLIC_URL>").rstrip("/") + "/hooks"
    console.print(f"odoo:       {base}/odoo/{source_id}/{secret}")
    console.print(f"jiandaoyun: {base}/jiandaoyun/{source_id}   (secret: {secret})")
    console.print(f"generic:    {base}/payments/{source_id}   (HMAC secret: {secret})")
