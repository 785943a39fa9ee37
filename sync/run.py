"""Syncing an org's sources: each one in turn, a failing one recorded with its reason (status,
alert, event) without stopping the others."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from connectors.base import ConnectorFactory, SourceError
from connectors.registry import open_connector
from dunlin.alerts import alert
from dunlin.crypto import SecretBox
from dunlin.db import utcnow
from dunlin.events import record_event
from dunlin.log import redact, redacting_filter
from dunlin.orgs import get_org
from mappings import load_mapping
from sync.engine import SourceSync, SyncReport
from sync.models import Source
from sync.sources import api_sources, credentials_of

log = logging.getLogger(__name__)


def sync_sources(
    factory: sessionmaker[Session],
    box: SecretBox,
    org_slug: str,
    names: list[str] | None = None,
    *,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[str, str, int], None] | None = None,
    open_connector: ConnectorFactory = open_connector,
) -> list[SyncReport]:
    """Sync each API source of the org (or the named ones); one failing source does not stop
    the others, and its status says why. `open_connector` opens each source's connector
    (tests pass an in-memory one)."""
    with factory() as session:
        org = get_org(session, org_slug)
        sources = api_sources(session, org.id, names)
    reports = []
    for source in sources:
        reports.append(
            sync_one(
                factory,
                box,
                source,
                org.currency,
                full,
                sleep,
                on_progress,
                open_connector=open_connector,
            )
        )
    return reports


def sync_one(
    factory: sessionmaker[Session],
    box: SecretBox,
    source: Source,
    currency: str,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[str, str, int], None] | None = None,
    entities: frozenset[str] | None = None,
    open_connector: ConnectorFactory = open_connector,
) -> SyncReport:
    report = SyncReport(source.name)
    connector = None
    try:
        mapping = load_mapping(source.mapping)
        connector = open_connector(mapping, source.settings or {}, credentials_of(box, source))
        progress = (lambda e, n: on_progress(source.name, e, n)) if on_progress else None
        runner = SourceSync(
            factory,
            source,
            mapping,
            connector,
            default_currency=currency,
            sleep=sleep,
            on_progress=progress,
        )
        report = runner.run(full=full, entities=entities)
    except SourceError as exc:
        # A source may echo what we sent; known secrets never reach status or logs.
        report.status, report.detail = (
            "failing",
            redact(str(exc), frozenset(redacting_filter.known)),
        )
        log.error("sync %s failed: %s", source.name, exc)
    finally:
        if connector is not None:
            connector.close()
    _record_outcome(factory, source, report)
    return report


def _record_outcome(factory: sessionmaker[Session], source: Source, report: SyncReport) -> None:
    with factory.begin() as session:
        row = session.get(Source, source.id)
        assert row is not None
        if report.status == "failing" and row.status != "failing":  # once per outage
            alert(
                f"source {source.name} failing",
                f"数据源 {source.name} 同步失败",
                f"{report.detail} — nothing past the last committed page was recorded; the next "
                "sync resumes there / 仅保存到最后提交的一页，下次同步从那里继续",
            )
        row.status, row.status_detail = report.status, report.detail
        if report.status == "ok":
            row.last_synced_at = utcnow()
        row.last_report = {
            "records": report.records,
            "skipped": report.skipped,
            "skipped_sample": report.skipped_sample,
            "reminders_cancelled": report.reminders_cancelled,
            "reconciled": report.reconciled,
            "at": utcnow().isoformat(),
        }
        kind = "sync.completed" if report.status == "ok" else "sync.failed"
        message = (
            f"synced {source.name}: {report.records} records, {report.skipped} skipped"
            if report.status == "ok"
            else f"sync of {source.name} failed: {report.detail}"
        )
        record_event(session, source.org_id, kind, message, subject=("source", source.id))
