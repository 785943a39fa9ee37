"""Write-back in batches: a few dozen source calls for hundreds of records, idempotent on a
re-run, and one record the source refuses does not lose the others (fake Odoo and fake K3Cloud
over real HTTP)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect, select, update

from connectors.base import NoteRequest, RecordRejected, TaskRequest
from reminders.models import Reminder
from sync.models import Writeback
from tests.integration.sync.test_kingdee_sync import _connector as k3_connector
from tests.integration.sync.test_odoo_writeback import _notes, _synced_and_sent
from usecases.writeback import write_back


def _more_sent(app, count: int) -> None:
    """Copies of a sent reminder (new idempotency keys), up to `count` sent in all."""
    with app.factory.begin() as s:
        sent = s.scalars(select(Reminder).where(Reminder.status == "sent")).all()
        columns = [c.key for c in inspect(Reminder).column_attrs if c.key != "id"]
        for n in range(count - len(sent)):
            source = sent[n % len(sent)]
            values = {c: getattr(source, c) for c in columns}
            values["idempotency_key"] = f"{source.idempotency_key}-copy{n}"
            s.add(Reminder(**values))


def test_three_hundred_notes_take_a_few_dozen_calls_and_are_not_rewritten(app, box, odoo, tmp_path):
    _synced_and_sent(app, box, odoo, tmp_path)
    _more_sent(app, 300)
    odoo.calls.clear()
    (report,) = write_back(app.factory, box, "acme")
    assert report.status == "ok", report.detail
    assert report.notes == 300 == len(_notes(odoo))
    writes = [c for c in odoo.calls if c[1] == "create"]
    assert len(odoo.calls) <= 24, odoo.calls  # was two per record (600)
    assert len(writes) <= 3
    odoo.calls.clear()
    (again,) = write_back(app.factory, box, "acme")
    assert again.notes == 0 and len(_notes(odoo)) == 300
    assert not [c for c in odoo.calls if c[1] == "create"]


def test_a_crash_after_a_batch_is_found_by_one_lookup_not_rewritten(app, box, odoo, tmp_path):
    _synced_and_sent(app, box, odoo, tmp_path)
    _more_sent(app, 120)
    write_back(app.factory, box, "acme")
    with app.factory.begin() as s:  # the answers were never recorded
        s.execute(update(Writeback).values(status="pending", external_id=None))
    odoo.calls.clear()
    (report,) = write_back(app.factory, box, "acme")
    assert report.status == "ok" and report.notes == 120 == len(_notes(odoo))
    lookups = [c for c in odoo.calls if c == ("mail.message", "search_read")]
    assert len(lookups) == 1 and not [c for c in odoo.calls if c[1] == "create"]


def test_an_invoice_deleted_in_odoo_fails_alone(app, box, odoo, tmp_path):
    _synced_and_sent(app, box, odoo, tmp_path)
    _more_sent(app, 60)
    with app.factory() as s:
        reminders = s.scalars(select(Reminder).where(Reminder.status == "sent")).all()
    # delete the invoice of one reminder in Odoo: its note is refused, the others written
    from sync.models import Receivable

    with app.factory() as s:
        victim = s.get(Receivable, reminders[0].target_receivable_id)
        hit = sum(1 for r in reminders if r.target_receivable_id == victim.id)
    odoo.db.delete("account.move", [int(victim.external_id)])
    (report,) = write_back(app.factory, box, "acme")
    assert report.status == "ok" and report.notes == len(reminders) - hit
    assert len(_notes(odoo)) == len(reminders) - hit
    with app.factory() as s:
        pending = s.scalars(
            select(Writeback).where(Writeback.kind == "note", Writeback.status != "done")
        ).all()
    assert len(pending) == hit and all(w.target_external_id == victim.external_id for w in pending)
    assert all(w.status == "pending" and "no account.move" in w.error for w in pending)


def test_a_batch_odoo_refuses_is_retried_per_record(odoo):
    """Odoo's create is one transaction: the connector finds the one record it refuses."""
    from connectors.odoo import OdooConnector
    from mappings import load_mapping

    connector = OdooConnector(
        load_mapping("odoo"),
        {"url": odoo.url, "database": "prod", "rate_limit": 0},
        {"login": "dunlin", "password": "secret"},
    )
    moves = sorted(odoo.db.tables["account.move"])[:5]
    notes = [
        NoteRequest("receivables", str(m), f"<p>n{i} [dunlin r{i}]</p>", f"[dunlin r{i}]")
        for i, m in enumerate(moves)
    ]
    # the record exists at the lookup, then goes before the create: Odoo refuses the batch
    real_call = connector.client.call

    def racing(model, method, *args, **kwargs):
        if (model, method) == ("mail.message", "create"):
            odoo.db.delete("account.move", [moves[2]])
            connector.client.call = real_call
        return real_call(model, method, *args, **kwargs)

    connector.client.call = racing
    results = connector.post_notes(notes)
    assert [isinstance(r, RecordRejected) for r in results] == [False, False, True, False, False]
    assert (
        len([m for m in odoo.db.tables["mail.message"].values() if "[dunlin r" in m["body"]]) == 4
    )
    assert connector.find_notes(notes) == {
        n.marker: r for n, r in zip(notes, results, strict=True) if isinstance(r, str)
    }
    connector.close()


