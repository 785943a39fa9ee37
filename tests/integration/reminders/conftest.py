"""Ledger rows due now and a real SMTP channel, for the dispatch tests (Redis and `dunlin worker`
processes come from tests/integration/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.models import Reminder
from reminders.planning.planner import plan
from reminders.sending.channel_store import save_channel
from sync.importer import import_file
from tests.integration.helpers import row, write_sheet


def shanghai_today() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))


def due_reminders(app, tmp_path, count: int, org: str = "acme") -> list[int]:
    """`count` customers with one invoice 10 days overdue, planned, and due right now."""
    today = shanghai_today().date()
    due = (today - timedelta(days=10)).isoformat()
    rows = [row(f"K{i:04d}", f"INV-{i:04d}", due, "100") for i in range(count)]
    import_file(app.factory, org, write_sheet(tmp_path / f"{org}.csv", rows), "spreadsheet")
    plan(app.factory, org, today)
    with transaction(app.factory) as session:
        org_id = get_org(session, org).id
        session.execute(
            update(Reminder)
            .where(Reminder.org_id == org_id)
            .values(scheduled_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        ids = list(session.scalars(select(Reminder.id).where(Reminder.org_id == org_id)))
    assert len(ids) == count
    return ids


def use_smtp(app, port: int, org: str = "acme") -> None:
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as session:
        save_channel(
            session,
            box,
            get_org(session, org).id,
            "email",
            "smtp",
            {"host": "127.0.0.1", "port": port, "security": "none", "from": "ar@acme.example"},
            {},
        )


def statuses(app, org: str = "acme") -> dict[int, str]:
    with app.factory() as session:
        org_id = get_org(session, org).id
        rows = session.execute(
            select(Reminder.id, Reminder.status).where(Reminder.org_id == org_id)
        )
        return {reminder_id: status for reminder_id, status in rows}


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
