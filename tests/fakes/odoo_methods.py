"""The ORM methods the fake Odoo serves, with Odoo's signatures, for every protocol.

`execute_kw` (XML-RPC, JSON-RPC) and JSON-2 both bind arguments against SIGNATURES, so an
unknown keyword fails the way it does on a real server (TypeError; HTTP 422 on JSON-2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.odoo_orm import (
    Database,
    InvalidField,
    MissingError,
    UnknownArgument,
)

# method → (is @api.model, parameter names after `self`/ids)
SIGNATURES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "search": (True, ("domain", "offset", "limit", "order")),
    "search_read": (True, ("domain", "fields", "offset", "limit", "order", "load")),
    "search_count": (True, ("domain", "limit")),
    "read": (False, ("fields", "load")),
    "fields_get": (True, ("allfields", "attributes")),
    "create": (True, ("vals_list",)),
    "write": (False, ("vals",)),
    "unlink": (False, ()),
    "context_get": (True, ()),
    "check_access_rights": (True, ("operation", "raise_exception")),
    "message_post": (
        False,
        (
            "body",
            "subject",
            "message_type",
            "email_from",
            "author_id",
            "parent_id",
            "subtype_xmlid",
            "subtype_id",
            "partner_ids",
            "attachments",
            "attachment_ids",
            "body_is_html",
        ),
    ),
    "action_feedback": (False, ("feedback", "attachment_ids")),
}


def bind(
    method: str, args: list[Any], kwargs: dict[str, Any], version: int
) -> tuple[list[int] | None, dict[str, Any]]:
    if method not in SIGNATURES:
        raise UnknownArgument(f"The method {method!r} does not exist")
    is_model, params = SIGNATURES[method]
    if method == "message_post" and version < 17:
        params = tuple(p for p in params if p != "body_is_html")
    args = list(args)
    ids = None
    if not is_model:
        if not args and "ids" not in kwargs:
            raise UnknownArgument(f"{method}() missing record ids")
        ids = kwargs.pop("ids", None) if "ids" in kwargs else args.pop(0)
        ids = [ids] if isinstance(ids, int) else list(ids)
    if len(args) > len(params):
        raise UnknownArgument(f"{method}() takes {len(params)} positional arguments")
    bound = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key not in params:
            raise UnknownArgument(f"{method}() got an unexpected keyword argument {key!r}")
        bound[key] = value
    return ids, bound


@dataclass(frozen=True)
class Ctx:
    uid: int
    model: str
    schema: dict[str, Any]


class Env:
    def __init__(self, db: Database) -> None:
        self.db = db

    def call(
        self, uid: int, model: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        ctx = Ctx(uid, model, self.db.model_fields(model))
        ids, kw = bind(method, args, dict(kwargs), self.db.version)
        handler = getattr(self, "_" + method)
        return handler(ctx, ids, **kw) if ids is not None else handler(ctx, **kw)

    # ---- reading -----------------------------------------------------------------------------

    def _project(
        self, ctx: Ctx, record: dict[str, Any], names: list[str] | None, load: Any
    ) -> dict[str, Any]:
        model, fields = ctx.model, ctx.schema
        names = names or [n for n, f in fields.items() if f.get("store", True)]
        for name in names:
            if name not in fields:
                raise InvalidField(f"Invalid field {name!r} on model {model!r}")
        out = {"id": record["id"]}
        for name in names:
            value = record.get(name, False)
            if fields[name]["type"] == "many2one" and value and load == "_classic_read":
                target = self.db.tables.get(fields[name]["relation"], {}).get(value, {})
                value = [value, target.get("name") or target.get("display_name") or f"#{value}"]
            elif name == "display_name":
                value = record.get("name") or False
            out[name] = value
        return out

    def _search(self, ctx, domain=None, offset=0, limit=None, order=None):
        return [
            r["id"]
            for r in self.db.search(
                ctx.model, domain or [], offset or 0, limit or None, order or None
            )
        ]

    def _search_count(self, ctx, domain=None, limit=None):
        return len(self.db.search(ctx.model, domain or [], 0, limit or None))

    def _search_read(
        self, ctx, domain=None, fields=None, offset=0, limit=None, order=None, load="_classic_read"
    ):
        rows = self.db.search(ctx.model, domain or [], offset or 0, limit or None, order or None)
        return [self._project(ctx, r, fields, load) for r in rows]

    def _read(self, ctx, ids, fields=None, load="_classic_read"):
        table = self.db.tables[ctx.model]
        return [self._project(ctx, table[i], fields, load) for i in ids if i in table]

    def _fields_get(self, ctx, allfields=None, attributes=None):
        out = {}
        for name, spec in ctx.schema.items():
            if allfields and name not in allfields:
                continue
            out[name] = {k: v for k, v in spec.items() if not attributes or k in attributes}
        return out

    def _context_get(self, ctx):
        return {"lang": "en_US", "tz": "Asia/Shanghai", "uid": ctx.uid}

    def _check_access_rights(self, ctx, operation="read", raise_exception=True):
        return True

    # ---- writing -----------------------------------------------------------------------------

    def _create(self, ctx, vals_list=None):
        """Odoo 16+ creates from a list of values in one transaction: every record is checked
        before any is stored, so a refused batch stores nothing."""
        single = isinstance(vals_list, dict)
        checked = [
            self._checked(ctx, v) for v in ([vals_list] if single else list(vals_list or []))
        ]
        new_ids = [self.db.insert(ctx.model, values) for values in checked]
        return new_ids[0] if single else new_ids

    def _checked(self, ctx, values):
        unknown = [k for k in values if k not in ctx.schema]
        if unknown:
            raise InvalidField(f"Invalid field {unknown[0]!r} on model {ctx.model!r}")
        values = dict(values)
        if ctx.model == "mail.activity":
            ir_model = self.db.tables["ir.model"].get(values.get("res_model_id"))
            if not ir_model:
                raise MissingError("res_model_id is required")
            values["res_model"] = ir_model["model"]
            values.setdefault("user_id", ctx.uid)
        if ctx.model in ("mail.activity", "mail.message"):
            document = values.get("res_model") or values.get("model")
            if values.get("res_id") not in self.db.tables.get(document, {}):
                raise MissingError(
                    f"Record does not exist or has been deleted. ({document}({values.get('res_id')},))"
                )
        if ctx.model == "mail.message" and values.get("subtype_id"):
            xmlids = self.db.tables["ir.model.data"].values()
            values["subtype_xmlid"] = next(
                f"{x['module']}.{x['name']}"
                for x in xmlids
                if x["model"] == "mail.message.subtype" and x["res_id"] == values["subtype_id"]
            )
        return values

    def _write(self, ctx, ids, vals=None):
        self.db.update(ctx.model, ids, vals or {})
        return True

    def _unlink(self, ctx, ids):
        self.db.delete(ctx.model, ids)
        return True

    def _message_post(
        self,
        ctx,
        ids,
        body="",
        subject=None,
        message_type="notification",
        subtype_xmlid=None,
        body_is_html=False,
        **kw,
    ):
        (res_id,) = ids
        if res_id not in self.db.tables[ctx.model]:
            raise MissingError(
                f"Record does not exist or has been deleted. ({ctx.model}({res_id},))"
            )
        if self.db.version >= 17 and not body_is_html:
            body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return self.db.insert(
            "mail.message",
            {
                "model": ctx.model,
                "res_id": res_id,
                "body": body,
                "message_type": message_type,
                "subtype_xmlid": subtype_xmlid or "mail.mt_note",
                "author_id": ctx.uid,
            },
        )

    def _action_feedback(self, ctx, ids, feedback=False, attachment_ids=None):
        message_id = False
        for activity_id in ids:
            activity = self.db.tables[ctx.model].get(activity_id)
            if activity is None:
                raise MissingError(
                    f"Record does not exist or has been deleted. ({ctx.model}({activity_id},))"
                )
            message_id = self.db.insert(
                "mail.message",
                {
                    "model": activity["res_model"],
                    "res_id": activity["res_id"],
                    "body": f"<p>{activity['summary']} done: {feedback or ''}</p>",
                    "message_type": "notification",
                    "author_id": ctx.uid,
                },
            )
            self.db.delete(ctx.model, [activity_id])
        return message_id
