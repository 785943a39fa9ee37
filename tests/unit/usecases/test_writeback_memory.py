"""Write-back through a handed-in connector factory, against the in-memory source: notes land
once, a record the source refuses fails alone, a source that is down loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.base import SourceUnavailable
from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from sync.models import Receivable, Writeback
from sync.run import sync_sources
from sync.sources import add_source
from tests.fakes.memory_connector import MAPPING, MemoryConnector
from tests.integration.helpers import planned_reminder
from usecases.writeback import write_back


@pytest.fixture
def box(settings) -> SecretBox:
    return SecretBox(settings.require_secret_key())


@pytest.fixture
def sent(app, box, tmp_path) -> tuple[MemoryConnector, dict[str, int]]:
    """Two invoices synced from the memory source, a sent reminder on each."""
    path = tmp_path / "memory.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    memory = MemoryConnector()
    memory.put("customers", {"id": "c0", "name": "Acme"})
    memory.put(
        "receivables",
        *(
            {"id": f"r{n}", "customer": "c0", "total": 9, "open": 9, "due": "2026-12-01"}
            for n in (1, 2)
        ),
    )
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        add_source(session, box, org_id, "mem", "rest", str(path), {"url": "m:"}, {})
    (report,) = sync_sources(
        app.factory, box, "acme", sleep=lambda _s: None, open_connector=memory.open
    )
    assert report.status == "ok", report.detail
    reminders = {}
    now = datetime.now(UTC)
    with transaction(app.factory) as session:
        for invoice in session.scalars(select(Receivable).order_by(Receivable.external_id)):
            reminder = planned_reminder(session, invoice, "a@example.com", now - timedelta(hours=1))
            reminder.status, reminder.sent_at = "sent", now
            reminders[invoice.external_id] = reminder.id
    return memory, reminders


def test_notes_are_written_once_and_a_refused_record_fails_alone(app, box, sent):
    memory, reminders = sent
    memory.delete("receivables", "r2")  # gone in the source: its note is refused
    (report,) = write_back(app.factory, box, "acme", open_connector=memory.open)
    assert report.status == "ok", report.detail
    assert report.notes == 1
    ((entity, external_id, html),) = memory.notes.values()
    assert (entity, external_id) == ("receivables", "r1")
    assert f"[dunlin r{reminders['r1']}]" in html and "a@example.com" not in html
    with app.factory() as session:
        left = session.scalars(select(Writeback).where(Writeback.status != "done")).all()
    assert [w.target_external_id for w in left] == ["r2"]
    (again,) = write_back(app.factory, box, "acme", open_connector=memory.open)
    assert again.notes == 0 and len(memory.notes) == 1


def test_a_source_that_is_down_loses_nothing(app, box, sent):
    memory, _reminders = sent
    memory.fail("post_note", SourceUnavailable("timed out"), times=5)
    (report,) = write_back(app.factory, box, "acme", open_connector=memory.open)
    assert report.status == "failing" and "timed out" in report.detail
    assert memory.notes == {}
    memory.heal()
    (report,) = write_back(app.factory, box, "acme", open_connector=memory.open)
    assert report.status == "ok" and report.notes == 2 and len(memory.notes) == 2
