"""Sources (connected CRMs/ERPs) and the mapping configs they read through."""

from __future__ import annotations

from sqlalchemy import select

from connectors.base import SourceError
from dunlin.db import transaction
from dunlin.errors import DunlinError
from dunlin.events import record_event
from dunlin.models import Org
from mappings import MappingError, load_mapping, parse_mapping, shipped_names
from sync.models import Source
from sync.run import sync_one
from sync.sources import (
    add_source,
    credentials_of,
    masked_credentials,
    new_webhook_secret,
)
from usecases.sources import remove_source
from webhooks.api import bp
from webhooks.api import schemas as s
from webhooks.api.auth import Principal
from webhooks.api.common import owned, page
from webhooks.api.spec import operation
from webhooks.edge import connector_factory, dunlin_app, refuse, secret_box

ADMIN = ("admin",)
STAFF = ("admin", "finance")


def _out(source: Source) -> s.SourceOut:
    return s.SourceOut(
        id=source.id,
        name=source.name,
        kind=source.kind,
        mapping=source.mapping,
        settings=source.settings or {},
        credentials=masked_credentials(secret_box(), source),
        status=source.status,
        status_detail=source.status_detail,
        last_synced_at=source.last_synced_at,
        last_report=source.last_report,
        webhooks_enabled=source.webhook_secret_encrypted is not None,
    )


@operation(
    bp,
    "GET",
    "/sources",
    "List sources with their sync status",
    tag="sources",
    roles=STAFF,
    query=s.Page,
    response=s.SourceList,
)
def list_sources(p: Principal, query: s.Page) -> s.SourceList:
    with dunlin_app().factory() as db:
        rows, nxt = page(
            db, select(Source).where(Source.org_id == p.org_id), Source, query.after, query.limit
        )
        return s.SourceList(items=[_out(r) for r in rows], next_after=nxt)


@operation(
    bp,
    "POST",
    "/sources",
    "Connect a source (credentials are encrypted at rest)",
    tag="sources",
    roles=ADMIN,
    body=s.SourceIn,
    response=s.SourceOut,
    status=201,
)
def create_source(p: Principal, body: s.SourceIn) -> s.SourceOut:
    if body.mapping not in shipped_names():
        refuse(422, "unknown_mapping", f"no shipped mapping {body.mapping!r} / 映射不存在")
    with transaction(dunlin_app().factory) as db:
        try:
            source = add_source(
                db,
                secret_box(),
                p.org_id,
                body.name,
                body.kind,
                body.mapping,
                body.settings,
                body.credentials,
            )
        except DunlinError as exc:
            refuse(409, "exists", str(exc))
        record_event(
            db, p.org_id, "source.created", body.name, subject=("source", source.id), actor=p.actor
        )
        return _out(source)


@operation(
    bp,
    "GET",
    "/sources/<int:source_id>",
    "One source and its status",
    tag="sources",
    roles=STAFF,
    response=s.SourceOut,
)
def get_source(p: Principal, source_id: int) -> s.SourceOut:
    with dunlin_app().factory() as db:
        return _out(owned(db, Source, source_id, p))


@operation(
    bp,
    "DELETE",
    "/sources/<int:source_id>",
    "Remove a source and everything synced from it",
    tag="sources",
    roles=ADMIN,
    status=204,
)
def delete_source(p: Principal, source_id: int) -> None:
    with transaction(dunlin_app().factory) as db:
        source = owned(db, Source, source_id, p)
        counts = remove_source(db, source)
        record_event(db, p.org_id, "source.removed", source.name, actor=p.actor, data=counts)


@operation(
    bp,
    "POST",
    "/sources/<int:source_id>/test",
    "Test the connection",
    tag="sources",
    roles=STAFF,
    response=s.ConnectionOut,
)
def test_source(p: Principal, source_id: int) -> s.ConnectionOut:
    with dunlin_app().factory() as db:
        source = owned(db, Source, source_id, p)
    if source.kind == "spreadsheet":
        return s.ConnectionOut(ok=False, detail="spreadsheets are imported, not connected")
    connector = None
    try:
        connector = connector_factory()(
            load_mapping(source.mapping),
            source.settings or {},
            credentials_of(secret_box(), source),
        )
        info = connector.test()
    except (SourceError, DunlinError) as exc:
        return s.ConnectionOut(ok=False, detail=str(exc))
    finally:
        if connector is not None:
            connector.close()
    return s.ConnectionOut(
        ok=not info.missing_fields,
        detail=f"{info.server_version} as {info.user}",
        info={
            "capabilities": {k: v for k, v in info.capabilities.items() if k != "fields"},
            "missing_fields": info.missing_fields,
        },
    )


@operation(
    bp,
    "POST",
    "/sources/<int:source_id>/sync",
    "Sync now (incremental)",
    tag="sources",
    roles=STAFF,
    response=s.SyncOut,
)
def sync_source(p: Principal, source_id: int) -> s.SyncOut:
    app = dunlin_app()
    with app.factory() as db:
        source = owned(db, Source, source_id, p)
        org = db.get(Org, p.org_id)
        assert org is not None
        db.expunge(source)
    if source.kind == "spreadsheet":
        refuse(422, "not_syncable", "spreadsheets are imported with `dunlin import` / 表格请用导入")
    report = sync_one(
        app.factory, secret_box(), source, org.currency, open_connector=connector_factory()
    )
    return s.SyncOut(
        status=report.status,
        detail=report.detail,
        counts={
            "records": report.records,
            "skipped": report.skipped,
            "reminders_cancelled": report.reminders_cancelled,
        },
    )


@operation(
    bp,
    "POST",
    "/sources/<int:source_id>/webhook-secret",
    "Issue a new payment-webhook secret (the old one stops working)",
    tag="sources",
    roles=ADMIN,
    response=s.WebhookSecretOut,
    status=201,
)
def rotate_webhook_secret(p: Principal, source_id: int) -> s.WebhookSecretOut:
    with transaction(dunlin_app().factory) as db:
        source = owned(db, Source, source_id, p)
        secret = new_webhook_secret(secret_box(), source)
        record_event(
            db,
            p.org_id,
            "source.webhook_secret",
            source.name,
            subject=("source", source.id),
            actor=p.actor,
        )
    base = (dunlin_app().settings.public_url or "").rstrip("/") + "/hooks"
    return s.WebhookSecretOut(
        secret=secret,
        urls={
            "odoo": f"{base}/odoo/{source_id}/{secret}",
            "jiandaoyun": f"{base}/jiandaoyun/{source_id}",
            "generic": f"{base}/payments/{source_id}",
        },
    )


@operation(
    bp,
    "GET",
    "/mappings",
    "Shipped mapping configs",
    tag="mappings",
    roles=STAFF,
    response=s.MappingList,
)
def list_mappings(_p: Principal) -> s.MappingList:
    items = []
    for name in shipped_names():
        mapping = load_mapping(name)
        items.append(
            s.MappingOut(name=name, kind=mapping.kind, description=mapping.description or "")
        )
    return s.MappingList(items=items)


@operation(
    bp,
    "POST",
    "/mappings/validate",
    "Check a mapping config; every issue with its line",
    tag="mappings",
    roles=STAFF,
    body=s.TextIn,
    response=s.ValidationOut,
)
def validate_mapping(_p: Principal, body: s.TextIn) -> s.ValidationOut:
    try:
        parse_mapping(body.text, "mapping.yaml")
    except MappingError as exc:
        return s.ValidationOut(
            valid=False,
            issues=[s.Issue(line=i.line, field=i.field, message=i.message) for i in exc.issues],
        )
    return s.ValidationOut(valid=True, issues=[])
