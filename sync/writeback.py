"""Write the reminder history and follow-up tasks back into the source, where salespeople look.

Idempotent through stored external ids: each note or task gets a `writebacks` row, committed as
`pending` before the source is called and marked `done` with the source's id after. A row left
`pending` (a crash between the two) is first looked up in the source by its marker, so a retry
never writes twice. Tasks closed in Dunlin (done, vetoed, cancelled) are closed in the source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from sqlalchemy import String, literal, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Connector, RecordRejected, SourceError, TaskRequest
from connectors.registry import open_connector
from dunlin.crypto import SecretBox
from dunlin.db import utcnow
from dunlin.i18n import t
from dunlin.models import Event
from dunlin.orgs import get_org
from mappings import load_mapping
from reminders.models import Reminder, Task
from sync.models import Receivable, Source, Writeback
from sync.sources import api_sources, credentials_of

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
CLOSED_TASK_STATES = ("done", "cancelled", "vetoed")
NOTE_EVENTS = (
    "customer.claimed_paid",
    "customer.promised",
    "customer.promise_broken",
    "receivable.disputed",
)


@dataclass
class WritebackReport:
    source: str
    notes: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    failed: int = 0
    status: str = "ok"
    detail: str = ""


def mask_recipient(recipient: str) -> str:
    """What a salesperson needs to recognise the contact, not the whole address."""
    if "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:1]}***@{domain}"
    if len(recipient) >= 7:
        return recipient[:-8] + "****" + recipient[-4:]
    return "***"


def note_html(reminder: Reminder, marker: str) -> str:
    sent = reminder.sent_at.strftime("%Y-%m-%d %H:%M UTC") if reminder.sent_at else "-"
    text = t(
        f"Payment reminder ({reminder.step}) sent by {reminder.channel} to "
        f"{mask_recipient(reminder.recipient)} at {sent}; open {reminder.currency} "
        f"{reminder.amount_open}.",
        f"已通过 {reminder.channel} 向 {mask_recipient(reminder.recipient)} 发送催款提醒"
        f"（{reminder.step}），时间 {sent}；未收 {reminder.currency} {reminder.amount_open}。",
    )
    return f"<p>{escape(text)} <small>{escape(marker)}</small></p>"


class SourceWriteback:
    def __init__(
        self, factory: sessionmaker[Session], source: Source, connector: Connector
    ) -> None:
        self.factory = factory
        self.source = source
        self.connector = connector
        self.report = WritebackReport(source.name)

    def run(self, limit: int = 500) -> WritebackReport:
        try:
            self._notes(limit)
            self._event_notes(limit)
            self._tasks(limit)
            self._close_tasks(limit)
        except SourceError as exc:  # down or refusing us: the rest waits for the next run
            self.report.status, self.report.detail = "failing", str(exc)
        return self.report

    # ---- the ledger --------------------------------------------------------------------------

    def _claim(self, kind: str, local_ref: str, entity: str, target: str) -> Writeback:
        with self.factory.begin() as session:
            row = session.scalar(
                select(Writeback).where(
                    Writeback.org_id == self.source.org_id,
                    Writeback.source_id == self.source.id,
                    Writeback.kind == kind,
                    Writeback.local_ref == local_ref,
                )
            )
            if row is None:
                row = Writeback(
                    org_id=self.source.org_id,
                    source_id=self.source.id,
                    kind=kind,
                    local_ref=local_ref,
                    entity=entity,
                    target_external_id=target,
                    status="pending",
                    attempts=0,
                )
                session.add(row)
            row.attempts += 1
            session.flush()
            session.expunge(row)
            return row

    def _finish(
        self, row: Writeback, status: str, external_id: str | None, error: str | None
    ) -> None:
        with self.factory.begin() as session:
            stored = session.get(Writeback, row.id)
            assert stored is not None
            stored.status, stored.error = status, error
            if external_id is not None:
                stored.external_id = external_id
            stored.updated_at = utcnow()

    def _write(
        self, row: Writeback, find: Callable[[], str | None], create: Callable[[], str]
    ) -> bool:
        try:
            existing = find() if row.attempts > 1 else None
            self._finish(row, "done", existing or create(), None)
            return True
        except RecordRejected as exc:
            status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
            self._finish(row, status, None, str(exc))
            self.report.failed += 1
            log.warning("write-back %s %s refused: %s", row.kind, row.local_ref, exc)
            return False

    def _written(self, kind: str, prefix: str, id_column: Any, statuses: tuple[str, ...]) -> Any:
        """EXISTS: a write-back of this row that needs no more work (filtered in SQL, so a run
        reads only what is left to write, not the whole history)."""
        return (
            select(Writeback.id)
            .where(
                Writeback.org_id == self.source.org_id,
                Writeback.source_id == self.source.id,
                Writeback.kind == kind,
                Writeback.status.in_(statuses),
                Writeback.local_ref == _local_ref(prefix, id_column),
            )
            .exists()
        )

    # ---- notes and tasks ---------------------------------------------------------------------

    def _notes(self, limit: int) -> None:
        with self.factory() as session:
            todo = session.execute(
                select(Reminder, Receivable.external_id)
                .join(Receivable, Receivable.id == Reminder.target_receivable_id)
                .where(
                    Reminder.org_id == self.source.org_id,
                    Reminder.status == "sent",
                    Receivable.source_id == self.source.id,
                    ~self._written("note", "r", Reminder.id, ("done", "failed")),
                )
                .order_by(Reminder.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        for reminder, external_id in todo:
            ref = f"r{reminder.id}"
            self._note(ref, external_id, note_html(reminder, f"[dunlin {ref}]"))

    def _event_notes(self, limit: int) -> None:
        """Promises, disputes, "I have paid" claims and broken promises, as notes on the
        invoice, so the salesperson sees them in the CRM."""
        with self.factory() as session:
            todo = session.execute(
                select(Event, Receivable.external_id)
                .join(Receivable, Receivable.id == Event.subject_id)
                .where(
                    Event.org_id == self.source.org_id,
                    Event.subject_type == "receivable",
                    Event.kind.in_(NOTE_EVENTS),
                    Receivable.source_id == self.source.id,
                    ~self._written("note", "e", Event.id, ("done", "failed")),
                )
                .order_by(Event.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        for event, external_id in todo:
            ref = f"e{event.id}"
            marker = f"[dunlin {ref}]"
            self._note(
                ref, external_id, f"<p>{escape(event.summary)} <small>{escape(marker)}</small></p>"
            )

    def _note(self, ref: str, external_id: str, html: str) -> None:
        """One note on an invoice, written once (its marker finds it after a crash)."""
        marker = f"[dunlin {ref}]"
        row = self._claim("note", ref, "receivables", external_id)
        if self._write(
            row,
            lambda: self.connector.find_note("receivables", external_id, marker),
            lambda: self.connector.post_note("receivables", external_id, html),
        ):
            self.report.notes += 1

    def _tasks(self, limit: int) -> None:
        with self.factory() as session:
            todo = session.execute(
                select(Task, Receivable.external_id)
                .join(Receivable, Receivable.id == Task.receivable_id)
                .where(
                    Task.org_id == self.source.org_id,
                    Task.status == "open",
                    Receivable.source_id == self.source.id,
                    ~self._written("task", "t", Task.id, ("done", "failed", "closed")),
                )
                .order_by(Task.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        for task, external_id in todo:
            marker = f"[dunlin t{task.id}]"
            request = TaskRequest(
                entity="receivables",
                external_id=external_id,
                summary=f"{task.summary[:200]} {marker}",
                note_html=f"<p>{escape(task.summary)}</p>",
                due_on=task.due_on,
                user_ref=task.assignee if task.assignee and task.assignee.isdigit() else None,
            )
            row = self._claim("task", f"t{task.id}", "receivables", external_id)
            if self._write(
                row,
                lambda r=request, m=marker: self.connector.find_task(r, m),
                lambda r=request: self.connector.create_task(r),
            ):
                self.report.tasks_created += 1

    def _close_tasks(self, limit: int) -> None:
        with self.factory() as session:
            rows = session.execute(
                select(Writeback, Task.status)
                .join(Task, Writeback.local_ref == _local_ref("t", Task.id))
                .where(
                    Writeback.org_id == self.source.org_id,
                    Task.org_id == self.source.org_id,
                    Writeback.source_id == self.source.id,
                    Writeback.kind == "task",
                    Writeback.status == "done",
                    Task.status.in_(CLOSED_TASK_STATES),
                )
                .limit(limit)
            ).all()
            session.expunge_all()
        for row, _status in rows:
            try:
                self.connector.close_task(str(row.external_id))
            except RecordRejected as exc:
                self._finish(row, "failed", None, str(exc))
                self.report.failed += 1
                continue
            self._finish(row, "closed", None, None)
            self.report.tasks_closed += 1


def _local_ref(prefix: str, id_column: Any) -> Any:
    """The `writebacks.local_ref` of a Dunlin row, in SQL: "r" || id, "t" || id."""
    return literal(prefix) + id_column.cast(String())


def write_back(
    factory: sessionmaker[Session], box: SecretBox, org_slug: str, names: list[str] | None = None
) -> list[WritebackReport]:
    with factory() as session:
        org = get_org(session, org_slug)
        sources = api_sources(session, org.id, names)
    reports = []
    for source in sources:
        try:
            connector = open_connector(
                load_mapping(source.mapping), source.settings or {}, credentials_of(box, source)
            )
        except SourceError as exc:
            reports.append(WritebackReport(source.name, status="failing", detail=str(exc)))
            continue
        try:
            reports.append(SourceWriteback(factory, source, connector).run())
        finally:
            connector.close()
    return reports
