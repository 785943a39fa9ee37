"""Write the reminder history and follow-up tasks back into the source, where salespeople look.

Idempotent through stored external ids: each note or task gets a `writebacks` row, committed as
`pending` before the source is called and marked `done` with the source's id after. A row left
`pending` (a crash between the two) is first looked up in the source by its marker, so a retry
never writes twice. Tasks closed in Dunlin (done, vetoed, cancelled) are closed in the source.

Everything goes in batches: the ledger rows of a run are claimed in one transaction, the markers
of retried rows are looked up in one call, and the writes go as lists (`BatchWriter`), so a
day's write-back is a few dozen calls to the source rather than two per record. A record the
source refuses is reported on its own; the rest of its batch is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from sqlalchemy import String, and_, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from connectors.base import (
    BatchWriter,
    Connector,
    ConnectorFactory,
    NoteRequest,
    RecordRejected,
    SourceError,
    TaskRequest,
    WriteResults,
    batch_writer,
    chunks,
)
from connectors.registry import open_connector
from dunlin.crypto import SecretBox
from dunlin.db import utcnow
from dunlin.i18n import ui_language
from dunlin.models import Event
from dunlin.orgs import get_org
from mappings import load_mapping
from reminders.core.statuses import SENT
from reminders.models import Reminder, Task
from sync.models import Receivable, Source, Writeback
from sync.sources import api_sources, credentials_of

# (row, status, external id, error) for one written row, as _finish_all records it.
WriteOutcome = tuple[Any, str, str | None, str | None]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
LEDGER = aliased(Writeback)  # joined to a page, apart from the NOT EXISTS on Writeback
CHUNK = 500  # records per write call, a page: well under what Odoo and K3Cloud take at once
CLOSED_TASK_STATES = ("done", "cancelled", "vetoed")
NOTE_EVENTS = (
    "customer.claimed_paid",
    "customer.promised",
    "customer.promise_broken",
    "receivable.disputed",
)


@dataclass(frozen=True)
class Claimed:
    """A ledger row claimed for this run: what the write needs of it."""

    id: int
    kind: str
    local_ref: str
    attempts: int


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


def note_html(reminder: Any, marker: str, language: str | None = None) -> str:
    """The note of a sent reminder (a Reminder, or a row with its columns); `language` as
    `ui_language()` gives it, passed in by callers writing many notes."""
    sent = reminder.sent_at.strftime("%Y-%m-%d %H:%M UTC") if reminder.sent_at else "-"
    recipient = mask_recipient(reminder.recipient)
    if (language or ui_language()) == "zh":
        text = (
            f"已通过 {reminder.channel} 向 {recipient} 发送催款提醒"
            f"（{reminder.step}），时间 {sent}；未收 {reminder.currency} {reminder.amount_open}。"
        )
    else:
        text = (
            f"Payment reminder ({reminder.step}) sent by {reminder.channel} to {recipient} at "
            f"{sent}; open {reminder.currency} {reminder.amount_open}."
        )
    return f"<p>{escape(text)} <small>{escape(marker)}</small></p>"


class SourceWriteback:
    def __init__(
        self, factory: sessionmaker[Session], source: Source, connector: Connector
    ) -> None:
        self.factory = factory
        self.source = source
        self.connector = connector
        self.writer: BatchWriter = batch_writer(connector)
        self.report = WritebackReport(source.name)

    def run(self, limit: int = 500) -> WritebackReport:
        try:  # each kind in pages of `limit`, by id, until none is left
            for page in (self._notes, self._event_notes, self._tasks):
                after: int | None = 0
                while after is not None:
                    after = page(limit, after)
            while self._close_tasks(limit) == limit:
                pass
        except SourceError as exc:  # down or refusing us: the rest waits for the next run
            self.report.status, self.report.detail = "failing", str(exc)
        return self.report

    # ---- the ledger --------------------------------------------------------------------------

    def _claim(
        self,
        kind: str,
        items: list[tuple[str, str]],
        known: dict[str, tuple[int, int]] | None = None,
    ) -> list[Claimed]:
        """The ledger rows of (local_ref, target) pairs, created `pending` where new, with one
        more attempt counted, committed before the source is called: a few statements for the
        whole batch (Core, not one ORM object per row). `known`: the rows already there as
        local_ref → (id, attempts), when the caller read them with its page."""
        refs = [ref for ref, _target in items]
        mine = (
            Writeback.org_id == self.source.org_id,
            Writeback.source_id == self.source.id,
            Writeback.kind == kind,
        )
        with self.factory.begin() as session:
            if known is None:
                known = {
                    row.local_ref: (row.id, row.attempts)
                    for row in session.execute(
                        select(Writeback.id, Writeback.local_ref, Writeback.attempts).where(
                            *mine, Writeback.local_ref.in_(refs)
                        )
                    )
                }
            claimed = {
                ref: Claimed(row_id, kind, ref, attempts + 1)
                for ref, (row_id, attempts) in known.items()
            }
            if known:
                session.execute(
                    update(Writeback)
                    .where(Writeback.id.in_([row_id for row_id, _attempts in known.values()]))
                    .values(attempts=Writeback.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
            now = utcnow()
            new = [
                {
                    "org_id": self.source.org_id,
                    "source_id": self.source.id,
                    "kind": kind,
                    "local_ref": ref,
                    "entity": "receivables",
                    "target_external_id": target,
                    "status": "pending",
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for ref, target in items
                if ref not in known
            ]
            if new:  # one multi-row INSERT ... RETURNING (SQLAlchemy's insertmanyvalues)
                table = Writeback.__table__
                inserted = session.connection().execute(
                    insert(table).returning(table.c.id, table.c.local_ref),
                    new,
                )
                claimed.update(
                    (row.local_ref, Claimed(row.id, kind, row.local_ref, 1)) for row in inserted
                )
        return [claimed[ref] for ref in refs]

    def _finish_all(self, outcomes: list[WriteOutcome]) -> None:
        """(row, status, external id, error) for many rows: one executemany, one transaction."""
        if not outcomes:
            return
        table = Writeback.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(
                status=bindparam("new_status"),
                error=bindparam("new_error"),
                external_id=func.coalesce(bindparam("new_external_id"), table.c.external_id),
                updated_at=bindparam("now"),
            )
        )
        now = utcnow()
        with self.factory.begin() as session:
            session.connection().execute(
                statement,
                [
                    {
                        "row_id": row.id,
                        "new_status": status,
                        "new_error": error,
                        "new_external_id": external_id,
                        "now": now,
                    }
                    for row, status, external_id, error in outcomes
                ],
            )

    def _write_all(
        self,
        rows: list[Claimed],
        markers: list[str],
        find: Callable[[list[int]], dict[str, str]],
        create: Callable[[list[int]], WriteResults],
    ) -> int:
        """Write the claimed rows: retried ones are first looked up by marker (one call), the
        rest created in chunks; each chunk's outcome is recorded before the next is sent, so an
        outage midway loses nothing. `find`/`create` take indexes into `rows`. Returns how many
        were written (or found)."""
        retried = [i for i, row in enumerate(rows) if row.attempts > 1]
        found = find(retried) if retried else {}
        outcomes: list[WriteOutcome] = [
            (rows[i], "done", found[markers[i]], None) for i in retried if markers[i] in found
        ]
        self._finish_all(outcomes)
        written = len(outcomes)
        todo = [i for i, row in enumerate(rows) if markers[i] not in found]
        for chunk in chunks(todo, CHUNK):
            outcomes = []
            for i, result in zip(chunk, create(chunk), strict=True):
                row = rows[i]
                if isinstance(result, RecordRejected):
                    status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
                    outcomes.append((row, status, None, str(result)))
                    self.report.failed += 1
                    log.warning("write-back %s %s refused: %s", row.kind, row.local_ref, result)
                else:
                    outcomes.append((row, "done", str(result), None))
                    written += 1
            self._finish_all(outcomes)
        return written

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

    def _notes(self, limit: int, after: int) -> int | None:
        with self.factory() as session:
            todo = session.execute(
                select(  # the columns the note shows, not whole ORM objects
                    Reminder.id,
                    Reminder.step,
                    Reminder.channel,
                    Reminder.recipient,
                    Reminder.sent_at,
                    Reminder.currency,
                    Reminder.amount_open,
                    Receivable.external_id,
                    LEDGER.id.label("ledger_id"),  # a pending row from an earlier run
                    LEDGER.attempts,
                )
                .join(Receivable, Receivable.id == Reminder.target_receivable_id)
                .outerjoin(
                    LEDGER,
                    and_(
                        LEDGER.org_id == self.source.org_id,
                        LEDGER.source_id == self.source.id,
                        LEDGER.kind == "note",
                        LEDGER.local_ref == _local_ref("r", Reminder.id),
                    ),
                )
                .where(
                    Reminder.org_id == self.source.org_id,
                    Reminder.status == SENT,
                    Receivable.source_id == self.source.id,
                    ~self._written("note", "r", Reminder.id, ("done", "failed")),
                )
                .where(Reminder.id > after)
                .order_by(Reminder.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        language = ui_language()
        self._write_notes(
            [
                (f"r{row.id}", row.external_id, note_html(row, f"[dunlin r{row.id}]", language))
                for row in todo
            ],
            {f"r{row.id}": (row.ledger_id, row.attempts) for row in todo if row.ledger_id},
        )
        return todo[-1].id if len(todo) == limit else None

    def _event_notes(self, limit: int, after: int) -> int | None:
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
                .where(Event.id > after)
                .order_by(Event.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        self._write_notes(
            [
                (
                    f"e{event.id}",
                    external_id,
                    f"<p>{escape(event.summary)} <small>{escape(f'[dunlin e{event.id}]')}</small></p>",
                )
                for event, external_id in todo
            ]
        )
        return todo[-1][0].id if len(todo) == limit else None

    def _write_notes(
        self, items: list[tuple[str, str, str]], known: dict[str, tuple[int, int]] | None = None
    ) -> None:
        """Notes (local ref, invoice external id, HTML) on invoices, each written once (its
        marker finds it after a crash)."""
        if not items:
            return
        rows = self._claim("note", [(ref, external_id) for ref, external_id, _html in items], known)
        notes = [
            NoteRequest("receivables", external_id, html, f"[dunlin {ref}]")
            for ref, external_id, html in items
        ]
        markers = [n.marker for n in notes]
        self.report.notes += self._write_all(
            rows,
            markers,
            lambda picked: self.writer.find_notes([notes[i] for i in picked]),
            lambda picked: self.writer.post_notes([notes[i] for i in picked]),
        )

    def _tasks(self, limit: int, after: int) -> int | None:
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
                .where(Task.id > after)
                .order_by(Task.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        if not todo:
            return None
        markers = [f"[dunlin t{task.id}]" for task, _external_id in todo]
        requests = [
            TaskRequest(
                entity="receivables",
                external_id=external_id,
                summary=f"{task.summary[:200]} {marker}",
                note_html=f"<p>{escape(task.summary)}</p>",
                due_on=task.due_on,
                user_ref=task.assignee if task.assignee and task.assignee.isdigit() else None,
            )
            for (task, external_id), marker in zip(todo, markers, strict=True)
        ]
        rows = self._claim("task", [(f"t{task.id}", external_id) for task, external_id in todo])
        self.report.tasks_created += self._write_all(
            rows,
            markers,
            lambda picked: self.writer.find_tasks([(requests[i], markers[i]) for i in picked]),
            lambda picked: self.writer.create_tasks([requests[i] for i in picked]),
        )
        return todo[-1][0].id if len(todo) == limit else None

    def _close_tasks(self, limit: int) -> int:
        """One page of tasks closed in Dunlin, closed in the source; returns the page's size."""
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
        closed = [row for row, _status in rows]
        outcomes: list[WriteOutcome] = []
        for row, result in zip(
            closed, self.writer.close_tasks([str(r.external_id) for r in closed]), strict=True
        ):
            if isinstance(result, RecordRejected):
                outcomes.append((row, "failed", None, str(result)))
                self.report.failed += 1
            else:
                outcomes.append((row, "closed", None, None))
                self.report.tasks_closed += 1
        self._finish_all(outcomes)
        return len(rows)


def _local_ref(prefix: str, id_column: Any) -> Any:
    """The `writebacks.local_ref` of a Dunlin row, in SQL: "r" || id, "t" || id."""
    return literal(prefix) + id_column.cast(String())


def write_back(
    factory: sessionmaker[Session],
    box: SecretBox,
    org_slug: str,
    names: list[str] | None = None,
    open_connector: ConnectorFactory = open_connector,
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
