"""The fake Odoo's database and ORM: records in memory, domains, ordering, write_date.

Faithful where Dunlin depends on it (docs/reference/odoo.md §3): `search_read` with explicit fields,
`load=''` bare many2one ids, unset values as `False`, "Invalid field" errors for unknown
fields, prefix-notation domains, `write_date` as the *transaction start* (a transaction can be
committed late with an older stamp), `mobile` absent from res.partner in 19, `blocked` in
payment_state from 18, `body_is_html` accepted by message_post from 17.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


class OdooException(Exception):
    """Base of the fake's server-side exceptions; `name` is what Odoo serialises."""

    name = "odoo.exceptions.UserError"
    kind = "UserError"  # the XML-RPC faultCode word


class AccessDenied(OdooException):
    name, kind = "odoo.exceptions.AccessDenied", "AccessDenied"


class AccessError(OdooException):
    name, kind = "odoo.exceptions.AccessError", "AccessError"


class MissingError(OdooException):
    name, kind = "odoo.exceptions.MissingError", "MissingError"


class UserError(OdooException):
    pass


class InvalidField(OdooException):
    """Odoo raises a plain ValueError('Invalid field ...'): an "anything else" error."""

    name, kind = "builtins.ValueError", ""


class UnknownArgument(OdooException):
    name, kind = "builtins.TypeError", ""


class UnknownModel(UserError):
    """`execute_kw` on a model the registry lacks: odoo.service.model raises
    UserError("Object %s doesn't exist"); JSON-2 answers 404 NotFound instead."""


class UnknownMethod(OdooException):
    """A method the model lacks: AttributeError from `call_kw` (404 NotFound on JSON-2)."""

    name, kind = "builtins.AttributeError", ""


