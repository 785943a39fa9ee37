"""Sync an API source: pages → mapping → validated records → bulk upsert, one transaction per
page with its cursor, so a crashed run resumes at the last committed page.

A source that is down, answers 5xx, times out or returns malformed JSON is retried with
backoff; then (or at once, for refused credentials or a mapping the source contradicts) the
source is marked `failing` with the reason, its cursor is left where it was, and the run moves
on to the next source. Records that fail validation are skipped, counted and logged with their
external id; their page still commits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import (
    ENTITIES,
    Connector,
    NotSupported,
    Page,
    SourceError,
    SourceUnavailable,
)
from dunlin.bulk import analyze_after_bulk
from dunlin.db import utcnow
from mappings.schema import Mapping
from mappings.transform import RecordTransformer
from sync import settlement
from sync.models import Customer, Receivable, Source, SyncCursor
from sync.store import (
    CUSTOMER_DEFAULTS,
    RECEIVABLE_DEFAULTS,
    complete,
    customer_ids,
    upsert_customers,
    upsert_receivables,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SKIPPED_SAMPLE = 20
WRITE_BATCH = 2000
RECONCILE = "receivables:reconcile"
READ_CHUNK = 200  # ids per read by id: well inside a domain or a FilterString


@dataclass
class EntityReport:
    pages: int = 0
    records: int = 0
    skipped: int = 0


@dataclass
class SyncReport:
    source: str
    status: str = "ok"
    detail: str = ""
    entities: dict[str, EntityReport] = field(default_factory=dict)
    skipped_sample: list[str] = field(default_factory=list)
    reminders_cancelled: int = 0
    reconciled: int | None = None  # receivables closed by the reconcile, when it ran

    @property
    def records(self) -> int:
        return sum(e.records for e in self.entities.values())

    @property
    def skipped(self) -> int:
        return sum(e.skipped for e in self.entities.values())


def with_retries(
    call: Callable[[], T], attempts: int, sleep: Callable[[float], None], base: float = 0.5
) -> T:
    """Retry SourceUnavailable with exponential backoff (0.5 s, 1 s, 2 s, …)."""
    for attempt in range(attempts + 1):
        try:
            return call()
        except SourceUnavailable:
            if attempt == attempts:
                raise
            sleep(base * 2**attempt)
    raise AssertionError("unreachable")


class SourceSync:
    def __init__(
        self,
        factory: sessionmaker[Session],
        source: Source,
        mapping: Mapping,
        connector: Connector,
        *,
        default_currency: str,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.factory = factory
        self.source_id = source.id
        self.org_id = source.org_id
        self.mapping = mapping
        self.reading = self.mapping.source  # type: ignore[attr-defined]  # API mappings only
        self.connector = connector
        self.sleep = sleep
        self.on_progress = on_progress
        self.report = SyncReport(source.name)
        self._customer_ids: dict[str, int] = {}  # external id → row id, filled per source
        self._sample_lock = threading.Lock()
        self.transformers = {
            entity: RecordTransformer(self.mapping, entity, default_currency)
            for entity in self.mapping.sections()
        }

    def _retry(self, call: Callable[[], T]) -> T:
        return with_retries(call, self.reading.retries, self.sleep)

    def run(self, *, full: bool = False, entities: frozenset[str] | None = None) -> SyncReport:
        """All entities, or only the named ones (a push names what changed); a partial run
        leaves reconciliation to the next whole one."""
        for entity in ENTITIES:
            if entity in self.transformers and (entities is None or entity in entities):
                self._sync_entity(entity, full)
        # Fresh statistics before the reconcile, whose statements find receivables by
        # external id: on statistics older than a large write, PostgreSQL walked the
        # (org, status) index instead (0.2-0.3 s a statement at 33,000 receivables).
        with self.factory() as session:
            analyze_after_bulk(session, self.report.records, "customers", "receivables")
        if entities is None and (full or self._reconcile_due()):
            self._reconcile(after_full=full)
        return self.report

    # ---- paging ------------------------------------------------------------------------------

    def _stored_cursor(self, session: Session, entity: str) -> SyncCursor:
        cursor = session.scalar(
            select(SyncCursor).where(
                SyncCursor.org_id == self.org_id,
                SyncCursor.source_id == self.source_id,
                SyncCursor.entity == entity,
            )
        )
        if cursor is None:
            cursor = SyncCursor(
                org_id=self.org_id, source_id=self.source_id, entity=entity, position={}
            )
            session.add(cursor)
            session.flush()
        return cursor

    def _sync_entity(self, entity: str, full: bool) -> None:
        stats = self.report.entities.setdefault(entity, EntityReport())
        with self.factory() as session:
            stored = dict(self._stored_cursor(session, entity).position or {})
            session.commit()
        self._customer_ids = {}
        if entity == "receivables" and (full or not stored):
            # Every customer of the source will be needed: one read instead of one per page.
            # An incremental run looks up only the customers its pages name (_write_page):
            # reading all 20,000 was a quarter of a 1% delta.
            with self.factory() as session:
                self._customer_ids = dict(
                    session.execute(
                        select(Customer.external_id, Customer.id).where(
                            Customer.org_id == self.org_id, Customer.source_id == self.source_id
                        )
                    )
                    .tuples()
                    .all()
                )
        position = self._retry(lambda: self.connector.begin(entity, stored, full=full))
        # Three things overlap: the next page is fetched (a thread) while this batch is
        # transformed (here) and the batch before it is written (another thread, its own
        # transaction). Fetching and writing mostly wait on the source and the database, so
        # their time hides behind the transform. Batches are written in order, one at a time,
        # each with the cursor of its last page: a crash resumes after the last committed one.
        # A failed fetch surfaces only after the pages before it are committed. Small pages
        # are written WRITE_BATCH records at a time: fewer transactions.
        pending: list[Page] = []
        in_flight: Future[tuple[int, int, int]] | None = None

        def hand_over(pages: list[Page]) -> None:
            nonlocal in_flight
            rows, skipped = self._transformed(entity, [r for p in pages for r in p.records])
            if in_flight is not None:
                written, in_flight = in_flight, None
                self._account(entity, stats, written.result())  # a failed write stops here
            in_flight = writer.submit(self._store, entity, rows, skipped, pages)

        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as reader,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer") as writer,
        ):
            try:
                upcoming = reader.submit(self._read, entity, position, full)
                while True:
                    try:
                        page = upcoming.result()
                    except SourceError:
                        if pending:
                            hand_over(pending)  # keep what was read before
                        raise
                    if not page.done:
                        upcoming = reader.submit(self._read, entity, page.cursor, full)
                    pending.append(page)
                    if page.done or sum(len(p.records) for p in pending) >= WRITE_BATCH:
                        hand_over(pending)
                        pending = []
                    if page.done:
                        return
            finally:
                if in_flight is not None:
                    self._account(entity, stats, in_flight.result())

    def _account(self, entity: str, stats: EntityReport, result: tuple[int, int, int]) -> None:
        """A committed batch: written, skipped, pages."""
        written, skipped, pages = result
        stats.pages += pages
        stats.records += written
        stats.skipped += skipped
        if self.on_progress:
            self.on_progress(entity, written + skipped)

    def _store(
        self, entity: str, rows: dict[str, dict[str, Any]], skipped: int, pages: list[Page]
    ) -> tuple[int, int, int]:
        """One batch and the cursor of its last page in one transaction (the writer thread)."""
        with self.factory.begin() as session:
            written, skipped = self._write_rows(session, entity, rows, skipped)
            self._stored_cursor(session, entity).position = pages[-1].cursor
        return written, skipped, len(pages)

    def _read(self, entity: str, position: dict[str, Any], full: bool) -> Page:
        return self._retry(partial(self.connector.read_page, entity, position, full=full))

    def _write_page(
        self, session: Session, entity: str, records: list[dict[str, Any]]
    ) -> tuple[int, int]:
        rows, skipped = self._transformed(entity, records)
        return self._write_rows(session, entity, rows, skipped)

    def _transformed(
        self, entity: str, records: list[dict[str, Any]], seen: set[str] | None = None
    ) -> tuple[dict[str, dict[str, Any]], int]:
        """Records through the mapping, by external id (the last wins), and how many failed;
        `seen` collects the external id of every record, valid or not."""
        transformer = self.transformers[entity]
        rows: dict[str, dict[str, Any]] = {}
        skipped = 0
        for record in records:
            values, errors = transformer.transform(record)
            if seen is not None:
                seen.add(str(values.get("external_id")))
            if errors:
                skipped += 1
                self._skip(entity, record, "; ".join(f"{e.field}: {e.message}" for e in errors))
                continue
            rows[values["external_id"]] = values
        return rows, skipped

    def _write_rows(
        self, session: Session, entity: str, rows: dict[str, dict[str, Any]], skipped: int
    ) -> tuple[int, int]:
        transformer = self.transformers[entity]
        now = utcnow()
        if entity == "customers":
            fields = transformer.fields
            upsert_customers(
                session,
                [
                    {**complete(r, fields, CUSTOMER_DEFAULTS), **self._keys(now)}
                    for r in rows.values()
                ],
                fields,
            )
            return len(rows), skipped
        fields = [f for f in transformer.fields if f != "customer_external_id"]
        # Keyed by external id; a row without one looks up None and finds no owner.
        owners: dict[Any, int] = self._customer_ids
        unknown: set[Any] = {r.get("customer_external_id") for r in rows.values()} - owners.keys()
        if unknown:
            owners.update(customer_ids(session, self.org_id, self.source_id, unknown - {None}))
        ready = []
        for ext_id, r in rows.items():
            customer_id = owners.get(r.get("customer_external_id"))
            if customer_id is None:
                skipped += 1
                self._skip(
                    entity, {"_external_id": ext_id}, "customer not synced / 客户未同步", ext_id
                )
                continue
            row = complete(r, fields, RECEIVABLE_DEFAULTS)
            ready.append({**row, **self._keys(now), "customer_id": customer_id})
        settled = upsert_receivables(session, ready, fields)
        # Paid or cancelled in the source: its planned reminders stop in the same transaction
        # that records it (ARCHITECTURE invariant 2), not at the end of the run.
        self.report.reminders_cancelled += settlement.settled(
            session,
            self.org_id,
            self.source_id,
            [r["external_id"] for r in ready],
            settled_ids=settled,
        )
        return len(ready), skipped

    def _skip(
        self, entity: str, record: dict[str, Any], reason: str, ext_id: str | None = None
    ) -> None:
        ext_id = ext_id or str(record.get("id", record.get("_id", record.get("FID", "?"))))
        log.warning("sync %s: skipped %s %s: %s", self.report.source, entity, ext_id, reason)
        with self._sample_lock:  # the transform and the writer thread both skip records
            if len(self.report.skipped_sample) < SKIPPED_SAMPLE:
                self.report.skipped_sample.append(f"{entity} {ext_id}: {reason}")

    def _keys(self, now: Any) -> dict[str, Any]:
        """Columns every synced row carries besides the mapped fields."""
        return {
            "org_id": self.org_id,
            "source_id": self.source_id,
            "created_at": now,
            "updated_at": now,
        }

    # ---- live refresh ------------------------------------------------------------------------

    def refresh(self, entity: str, external_ids: list[str]) -> None:
        """Read the named records now and write them as a sync would (a live balance check
        before sending): a paid one cancels its reminders here, and one the source no longer
        lists is closed like the reconcile closes it. Cursors do not move; no retries (the
        caller decides what an unreachable source means)."""
        records = self.connector.read_records(entity, external_ids)
        with self.factory.begin() as session:
            self._write_current(session, entity, external_ids, records)

    def _write_current(
        self,
        session: Session,
        entity: str,
        external_ids: list[str],
        records: list[dict[str, Any]],
    ) -> int:
        """The named records as the source has them now (`records`, read by id); those it no
        longer has are closed. Returns how many of them are no longer open."""
        listed: set[str] = set()
        rows, skipped = self._transformed(entity, records, seen=listed)
        self._write_rows(session, entity, rows, skipped)
        if entity != "receivables":
            return 0
        missing = [i for i in external_ids if i not in listed]
        self._close(session, missing)
        return len(missing) + sum(r.get("status", "open") != "open" for r in rows.values())

    def _close(self, session: Session, external_ids: list[str]) -> None:
        """Open receivables the source no longer lists become cancelled, and their reminders
        stop."""
        for start in range(0, len(external_ids), 1000):  # bounded IN lists (SQLite: 32,766)
            closed = session.scalars(
                update(Receivable)
                .where(
                    Receivable.org_id == self.org_id,
                    Receivable.source_id == self.source_id,
                    Receivable.external_id.in_(external_ids[start : start + 1000]),
                    Receivable.status == "open",
                )
                .values(status="cancelled", updated_at=utcnow())
                .returning(Receivable.id)
            ).all()
            # By the ids just closed: looking them up again by external id walked every
            # settled receivable of the org on PostgreSQL's stale statistics (0.6 s a chunk).
            self.report.reminders_cancelled += settlement.settled(
                session, self.org_id, settled_ids=list(closed)
            )

    # ---- reconcile ---------------------------------------------------------------------------

    def _reconcile_due(self) -> bool:
        with self.factory() as session:
            cursor = self._stored_cursor(session, RECONCILE)
            session.commit()
            last = cursor.updated_at if cursor.position else None
        if last is None:
            return True
        return utcnow() - last >= timedelta(hours=self.reading.reconcile_every_hours)

    def _reconcile(self, *, after_full: bool = False) -> None:
        """Open receivables the source no longer lists as open are read again by id and
        written as they are now: paid by a write-off that left the modified date alone, say,
        or back to open (the record outranks the listing). Only those the source no longer
        has, or any a source that cannot read by id stopped listing, become cancelled.

        Read and written READ_CHUNK at a time, each chunk in its own transaction: memory stays
        flat however many are re-read. A failure leaves the reconcile due; chunks written
        before it hold the source's current state and stay."""
        remote = set(self._retry(lambda: list(self.connector.list_open_ids("receivables"))))
        with self.factory() as session:
            local = session.scalars(
                select(Receivable.external_id).where(
                    Receivable.org_id == self.org_id,
                    Receivable.source_id == self.source_id,
                    Receivable.status == "open",
                )
            ).all()
        gone = [ext_id for ext_id in local if ext_id not in remote]
        # Where a payment may leave the modified date alone, every open one is read again
        # (the mapping's reconcile_rereads_open), so partly paid amounts are current too;
        # not after a full sync, which has just read them all.
        rereads = self.reading.reconcile_rereads_open and not after_full
        recheck = list(local) if rereads else gone
        closed, readable = 0, True
        for start in range(0, len(recheck), READ_CHUNK):
            chunk = recheck[start : start + READ_CHUNK]
            try:
                records = self._retry(partial(self.connector.read_records, "receivables", chunk))
            except NotSupported:
                readable = False
                break
            with self.factory.begin() as session:
                closed += self._write_current(session, "receivables", chunk, records)
        with self.factory.begin() as session:
            if not readable:  # the source cannot be read by id: its listing decides
                self._close(session, gone)
                closed = len(gone)
            # and a sweep: any settled invoice of this source still holding planned reminders
            self.report.reminders_cancelled += settlement.settled(
                session, self.org_id, self.source_id
            )
            cursor = self._stored_cursor(session, RECONCILE)
            cursor.position = {"open": len(remote), "closed": closed}
            cursor.updated_at = utcnow()
        self.report.reconciled = closed
