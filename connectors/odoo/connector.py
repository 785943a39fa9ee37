"""Odoo as a Dunlin source: res.partner and account.move read incrementally, chatter notes and
activities written back.

Paging follows docs/reference/odoo.md §3: the first load pages on `id` alone (write_date may not be
indexed) after noting the newest write_date; deltas page on the keyset (write_date, id) from
the stored position minus an overlap window longer than Odoo's longest transaction, because
write_date is the transaction's start time, not its commit time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
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
    each,
    entity_spec,
)
from connectors.odoo.client import OdooClient
from mappings.api import OdooEntity, OdooMapping
from mappings.paths import root_fields

EPOCH = "1970-01-01 00:00:00"
_ODOO_DT = "%Y-%m-%d %H:%M:%S"


def _minus(stamp: str, minutes: int) -> str:
    moment = datetime.strptime(stamp[:19], _ODOO_DT) - timedelta(minutes=minutes)
    return max(moment.strftime(_ODOO_DT), EPOCH)


class OdooConnector:
    def __init__(self, mapping: OdooMapping, settings: dict[str, Any], credentials: dict[str, Any]):
        self.mapping = mapping
        self.source = mapping.source
        self.page_size = int(settings.get("page_size") or self.source.page_size)
        protocol = settings.get("protocol") or self.source.protocol
        self.client = OdooClient(
            settings["url"],
            settings.get("database", ""),
            credentials.get("login", ""),
            credentials.get("api_key") or credentials.get("password", ""),
            protocol=protocol,
            timeout=float(settings.get("timeout_seconds") or self.source.timeout_seconds),
            rate_limit=float(settings.get("rate_limit", self.source.rate_limit)),
        )
        self.major_version: int | None = None
        self._fields: dict[str, dict[str, Any]] = {}
        self._read_fields: dict[str, list[str]] = {}
        self._lookup_cache: dict[tuple[str, int], Any] = {}
        self._model_ids: dict[str, int] = {}
        self._activity_type: int | None = None
        self._subtype: int | None = None

    # ---- discovery ---------------------------------------------------------------------------

    def _entity(self, entity: str) -> OdooEntity:
        spec: OdooEntity = entity_spec(self.source, entity)
        return spec

    def fields_of(self, model: str) -> dict[str, Any]:
        if model not in self._fields:
            self._fields[model] = self.client.call(
                model, "fields_get", attributes=["type", "selection", "relation", "store"]
            )
        return self._fields[model]

    def _wanted(self, entity: str) -> tuple[list[str], list[str]]:
        """(fields to read, fields the mapping names that the model lacks)."""
        spec = self._entity(entity)
        wanted = root_fields(self.mapping, entity) | set(spec.extra_fields) | set(spec.lookups)
        wanted |= {"id", "write_date"}
        available = self.fields_of(spec.model)
        missing = sorted(f for f in wanted - set(available) if f not in spec.optional_fields)
        present = sorted(f for f in wanted if f in available)
        return present, missing

    def _fields_for(self, entity: str) -> list[str]:
        """The field list of every page of `entity`, worked out once per connection."""
        if entity in self._read_fields:
            return self._read_fields[entity]
        present, missing = self._wanted(entity)
        if missing:
            model = self._entity(entity).model
            raise SourceConfigError(
                f"the mapping reads field(s) {', '.join(missing)} that {model} does not have "
                f"on this Odoo / 映射引用了 Odoo 中不存在的字段"
            )
        self._read_fields[entity] = present
        return present

    def _version(self) -> dict[str, Any]:
        info = self.client.version_info()
        serie = info.get("server_version_info") or [0]
        try:
            self.major_version = int(str(serie[0]).split("saas~")[-1].split(".")[0])
        except ValueError:
            self.major_version = None
        return info

    def test(self) -> ConnectionInfo:
        info = self._version()
        self.client.login()
        missing: dict[str, list[str]] = {}
        fields: dict[str, list[str]] = {}
        for entity in ("customers", "receivables"):
            present, absent = self._wanted(entity)
            fields[entity] = present
            if absent:
                missing[entity] = absent
        move_fields = self.fields_of(self.source.receivables.model)
        payment_states = [s[0] for s in move_fields.get("payment_state", {}).get("selection", [])]
        partner_fields = self.fields_of(self.source.customers.model)
        capabilities = {
            "protocol": self.client.protocol,
            "fields": fields,
            "payment_states": payment_states,
            "partner_mobile": "mobile" in partner_fields,
            "html_notes": (self.major_version or 0) >= 17,
            "webhook_actions": (self.major_version or 0) >= 17,
        }
        user = str(self.client.uid) if self.client.uid else "api key"
        return ConnectionInfo(str(info.get("server_version", "?")), user, capabilities, missing)

    # ---- reading -----------------------------------------------------------------------------

    def begin(self, entity: str, stored: dict[str, Any], *, full: bool) -> dict[str, Any]:
        """The first cursor of a run: resume an unfinished first load, start a new one, or step
        back the overlap window from where the last delta stopped."""
        if stored.get("mode") == "id" and not full:
            return dict(stored)
        if full or not stored:
            spec = self._entity(entity)
            newest = self.client.call(
                spec.model,
                "search_read",
                domain=spec.domain,
                fields=["write_date"],
                limit=1,
                order="write_date desc, id desc",
                context=self.source.context,
            )
            mark = newest[0]["write_date"] if newest else EPOCH
            return {"mode": "id", "id": 0, "mark": mark}
        return {
            "mode": "keyset",
            "write_date": _minus(stored.get("write_date", EPOCH), self.source.overlap_minutes),
            "id": 0,
        }

    def read_page(self, entity: str, cursor: dict[str, Any], *, full: bool = False) -> Page:
        spec = self._entity(entity)
        size = self.page_size
        if cursor.get("mode") == "id":
            domain = [*spec.domain, ("id", ">", cursor.get("id", 0))]
            order = "id asc"
        else:
            stamp, last = cursor.get("write_date", EPOCH), cursor.get("id", 0)
            keyset = ["|", ("write_date", ">", stamp), "&", ("write_date", "=", stamp)]
            domain = [*spec.domain, *keyset, ("id", ">", last)]
            order = "write_date asc, id asc"
        records = self.client.call(
            spec.model,
            "search_read",
            domain=domain,
            fields=self._fields_for(entity),
            limit=size,
            order=order,
            load="",
            context=self.source.context,
        )
        if not isinstance(records, list):
            raise SourceUnavailable(f"search_read on {spec.model} did not return a list")
        self._resolve_lookups(spec, records)
        done = len(records) < size
        if cursor.get("mode") == "id":
            if done:  # first load finished: deltas start from what was newest when it began
                next_cursor = {"mode": "keyset", "write_date": cursor.get("mark", EPOCH), "id": 0}
            else:
                next_cursor = {**cursor, "id": records[-1]["id"]}
        elif records:
            next_cursor = {
                "mode": "keyset",
                "write_date": records[-1]["write_date"],
                "id": records[-1]["id"],
            }
        else:
            next_cursor = dict(cursor)
        return Page(records, next_cursor, done)

    def _resolve_lookups(self, spec: OdooEntity, records: list[dict[str, Any]]) -> None:
        for field, lookup in spec.lookups.items():
            ids = {
                r[field]
                for r in records
                if isinstance(r.get(field), int) and not isinstance(r[field], bool)
            }  # an unset many2one is False, which is an int to Python
            todo = sorted(i for i in ids if (lookup.model, i) not in self._lookup_cache)
            if todo:
                for row in self.client.call(lookup.model, "read", todo, fields=[lookup.field]):
                    self._lookup_cache[(lookup.model, row["id"])] = row.get(lookup.field)
            for record in records:
                ref = record.get(field)
                if isinstance(ref, int) and not isinstance(ref, bool):
                    record[field] = {
                        "id": ref,
                        lookup.field: self._lookup_cache.get((lookup.model, ref)),
                    }

    def read_records(self, entity: str, external_ids: list[str]) -> list[dict[str, Any]]:
        spec = self._entity(entity)
        ids = sorted({int(i) for i in external_ids if str(i).isdigit()})
        if not ids:
            return []
        records = self.client.call(
            spec.model,
            "search_read",
            domain=[*spec.domain, ("id", "in", ids)],
            fields=self._fields_for(entity),
            load="",
            context=self.source.context,
        )
        if not isinstance(records, list):
            raise SourceUnavailable(f"search_read on {spec.model} did not return a list")
        self._resolve_lookups(spec, records)
        return records

    def list_open_ids(self, entity: str) -> Iterator[str]:
        spec = self._entity(entity)
        domain = [*spec.domain, *(spec.open_domain or [])]
        last = 0
        while True:
            ids = self.client.call(
                spec.model,
                "search",
                domain=[*domain, ("id", ">", last)],
                limit=self.page_size * 10,
                order="id asc",
                context=self.source.context,
            )
            yield from (str(i) for i in ids)
            if len(ids) < self.page_size * 10:
                return
            last = ids[-1]

    # ---- writing back ------------------------------------------------------------------------

    def _model_for(self, entity: str) -> str:
        if entity == "receivables":
            return self.source.writeback.model
        return self._entity(entity).model

    def post_note(self, entity: str, external_id: str, html: str) -> str:
        if self.major_version is None:
            self._version()
        kwargs: dict[str, Any] = {
            "body": html,
            "message_type": self.source.writeback.message_type,
            "subtype_xmlid": self.source.writeback.subtype_xmlid,
        }
        if (self.major_version or 0) >= 17:
            kwargs["body_is_html"] = True  # 16 stores HTML as given and rejects the flag
        result = self.client.call(
            self._model_for(entity), "message_post", [int(external_id)], **kwargs
        )
        return str(result[0] if isinstance(result, list) else result)

    def find_note(self, entity: str, external_id: str, marker: str) -> str | None:
        found = self.client.call(
            "mail.message",
            "search",
            domain=[
                ("model", "=", self._model_for(entity)),
                ("res_id", "=", int(external_id)),
                ("body", "ilike", marker),
            ],
            limit=1,
        )
        return str(found[0]) if found else None

    def _res_model_id(self, model: str) -> int:
        if model not in self._model_ids:
            rows = self.client.call(
                "ir.model", "search_read", domain=[("model", "=", model)], fields=["id"], limit=1
            )
            if not rows:
                raise SourceConfigError(f"Odoo has no model {model!r}")
            self._model_ids[model] = rows[0]["id"]
        return self._model_ids[model]

    def _activity_type_id(self) -> int:
        if self._activity_type is None:
            xmlid = self.source.writeback.activity_type_xmlid
            self._activity_type = self._xmlid_res_id(xmlid, "activity type")
        return self._activity_type

    def _xmlid_res_id(self, xmlid: str, what: str) -> int:
        """The record id behind an external id such as `mail.mt_note` (one call)."""
        module, _, name = xmlid.partition(".")
        rows = self.client.call(
            "ir.model.data",
            "search_read",
            domain=[("module", "=", module), ("name", "=", name)],
            fields=["res_id"],
            limit=1,
        )
        if not rows:
            raise SourceConfigError(f"{what} {xmlid!r} not found")
        return int(rows[0]["res_id"])

    def _assignee(self, task: TaskRequest, model: str) -> int | None:
        """The given user, else the invoice's salesperson, else the partner's, else fallback."""
        if task.user_ref and str(task.user_ref).isdigit():
            return int(task.user_ref)
        wb = self.source.writeback
        record_id = int(task.external_id)
        if model == wb.model:
            rows = self.client.call(
                model, "read", [record_id], fields=[wb.invoice_user_field, wb.partner_field]
            )
            row = rows[0] if rows else {}
            user = _ref_id(row.get(wb.invoice_user_field))
            if user:
                return user
            partner = _ref_id(row.get(wb.partner_field))
        else:
            partner = record_id
        if partner:
            rows = self.client.call(
                self.source.customers.model, "read", [partner], fields=[wb.partner_user_field]
            )
            user = _ref_id(rows[0].get(wb.partner_user_field)) if rows else None
            if user:
                return user
        return wb.fallback_user_id

    def create_task(self, task: TaskRequest) -> str:
        model = self._model_for(task.entity)
        values: dict[str, Any] = {
            "res_model_id": self._res_model_id(model),
            "res_id": int(task.external_id),
            "activity_type_id": self._activity_type_id(),
            "date_deadline": task.due_on.isoformat(),
            "summary": task.summary,
            "note": task.note_html,
        }
        user = self._assignee(task, model)
        if user:
            values["user_id"] = user
        # `create`, not `activity_schedule`: the latter returns a recordset XML-RPC cannot carry,
        # after committing, so a retry would duplicate the activity (docs/reference/odoo.md §4.2).
        result = self.client.call("mail.activity", "create", vals_list=[values])
        return str(result[0] if isinstance(result, list) else result)

    def find_task(self, task: TaskRequest, marker: str) -> str | None:
        found = self.client.call(
            "mail.activity",
            "search",
            domain=[
                ("res_model", "=", self._model_for(task.entity)),
                ("res_id", "=", int(task.external_id)),
                ("summary", "ilike", marker),
            ],
            limit=1,
        )
        return str(found[0]) if found else None

    # ---- writing back in batches (BatchWriter) -------------------------------------------------
    # Notes go as `mail.message` records created from a list of values (message_post takes one
    # record a call); activities as `mail.activity` from a list. `create` is one transaction in
    # Odoo, so a refused batch wrote nothing and is retried one record a call to find the one
    # Odoo refuses. Lookups read every record of a batch with one `in` domain.

    def _subtype_id(self) -> int:
        if self._subtype is None:
            xmlid = self.source.writeback.subtype_xmlid
            self._subtype = self._xmlid_res_id(xmlid, "message subtype")
        return self._subtype

    def _rows(self, model: str, ids: list[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        """The records of `model` among `ids` that exist, by id (one call per 500)."""
        found: dict[int, dict[str, Any]] = {}
        for part in chunks(sorted(set(ids)), 500):
            rows = self.client.call(
                model,
                "search_read",
                domain=[("id", "in", part)],
                fields=fields or ["id"],
                load="",
                context=self.source.context,
            )
            if not isinstance(rows, list):
                raise SourceUnavailable(f"search_read on {model} did not return a list")
            found.update((row["id"], row) for row in rows)
        return found

    def _create_many(
        self, model: str, values: list[dict[str, Any] | RecordRejected]
    ) -> WriteResults:
        """`create` with a list of values; items already refused stay as they are."""
        todo = [v for v in values if not isinstance(v, RecordRejected)]
        if not todo:
            return [v for v in values if isinstance(v, RecordRejected)]  # all of them
        ids: Iterator[str | RecordRejected]
        try:
            created = self.client.call(model, "create", vals_list=todo)
            if not isinstance(created, list) or len(created) != len(todo):
                raise SourceUnavailable(f"create on {model} did not return one id per record")
            ids = iter([str(i) for i in created])
        except RecordRejected as exc:
            retried: WriteResults = (
                [exc] if len(todo) == 1 else each(lambda v: self._create_one(model, v), todo)
            )
            ids = iter(retried)
        return [v if isinstance(v, RecordRejected) else next(ids) for v in values]

    def _create_one(self, model: str, values: dict[str, Any]) -> str:
        created = self.client.call(model, "create", vals_list=[values])
        return str(created[0] if isinstance(created, list) else created)

    def _ids(self, items: list[Any]) -> list[int]:
        return [int(i.external_id) for i in items if str(i.external_id).isdigit()]

    def post_notes(self, notes: list[NoteRequest]) -> WriteResults:
        results: WriteResults = []
        for part in chunks(notes, 500):
            model = self._model_for(part[0].entity)
            alive = self._rows(model, self._ids(part), [])
            subtype = self._subtype_id()
            values: list[dict[str, Any] | RecordRejected] = []
            for note in part:
                record_id = int(note.external_id) if note.external_id.isdigit() else 0
                if record_id not in alive or self._model_for(note.entity) != model:
                    values.append(RecordRejected(f"Odoo has no {model} {note.external_id}"))
                    continue
                values.append(
                    {
                        "model": model,
                        "res_id": record_id,
                        "body": note.html,  # a stored Html field: kept as HTML on 16–19
                        "message_type": self.source.writeback.message_type,
                        "subtype_id": subtype,
                    }
                )
            results.extend(self._create_many("mail.message", values))
        return results

    def find_notes(self, notes: list[NoteRequest]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in chunks(notes, 500):
            rows = self.client.call(
                "mail.message",
                "search_read",
                domain=[
                    ("model", "=", self._model_for(part[0].entity)),
                    ("res_id", "in", sorted(set(self._ids(part)))),
                    ("body", "ilike", "[dunlin "),
                ],
                fields=["body", "res_id"],
                load="",
            )
            found.update(_on_record([(n.external_id, n.marker) for n in part], rows, "body"))
        return found

    def _assignees(self, tasks: list[TaskRequest], model: str) -> dict[int, int | None]:
        """Per record, the invoice's salesperson, else the partner's, else the fallback; two
        reads for the whole batch. A record that no longer exists is absent."""
        wb = self.source.writeback
        ids = self._ids(tasks)
        if model == wb.model:
            records = self._rows(model, ids, [wb.invoice_user_field, wb.partner_field])
            partner_of = {i: _ref_id(r.get(wb.partner_field)) for i, r in records.items()}
            user_of = {i: _ref_id(r.get(wb.invoice_user_field)) for i, r in records.items()}
        else:
            records = self._rows(model, ids, [])
            partner_of = {i: i for i in records}
            user_of = {}
        wanted = [p for i, p in partner_of.items() if p and not user_of.get(i)]
        partners = (
            self._rows(self.source.customers.model, wanted, [wb.partner_user_field])
            if wanted
            else {}
        )
        assignees: dict[int, int | None] = {}
        for record_id in records:
            partner = partner_of.get(record_id)
            assignees[record_id] = (
                user_of.get(record_id)
                or (
                    _ref_id(partners.get(partner, {}).get(wb.partner_user_field))
                    if partner
                    else None
                )
                or wb.fallback_user_id
            )
        return assignees

    def create_tasks(self, tasks: list[TaskRequest]) -> WriteResults:
        results: WriteResults = []
        for part in chunks(tasks, 500):
            model = self._model_for(part[0].entity)
            res_model_id, activity_type = self._res_model_id(model), self._activity_type_id()
            assignees = self._assignees(part, model)
            values: list[dict[str, Any] | RecordRejected] = []
            for task in part:
                record_id = int(task.external_id) if task.external_id.isdigit() else 0
                if record_id not in assignees or self._model_for(task.entity) != model:
                    values.append(RecordRejected(f"Odoo has no {model} {task.external_id}"))
                    continue
                value: dict[str, Any] = {
                    "res_model_id": res_model_id,
                    "res_id": record_id,
                    "activity_type_id": activity_type,
                    "date_deadline": task.due_on.isoformat(),
                    "summary": task.summary,
                    "note": task.note_html,
                }
                user = int(task.user_ref) if str(task.user_ref or "").isdigit() else None
                if user or assignees[record_id]:
                    value["user_id"] = user or assignees[record_id]
                values.append(value)
            results.extend(self._create_many("mail.activity", values))
        return results

    def find_tasks(self, tasks: list[tuple[TaskRequest, str]]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in chunks(tasks, 500):
            rows = self.client.call(
                "mail.activity",
                "search_read",
                domain=[
                    ("res_model", "=", self._model_for(part[0][0].entity)),
                    ("res_id", "in", sorted(set(self._ids([t for t, _m in part])))),
                    ("summary", "ilike", "[dunlin "),
                ],
                fields=["summary", "res_id"],
                load="",
            )
            found.update(_on_record([(t.external_id, m) for t, m in part], rows, "summary"))
        return found

    def close_tasks(self, task_ids: list[str]) -> WriteResults:
        """Mark done the activities still there (done or deleted in Odoo: nothing to close):
        one search and one action_feedback a chunk; a refused chunk is retried per record."""
        results: WriteResults = []
        for part in chunks(task_ids, 500):
            ids = [int(i) for i in part if str(i).isdigit()]
            alive = set(self.client.call("mail.activity", "search", domain=[("id", "in", ids)]))
            if alive:
                try:
                    self.client.call(
                        "mail.activity", "action_feedback", sorted(alive), feedback="Done in Dunlin"
                    )
                except RecordRejected:
                    results.extend(each(self._close_one, part))
                    continue
            results.extend(part)
        return results

    def _close_one(self, task_id: str) -> str:
        self.close_task(task_id)
        return task_id

    def close_task(self, task_id: str) -> None:
        exists = self.client.call("mail.activity", "search", domain=[("id", "=", int(task_id))])
        if exists:  # already done or deleted in Odoo: nothing left to close
            self.client.call(
                "mail.activity", "action_feedback", [int(task_id)], feedback="Done in Dunlin"
            )

    def close(self) -> None:
        self.client.close()


def _on_record(
    wanted: list[tuple[str, str]], rows: list[dict[str, Any]], field: str
) -> dict[str, str]:
    """(record id, marker) pairs → marker → id of the row on that record whose `field` holds
    the marker."""
    seen = by_marker([(row, row.get(field)) for row in rows])
    return {
        marker: str(seen[marker]["id"])
        for record_id, marker in wanted
        if marker in seen and str(seen[marker].get("res_id")) == record_id
    }


def _ref_id(value: Any) -> int | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) and value else None
