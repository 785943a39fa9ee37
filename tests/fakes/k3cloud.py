"""A fake Kingdee K3Cloud WebAPI over real HTTP: signatures and sessions checked, StartRow/Limit
paging, plan-line rows, and errors wrapped as the real one wraps them (docs/reference/kingdee.md §5).

    python -m tests.fakes.k3cloud --port 8090 --seed 42 --customers 2000 --bills 10000

Kingdee's official Python SDK (kingdee.cdp.webapi.sdk) runs against it unchanged.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import secrets
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.kingdee.signing import login_sign, signature_headers
from tests.fakes.server import FaultyApp, Served, serve_forever

PREFIX = "/k3cloud/"
ANCHOR = date(2026, 12, 1)
PLAN_KEYS = {"FPAYAMOUNTFOR", "FWRITTENOFFAMOUNTFOR_P", "FEntityPlan_FEntryID", "FENDDATE"}
FORM_KEYS = {
    "BD_Customer": {
        "FCUSTID",
        "FNumber",
        "FName",
        "FShortName",
        "FDocumentStatus",
        "FForbidStatus",
        "FTEL",
        "FADDRESS",
        "FSELLER.FNumber",
        "FSELLER.FName",
        "FUseOrgId.FNumber",
        "FModifyDate",
        "FCreateDate",
    },
    "AR_receivable": {
        "FID",
        "FBillNo",
        "FDATE",
        "FDocumentStatus",
        "FCancelStatus",
        "FCUSTOMERID",
        "FCUSTOMERID.FNumber",
        "FCUSTOMERID.FName",
        "FCURRENCYID.FNumber",
        "FCURRENCYID.FName",
        "FALLAMOUNTFOR",
        "FENDDATE_H",
        "FWRITTENOFFSTATUS",
        "FSALEERID.FNumber",
        "FSALEERID.FName",
        "FModifyDate",
        "FSETTLEORGID.FNumber",
        *PLAN_KEYS,
    },
    "k1234_DUNNING_LOG": {
        "FID",
        "F_DL_CustomerId",
        "F_DL_CustomerId.FNumber",
        "F_DL_BillNo",
        "F_DL_Text",
        "F_DL_DueDate",
        "F_DL_Status",
        "FModifyDate",
    },
}
# What the fake serves; any other service path is a 404 (never a fake "form not found").
QUERIES = {"ExecuteBillQuery", "BillQuery"}
SERVICES = QUERIES | {"Save", "BatchSave", "ValidateUser", "LoginByAppSecret", "LoginBySign"}
_IN_TERM = re.compile(r"([\w.]+)\s+in\s*\(([^)]*)\)", re.IGNORECASE)
_TERM = re.compile(r"^\s*([\w.]+)\s*(>=|<=|<>|=|>|<|like)\s*(.+?)\s*$", re.IGNORECASE)


def _error(code: int, message: str, field: str = "", status: int = 500) -> dict[str, Any]:
    return {
        "Result": {
            "ResponseStatus": {
                "IsSuccess": False,
                "ErrorCode": status,
                "MsgCode": code,
                "Errors": [{"FieldName": field, "Message": message, "DIndex": 0}],
            }
        }
    }


class KingdeeError(Exception):
    def __init__(self, code: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code, self.field = code, field


class FakeK3Cloud:
    def __init__(
        self,
        acct_id: str = "64a1b2c3d4e5f6",
        username: str = "dunlin_api",
        app_id: str = "200001_RHVubGluVGVzdEdhdGV3YXlTZWNyZXQh",
        app_secret: str = "0123456789abcdef0123456789abcdef",
        password: str = "kd-password",
    ) -> None:
        self.acct_id, self.username = acct_id, username
        self.app_id, self.app_secret, self.password = app_id, app_secret, password
        self.sessions: set[str] = set()
        self.forms: dict[str, dict[int, dict[str, Any]]] = {form: {} for form in FORM_KEYS}
        self.next_id = 100_000
        self.lock = threading.RLock()
        self.clock = time.time
        self.skew_seconds = 900
        self.logins = 0
        self.calls: list[str] = []  # the business service of each request
        self.app = FaultyApp(self.handle)

    # ---- data --------------------------------------------------------------------------------

    def add_customer(self, number: str, name: str, **values: Any) -> int:
        cust_id = self._id()
        self.forms["BD_Customer"][cust_id] = {
            "FCUSTID": cust_id,
            "FNumber": number,
            "FName": name,
            "FShortName": name[:10],
            "FDocumentStatus": "C",
            "FForbidStatus": "A",
            "FTEL": "",
            "FADDRESS": "",
            "FSELLER": {"FNumber": "S01", "FName": "张伟"},
            "FUseOrgId": {"FNumber": "100"},
            "FModifyDate": "2026-06-01T08:00:00",
            "FCreateDate": "2026-06-01T08:00:00",
            **values,
        }
        return cust_id

    def add_bill(self, customer: str, plan: list[tuple[float, float, str]], **values: Any) -> int:
        """A receivable bill with plan lines of (amount, written off, due date)."""
        bill_id = self._id()
        total = sum(p[0] for p in plan)
        written = sum(p[1] for p in plan)
        self.forms["AR_receivable"][bill_id] = {
            "FID": bill_id,
            "FBillNo": f"AR{bill_id:08d}",
            "FDATE": "2026-10-01T00:00:00",
            "FDocumentStatus": "C",
            "FCancelStatus": "A",
            "FCUSTOMERID": {"FNumber": customer, "FName": customer},
            "FCURRENCYID": {"FNumber": "PRE001", "FName": "人民币"},
            "FALLAMOUNTFOR": total,
            "FENDDATE_H": min(p[2] for p in plan) + "T00:00:00",
            "FWRITTENOFFSTATUS": "A" if not written else ("C" if written >= total else "B"),
            "FSALEERID": {"FNumber": "S01", "FName": "张伟"},
            "FSETTLEORGID": {"FNumber": "100"},
            "FModifyDate": "2026-10-01T09:00:00",
            "_plan": [
                {
                    "FEntityPlan_FEntryID": bill_id * 10 + i,
                    "FPAYAMOUNTFOR": amount,
                    "FWRITTENOFFAMOUNTFOR_P": off,
                    "FENDDATE": due + "T00:00:00",
                }
                for i, (amount, off, due) in enumerate(plan, start=1)
            ],
            **values,
        }
        return bill_id

    def write_off(self, bill_id: int, line: int, amount: float, modified: str) -> None:
        bill = self.forms["AR_receivable"][bill_id]
        bill["_plan"][line]["FWRITTENOFFAMOUNTFOR_P"] += amount
        total = sum(p["FPAYAMOUNTFOR"] for p in bill["_plan"])
        done = sum(p["FWRITTENOFFAMOUNTFOR_P"] for p in bill["_plan"])
        bill["FWRITTENOFFSTATUS"] = "C" if done >= total else "B"
        bill["FModifyDate"] = modified

    def seed(self, seed: int, customers: int, bills: int) -> None:
        rng = random.Random(seed)
        start = datetime(2026, 6, 1)
        for n in range(1, customers + 1):
            stamp = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S")
            self.add_customer(
                f"CUST{n:05d}", f"客户{n:05d}", FTEL=f"+86 139{n:08d}", FModifyDate=stamp
            )
        for n in range(1, bills + 1):
            stamp = (start + timedelta(minutes=customers + n)).strftime("%Y-%m-%dT%H:%M:%S")
            due = ANCHOR - timedelta(days=rng.randint(-20, 90))
            lines = [
                (round(rng.uniform(100, 9000), 2), 0.0, (due + timedelta(days=30 * i)).isoformat())
                for i in range(rng.randint(1, 3))
            ]
            if rng.random() < 0.3:
                lines[0] = (lines[0][0], lines[0][0], lines[0][2])  # first installment received
            self.add_bill(f"CUST{rng.randint(1, customers):05d}", lines, FModifyDate=stamp)

    def _id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    # ---- auth --------------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def _new_session(self) -> str:
        sid = secrets.token_hex(12)
        self.sessions.add(sid)
        return sid

    def _signature_ok(self, request: Request) -> bool:
        """Both SDK 8.x signatures, the appdata they cover, and a fresh timestamp."""
        headers = request.headers
        stamp = headers.get("x-api-timestamp", "")
        if headers.get("X-Kd-Appkey") != self.app_id or not stamp.isdigit():
            return False
        if abs(self.clock() - int(stamp[:10])) > self.skew_seconds:
            return False
        try:
            appdata = base64.b64decode(headers.get("X-Kd-Appdata", "")).decode("utf-8")
            acct, user, lcid, org = appdata.split(",")
            expected = signature_headers(
                request.url,
                app_id=self.app_id,
                app_secret=self.app_secret,
                acct_id=acct,
                username=user,
                lcid=int(lcid),
                org_num=int(org),
                timestamp=stamp,
            )
        except ValueError:
            return False
        return (
            (acct, user) == (self.acct_id, self.username)
            and headers.get("X-Api-Signature") == expected["X-Api-Signature"]
            and headers.get("X-Kd-Signature") == expected["X-Kd-Signature"]
        )

    def _session_of(self, request: Request) -> str | None:
        for sid in (
            request.cookies.get("kdservice-sessionid"),
            request.headers.get("kdservice-sessionid"),
        ):
            if sid and sid in self.sessions:
                return sid
        return None

    def _login(self, service: str, params: Any) -> tuple[dict[str, Any], str | None]:
        self.logins += 1
        wanted = {"ValidateUser": 4, "LoginByAppSecret": 5, "LoginBySign": 6}[service]
        if not isinstance(params, list) or len(params) < wanted - 1:
            params = ["", "", "", "", ""]  # a malformed login is a failed login
        acct, user = str(params[0]), str(params[1])
        ok = acct == self.acct_id and user == self.username
        if service == "ValidateUser":
            ok = ok and params[2] == self.password
        elif service == "LoginByAppSecret":
            ok = ok and params[2] == self.app_id and params[3] == self.app_secret
        elif service == "LoginBySign":
            stamp, sign = str(params[3]), str(params[4])
            fresh = stamp.isdigit() and abs(self.clock() - int(stamp)) <= self.skew_seconds
            ok = (
                ok and fresh and sign == login_sign(acct, user, self.app_id, self.app_secret, stamp)
            )
        if not ok:
            return {
                "LoginResultType": 0,
                "Message": "用户名或密码错误！",
                "MessageCode": "",
                "IsSuccessByAPI": False,
            }, None
        sid = self._new_session()
        return {
            "LoginResultType": 1,
            "Message": None,
            "IsSuccessByAPI": True,
            "KDSVCSessionId": sid,
            "Context": {
                "UserName": user,
                "DataCenterName": "Dunlin Test DC",
                "ProductVersion": "8.2.0.202505",
            },
        }, sid

    # ---- protocol ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        if not (path.startswith(PREFIX) and path.endswith(".common.kdsvc")):
            return Response("Not Found", status=404)
        service = path[len(PREFIX) : -len(".common.kdsvc")].rsplit(".", 1)[-1]
        if service not in SERVICES:
            return Response(f"Not Found: the fake does not serve {service}", status=404)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            error = _error(8, "请求参数不是合法的 JSON 对象")
            return _json([[error]] if service in QUERIES else error)
        if ".AuthService." in path:
            result, sid = self._login(service, body.get("parameters", []))
            return _json(result, sid)
        sid = self._session_of(request)
        new_sid = None
        if sid is None and self._signature_ok(request):
            sid = new_sid = self._new_session()  # a signed request opens a session silently
        if sid is None:
            lost = _error(1, "会话信息已丢失，请重新登录", status=500)
            return _json([[lost]] if service in QUERIES else lost)
        try:
            with self.lock:
                self.calls.append(service)
                result = self._service(service, body)
        except (KingdeeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # The server wraps every failure in a ResponseStatus, never a bare HTTP 500.
            code = exc.code if isinstance(exc, KingdeeError) else 0
            field = exc.field if isinstance(exc, KingdeeError) else ""
            error = _error(code, str(exc) or type(exc).__name__, field)
            return _json([[error]] if service in QUERIES else error, new_sid)
        return _json(result, new_sid)

    def _service(self, service: str, body: dict[str, Any]) -> Any:
        if service in QUERIES:
            query = body.get("data") if "data" in body else body.get("parameters", [None])[0]
            query = json.loads(query) if isinstance(query, str) else query
            if not isinstance(query, dict):
                raise KingdeeError(8, "查询参数不能为空")
            rows = self.query(query)
            if service == "BillQuery":  # the 2023 variant: rows as objects keyed by field key
                keys = [k.strip() for k in str(query["FieldKeys"]).split(",") if k.strip()]
                return [dict(zip(keys, row, strict=True)) for row in rows]
            return rows
        if service == "Save":
            if "formid" in body:
                form, data = body["formid"], body["data"]
            else:
                form, data = body["parameters"][0], body["parameters"][1]
            return self.save(form, json.loads(data) if isinstance(data, str) else data)
        if service == "BatchSave":
            form, data = (
                (body["formid"], body["data"])
                if "formid" in body
                else (body["parameters"][0], body["parameters"][1])
            )
            return self.batch_save(form, json.loads(data) if isinstance(data, str) else data)
        raise AssertionError(f"unreachable: {service}")  # SERVICES filters

    def _known(self, form: str) -> set[str]:
        if form not in FORM_KEYS:
            raise KingdeeError(4, f"业务对象 {form} 不存在")
        return FORM_KEYS[form]

    def query(self, query: dict[str, Any]) -> list[list[Any]]:
        form = query.get("FormId", "")
        known = self._known(form)
        keys = [k.strip() for k in str(query.get("FieldKeys", "")).split(",") if k.strip()]
        if not keys:
            raise KingdeeError(8, "FieldKeys 不能为空")
        for key in keys:
            if key not in known:
                raise KingdeeError(9, f"字段 {key} 不存在", key)
        terms = self._filter(str(query.get("FilterString") or ""), known)
        order = [p.split()[0] for p in str(query.get("OrderString") or "").split(",") if p.strip()]
        if not order:
            raise KingdeeError(500, "分页取数需要排序条件或者单据有设置主键")
        entry_level = bool(PLAN_KEYS & set(keys))
        rows = []
        for record in self.forms[form].values():
            for line in record.get("_plan", [{}]) if entry_level else [{}]:
                flat = {**_flatten(record), **line}
                if all(_match(flat, *t) for t in terms):
                    rows.append(flat)
        rows.sort(key=lambda r: tuple(r.get(k) or 0 for k in order))
        start, limit = int(query.get("StartRow", 0)), int(query.get("Limit", 0) or 0)
        top = int(query.get("TopRowCount", 0) or 0)
        end = len(rows) if not limit else start + limit
        if top:
            end = min(end, top)
        return [[r.get(k) for k in keys] for r in rows[start:end]]

    def _filter(self, text: str, known: set[str]) -> list[tuple[str, str, Any]]:
        terms = []
        for field, listed in _IN_TERM.findall(text):  # FID in (1,2,'x'): SQL Server's IN
            if field not in known:
                raise KingdeeError(9, f"字段 {field} 不存在", field)
            values = [_literal(v.strip()) for v in listed.split(",") if v.strip()]
            terms.append((field, "in", values))
        text = _IN_TERM.sub(" ", text)
        for part in re.split(
            r"\s+and\s+", text.replace("(", " ").replace(")", " "), flags=re.IGNORECASE
        ):
            if not part.strip():
                continue
            match = _TERM.match(part)
            if not match:
                raise KingdeeError(500, f"FilterString 语法错误: {part}")
            field, op, raw = match.groups()
            if field not in known:
                raise KingdeeError(9, f"字段 {field} 不存在", field)
            terms.append((field, op.lower(), _literal(raw)))
        return terms

    def batch_save(self, form: str, data: dict[str, Any]) -> dict[str, Any]:
        """BatchSave: each Model saved or refused on its own (base data checked), answered per
        DIndex in SuccessEntitys and Errors; IsSuccess only when all were saved."""
        models = data.get("Model")
        if not isinstance(models, list) or not models:
            raise KingdeeError(8, "Model 不能为空")
        known_customers = {c["FNumber"] for c in self.forms["BD_Customer"].values()}
        saved, errors = [], []
        for index, model in enumerate(models):
            missing = [n for n in _customer_refs(model) if n not in known_customers]
            if missing:
                errors.append(
                    {
                        "FieldName": "F_DL_CustomerId",
                        "Message": f"客户 {missing[0]} 不存在",
                        "DIndex": index,
                    }
                )
                continue
            answer = self.save(form, {**data, "Model": model})
            saved.append({"Id": answer["Result"]["Id"], "Number": "", "DIndex": index})
        return {
            "Result": {
                "ResponseStatus": {
                    "IsSuccess": not errors,
                    "ErrorCode": 500 if errors else 0,
                    "MsgCode": 11 if errors else 0,
                    "Errors": errors,
                    "SuccessEntitys": saved,
                    "SuccessMessages": [],
                },
            }
        }

    def save(self, form: str, data: dict[str, Any]) -> dict[str, Any]:
        known = self._known(form)
        model = dict(data.get("Model") or {})
        for key in model:
            if key not in known:
                raise KingdeeError(9, f"字段 {key} 不存在", key)
        record_id = model.pop("FID", None)
        stamp = datetime.fromtimestamp(self.clock()).strftime("%Y-%m-%dT%H:%M:%S")
        if record_id:
            record = self.forms[form].get(int(record_id))
            if record is None:
                raise KingdeeError(0, f"单据 {record_id} 不存在")
            record.update(model, FModifyDate=stamp)
        else:
            record_id = self._id()
            self.forms[form][record_id] = {"FID": record_id, **model, "FModifyDate": stamp}
        return {
            "Result": {
                "ResponseStatus": {
                    "IsSuccess": True,
                    "ErrorCode": 0,
                    "MsgCode": 0,
                    "Errors": [],
                    "SuccessEntitys": [{"Id": record_id, "Number": "", "DIndex": 0}],
                    "SuccessMessages": [],
                },
                "Id": record_id,
                "Number": "",
                "NeedReturnData": [{"FID": record_id}],
            }
        }


def _customer_refs(record: dict[str, Any]) -> list[str]:
    """The customer numbers a record refers to (keys like FCUSTOMERID / F_DL_CustomerId)."""
    return [
        value["FNumber"]
        for key, value in record.items()
        if key.lower().endswith("customerid") and isinstance(value, dict) and "FNumber" in value
    ]


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "_plan":
            continue
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                flat[f"{key}.{inner}"] = inner_value
            flat[key] = value.get("FNumber")
        else:
            flat[key] = value
    return flat


def _literal(raw: str) -> Any:
    return raw[1:-1].replace("''", "'") if raw.startswith("'") else float(raw)


def _match(row: dict[str, Any], field: str, op: str, value: Any) -> bool:
    current = row.get(field)
    if op == "in":
        return any(_match(row, field, "=", v) for v in value)
    if op == "like":
        return str(value).strip("%") in str(current or "")
    if current is None:
        return False
    if isinstance(value, float) and not isinstance(current, int | float):
        return False
    return {
        "=": current == value,
        "<>": current != value,
        ">": current > value,
        ">=": current >= value,
        "<": current < value,
        "<=": current <= value,
    }[op]


def _json(value: Any, sid: str | None = None) -> Response:
    response = Response(json.dumps(value, ensure_ascii=False), content_type="application/json")
    if sid:
        response.set_cookie("kdservice-sessionid", sid, path="/")
    return response


def served(fake: FakeK3Cloud) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Kingdee K3Cloud WebAPI on loopback.")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--bills", type=int, default=1000)
    args = parser.parse_args()
    fake = FakeK3Cloud()
    fake.seed(args.seed, args.customers, args.bills)
    serve_forever(
        fake.app,
        args.port,
        f"fake K3Cloud (base URL …/k3cloud/, acct {fake.acct_id}, user {fake.username}, "
        f"AppId {fake.app_id})",
    )


if __name__ == "__main__":
    main()