def test_k3cloud_batch_save_one_call_one_refusal(k3cloud):
    connector = k3_connector(k3cloud, "signature")
    bills = sorted(k3cloud.forms["AR_receivable"])
    k3cloud.add_bill("C404", [(10.0, 0.0, "2026-12-01")])  # its customer does not exist
    bad_bill = max(k3cloud.forms["AR_receivable"])
    targets = [*bills, bad_bill, 999]  # 999: no such bill
    notes = [
        NoteRequest("receivables", str(b), f"<p>sent [dunlin r{i}]</p>", f"[dunlin r{i}]")
        for i, b in enumerate(targets)
    ]
    k3cloud.calls.clear()
    results = connector.post_notes(notes)
    assert k3cloud.calls == ["ExecuteBillQuery", "BatchSave"]
    refused = [i for i, r in enumerate(results) if isinstance(r, RecordRejected)]
    assert refused == [len(bills), len(bills) + 1]
    assert "C404" in str(results[len(bills)]) and "not found" in str(results[-1])
    log = k3cloud.forms["k1234_DUNNING_LOG"]
    assert len(log) == len(bills)
    k3cloud.calls.clear()
    found = connector.find_notes(notes)
    assert k3cloud.calls == ["ExecuteBillQuery", "ExecuteBillQuery"]
    assert found == {n.marker: r for n, r in zip(notes, results, strict=True) if isinstance(r, str)}
    tasks = [
        TaskRequest("receivables", str(b), f"Call [dunlin t{i}]", "<p>x</p>", date(2026, 12, 5))
        for i, b in enumerate(bills)
    ]
    created = connector.create_tasks(tasks)
    assert all(isinstance(r, str) for r in created)
    assert all(log[int(r)]["F_DL_Status"] == "open" for r in created)
    assert connector.find_tasks([(t, f"[dunlin t{i}]") for i, t in enumerate(tasks)]) == {
        f"[dunlin t{i}]": r for i, r in enumerate(created)
    }
    k3cloud.calls.clear()
    assert connector.close_tasks(created) == created
    assert k3cloud.calls == ["BatchSave"]
    assert all(log[int(r)]["F_DL_Status"] == "closed" for r in created)
    connector.close()


@pytest.mark.parametrize("marker", ["[dunlin r1]", "[dunlin r12]"])
def test_k3cloud_single_lookup_matches_the_marker_exactly(k3cloud, marker):
    """SQL Server's LIKE reads "[...]" as a character class, so the lookup searches from after
    the bracket and r1 never finds r12's note."""
    connector = k3_connector(k3cloud, "signature")
    bill = next(iter(k3cloud.forms["AR_receivable"]))
    other = "[dunlin r12]" if marker == "[dunlin r1]" else "[dunlin r1]"
    connector.post_note("receivables", str(bill), f"<p>x {other}</p>")
    assert connector.find_note("receivables", str(bill), marker) is None
    connector.close()


def test_a_run_pages_through_everything_left(app, box, odoo, tmp_path):
    """A run is not capped at one page: 130 notes in pages of 50 are all written."""
    from connectors.registry import open_connector
    from mappings import load_mapping
    from sync.models import Source
    from sync.sources import credentials_of
    from usecases.writeback import SourceWriteback

    _synced_and_sent(app, box, odoo, tmp_path)
    _more_sent(app, 130)
    with app.factory() as s:
        source = s.scalar(select(Source))
        s.expunge_all()
    connector = open_connector(
        load_mapping(source.mapping), source.settings or {}, credentials_of(box, source)
    )
    odoo.calls.clear()
    report = SourceWriteback(app.factory, source, connector).run(limit=50)
    connector.close()
    assert report.notes == 130 == len(_notes(odoo))
    assert len([c for c in odoo.calls if c == ("mail.message", "create")]) == 3


def test_closing_many_tasks_takes_two_calls(app, box, odoo, tmp_path):
    from reminders.models import Task

    _sent, tasks = _synced_and_sent(app, box, odoo, tmp_path)
    if not tasks:
        pytest.skip("the default policy made no task for this seed")
    write_back(app.factory, box, "acme")
    gone = next(iter(odoo.db.tables["mail.activity"]))
    odoo.db.delete("mail.activity", [gone])  # done in Odoo already: nothing to close
    with app.factory.begin() as s:
        s.execute(update(Task).values(status="done"))
    odoo.calls.clear()
    (report,) = write_back(app.factory, box, "acme")
    assert report.tasks_closed == len(tasks) and odoo.db.tables["mail.activity"] == {}
    assert [c for c in odoo.calls if c[0] == "mail.activity"] == [
        ("mail.activity", "search"),
        ("mail.activity", "action_feedback"),
    ]
