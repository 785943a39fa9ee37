"""A fake Odoo 16–19 speaking XML-RPC, JSON-RPC and (19) JSON-2 over real HTTP.

    python -m tests.fakes.odoo --port 8069 --seed 42 --customers 20000 --invoices 100000

Errors take Odoo's real shapes (docs/reference/odoo.md §2): XML-RPC faults with string fault codes,
JSON-RPC `error` objects under HTTP 200, JSON-2 HTTP statuses with `serialize_exception`
bodies. odoo-client-lib and OdooRPC run against it unchanged (tests/integration/connectors).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import time
import xmlrpc.client
from datetime import date, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.odoo_methods import SIGNATURES, Env, parameters
from tests.fakes.odoo_orm import (
    AccessDenied,
    AccessError,
    Database,
    MissingError,
    OdooException,
    ServerError,
    UnknownArgument,
    UnknownMethod,
    UnknownModel,
    UserError,
)
from tests.fakes.server import FaultyApp, Served, serve_forever

ANCHOR = date(2026, 12, 1)
DEBUG = "Traceback (most recent call last):\n  (fake odoo)"


class FakeOdoo:
    def __init__(self, version: int = 17, database: str = "prod") -> None:
        self.version = version
        self.database = database
        self.db = Database(version)
        self.env = Env(self.db)
        # login → (uid, password, api key)
        self.users = {
            "admin": (2, "admin", "admin-api-key"),
            "dunlin": (6, "secret", "dunlin-api-key"),
        }
        self.latency = 0.0  # seconds added to each model call, to play a real server
        self.web_sessions: dict[str, int] = {}  # web-client session id → uid
        self.calls: list[tuple[str, str]] = []  # (model, method) of each model call
        self.app = FaultyApp(self.handle)
        self._base_records()

    # ---- data --------------------------------------------------------------------------------

    def _base_records(self) -> None:
        db = self.db
        db.insert("res.company", {"id": 1, "name": "Dunlin Demo Co."})
        db.insert("res.currency", {"id": 1, "name": "CNY", "symbol": "¥"})
        db.insert("res.currency", {"id": 2, "name": "USD", "symbol": "$"})
        for login, (uid, _pw, _key) in self.users.items():
            db.insert("res.users", {"id": uid, "name": login.title(), "login": login})
        for uid, name in ((7, "Zhang Wei"), (8, "Li Na"), (9, "Wang Fang")):
            db.insert("res.users", {"id": uid, "name": name, "login": name.split()[0].lower()})
        db.insert("ir.model", {"id": 101, "model": "res.partner", "name": "Contact"})
        db.insert("ir.model", {"id": 102, "model": "account.move", "name": "Journal Entry"})
        for model in db.fields:  # every model is in ir.model (OdooRPC's `model in odoo.env`)
            if model not in ("res.partner", "account.move"):
                db.insert("ir.model", {"model": model, "name": model.replace(".", " ").title()})
        db.insert("mail.activity.type", {"id": 4, "name": "To-Do"})
        db.insert(
            "ir.model.data",
            {
                "module": "mail",
                "name": "mail_activity_data_todo",
                "model": "mail.activity.type",
                "res_id": 4,
            },
        )
        for subtype_id, name, label in ((1, "mt_note", "Note"), (2, "mt_comment", "Discussions")):
            db.insert("mail.message.subtype", {"id": subtype_id, "name": label})
            db.insert(
                "ir.model.data",
                {
                    "module": "mail",
                    "name": name,
                    "model": "mail.message.subtype",
                    "res_id": subtype_id,
                },
            )
        db.insert("res.partner.category", {"id": 1, "name": "VIP"})
        db.insert("res.partner.category", {"id": 2, "name": "Distributor"})

    def seed(self, seed: int, customers: int, invoices: int) -> None:
        """Deterministic partners and customer invoices; write_date rises with id."""
        rng = random.Random(seed)
        start = datetime(2026, 5, 1)  # stamps two minutes apart, all before "now"
        for n in range(1, customers + 1):
            stamp = (start + timedelta(minutes=2 * n)).strftime("%Y-%m-%d %H:%M:%S")
            values: dict[str, Any] = {
                "id": 1000 + n,
                "name": f"客户 {n:05d} 有限公司" if n % 3 else f"Customer {n:05d} Ltd",
                "email": f"ap{n}@customer{n}.example.com",
                "phone": f"+86 21 {5000_0000 + n}",
                "lang": "zh_CN" if n % 3 else "en_US",
                "active": True,
                "is_company": True,
                "customer_rank": 1,
                "category_id": [1] if n % 10 == 0 else [],
                "user_id": rng.choice([7, 8, 9, False]),
                "commercial_partner_id": 1000 + n,
                "company_id": 1,
                "tz": "Asia/Shanghai",
            }
            if self.version <= 18:
                values["mobile"] = f"+86 139{n % 10**8:08d}" if n % 4 else False
            self.db.insert("res.partner", values, write_date=stamp)
        for n in range(1, invoices + 1):
            stamp = (start + timedelta(minutes=2 * (customers + n))).strftime("%Y-%m-%d %H:%M:%S")
            total = round(rng.uniform(100, 50_000), 2)
            state = rng.choices(["posted", "draft", "cancel"], [94, 3, 3])[0]
            pay = rng.choices(["not_paid", "partial", "paid", "in_payment"], [60, 10, 25, 5])[0]
            residual = {"not_paid": total, "partial": round(total / 2, 2)}.get(pay, 0.0)
            issued = ANCHOR - timedelta(days=rng.randint(0, 120))
            partner = 1000 + rng.randint(1, max(customers, 1))
            self.db.insert(
                "account.move",
                {
                    "id": 50_000 + n,
                    "name": f"INV/2026/{n:06d}",
                    "move_type": "out_refund" if n % 25 == 0 else "out_invoice",
                    "state": state,
                    "payment_state": pay if state == "posted" else "not_paid",
                    "amount_untaxed": round(total / 1.13, 2),
                    "amount_tax": round(total - total / 1.13, 2),
                    "amount_total": total,
                    "amount_residual": residual,
                    "amount_residual_signed": residual,
                    "invoice_date": issued.isoformat(),
                    "invoice_date_due": (issued + timedelta(days=30)).isoformat(),
                    "date": issued.isoformat(),
                    "partner_id": partner,
                    "commercial_partner_id": partner,
                    "invoice_user_id": rng.choice([7, 8, 9, False]),
                    "company_id": 1,
                    "currency_id": 1 if n % 10 else 2,
                    "ref": False,
                    "payment_reference": f"INV/2026/{n:06d}",
                    "invoice_origin": False,
                },
                write_date=stamp,
            )

    def touch(self, fraction: float = 0.01, write_date: str | None = None, seed: int = 1) -> int:
        """Register a payment on a fraction of the posted invoices (benchmarks' 1% change)."""
        rng = random.Random(seed)
        moves = [m for m in self.db.tables["account.move"].values() if m["state"] == "posted"]
        chosen = rng.sample(moves, max(1, int(len(self.db.tables["account.move"]) * fraction)))
        for move in chosen:
            self.db.update(
                "account.move",
                [move["id"]],
                {"payment_state": "paid", "amount_residual": 0.0},
                write_date=write_date,
            )
        return len(chosen)

    # ---- auth --------------------------------------------------------------------------------

    def _check_db(self, database: str) -> None:
        if database != self.database:
            raise AccessDenied(f'database "{database}" does not exist')

    def authenticate(self, database: str, login: str, secret: str) -> int | bool:
        self._check_db(database)
        user = self.users.get(login)
        if user and secret in (user[1], user[2]):
            return user[0]
        return False

    def _uid_for(self, database: str, uid: int, secret: str) -> int:
        self._check_db(database)
        for user_id, password, key in self.users.values():
            if user_id == uid and secret in (password, key):
                return uid
        raise AccessDenied("Access Denied")

    def revoke_api_key(self, login: str) -> None:
        """The user's API key stops working (revoked, or past its lifetime: at most 3 months on
        19.0); the password still does."""
        uid, password, _key = self.users[login]
        self.users[login] = (uid, password, f"revoked-{time.monotonic_ns()}")

    def version_info(self) -> dict[str, Any]:
        serie = f"{self.version}.0"
        return {
            "server_version": serie,
            "server_version_info": [self.version, 0, 0, "final", 0, ""],
            "server_serie": serie,
            "protocol_version": 1,
        }

    # ---- protocols ---------------------------------------------------------------------------

    def service(self, service: str, method: str, args: list[Any]) -> Any:
        if service == "common":
            if method == "version":
                return self.version_info()
            if method in ("login", "authenticate"):
                return self.authenticate(*args[:3])
            raise UnknownArgument(f"common.{method} does not exist")
        if service == "object" and method in ("execute_kw", "execute"):
            # a real Odoo takes 0.3–2 s per page of 500 (docs/reference/odoo.md §5.1)
            if self.latency:
                time.sleep(self.latency)
            if len(args) < 5:
                raise UnknownArgument(f"{method}() missing required positional arguments")
            database, uid, secret, model, name = args[:5]
            uid = self._uid_for(database, uid, secret)
            call_args, kwargs = _call_shape(method, args[5:])
            with self.db.lock:
                self.calls.append((model, name))
                return _nil_free(self.env.call(uid, model, name, call_args, kwargs))
        if service == "db" and method == "list":
            return [self.database]
        raise UnknownArgument(f"{service}.{method} does not exist")

    def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/xmlrpc/2/"):
            return self._xmlrpc(request, path.removeprefix("/xmlrpc/2/"))
        if path.startswith("/xmlrpc/"):  # the legacy endpoint odoo-client-lib still uses
            return self._xmlrpc(request, path.removeprefix("/xmlrpc/"), legacy=True)
        if path == "/jsonrpc":
            return self._jsonrpc(request)
        if path in ("/web/session/authenticate", "/web/session/destroy") or path.startswith(
            "/web/dataset/call_kw"
        ):
            return self._web(request, path)
        if path == "/_fake/touch":  # test control: change a fraction of the invoices
            return _json({"touched": self.touch(**(request.get_json(force=True) or {}))})
        if path == "/web/webclient/version_info":
            body = request.get_json(silent=True) or {}
            return _json({"jsonrpc": "2.0", "id": body.get("id"), "result": self.version_info()})
        if path.startswith("/json/2/") and self.version >= 19:
            return self._json2(request, path.removeprefix("/json/2/"))
        if path.startswith("/doc-bearer/") and path.endswith(".json") and self.version >= 19:
            return self._doc(request)
        return Response("404: Not Found", status=404)

    def _xmlrpc(self, request: Request, service: str, legacy: bool = False) -> Response:
        try:
            params, method = xmlrpc.client.loads(request.get_data(), use_builtin_types=True)
            result = self.service(service, method, list(params))
            body = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False)
        except Exception as raised:  # Odoo turns every error into a fault
            exc = _odoo_error(raised)
            fault = _legacy_fault(exc) if legacy else _fault(exc)
            body = xmlrpc.client.dumps(fault, methodresponse=True)
        return Response(body, content_type="text/xml; charset=utf-8")

    def _jsonrpc(self, request: Request) -> Response:
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _json({"jsonrpc": "2.0", "id": None, "error": _bad_request()})
        try:
            params = payload.get("params") or {}
            result = self.service(
                params.get("service"), params.get("method"), list(params.get("args", []))
            )
        except Exception as raised:  # Odoo turns every error into `error`
            exc = _odoo_error(raised)
            error = {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {
                    "name": exc.name,
                    "message": str(exc),
                    "arguments": [str(exc)],
                    "context": {},
                    "debug": DEBUG,
                },
            }
            return _json({"jsonrpc": "2.0", "id": payload.get("id"), "error": error})
        return _json({"jsonrpc": "2.0", "id": payload.get("id"), "result": result})

    def expire_web_sessions(self) -> None:
        self.web_sessions.clear()

    def _web(self, request: Request, path: str) -> Response:
        """The web client's cookie-session style (reference: docs/reference/odoo-fake.md):
        authenticate sets `session_id`; call_kw needs it, and a session that is gone answers
        code 100 "Odoo Session Expired"."""
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _json({"jsonrpc": "2.0", "id": None, "error": _bad_request()})
        params, rid = payload.get("params") or {}, payload.get("id")
        sid = request.cookies.get("session_id", "")
        try:
            if path == "/web/session/destroy":
                self.web_sessions.pop(sid, None)
                return _json({"jsonrpc": "2.0", "id": rid, "result": None})
            if path == "/web/session/authenticate":
                uid = self.authenticate(
                    params.get("db"), str(params.get("login")), str(params.get("password"))
                )
                if not uid:
                    raise AccessDenied("Access Denied")
                sid = secrets.token_hex(20)
                self.web_sessions[sid] = int(uid)
                info = {
                    "uid": uid,
                    "db": self.database,
                    "username": params.get("login"),
                    "user_context": {"lang": "en_US", "tz": "Asia/Shanghai", "uid": uid},
                    **self.version_info(),
                }
                response = _json({"jsonrpc": "2.0", "id": rid, "result": info})
                response.set_cookie("session_id", sid, httponly=True, path="/")
                return response
            if sid not in self.web_sessions:
                return _json({"jsonrpc": "2.0", "id": rid, "error": _session_expired()})
            args, kwargs = list(params.get("args") or []), dict(params.get("kwargs") or {})
            kwargs.pop("context", None)
            with self.db.lock:
                result = self.env.call(
                    self.web_sessions[sid], params.get("model"), params.get("method"), args, kwargs
                )
            return _json({"jsonrpc": "2.0", "id": rid, "result": _nil_free(result)})
        except Exception as raised:  # the web dispatcher serialises every error too
            exc = _odoo_error(raised)
            error = {"code": 200, "message": "Odoo Server Error", "data": _serialized(exc)}
            return _json({"jsonrpc": "2.0", "id": rid, "error": error})

    def _bearer_uid(self, request: Request) -> int:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        database = request.headers.get("X-Odoo-Database") or self.database
        if scheme.lower() == "bearer" and database == self.database:
            for uid, _pw, api_key in self.users.values():
                if key == api_key:
                    return uid
        raise AccessDenied("Invalid apikey")

    def _json2(self, request: Request, route: str) -> Response:
        model, _, method = route.partition("/")
        try:
            uid = self._bearer_uid(request)
            if request.mimetype != "application/json":
                raise UserError("Bad Request: expected application/json")
            kwargs = dict(request.get_json(force=True) or {})
            kwargs.pop("context", None)
            is_model = SIGNATURES.get(method, (True, ()))[0]
            if is_model and kwargs.get("ids"):
                raise UnknownArgument(f"cannot call {model}.{method} with ids")
            kwargs.pop("ids", None) if is_model else None
            with self.db.lock:
                self.calls.append((model, method))
                result = self.env.call(uid, model, method, [], kwargs)
        except Exception as raised:  # serialised as Odoo's json2 dispatcher does
            exc = _odoo_error(raised)
            status, name = _json2_status(exc, model)
            body = {
                "name": name,
                "message": str(exc),
                "arguments": [str(exc)],
                "context": {},
                "debug": DEBUG,
            }
            return _json(body, status)
        if method == "create" and isinstance(result, int):
            result = [result]
        if method == "message_post":
            result = [result]  # a recordset in JSON-2 becomes its ids
        return _json(result)

    def _doc(self, request: Request) -> Response:
        try:
            self._bearer_uid(request)
        except AccessDenied:
            return Response("unauthorized", status=401)
        methods = {}
        for name in SIGNATURES:
            is_model, params = parameters(name, self.version)
            methods[name] = {"parameters": {p: {} for p in params}, "api": ["model"] * is_model}
        return _json({"methods": methods})