class ServerError(OdooException):
    """Any other Python exception inside a call: Odoo serialises it as `<module>.<class>`
    with the traceback, never as a bare HTTP 500 (a 500 here means the fake is wrong)."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc) or type(exc).__name__)
        self.name = f"builtins.{type(exc).__name__}"


def _f(type_: str, relation: str | None = None, selection: list[Any] | None = None) -> dict:
    field: dict[str, Any] = {"type": type_, "store": True, "string": ""}
    if relation:
        field["relation"] = relation
    if selection is not None:
        field["selection"] = [[s, s.replace("_", " ").title()] for s in selection]
    return field


def schema(version: int) -> dict[str, dict[str, dict[str, Any]]]:
    common = {
        "id": _f("integer"),
        "display_name": {**_f("char"), "store": False},
        "create_date": _f("datetime"),
        "write_date": _f("datetime"),
    }
    partner = {
        **common,
        "name": _f("char"),
        "email": _f("char"),
        "phone": _f("char"),
        "lang": _f("selection", selection=["en_US", "zh_CN"]),
        "vat": _f("char"),
        "ref": _f("char"),
        "active": _f("boolean"),
        "is_company": _f("boolean"),
        "customer_rank": _f("integer"),
        "category_id": _f("many2many", "res.partner.category"),
        "user_id": _f("many2one", "res.users"),
        "parent_id": _f("many2one", "res.partner"),
        "commercial_partner_id": _f("many2one", "res.partner"),
        "company_id": _f("many2one", "res.company"),
        "tz": _f("char"),
    }
    if version <= 18:
        partner["mobile"] = _f("char")
    payment_states = ["not_paid", "in_payment", "paid", "partial", "reversed", "invoicing_legacy"]
    if version >= 18:
        payment_states.append("blocked")
    move_types = ["entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt"]
    move = {
        **common,
        "name": _f("char"),
        "move_type": _f("selection", selection=move_types),
        "state": _f("selection", selection=["draft", "posted", "cancel"]),
        "payment_state": _f("selection", selection=payment_states),
        "amount_untaxed": _f("monetary"),
        "amount_tax": _f("monetary"),
        "amount_total": _f("monetary"),
        "amount_residual": _f("monetary"),
        "amount_residual_signed": _f("monetary"),
        "invoice_date": _f("date"),
        "invoice_date_due": _f("date"),
        "date": _f("date"),
        "partner_id": _f("many2one", "res.partner"),
        "commercial_partner_id": _f("many2one", "res.partner"),
        "invoice_user_id": _f("many2one", "res.users"),
        "company_id": _f("many2one", "res.company"),
        "currency_id": _f("many2one", "res.currency"),
        "ref": _f("char"),
        "payment_reference": _f("char"),
        "invoice_origin": _f("char"),
    }
    return {
        "res.partner": partner,
        "account.move": move,
        "res.users": {**common, "name": _f("char"), "login": _f("char")},
        "res.currency": {**common, "name": _f("char"), "symbol": _f("char")},
        "res.partner.category": {**common, "name": _f("char")},
        "res.company": {**common, "name": _f("char")},
        "mail.message": {
            **common,
            "model": _f("char"),
            "res_id": _f("integer"),
            "body": _f("html"),
            "message_type": _f("selection", selection=["comment", "notification"]),
            "subtype_xmlid": {**_f("char"), "store": False},
            "subtype_id": _f("many2one", "mail.message.subtype"),
            "author_id": _f("many2one", "res.partner"),
        },
        "mail.message.subtype": {**common, "name": _f("char")},
        "mail.activity": {
            **common,
            "res_model_id": _f("many2one", "ir.model"),
            "res_model": _f("char"),
            "res_id": _f("integer"),
            "activity_type_id": _f("many2one", "mail.activity.type"),
            "user_id": _f("many2one", "res.users"),
            "date_deadline": _f("date"),
            "summary": _f("char"),
            "note": _f("html"),
        },
        "mail.activity.type": {**common, "name": _f("char")},
        "ir.model": {**common, "model": _f("char"), "name": _f("char")},
        "ir.model.data": {
            **common,
            "module": _f("char"),
            "name": _f("char"),
            "model": _f("char"),
            "res_id": _f("integer"),
        },
    }


# ---- domains --------------------------------------------------------------------------------

Predicate = Callable[[dict[str, Any]], bool]


def _like(pattern: Any, value: Any, fold: bool) -> bool:
    if value is False or value is None:
        return False
    pattern, value = str(pattern), str(value)
    return pattern.lower() in value.lower() if fold else pattern in value


def _leaf(field: str, op: str, value: Any) -> Predicate:
    def get(record: dict[str, Any]) -> Any:
        current = record.get(field, False)
        return current

    def compare(record: dict[str, Any]) -> bool:
        current = get(record)
        if op == "=":
            return current == value or (value is False and current in (None, False))
        if op == "!=":
            return current != value
        if op in ("in", "not in"):
            found = current in value or (
                isinstance(current, list) and bool(set(current) & set(value))
            )
            return found if op == "in" else not found
        if op in ("like", "ilike"):
            return _like(value, current, op == "ilike")
        if current is False or current is None or value is False:
            return False
        if op == ">":
            return current > value
        if op == ">=":
            return current >= value
        if op == "<":
            return current < value
        if op == "<=":
            return current <= value
        raise UserError(f"Invalid domain operator {op!r}")

    return compare


def compile_domain(domain: list[Any], fields: dict[str, Any]) -> tuple[Predicate, Any]:
    """(predicate, tree) for an Odoo prefix-notation domain; the tree feeds `lower_bound`."""
    stack: list[tuple[Predicate, Any]] = []
    for token in reversed(domain or []):
        if token in ("&", "|"):
            (a, ta), (b, tb) = stack.pop(), stack.pop()
            if token == "&":
                stack.append(((lambda r, a=a, b=b: a(r) and b(r)), ("&", ta, tb)))
            else:
                stack.append(((lambda r, a=a, b=b: a(r) or b(r)), ("|", ta, tb)))
        elif token == "!":
            a, ta = stack.pop()
            stack.append(((lambda r, a=a: not a(r)), ("!", ta)))
        else:
            field, op, value = token
            root = field.split(".")[0]
            if root not in fields:
                raise InvalidField(f"Invalid field {field!r} in leaf {tuple(token)!r}")
            stack.append((_leaf(field, op, value), ("leaf", field, op, value)))
    if not stack:
        return (lambda r: True), None
    predicate, tree = stack.pop()
    while stack:  # implicit AND of the remaining terms
        other, other_tree = stack.pop()

        def predicate(r, a=predicate, b=other):
            return a(r) and b(r)

        tree = ("&", tree, other_tree)
    return predicate, tree


def lower_bound(tree: Any, field: str) -> Any:
    """A value v such that every record matching `tree` has `field >= v` (or None)."""
    if tree is None:
        return None
    if tree[0] == "leaf":
        _, name, op, value = tree
        return value if name == field and op in (">", ">=", "=") and value is not False else None
    if tree[0] == "&":
        bounds = [
            b for b in (lower_bound(tree[1], field), lower_bound(tree[2], field)) if b is not None
        ]
        return max(bounds) if bounds else None
    if tree[0] == "|":
        a, b = lower_bound(tree[1], field), lower_bound(tree[2], field)
        return min(a, b) if a is not None and b is not None else None
    return None


def _order_key(order: str | None) -> list[tuple[str, bool]]:
    terms = []
    for part in (order or "id asc").split(","):
        bits = part.split()
        terms.append((bits[0], len(bits) > 1 and bits[1].lower() == "desc"))
    return terms


class Database:
    """Tables of one fake Odoo database, guarded by one lock (the server is threaded)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.fields = schema(version)
        self.tables: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in self.fields}
        self.next_id: dict[str, int] = dict.fromkeys(self.fields, 1)
        self.lock = threading.RLock()
        self._sorted: dict[tuple[str, str], tuple[list[Any], list[dict[str, Any]]]] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def now(self) -> str:
        return self.clock().strftime("%Y-%m-%d %H:%M:%S")

    def model_fields(self, model: str) -> dict[str, Any]:
        if model not in self.fields:
            raise UnknownModel(f"Object {model} doesn't exist")
        return self.fields[model]

    def insert(self, model: str, values: dict[str, Any], write_date: str | None = None) -> int:
        with self.lock:
            new_id = values.get("id") or self.next_id[model]
            self.next_id[model] = max(self.next_id[model], new_id + 1)
            stamp = write_date or self.now()
            record = dict.fromkeys(self.fields[model], False)
            record.update(values, id=new_id, create_date=stamp, write_date=stamp)
            self.tables[model][new_id] = record
            self._invalidate(model)
            return new_id

    def update(
        self, model: str, ids: list[int], values: dict[str, Any], write_date: str | None = None
    ) -> None:
        """A write; `write_date` lets a test commit a long transaction with its older stamp."""
        with self.lock:
            stamp = write_date or self.now()
            for record_id in ids:
                record = self.tables[model].get(record_id)
                if record is None:
                    raise MissingError(
                        f"Record does not exist or has been deleted. ({model}({record_id},))"
                    )
                record.update(values, write_date=stamp)
            self._invalidate(model)

    def delete(self, model: str, ids: list[int]) -> None:
        with self.lock:
            for record_id in ids:
                self.tables[model].pop(record_id, None)
            self._invalidate(model)

    def _invalidate(self, model: str) -> None:
        for key in [k for k in self._sorted if k[0] == model]:
            del self._sorted[key]

    def _ordered(self, model: str, order: str) -> tuple[list[Any], list[dict[str, Any]]]:
        key = (model, order)
        if key not in self._sorted:
            terms = _order_key(order)
            rows = list(self.tables[model].values())
            for name, desc in reversed(terms):
                rows.sort(key=lambda r, n=name: (r.get(n) is False, r.get(n) or 0), reverse=desc)
            first, desc = terms[0]
            keys = [] if desc else [r.get(first) for r in rows]
            self._sorted[key] = (keys, rows)
        return self._sorted[key]

    def search(
        self,
        model: str,
        domain: list[Any],
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        fields = self.model_fields(model)
        order = order or "id asc"
        for name, _desc in _order_key(order):
            if name not in fields:
                raise InvalidField(f"Invalid field {name!r} on model {model!r}")
        predicate, tree = compile_domain(domain, fields)
        with self.lock:
            keys, rows = self._ordered(model, order)
            start = 0
            first, desc = _order_key(order)[0]
            bound = None if desc else lower_bound(tree, first)
            if bound is not None:
                start = bisect.bisect_left(keys, bound)
            found: list[dict[str, Any]] = []
            skipped = 0
            for record in rows[start:] if start else rows:
                if predicate(record):
                    if skipped < offset:
                        skipped += 1
                        continue
                    found.append(record)
                    if limit and len(found) >= limit:
                        break
            return found
