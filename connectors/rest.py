"""A generic REST/JSON source driven entirely by its mapping: auth, paging (in the query string
or the JSON body), record extraction by JMESPath, per-source rate limit. Proven by the
Jiandaoyun mapping (POST data/list, `data_id` cursor, limit 100).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any

import jmespath

from connectors.base import (
    ConnectionInfo,
    NotSupported,
    Page,
    RecordRejected,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailable,
    TaskRequest,
    entity_spec,
)
from connectors.http import RateLimiter, json_body, make_session, send, snippet
from connectors.rest_auth import AuthContext, OutgoingRequest, strategy_for
from connectors.template import fill
from mappings.api import RestEntity, RestMapping, RestWrite
from mappings.coerce import parse_datetime
from mappings.fastpath import truthy as _truthy
from mappings.paths import mapped_paths, root_fields


class RestConnector:
    def __init__(
        self,
        mapping: RestMapping,
        settings: dict[str, Any],
        credentials: dict[str, Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mapping = mapping
        self.source = mapping.source
        self.settings = settings
        self.credentials = credentials
        self.base_url = str(settings["url"]).rstrip("/")
        self.page_size = int(settings.get("page_size") or self.source.page_size)
        self.timeout = float(settings.get("timeout_seconds") or self.source.timeout_seconds)
        self.limiter = RateLimiter(float(settings.get("rate_limit", self.source.rate_limit)))
        self.session = make_session()
        self.clock = clock
        self.auth = strategy_for(
            self.source.auth,
            AuthContext(credentials, settings, self._token_call, clock, self._url),
        )

    # ---- transport ---------------------------------------------------------------------------

    def _values(self, **extra: Any) -> dict[str, Any]:
        public = {k: v for k, v in self.settings.items() if isinstance(v, str | int | float)}
        return {**public, **extra}

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _token_call(self, method: str, url: str, **kwargs: Any) -> Any:
        """A call to a token endpoint (`{setting}` placeholders allowed: YonSuite's token host
        differs from its gateway)."""
        url = self._url(fill(url, self._values()))
        response = send(self.session, method, url, timeout=self.timeout, **kwargs)
        return json_body(response)

    def request(
        self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self._url(path)
        for attempt in (1, 2):
            sent_body = self.auth.body(body)
            # Serialised once: signatures cover these exact bytes.
            outgoing = OutgoingRequest(
                method,
                url,
                headers={"Content-Type": "application/json"} if sent_body is not None else {},
                query=dict(query or {}),
                body=json.dumps(sent_body, ensure_ascii=False).encode()
                if sent_body is not None
                else b"",
            )
            self.auth.apply(outgoing)
            response = send(
                self.session,
                method,
                url,
                timeout=self.timeout,
                limiter=self.limiter,
                check=False,
                params=sorted(outgoing.query.items()) or None,
                data=outgoing.body or None,
                headers=outgoing.headers,
            )
            try:
                return self._answer(path, response)
            except SourceAuthError:
                if attempt == 2 or not self.auth.forget():
                    raise  # expired: forgotten, so a new token, then one retry
        raise AssertionError("unreachable")

    def _answer(self, path: str, response: Any) -> Any:
        status = response.status_code
        if status == 401 or status == 403:
            raise SourceAuthError(f"{path}: HTTP {status}: {snippet(response.text)}")
        if status == 429 or status >= 500:
            raise SourceUnavailable(f"{path}: HTTP {status}: {snippet(response.text)}")
        if status == 404:
            raise SourceConfigError(f"{path}: HTTP 404 (wrong path or form id?)")
        if status >= 400:
            raise RecordRejected(f"{path}: HTTP {status}: {snippet(response.text)}")
        return self._check_envelope(path, json_body(response))

    def _check_envelope(self, path: str, data: Any) -> Any:
        source = self.source
        if source.ok is None or _truthy(jmespath.search(source.ok, data)):
            return data
        message = snippet(str(jmespath.search(source.message, data) or data))
        if source.auth_failed and _truthy(jmespath.search(source.auth_failed, data)):
            raise SourceAuthError(f"{path}: {message}")
        raise SourceUnavailable(f"{path}: {message}")

    # ---- reading -----------------------------------------------------------------------------

    def _entity(self, entity: str) -> RestEntity:
        spec: RestEntity = entity_spec(self.source, entity)
        return spec

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        if stored.get("running") and not full:
            return dict(stored)
        spec = self._entity(entity)
        since: Any = None
        if stored.get("modified") and spec.since_body is not None and not full:
            last = stored["modified"]
            last = int(last) if isinstance(last, str) and last.isdigit() else last
            moment = parse_datetime(last) - timedelta(minutes=self.source.overlap_minutes)
            if spec.since_format == "epoch":
                since = int(moment.timestamp())
            elif spec.since_format == "epoch_ms":
                since = int(moment.timestamp() * 1000)
            else:
                since = moment.astimezone(UTC).strftime(spec.since_format)
        start = spec.paging.start if spec.paging.type == "page" else 0
        return {
            "running": True,
            "since": since,
            "position": None if spec.paging.type == "cursor" else start,
            "modified": None if full else stored.get("modified"),
        }

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool = False) -> Page:
        spec = self._entity(entity)
        paging = spec.paging
        values = self._values(since=cursor.get("since"))
        body = fill(copy.deepcopy(spec.body), values) if spec.method == "POST" else None
        query = fill(copy.deepcopy(spec.query), values)
        target = body if paging.where == "body" and body is not None else query
        if cursor.get("since") and spec.since_body:
            _merge(target, fill(copy.deepcopy(spec.since_body), values))
        size = min(self.page_size, paging.max_size or self.page_size)
        if paging.type != "none":
            _put(target, paging.size_param, size)
            if cursor.get("position") is not None:
                _put(target, paging.param, cursor["position"])
        data = self.request(spec.method, fill(spec.path, values), body=body, query=query)
        records = jmespath.search(spec.records, data)
        if not isinstance(records, list):
            raise SourceUnavailable(f"{spec.path}: no record list at {spec.records!r}")
        newest = cursor.get("modified") or ""
        if spec.modified_field:
            stamps = [str(r.get(spec.modified_field) or "") for r in records]
            newest = max([newest, *stamps])
        done = paging.type == "none" or len(records) < size
        if paging.total_pages and paging.type == "page":
            pages = jmespath.search(paging.total_pages, data)
            if pages is not None:
                done = int(cursor["position"]) >= int(pages) or not records
        if done:
            return Page(records, {"running": False, "modified": newest or None}, True)
        if paging.type == "page":
            position: Any = int(cursor["position"]) + 1
        elif paging.type == "offset":
            position = int(cursor["position"]) + len(records)
        elif paging.next.startswith("last_record:"):
            position = jmespath.search(paging.next.removeprefix("last_record:"), records[-1])
        else:
            position = jmespath.search(paging.next, data)
        if position in (None, ""):
            return Page(records, {"running": False, "modified": newest or None}, True)
        return Page(records, {**cursor, "position": position, "modified": newest or None}, False)

    def list_open_ids(self, entity: str) -> Iterator[str]:
        spec = self._entity(entity)
        cursor = self.begin(entity, {}, full=True)
        while True:
            page = self.read_page(entity, cursor)
            yield from (str(r.get(spec.id_field)) for r in page.records)
            if page.done:
                return
            cursor = page.cursor

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        raise NotSupported(
            "this REST source cannot be asked for single records, so a policy's live_check "
            "cannot use it / 该数据源不支持按单据实时查询余额"
        )

    def test(self) -> ConnectionInfo:
        """Read a page of each entity (auth, paging, envelope) and check the mapped fields:
        against the system's own field list where the mapping names a describe call, else
        against the records that came back."""
        missing: dict[str, list[str]] = {}
        capabilities: dict[str, Any] = {
            "auth": self.source.auth.type,
            "write_back": "notes" if self.source.note else "not available (no endpoint)",
        }
        for entity in ("customers", "receivables"):
            page = self.read_page(entity, self.begin(entity, {}, full=True))
            capabilities[f"{entity}_first_page"] = len(page.records)
            describe = self.source.describe.get(entity)
            if describe is not None:
                known = self._described_fields(describe)
                capabilities[f"{entity}_fields_in_source"] = ", ".join(sorted(known)[:40])
                wanted = {
                    p.removeprefix(describe.prefix).split(".")[0]
                    for p in mapped_paths(self.mapping, entity)
                    if p.startswith(describe.prefix)
                }
                suffix = describe.companion_suffix
                if suffix:
                    wanted = {w.removesuffix(suffix) if w.endswith(suffix) else w for w in wanted}
                absent = sorted(wanted - known)
            elif page.records:
                absent = sorted(
                    f
                    for f in root_fields(self.mapping, entity)
                    if all(f not in r for r in page.records)
                )
            else:
                absent = []
            absent = [f for f in absent if f not in self._entity(entity).optional_fields]
            if absent:
                missing[entity] = absent
        user = str(self.credentials.get("username") or self.credentials.get("app_id") or "api")
        return ConnectionInfo("n/a (REST)", user, capabilities, missing)

    def _described_fields(self, describe: Any) -> set[str]:
        values = self._values()
        data = self.request(
            describe.method, fill(describe.path, values), body=fill(describe.body, values)
        )
        found = jmespath.search(describe.fields, data) or []
        return {str(name) for name in found}

    # ---- writing back ------------------------------------------------------------------------

    def _write(self, spec: RestWrite | None, what: str, **values: Any) -> str:
        if spec is None:
            raise SourceConfigError(f"the mapping defines no {what} endpoint")
        filled = self._values(**values)
        data = self.request(spec.method, fill(spec.path, filled), body=fill(spec.body, filled))
        found = jmespath.search(spec.id_path, data)
        return str(found) if found is not None else ""

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        text = re.sub(r"<[^>]+>", "", html).strip()
        return self._write(self.source.note, "note", external_id=external_id, text=text)

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        return None  # no generic search: the write-back ledger keeps writes single

    def create_task(self, task: TaskRequest) -> str:
        return self._write(
            self.source.task,
            "task",
            external_id=task.external_id,
            summary=task.summary,
            text=re.sub(r"<[^>]+>", "", task.note_html).strip(),
            due_on=task.due_on.isoformat(),
            user=task.user_ref or "",
        )

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        return None

    def close_task(self, task_id: str) -> None:
        if self.source.close_task is not None:
            self._write(self.source.close_task, "close_task", task_id=task_id)

    def close(self) -> None:
        self.session.close()


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` inside a nested body (Fxiaoke pages in data.search_query_info.offset)."""
    *parents, last = dotted.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge `extra` into `target`; lists are extended (filters add to filters)."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            target[key] = value
