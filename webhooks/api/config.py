"""Policies (validated, versioned, previewed) and channels (configured, tested)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from dunlin.db import transaction
from dunlin.errors import ConfigError, NotFound
from dunlin.events import record_event
from dunlin.models import Org
from dunlin.vocabulary import CHANNELS
from dunlin.yamlsource import ConfigFileError
from reminders.models import ChannelConfig, PolicyVersion
from reminders.planning.planner import plan
from reminders.planning.policy_file import parse_policy
from reminders.planning.policy_store import org_tags, org_templates, save_version
from reminders.sending.channel_store import (
    channel_configs,
    get_channel,
    masked_secrets,
    remove_channel,
    save_channel,
    test_message,
)
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.registry import HeldChannel, build_channel
from reminders.sending.links import receipt_path_token
from webhooks.api import bp
from webhooks.api import schemas as s
from webhooks.api.auth import Principal
from webhooks.api.common import page
from webhooks.api.spec import ApiRefused, operation
from webhooks.edge import dunlin_app, refuse, secret_box

ADMIN = ("admin",)
STAFF = ("admin", "finance")
CHANNEL_NAME = f"<any({','.join(CHANNELS)}):name>"


def _issues(exc: ConfigFileError) -> list[s.Issue]:
    return [s.Issue(line=i.line, field=i.field, message=i.message) for i in exc.issues]


@operation(
    bp,
    "GET",
    "/policies",
    "Policy versions (newest first per name)",
    tag="policies",
    roles=STAFF,
    query=s.Page,
    response=s.PolicyList,
)
def list_policies(p: Principal, query: s.Page) -> s.PolicyList:
    with dunlin_app().factory() as db:
        base = select(PolicyVersion).where(PolicyVersion.org_id == p.org_id)
        rows, nxt = page(db, base, PolicyVersion, query.after, query.limit)
        return s.PolicyList(
            items=[s.PolicyVersionOut.model_validate(r, from_attributes=True) for r in rows],
            next_after=nxt,
        )


@operation(
    bp,
    "POST",
    "/policies",
    "Store a policy as a new version and activate it",
    tag="policies",
    roles=ADMIN,
    body=s.PolicyIn,
    response=s.PolicyVersionOut,
    status=201,
    beyond_schema="the text is not a valid policy",
)
def create_policy(p: Principal, body: s.PolicyIn) -> s.PolicyVersionOut:
    with transaction(dunlin_app().factory) as db:
        try:
            version, _new = save_version(db, p.org_id, body.text, "policy.yaml", actor=p.actor)
        except ConfigFileError as exc:
            raise _invalid(exc) from exc
        record_event(
            db, p.org_id, "policy.activated", f"{version.name}@v{version.version}", actor=p.actor
        )
        return s.PolicyVersionOut.model_validate(version, from_attributes=True)


def _invalid(exc: ConfigFileError) -> Exception:
    fields = [{"field": i.field, "message": i.message, "line": i.line} for i in exc.issues]
    return ApiRefused(422, "invalid_policy", "the policy is not valid / 策略无效", fields)


@operation(
    bp,
    "POST",
    "/policies/validate",
    "Check a policy; every issue with its line",
    tag="policies",
    roles=STAFF,
    body=s.TextIn,
    response=s.ValidationOut,
)
def validate_policy(p: Principal, body: s.TextIn) -> s.ValidationOut:
    with dunlin_app().factory() as db:
        tags, names = org_tags(db, p.org_id), org_templates(db, p.org_id)
    try:
        parse_policy(body.text, "policy.yaml", known_tags=tags, templates=names)
    except ConfigFileError as exc:
        return s.ValidationOut(valid=False, issues=_issues(exc))
    return s.ValidationOut(valid=True, issues=[])


@operation(
    bp,
    "POST",
    "/policies/preview",
    "What a policy would plan on a day (writes nothing)",
    tag="policies",
    roles=STAFF,
    body=s.PreviewIn,
    response=s.PreviewOut,
    beyond_schema="the text is not a valid policy",
)
def preview_policy(p: Principal, body: s.PreviewIn) -> s.PreviewOut:
    app = dunlin_app()
    with app.factory() as db:
        org = db.get(Org, p.org_id)
        assert org is not None
        tags, names = org_tags(db, p.org_id), org_templates(db, p.org_id)
    policy = None
    if body.text:
        try:
            policy = parse_policy(body.text, "policy.yaml", known_tags=tags, templates=names)
        except ConfigFileError as exc:
            raise _invalid(exc) from exc
    on = body.on or datetime.now(UTC).date()
    report = plan(app.factory, org.slug, on, policy=policy, dry_run=True, keep=body.limit)
    return s.PreviewOut(
        on=on,
        planned=report.planned_count,
        items=[
            s.PreviewItem(
                customer_id=item.customer.fact.id,
                step=item.decision.occurrence.name,
                channel="+".join(c for c, _ in item.decision.deliveries) or "task",
                scheduled_at=item.scheduled_at,
            )
            for item in report.planned
        ],
        skipped=dict(report.skipped),
    )


def _channel_out(config: ChannelConfig) -> s.ChannelOut:
    public = dunlin_app().settings.public_url
    key = dunlin_app().settings.secret_key_material
    receipt = None
    if public and key:
        receipt = (
            f"{public.rstrip('/')}/hooks/receipts/{config.id}/{receipt_path_token(key, config.id)}"
        )
    return s.ChannelOut(
        id=config.id,
        name=config.name,
        provider=config.provider,
        settings=config.settings or {},
        secrets=masked_secrets(secret_box(), config),
        broken_reason=config.broken_reason,
        receipt_url=receipt,
    )


@operation(
    bp,
    "GET",
    "/channels",
    "Configured channels (secrets masked)",
    tag="channels",
    roles=STAFF,
    response=s.ChannelList,
)
def list_channels(p: Principal) -> s.ChannelList:
    with dunlin_app().factory() as db:
        configs = channel_configs(db, p.org_id)
        return s.ChannelList(items=[_channel_out(c) for _n, c in sorted(configs.items())])


@operation(
    bp,
    "PUT",
    f"/channels/{CHANNEL_NAME}",
    "Configure a channel (re-enables a broken one)",
    tag="channels",
    roles=ADMIN,
    body=s.ChannelIn,
    response=s.ChannelOut,
    beyond_schema="the provider cannot work with these settings and secrets",
)
def put_channel(p: Principal, name: str, body: s.ChannelIn) -> s.ChannelOut:
    box = secret_box()
    # Build it first: a config that cannot work is refused and nothing is stored.
    ctx = ChannelContext(dunlin_app().settings.resolved_outbox_dir)
    built = build_channel(_probe(name, body), name, box, ctx)
    if isinstance(built, HeldChannel):
        refuse(422, "bad_channel", built.reason)
    built.close()
    with transaction(dunlin_app().factory) as db:
        try:
            config = save_channel(
                db, box, p.org_id, name, body.provider, body.settings, body.secrets
            )
        except ConfigError as exc:
            refuse(422, "bad_channel", str(exc))
        return _channel_out(config)


def _probe(name: str, body: s.ChannelIn) -> ChannelConfig:
    config = ChannelConfig(name=name, provider=body.provider, settings=body.settings)
    config.secrets = secret_box().encrypt(body.secrets) if body.secrets else None
    return config


@operation(
    bp,
    "DELETE",
    f"/channels/{CHANNEL_NAME}",
    "Remove a channel's config",
    tag="channels",
    roles=ADMIN,
    status=204,
)
def delete_channel(p: Principal, name: str) -> None:
    with transaction(dunlin_app().factory) as db:
        try:
            remove_channel(db, p.org_id, name)
        except NotFound as exc:
            refuse(404, "not_found", str(exc))


@operation(
    bp,
    "POST",
    f"/channels/{CHANNEL_NAME}/test",
    "Send one real test message",
    tag="channels",
    roles=ADMIN,
    body=s.ChannelTestIn,
    response=s.ChannelTestOut,
)
def test_channel(p: Principal, name: str, body: s.ChannelTestIn) -> s.ChannelTestOut:
    app = dunlin_app()
    with app.factory() as db:
        org = db.get(Org, p.org_id)
        assert org is not None
        try:
            config = get_channel(db, p.org_id, name)
        except NotFound:
            config = None
        db.expunge_all()
    channel = build_channel(
        config, name, secret_box(), ChannelContext(app.settings.resolved_outbox_dir / org.slug)
    )
    try:
        result = channel.send(test_message(org, name, body.to, datetime.now(UTC)))
    finally:
        channel.close()
    return s.ChannelTestOut(
        outcome=result.outcome.value,
        detail=result.detail,
        provider_message_id=result.provider_message_id,
    )
