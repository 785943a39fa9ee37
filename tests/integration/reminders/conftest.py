"""Real Redis, real RQ workers (subprocesses running `dunlin worker`) and a real SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from sqlalchemy import select, update

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.channel_store import save_channel
from reminders.models import Reminder
from reminders.planner import plan
from sync.importer import import_file
from tests.conftest import service_missing
from tests.integration.helpers import row, write_sheet

REDIS_URL = os.environ.get("DUNLIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis() -> Iterator[Redis]:
    conn = Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is unusable
        service_missing("Redis", exc)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


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


@pytest.fixture
def worker(app, redis) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `dunlin worker` processes against this test's database and Redis."""
    started: list[subprocess.Popen] = []
    settings = app.settings

    def start(*args: str, heartbeat: int = 2) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
        env.update(
            DUNLIN_DATABASE_URL=settings.resolved_database_url,
            DUNLIN_SECRET_KEY=settings.require_secret_key(),
            DUNLIN_REDIS_URL=REDIS_URL,
            DUNLIN_DATA_DIR=str(settings.data_dir),
            DUNLIN_JOB_HEARTBEAT_SECONDS=str(heartbeat),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "dunlin", "worker", "--queues", "email", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
