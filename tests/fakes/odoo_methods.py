"""The ORM methods the fake Odoo serves, with Odoo's signatures, for every protocol.

`execute`, `execute_kw` (XML-RPC, JSON-RPC) and JSON-2 all bind arguments against SIGNATURES
as Python binds them on a real server: any parameter positionally or by keyword, record ids
first for record methods (`read(ids, ['name'])` as OdooRPC sends it); an unknown keyword or one
too many positionals is a TypeError (HTTP 422 on JSON-2), an unknown method an AttributeError,
a private one an AccessError, a model the user may not read an AccessError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.odoo_orm import (
    AccessError,
    Database,
    InvalidField,
    MissingError,
    UnknownArgument,
    UnknownMethod,
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
    "default_get": (True, ("fields_list",)),
    "name_search": (True, ("name", "args", "operator", "limit")),
    "check_object_reference": (True, ("module", "xml_id", "raise_on_access_error")),
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


def parameters(method: str, version: int) -> tuple[bool, tuple[str, ...]]:
    """(is @api.model, parameter names) of `method` on this version."""
    is_model, params = SIGNATURES[method]
    if method == "message_post" and version < 17:
        params = tuple(p for p in params if p != "body_is_html")
    if method == "name_search" and version >= 18:  # 18 renamed `args` to `domain`
        params = tuple("domain" if p == "args" else p for p in params)
    return is_model, params


def bind(
    model: str, method: str, args: list[Any], kwargs: dict[str, Any], version: int
) -> tuple[list[int] | None, dict[str, Any]]:
    if method.startswith("_"):
        raise AccessError(
            f"Private methods (such as '{model}.{method}') cannot be called remotely."
        )
    if method not in SIGNATURES:
        raise UnknownMethod(f"The method '{method}' does not exist on the model '{model}'")
    is_model, params = parameters(method, version)
    args = list(args)
    ids = None
    if not is_model:
        if not args and "ids" not in kwargs:
            raise UnknownArgument(f"{method}() missing record ids")
        ids = kwargs.pop("ids", None) if "ids" in kwargs else args.pop(0)
        ids = _ids(method, ids)
    if len(args) > len(params):
        raise UnknownArgument(
            f"{method}() takes {len(params) + 1} positional arguments but {len(args) + 1} were given"
        )
    bound = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key not in params:
            raise UnknownArgument(f"{method}() got an unexpected keyword argument {key!r}")
        if key in bound:
            raise UnknownArgument(f"{method}() got multiple values for argument {key!r}")
        bound[key] = value
    return ids, bound


def _ids(method: str, ids: Any) -> list[int]:
    """`browse()` takes an id, a list of ids, or False/None for an empty recordset; falsy ids in
    a list are dropped as Odoo's `origin_ids` drops them (`read([False, 7])` reads 7)."""
    if ids is False or ids is None:
        return []
    if isinstance(ids, int) and not isinstance(ids, bool):
        return [ids]
    if isinstance(ids, list | tuple) and all(isinstance(i, int) for i in ids):
        return [i for i in ids if i]
    raise UnknownArgument(f"{method}(): record ids must be integers, not {ids!r}")


def _names(fields: Any) -> list[str] | None:
    """A field list as `read`/`search_read` accept it: None/False/[] for all, names otherwise."""
    if not fields:
        return None
    if isinstance(fields, str):
        return [fields]
    if isinstance(fields, list | tuple) and all(isinstance(f, str) for f in fields):
        return list(fields)
    raise InvalidField(f"Invalid field {fields!r}")


@dataclass(frozen=True)
class Ctx:
    uid: int
    model: str
    schema: dict[str, Any]


class Env:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.denied: dict[int, set[str]] = {}  # uid → models that user has no ACL for

    def call(
        self, uid: int, model: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        ctx = Ctx(uid, model, self.db.model_fields(model))
        ids, kw = bind(model, method, args, dict(kwargs), self.db.version)
        if model in self.denied.get(uid, ()) and method != "check_access_rights":
            raise self._access_error(ctx, "read")
        handler = getattr(self, "_" + method)
        return handler(ctx, ids, **kw) if ids is not None else handler(ctx, **kw)

    def _access_error(self, ctx: Ctx, operation: str) -> AccessError:
        described = next(
            (m["name"] for m in self.db.tables["ir.model"].values() if m["model"] == ctx.model),
            ctx.model,
        )
        return AccessError(
            f"You are not allowed to {'access' if operation == 'read' else operation} "
            f"'{described}' ({ctx.model}) records.\n\nThis operation is allowed for the "
            "following groups:\n\t- Accounting/Billing\n\nContact your administrator to "
            "request access if necessary."
        )

    # ---- reading -----------------------------------------------------------------------------

    def _project(
        self, ctx: Ctx, record: dict[str, Any], names: list[str] | None, load: Any
    ) -> dict[str, Any]:
        model, fields = ctx.model, ctx.schema
        names = _names(names) or [n for n, f in fields.items() if f.get("store", True)]
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

    def _name_search(self, ctx, name="", args=None, operator="ilike", limit=100, domain=None):
        rows = self.db.search(ctx.model, list(domain or args or []), 0, None, None)
        if name:
            leaf = [("name", operator, name)]
            rows = self.db.search(ctx.model, leaf + list(domain or args or []), 0, None, None)
        rows = rows[:limit] if limit else rows
        return [[r["id"], r.get("name") or f"{ctx.model},{r['id']}"] for r in rows]

    def _default_get(self, ctx, fields_list=None):
        return {}

    def _check_object_reference(self, ctx, module, xml_id, raise_on_access_error=False):
        if ctx.model != "ir.model.data":
            raise UnknownMethod(
                f"The method 'check_object_reference' does not exist on the model '{ctx.model}'"
            )
        for row in self.db.tables["ir.model.data"].values():
            if (row["module"], row["name"]) == (module, xml_id):
                return [row["model"], row["res_id"]]
        raise ValueError(f"External ID not found in the system: {module}.{xml_id}")

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
        if ctx.model in self.denied.get(ctx.uid, ()):
            if raise_exception:
                raise self._access_error(ctx, operation)
            return False
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
        unknown = [k for k in vals or {} if k not in ctx.schema]
        if unknown:
            raise InvalidField(f"Invalid field {unknown[0]!r} on model {ctx.model!r}")
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
