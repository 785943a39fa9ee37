"""The connector contract: what the sync engine and write-back may ask of a source system.

Connectors move data and translate protocols; they hold no business rules. Records come back
as plain dicts in the source's own field names; the mapping turns them into Dunlin records.
Failures are raised as one of three classes, which decide what the sync engine does:

- SourceUnavailable: down, 5xx, timeout, malformed answer → retried with backoff, then `failing`;
- SourceAuthError: credentials refused → `failing` at once, no retry loop;
- SourceConfigError: the mapping names a model, form or field the source lacks → `failing`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, cast

from dunlin.errors import DunlinError

MARKER = re.compile(r"\[dunlin [a-z]\d+\]")  # what write-back puts in each note and task

ENTITIES = ("customers", "receivables")


class SourceError(DunlinError):
    retryable = False


class SourceUnavailable(SourceError):
    """The source did not answer usefully; trying again later may work."""

    retryable = True


class SourceAuthError(SourceError):
    """The source refused our credentials (or their permissions)."""


class SourceConfigError(SourceError):
    """The mapping and the source disagree: an unknown model, form, entity or field."""


class NotSupported(SourceConfigError):
    """The source cannot do what was asked (a spreadsheet cannot be synced, a REST system
    cannot be asked for single records): nothing is wrong, the feature does not apply."""


class RecordRejected(SourceError):
    """The source refused one write on business grounds (validation, a deleted or locked
    record): permanent for that record, not a sign the source is down."""


def entity_spec(source: Any, entity: str) -> Any:
    """A mapping's `source.customers` or `source.receivables` section by entity name."""
    if entity not in ENTITIES:
        raise SourceConfigError(f"unknown entity {entity!r} (one of {', '.join(ENTITIES)})")
    return getattr(source, entity)


@dataclass(frozen=True)
class Page:
    """One page of records and the cursor to store once the page is committed."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any]
    done: bool


@dataclass(frozen=True)
class ConnectionInfo:
    server_version: str
    user: str
    capabilities: dict[str, Any] = field(default_factory=dict)
    # Fields the mapping needs that the source does not have, per entity (empty when all is well).
    missing_fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRequest:
    """A follow-up for a person in the source system, on a receivable (or customer) record."""

    entity: str
    external_id: str
    summary: str
    note_html: str
    due_on: date
    user_ref: str | None = None


class Connector(Protocol):
    def test(self) -> ConnectionInfo:
        """Log in, read the version and what the source can do, check the mapping's fields."""
        ...

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        """The first cursor of a run, from the stored one (e.g. stepping back an overlap)."""
        ...

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool) -> Page:
        """The next page of `entity` after `cursor` ({} = from the start)."""
        ...

    def list_open_ids(self, entity: str) -> Iterator[str]:
        """Ids of the records the source considers open, for the periodic reconcile."""
        ...

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        """The named records as they are now, for a live balance check before sending. A record
        the entity's filter no longer matches (deleted, cancelled) is simply absent. Sources
        that cannot be asked for single records cheaply raise NotSupported."""
        ...

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        """Write a history note on a record; returns the note's id in the source."""
        ...

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        """A note written earlier with `marker` in it (a retry after a crash), if any."""
        ...

    def create_task(self, task: TaskRequest) -> str:
        """Create a follow-up task; returns its id in the source."""
        ...

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        """A task created earlier with `marker` in its summary, if any."""
        ...

    def close_task(self, task_id: str) -> None: ...

    def close(self) -> None: ...


class ConnectorFactory(Protocol):
    """Opens the connector of a source (mapping, settings, credentials). The shells pass the
    real one (connectors.registry.open_connector); tests pass an in-memory fake."""

    def __call__(
        self, mapping: Any, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> Connector: ...


# ---- write-back in batches -------------------------------------------------------------------


@dataclass(frozen=True)
class NoteRequest:
    """A history note on a record; `marker` is in its text, so a retry can find it."""

    entity: str
    external_id: str
    html: str
    marker: str


# Per request, in order: the id the source gave, or why the source refused that one record.
WriteResults = list[str | RecordRejected]


class BatchWriter(Protocol):
    """Write-back of many records in a few calls, for sources whose API takes lists (Odoo's
    `create` with a list of values, K3Cloud's BatchSave). Lookups answer marker → source id for
    the markers found; writes answer one result per request, so one refused record does not
    lose the others. Anything but RecordRejected (down, auth, config) is raised for all."""

    def find_notes(self, notes: list[NoteRequest]) -> dict[str, str]: ...

    def post_notes(self, notes: list[NoteRequest]) -> WriteResults: ...

    def find_tasks(self, tasks: list[tuple[TaskRequest, str]]) -> dict[str, str]: ...

    def create_tasks(self, tasks: list[TaskRequest]) -> WriteResults: ...

    def close_tasks(self, task_ids: list[str]) -> WriteResults:
        """Close tasks by their source ids (one already gone counts as closed)."""
        ...


class PerRecordWriter:
    """BatchWriter over a connector that writes one record a call (REST systems)."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def find_notes(self, notes: list[NoteRequest]) -> dict[str, str]:
        found = {}
        for note in notes:
            ref = self.connector.find_note(note.entity, note.external_id, note.marker)
            if ref:
                found[note.marker] = ref
        return found

    def post_notes(self, notes: list[NoteRequest]) -> WriteResults:
        return each(lambda n: self.connector.post_note(n.entity, n.external_id, n.html), notes)

    def find_tasks(self, tasks: list[tuple[TaskRequest, str]]) -> dict[str, str]:
        found = {}
        for task, marker in tasks:
            ref = self.connector.find_task(task, marker)
            if ref:
                found[marker] = ref
        return found

    def create_tasks(self, tasks: list[TaskRequest]) -> WriteResults:
        return each(self.connector.create_task, tasks)

    def close_tasks(self, task_ids: list[str]) -> WriteResults:
        def close(task_id: str) -> str:
            self.connector.close_task(task_id)
            return task_id

        return each(close, task_ids)


def each(write: Any, items: list[Any]) -> WriteResults:
    """One call per item; a refused item is its result, anything else is raised."""
    results: WriteResults = []
    for item in items:
        try:
            results.append(write(item))
        except RecordRejected as exc:
            results.append(exc)
    return results


def batch_writer(connector: Connector) -> BatchWriter:
    """The connector itself where it writes in batches, else one call per record."""
    if all(
        hasattr(connector, m) for m in ("find_notes", "post_notes", "find_tasks", "create_tasks")
    ):
        return cast(BatchWriter, connector)  # the hasattr test above is the check
    return PerRecordWriter(connector)


def by_marker(rows: list[tuple[Any, Any]]) -> dict[str, Any]:
    """(ref, text) rows → marker → the ref of the first text holding it (one pass)."""
    found: dict[str, Any] = {}
    for ref, text in rows:
        for marker in MARKER.findall(str(text or "")):
            found.setdefault(marker, ref)
    return found


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