def _call_shape(method: str, rest: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """`execute(db, uid, pw, model, method, *args)` passes the method's arguments one by one
    (OdooRPC's `execute('account.move', 'read', ids, ['name'])`); `execute_kw(..., args,
    kwargs)` passes a list and a dict. A `context` keyword is accepted and dropped."""
    if method == "execute":
        call_args, kwargs = list(rest), {}
    else:
        if len(rest) > 2:
            raise UnknownArgument("execute_kw() takes from 6 to 7 positional arguments")
        call_args = rest[0] if rest else []
        kwargs = rest[1] if len(rest) > 1 and rest[1] is not None else {}
        if not isinstance(call_args, list) or not isinstance(kwargs, dict):
            raise UnknownArgument("execute_kw() expects a list of arguments and a dict of keywords")
        call_args, kwargs = list(call_args), dict(kwargs)
    kwargs.pop("context", None)
    return call_args, kwargs


def _odoo_error(exc: Exception) -> OdooException:
    """What Odoo's dispatcher makes of an exception: its own classes as they are, any other
    Python error serialised by class name (JSON-RPC error / XML-RPC fault, never a bare 500)."""
    return exc if isinstance(exc, OdooException) else ServerError(exc)


def _nil_free(value: Any) -> Any:
    """Odoo's marshaller has no nil: None is never sent (XML-RPC would fail on it)."""
    if value is None:
        return False
    if isinstance(value, list):
        return [_nil_free(v) for v in value]
    if isinstance(value, dict):
        return {k: _nil_free(v) for k, v in value.items()}
    return value


def _json2_status(exc: OdooException, model: str) -> tuple[int, str]:
    """JSON-2's HTTP status and the serialised class: an unknown model or method is a werkzeug
    NotFound (404), a binding TypeError an UnprocessableEntity (422)."""
    if isinstance(exc, UnknownModel):
        exc.args = (f"the model {model!r} does not exist",)
        return 404, "werkzeug.exceptions.NotFound"
    if isinstance(exc, UnknownMethod):
        return 404, "werkzeug.exceptions.NotFound"
    if isinstance(exc, UnknownArgument):
        return 422, "werkzeug.exceptions.UnprocessableEntity"
    status = {AccessDenied: 401, AccessError: 403, MissingError: 404, UserError: 422}
    return status.get(type(exc), 500), exc.name


def _serialized(exc: OdooException) -> dict[str, Any]:
    """`serialize_exception`: what JSON-RPC errors carry in `data`."""
    return {
        "name": exc.name,
        "message": str(exc),
        "arguments": [str(exc)],
        "context": {},
        "debug": DEBUG,
    }


def _session_expired() -> dict[str, Any]:
    return {
        "code": 100,
        "message": "Odoo Session Expired",
        "data": {
            "name": "odoo.http.SessionExpiredException",
            "message": "Session expired",
            "arguments": ["Session expired"],
            "context": {},
            "debug": DEBUG,
        },
    }


def _bad_request() -> dict[str, Any]:
    """The body was not a JSON-RPC request at all: Odoo answers with a BadRequest error."""
    message = "Invalid JSON data"
    return {
        "code": 400,
        "message": "Odoo Server Error",
        "data": {
            "name": "werkzeug.exceptions.BadRequest",
            "message": message,
            "arguments": [message],
            "context": {},
            "debug": DEBUG,
        },
    }


def _fault(exc: OdooException) -> xmlrpc.client.Fault:
    if isinstance(exc, AccessDenied):
        return xmlrpc.client.Fault("AccessDenied", str(exc))
    if exc.kind in ("AccessError", "MissingError", "UserError"):
        return xmlrpc.client.Fault(f"warning -- {exc.kind}\n\n{exc}", "")
    return xmlrpc.client.Fault(str(exc), DEBUG)


def _legacy_fault(exc: OdooException) -> xmlrpc.client.Fault:
    """`/xmlrpc/` (no `/2`) uses integer codes: 1 application error, 2 warning, 3 access
    denied, 4 access error (a GUESS: docs/reference/odoo.md §2.2)."""
    code = {"AccessDenied": 3, "AccessError": 4, "UserError": 2, "MissingError": 2}.get(exc.kind, 1)
    return xmlrpc.client.Fault(code, str(exc))


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False), status=status, content_type="application/json"
    )


def served(fake: FakeOdoo) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Odoo on loopback.")
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--version", type=int, default=17, choices=(16, 17, 18, 19))
    parser.add_argument("--database", default="prod")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0, help="added to each model call")
    args = parser.parse_args()
    fake = FakeOdoo(args.version, args.database)
    fake.latency = args.latency_ms / 1000
    fake.seed(args.seed, args.customers, args.invoices)
    serve_forever(
        fake.app,
        args.port,
        f"fake Odoo {args.version}.0 (db {args.database!r}; login dunlin / secret, API key dunlin-api-key)",
    )


if __name__ == "__main__":
    main()


def client_lib(
    running: Any, protocol: str, password: str = "secret", login: str | None = "dunlin"
) -> Any:
    """odoo-client-lib's own connection to a served fake, as a user of the library makes it
    (JSON-2 takes an API key and no login)."""
    import odoolib

    kwargs = {"login": login} if login is not None else {}
    return odoolib.get_connection(
        hostname="127.0.0.1",
        protocol=protocol,
        port=running.port,
        database="prod",
        password=password,
        **kwargs,
    )
