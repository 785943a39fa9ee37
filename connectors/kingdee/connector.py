"""Kingdee K3Cloud as a Dunlin source: BD_Customer and AR_receivable through ExecuteBillQuery,
follow-ups saved into a tenant's own form.

Rows come back as arrays in FieldKeys order; they become dicts whose dotted keys are nested
(`FCUSTOMERID.FNumber` → {"FCUSTOMERID": {"FNumber": …}}) so mappings read them with plain
JMESPath paths. Paging is StartRow/Limit ordered by the form's unique key (and the plan entry's
id when plan lines are read); a page never splits a bill's plan lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.base import (
    ConnectionInfo,
    NoteRequest,
    Page,
    RecordRejected,
    SourceConfigError,
    SourceUnavailable,
    TaskRequest,
    WriteResults,
    by_marker,
    chunks,
    entity_spec,
)
from connectors.kingdee.client import K3CloudClient
from mappings.api import KingdeeEntity, KingdeeFollowUp, KingdeeMapping
from mappings.paths import mapped_paths

_STAMP = "%Y-%m-%dT%H:%M:%S"


def nest(keys: list[str], row: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in zip(keys, row, strict=False):
        head, _, rest = key.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[key] = value
    return out


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "", False) else Decimal(0)


class KingdeeConnector:
    def __init__(
        self, mapping: KingdeeMapping, settings: dict[str, Any], credentials: dict[str, Any]
    ) -> None:
        self.mapping = mapping
        self.source = mapping.source
        self.page_size = int(settings.get("page_size") or self.source.page_size)
        self._field_keys: dict[str, list[str]] = {}
        self.client = K3CloudClient(
            settings["url"],
            acct_id=str(settings.get("acct_id", "")),
            username=str(credentials.get("username") or settings.get("username", "")),
            auth=str(settings.get("auth", "signature")),
            app_id=str(credentials.get("app_id", "")),
            app_secret=str(credentials.get("app_secret", "")),
            password=str(credentials.get("password", "")),
            lcid=int(settings.get("lcid", self.source.lcid)),
            org_num=int(settings.get("org_num", 0)),
            timeout=float(settings.get("timeout_seconds") or self.source.timeout_seconds),
            rate_limit=float(settings.get("rate_limit", self.source.rate_limit)),
        )

    def _entity(self, entity: str) -> KingdeeEntity:
        spec: KingdeeEntity = entity_spec(self.source, entity)
        return spec

    def field_keys(self, entity: str) -> list[str]:
        """FieldKeys of `entity`: the key, the change stamp, every path the mapping reads."""
        if entity not in self._field_keys:
            self._field_keys[entity] = self._compute_field_keys(entity)
        return self._field_keys[entity]

    def _compute_field_keys(self, entity: str) -> list[str]:
        spec = self._entity(entity)
        keys = {spec.key, spec.modified_field, *spec.extra_fields}
        keys |= mapped_paths(self.mapping, entity)
        keys.discard(spec.plan_lines.open_field if spec.plan_lines else "")
        ordered = [spec.key] + sorted(keys - {spec.key})
        if spec.plan_lines:
            lines = spec.plan_lines
            ordered += [k for k in (lines.entry_key, lines.plus, lines.minus) if k not in keys]
        return ordered

    def _query(
        self, spec: KingdeeEntity, keys: list[str], filter_: str, start: int, limit: int
    ) -> list[list[Any]]:
        order = f"{spec.key} ASC"
        if spec.plan_lines:
            order += f", {spec.plan_lines.entry_key} ASC"
        return self.client.query(
            {
                "FormId": spec.form_id,
                "FieldKeys": ",".join(keys),
                "FilterString": filter_,
                "OrderString": order,
                "TopRowCount": start + limit,
                "StartRow": start,
                "Limit": limit,
                "SubSystemId": "",
            }
        )

    # ---- discovery ---------------------------------------------------------------------------

    def test(self) -> ConnectionInfo:
        self.client.login()
        missing: dict[str, list[str]] = {}
        for entity in ("customers", "receivables"):
            spec = self._entity(entity)
            keys = self.field_keys(entity)
            try:
                self._query(spec, keys, spec.filter, 0, 1)
            except SourceConfigError:
                absent = []
                for key in keys:  # name every missing key, not just the first
                    try:
                        self._query(spec, [spec.key, key], spec.filter, 0, 1)
                    except SourceConfigError:
                        absent.append(key)
                if not absent:
                    raise
                missing[entity] = absent
        capabilities = {
            "auth": self.client.auth,
            "forms": [self.source.customers.form_id, self.source.receivables.form_id],
            "follow_up_form": self.source.follow_up.form_id if self.source.follow_up else None,
            "webhooks": False,  # K3Cloud has no outbound webhook: payments are polled
        }
        version = str(
            self.client.login_context.get("ProductVersion") or "unknown (not exposed by WebAPI)"
        )
        return ConnectionInfo(version, self.client.username, capabilities, missing)

    # ---- reading -----------------------------------------------------------------------------

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        if stored.get("running") and not full:
            return dict(stored)  # resume an interrupted run at its committed row
        since = None
        if stored.get("modified") and not full:
            moment = datetime.strptime(stored["modified"][:19], _STAMP)
            since = (moment - timedelta(minutes=self.source.overlap_minutes)).strftime(_STAMP)
        return {
            "running": True,
            "since": since,
            "start": 0,
            "modified": None if full else stored.get("modified"),
        }

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool = False) -> Page:
        spec = self._entity(entity)
        keys = self.field_keys(entity)
        filters = [f"({spec.filter})"] if spec.filter else []
        if cursor.get("since"):
            filters.append(f"{spec.modified_field}>={_quote(cursor['since'])}")
        size = self.page_size
        start = int(cursor.get("start", 0))
        rows = [nest(keys, r) for r in self._query(spec, keys, " and ".join(filters), start, size)]
        full_page = len(rows) >= size
        if spec.plan_lines:
            records, consumed = self._fold_plan_lines(spec, rows, full_page)
        else:
            records, consumed = rows, len(rows)
        newest = max(
            [str(r.get(spec.modified_field) or "") for r in records]
            + [cursor.get("modified") or ""]
        )
        if full_page:
            next_cursor = {**cursor, "start": start + consumed, "modified": newest or None}
            return Page(records, next_cursor, False)
        return Page(records, {"running": False, "modified": newest or None}, True)

    def _fold_plan_lines(
        self, spec: KingdeeEntity, rows: list[dict[str, Any]], full_page: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """One record per bill: open amount = Σ(plan amount − written off) over its lines."""
        lines = spec.plan_lines
        assert lines is not None
        groups: list[list[dict[str, Any]]] = []
        for row in rows:
            if groups and groups[-1][0][spec.key] == row[spec.key]:
                groups[-1].append(row)
            else:
                groups.append([row])
        if full_page and groups:
            if len(groups) == 1:
                raise SourceUnavailable(
                    f"one bill has more plan lines than the page size ({self.page_size})"
                )
            groups.pop()  # its lines may continue on the next page: read it again there
        records = []
        for group in groups:
            record = dict(group[0])
            record[lines.open_field] = str(
                sum((_decimal(r.get(lines.plus)) - _decimal(r.get(lines.minus))) for r in group)
            )
            records.append(record)
        return records, sum(len(g) for g in groups)

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        spec = self._entity(entity)
        wanted = sorted({str(i) for i in external_ids})
        if not wanted:
            return []
        keys = self.field_keys(entity)
        filters = [f"({spec.filter})"] if spec.filter else []
        listed = ",".join(i if i.isdigit() else _quote(i) for i in wanted)  # FIDs are numbers
        filters.append(f"{spec.key} in ({listed})")
        # One bill's plan lines may exceed a page: read until a short page.
        rows: list[dict[str, Any]] = []
        start, size = 0, self.page_size
        while True:
            page = self._query(spec, keys, " and ".join(filters), start, size)
            rows += [nest(keys, r) for r in page]
            if len(page) < size:
                break
            start += size
        if spec.plan_lines:
            return self._fold_plan_lines(spec, rows, full_page=False)[0]
        return rows

    def list_open_ids(self, entity: str) -> Iterator[str]:
        spec = self._entity(entity)
        filters = [f"({f})" for f in (spec.filter, spec.open_filter) if f]
        start, size = 0, self.page_size
        while True:
            rows = self.client.query(
                {
                    "FormId": spec.form_id,
                    "FieldKeys": spec.key,
                    "FilterString": " and ".join(filters),
                    "OrderString": f"{spec.key} ASC",
                    "TopRowCount": start + size,
                    "StartRow": start,
                    "Limit": size,
                    "SubSystemId": "",
                }
            )
            yield from dict.fromkeys(str(r[0]) for r in rows)
            if len(rows) < size:
                return
            start += size

    # ---- writing back ------------------------------------------------------------------------

    def _follow_up(self) -> KingdeeFollowUp:
        if self.source.follow_up is None:
            raise SourceConfigError(
                "the mapping has no follow_up form: K3Cloud has no standard one, so name your "
                "custom form and its field keys under source.follow_up"
            )
        return self.source.follow_up

    def _bill(self, external_id: str) -> dict[str, Any]:
        spec = self.source.receivables
        rows = self.client.query(
            {
                "FormId": spec.form_id,
                "FieldKeys": f"{spec.key},FBillNo,FCUSTOMERID.FNumber",
                "FilterString": f"{spec.key}={int(external_id)}",
                "OrderString": f"{spec.key} ASC",
                "TopRowCount": 1,
                "StartRow": 0,
                "Limit": 1,
                "SubSystemId": "",
            }
        )
        if not rows:
            raise SourceConfigError(f"AR bill {external_id} not found in K3Cloud")
        return {"number": rows[0][1], "customer": rows[0][2]}

    def _save_follow_up(self, external_id: str, text: str, extra: dict[str, Any]) -> str:
        form = self._follow_up()
        bill = self._bill(external_id)
        model = {
            form.customer_field: {"FNumber": bill["customer"]},
            form.bill_no_field: bill["number"],
            form.text_field: text,
            **extra,
        }
        result = self.client.save(
            form.form_id,
            {
                "Model": model,
                "NeedReturnFields": ["FID"],
                "IsAutoSubmitAndAudit": "true" if form.auto_submit_and_audit else "false",
                "IsDeleteEntry": "false",
            },
        )
        return str(
            result.get("Id")
            or result.get("ResponseStatus", {}).get("SuccessEntitys", [{}])[0].get("Id")
        )

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        return self._save_follow_up(external_id, _plain(html), {})

    def _task_fields(self, task: TaskRequest) -> dict[str, Any]:
        form = self._follow_up()
        extra: dict[str, Any] = {}
        if form.date_field:
            extra[form.date_field] = task.due_on.isoformat()
        if form.user_field and task.user_ref:
            extra[form.user_field] = {"FNumber": task.user_ref}
        if form.status_field:
            extra[form.status_field] = "open"
        return extra

    def create_task(self, task: TaskRequest) -> str:
        return self._save_follow_up(
            task.external_id, f"{task.summary}\n{_plain(task.note_html)}", self._task_fields(task)
        )

    def _find(self, marker: str) -> str | None:
        form = self._follow_up()
        rows = self.client.query(
            {
                "FormId": form.form_id,
                "FieldKeys": "FID",
                # "[" opens a character class in SQL Server's LIKE: search from after it
                "FilterString": f"{form.text_field} like {_quote('%' + marker.lstrip('[') + '%')}",
                "OrderString": "FID ASC",
                "TopRowCount": 1,
                "StartRow": 0,
                "Limit": 1,
                "SubSystemId": "",
            }
        )
        return str(rows[0][0]) if rows else None

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        return self._find(marker)

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        return self._find(marker)

    # ---- writing back in batches (BatchWriter) -------------------------------------------------
    # The bills of a batch are read with one `FID in (...)` query and the follow-up rows saved
    # with one BatchSave, whose answer says per DIndex what was saved and what refused.

    def _bills(self, external_ids: list[str]) -> dict[str, dict[str, Any]]:
        spec = self.source.receivables
        ids = sorted({int(i) for i in external_ids if str(i).isdigit()})
        found: dict[str, dict[str, Any]] = {}
        for part in chunks(ids, 500):
            rows = self.client.query(
                {
                    "FormId": spec.form_id,
                    "FieldKeys": f"{spec.key},FBillNo,FCUSTOMERID.FNumber",
                    "FilterString": f"{spec.key} in ({','.join(str(i) for i in part)})",
                    "OrderString": f"{spec.key} ASC",
                    "StartRow": 0,
                    "Limit": 0,
                    "SubSystemId": "",
                }
            )
            for row in rows:  # one row per plan line on some tenants: the first one will do
                found.setdefault(str(int(row[0])), {"number": row[1], "customer": row[2]})
        return found

    def _save_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> WriteResults:
        """Follow-up rows for (bill id, text, extra fields), BatchSave'd in chunks."""
        form = self._follow_up()
        results: WriteResults = []
        for part in chunks(items, 500):
            bills = self._bills([external_id for external_id, _text, _extra in part])
            models: list[dict[str, Any]] = []
            slots: list[int | RecordRejected] = []  # per item: its DIndex, or why not sent
            for external_id, text, extra in part:
                bill = bills.get(str(external_id))
                if bill is None:
                    slots.append(RecordRejected(f"AR bill {external_id} not found in K3Cloud"))
                    continue
                slots.append(len(models))
                models.append(
                    {
                        form.customer_field: {"FNumber": bill["customer"]},
                        form.bill_no_field: bill["number"],
                        form.text_field: text,
                        **extra,
                    }
                )
            saved: dict[int, str] = {}
            refused: dict[int, str] = {}
            if models:
                saved, refused = self.client.batch_save(
                    form.form_id,
                    {
                        "Model": models,
                        "NeedReturnFields": ["FID"],
                        "IsAutoSubmitAndAudit": "true" if form.auto_submit_and_audit else "false",
                        "IsDeleteEntry": "false",
                    },
                )
            for slot in slots:
                if isinstance(slot, RecordRejected):
                    results.append(slot)
                elif slot in saved:
                    results.append(saved[slot])
                else:  # refused, or not confirmed: the next run looks it up by its marker
                    results.append(
                        RecordRejected(refused.get(slot, "K3Cloud did not confirm the save"))
                    )
        return results

    def post_notes(self, notes: list[NoteRequest]) -> WriteResults:
        return self._save_many([(n.external_id, _plain(n.html), {}) for n in notes])

    def create_tasks(self, tasks: list[TaskRequest]) -> WriteResults:
        return self._save_many(
            [
                (t.external_id, f"{t.summary}\n{_plain(t.note_html)}", self._task_fields(t))
                for t in tasks
            ]
        )

    def _find_many(self, pairs: list[tuple[str, str]]) -> dict[str, str]:
        """(bill id, marker) → follow-up id, one query per 500 bills: the bills' rows whose
        text holds a Dunlin marker, matched exactly here."""
        form = self._follow_up()
        found: dict[str, str] = {}
        for part in chunks(pairs, 500):
            bills = self._bills([external_id for external_id, _marker in part])
            numbers = sorted({b["number"] for b in bills.values()})
            if not numbers:
                continue
            rows: list[list[Any]] = []
            while True:  # a bill carries many notes over the months: read until a short page
                page = self.client.query(
                    {
                        "FormId": form.form_id,
                        "FieldKeys": f"FID,{form.text_field}",
                        "FilterString": (
                            f"{form.bill_no_field} in ({','.join(_quote(n) for n in numbers)}) "
                            f"and {form.text_field} like {_quote('%dunlin %')}"
                        ),
                        "OrderString": "FID ASC",
                        "StartRow": len(rows),
                        "Limit": FIND_PAGE,
                        "SubSystemId": "",
                    }
                )
                rows += page
                if len(page) < FIND_PAGE:
                    break
            seen = by_marker([(row[0], row[1]) for row in rows])
            found.update((m, str(seen[m])) for _external_id, m in part if m in seen)
        return found

    def find_notes(self, notes: list[NoteRequest]) -> dict[str, str]:
        return self._find_many([(n.external_id, n.marker) for n in notes])

    def find_tasks(self, tasks: list[tuple[TaskRequest, str]]) -> dict[str, str]:
        return self._find_many([(t.external_id, marker) for t, marker in tasks])

    def close_tasks(self, task_ids: list[str]) -> WriteResults:
        """Set the status of many follow-up rows with one BatchSave a chunk."""
        form = self._follow_up()
        if not form.status_field:
            return list(task_ids)
        results: WriteResults = []
        for part in chunks(task_ids, 500):
            saved, refused = self.client.batch_save(
                form.form_id,
                {
                    "Model": [{"FID": int(i), form.status_field: form.closed_value} for i in part],
                    "NeedUpDateFields": [form.status_field],
                    "IsDeleteEntry": "false",
                },
            )
            results.extend(
                task_id
                if index in saved
                else RecordRejected(refused.get(index, "K3Cloud did not confirm the update"))
                for index, task_id in enumerate(part)
            )
        return results

    def close_task(self, task_id: str) -> None:
        form = self._follow_up()
        if not form.status_field:
            return
        self.client.save(
            form.form_id,
            {
                "Model": {"FID": int(task_id), form.status_field: form.closed_value},
                "NeedUpDateFields": [form.status_field],
                "IsDeleteEntry": "false",
            },
        )

    def close(self) -> None:
        self.client.close()


FIND_PAGE = 2000  # rows per lookup query


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&amp;", "&").strip()
