"""An in-memory source behind the connectors.base port, for unit tests of the sync engine and
write-back without HTTP or monkeypatching: hand `memory.open` in as the `open_connector`.

Records live per entity in change order; each put bumps a change counter, and the cursor is the
counter of the last record read, so a delta run reads exactly what changed since. Failures are
typed (SourceUnavailable, SourceAuthError, ...) and raised on demand: `fail_page` makes the
n-th page read of an entity fail, `fail` makes the next calls of any method fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.base import (
    ENTITIES,
    MARKER,
    ConnectionInfo,
    Connector,
    NotSupported,
    Page,
    RecordRejected,
    SourceConfigError,
    SourceError,
    SourceUnavailable,
    TaskRequest,
)

# A REST mapping over the fake's record shapes: customers {id, name}; receivables {id,
# customer, total, open, due, state}.
MAPPING = """\
version: 1
kind: rest
name: memory
source:
  page_size: 2
  rate_limit: 0
  retries: 1
  auth: {type: none}
  customers: {path: /customers, id_field: id}
  receivables: {path: /invoices, id_field: id}
customer:
  external_id: id
  name: name
receivable:
  external_id: id
  customer_external_id: customer
  amount_total: total
  amount_open: open
  due_on: due
  status: {path: state, map: {open: open, paid: paid}, fallback: open}
"""


@dataclass
class Opened:
    """One call of the factory: what the sync passed for the source."""

    mapping: Any
    settings: dict[str, Any]
    credentials: dict[str, Any]


@dataclass
class MemoryConnector:
    page_size: int = 2
    id_field: str = "id"
    # Which receivables the source lists as open (the periodic reconcile's listing).
    is_open: Callable[[dict[str, Any]], bool] = lambda r: r.get("state") == "open"
    can_read_by_id: bool = True
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {e: {} for e in ENTITIES}
    )
    notes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id → entity, ext, html
    tasks: dict[str, TaskRequest] = field(default_factory=dict)
    closed_tasks: list[str] = field(default_factory=list)
    reads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (entity, cursor)
    opened: list[Opened] = field(default_factory=list)
    closes: int = 0
    _versions: dict[tuple[str, str], int] = field(default_factory=dict)
    _clock: int = 0
    _page_failures: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    _served: dict[str, int] = field(default_factory=dict)
    _failures: dict[str, list[SourceError]] = field(default_factory=dict)
    _ids: int = 0

    # ---- arranging the source ----------------------------------------------------------------

    def put(self, entity: str, *records: dict[str, Any]) -> None:
        """Add or change records; each becomes the newest change of its entity."""
        for record in records:
            key = str(record[self.id_field])
            self._clock += 1
            self.records[entity][key] = dict(record)
            self._versions[(entity, key)] = self._clock

    def delete(self, entity: str, external_id: str) -> None:
        """Gone from the source: no longer listed, read or paged."""
        self.records[entity].pop(external_id, None)
        self._versions.pop((entity, external_id), None)

    def fail_page(
        self, entity: str, index: int, error: SourceError | None = None, times: int | None = None
    ) -> None:
        """Once `index` pages of `entity` have been served (0 = the first page), reads raise
        `error` (SourceUnavailable by default): `times` attempts, or until `heal()`."""
        failure = error or SourceUnavailable("connection reset (scripted)")
        self._page_failures[(entity, index)] = [failure, times]

    def heal(self) -> None:
        """Every scripted failure is gone."""
        self._page_failures.clear()
        self._failures.clear()

    def fail(self, method: str, error: SourceError, times: int = 1) -> None:
        """The next `times` calls of `method` (e.g. "begin", "list_open_ids") raise `error`."""
        self._failures.setdefault(method, []).extend([error] * times)

    def open(self, mapping: Any, settings: dict[str, Any], credentials: dict[str, Any]) -> Any:
        """The ConnectorFactory: records what it was given and hands out this source."""
        self.opened.append(Opened(mapping, dict(settings), dict(credentials)))
        return self

    def _check(self, method: str) -> None:
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    # ---- the port ----------------------------------------------------------------------------

    def test(self) -> ConnectionInfo:
        self._check("test")
        return ConnectionInfo(server_version="memory", user="test")

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        self._check("begin")
        self._entity(entity)
        return {} if full else dict(stored)

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool) -> Page:
        self._check("read_page")
        self.reads.append((entity, dict(cursor)))
        index = self._served.get(entity, 0)
        failure = self._page_failures.get((entity, index))
        if failure is not None:
            error, left = failure
            if left is not None:
                failure[1] = left - 1
                if failure[1] <= 0:
                    del self._page_failures[(entity, index)]
            raise error
        self._served[entity] = index + 1
        after = int(cursor.get("after", 0))
        changed = sorted(
            (version, key)
            for (kind, key), version in self._versions.items()
            if kind == entity and version > after
        )
        batch = changed[: self.page_size]
        records = [dict(self.records[entity][key]) for _, key in batch]
        last = batch[-1][0] if batch else after
        return Page(records, {"after": last}, done=len(changed) <= self.page_size)

    def list_open_ids(self, entity: str) -> Iterator[str]:
        self._check("list_open_ids")
        return iter([k for k, r in self._entity(entity).items() if self.is_open(r)])

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        self._check("read_records")
        if not self.can_read_by_id:
            raise NotSupported("the memory source cannot be read by id")
        found = self._entity(entity)
        return [dict(found[i]) for i in external_ids if i in found]

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        self._check("post_note")
        if external_id not in self._entity(entity):
            raise RecordRejected(f"{entity} {external_id} does not exist")
        note_id = self._next_id("n")
        self.notes[note_id] = (entity, external_id, html)
        return note_id

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        self._check("find_note")
        for note_id, (kind, ext, html) in self.notes.items():
            if kind == entity and ext == external_id and marker in MARKER.findall(html):
                return note_id
        return None

    def create_task(self, task: TaskRequest) -> str:
        self._check("create_task")
        if task.external_id not in self._entity(task.entity):
            raise RecordRejected(f"{task.entity} {task.external_id} does not exist")
        task_id = self._next_id("t")
        self.tasks[task_id] = task
        return task_id

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        self._check("find_task")
        for task_id, known in self.tasks.items():
            if known.external_id == task.external_id and marker in known.summary:
                return task_id
        return None

    def close_task(self, task_id: str) -> None:
        self._check("close_task")
        self.closed_tasks.append(task_id)

    def close(self) -> None:
        self.closes += 1

    def _entity(self, entity: str) -> dict[str, dict[str, Any]]:
        if entity not in self.records:
            raise SourceConfigError(f"unknown entity {entity!r}")
        return self.records[entity]

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"


def _is_a_connector(memory: MemoryConnector) -> Connector:
    return memory  # type-checked: the fake keeps to the port
