"""A fake 销帮帮 Xbongbong open API (pro/v2/api) over real HTTP: checks the `sign` header
(SHA-256 of the exact body + token) and the corpid, pages with page/pageSize ≤ 100 and
totalPage, answers errors under HTTP 200 with `code` ≠ 1.

    python -m tests.fakes.xbongbong --port 8092 --customers 200 --payments 1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from tests.fakes.server import FaultyApp, Served, serve_forever

CORPID = "ding0123456789abcdef"
TOKEN = "xbb-company-token"
WEBHOOK_TOKEN = "xbb-webhook-token"  # a separate credential, shown next to the API token
CUSTOMER_FORM = 3001
SHANGHAI = ZoneInfo("Asia/Shanghai")
BAD_SIGN = 100013  # the fake's code for a wrong sign (the real one is undocumented)


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), SHANGHAI).timestamp())


class FakeXbongbong:
    def __init__(self) -> None:
        self.token = TOKEN
        self.customers: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.communicates: list[dict[str, Any]] = []
        self.next_id = 10_000
        self.lock = threading.Lock()
        self.app = FaultyApp(self.handle, lambda exc: _reply(100001, f"参数错误: {exc}"))

    def _id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def item(
        self, data: dict[str, Any], updated: int, form_id: int | None = None
    ) -> dict[str, Any]:
        return {
            "dataId": self._id(),
            "formId": form_id,
            "addTime": updated,
            "updateTime": updated,
            "data": data,
        }

    def seed(self, seed: int, customers: int, payments: int) -> None:
        rng = random.Random(seed)
        start = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
        for n in range(1, customers + 1):
            self.customers.append(
                self.item(
                    {"text_1": f"客户{n:05d}", "text_2": f"139{n:08d}", "text_16": "张伟"},
                    start + 60 * n,
                    CUSTOMER_FORM,
                )
            )
        for n in range(1, payments + 1):
            owner = rng.choice(self.customers)
            amount = round(rng.uniform(100, 9000), 2)
            due = date(2026, 12, 1) - timedelta(days=rng.randint(-20, 90))
            self.payments.append(
                self.item(
                    {
                        "serialNo": f"YSK{n:06d}",
                        "text_4": owner["dataId"],
                        "num_1": amount,
                        "num_2": 0,
                        "num_3": amount,
                        "date_1": midnight(due),
                    },
                    start + 60 * (customers + n),
                )
            )

    def handle(self, request: Request) -> Response:
        raw = request.get_data()
        expected = hashlib.sha256(raw + self.token.encode()).hexdigest()
        if request.headers.get("sign") != expected:
            return _reply(BAD_SIGN, "签名错误，请检查token")
        body = json.loads(raw or b"{}")
        if body.get("corpid") != CORPID:
            return _reply(100002, "corpid 不存在")
        action = request.path.removeprefix("/pro/v2/api/")
        if action in ("customer/list", "payment/list"):
            rows = self.customers if action == "customer/list" else self.payments
            if action == "customer/list" and body.get("formId") != CUSTOMER_FORM:
                return _reply(100004, "表单不存在")
            return self._list(rows, body)
        if action == "form/get":
            if body.get("formId") != CUSTOMER_FORM:
                return _reply(100004, "表单不存在")
            attrs = [("text_1", "客户名称"), ("text_2", "电话"), ("text_16", "负责人")]
            explain = [{"attr": a, "attrName": n} for a, n in attrs]
            return _reply(1, "操作成功", {"explainList": explain})
        if action == "communicate/add":
            item = self.item(dict(body.get("dataList") or {}), int(datetime.now(UTC).timestamp()))
            self.communicates.append(item)
            return _reply(1, "操作成功", {"dataId": item["dataId"]})
        return _reply(100404, f"接口 {action} 不存在")

    def _list(self, rows: list[dict[str, Any]], body: dict[str, Any]) -> Response:
        size = int(body.get("pageSize", 20))
        if not 1 <= size <= 100:
            return _reply(100005, "pageSize 最大为 100")
        found = rows
        for cond in body.get("conditions") or []:
            if cond.get("attr") == "updateTime" and cond.get("symbol") == "greaterequal":
                found = [r for r in found if r["updateTime"] >= int(cond["value"][0])]
        page = int(body.get("page", 1))
        total_page = max(1, -(-len(found) // size))
        chunk = found[(page - 1) * size : page * size]
        return _reply(
            1, "操作成功", {"list": chunk, "totalCount": len(found), "totalPage": total_page}
        )


def data_push(
    item: dict[str, Any], kind: str, operate: str = "edit", token: str = WEBHOOK_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """What Xbongbong POSTs when a record changes (docs/reference/rest-vendors.md §4.6): ids only,
    header `sign` = SHA-256 hex of the body + the webhook token."""
    payload = {
        "formId": item.get("formId"),
        "operate": operate,
        "corpid": CORPID,
        "dataId": item["dataId"],
        "type": kind,
        "saasMark": 1,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    sign = hashlib.sha256(body + token.encode()).hexdigest()
    return body, {"sign": sign, "Content-Type": "application/json"}


def _reply(code: int, msg: str, result: Any = None) -> Response:
    body = {"code": code, "msg": msg, "success": code == 1, "result": result or {}}
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def served(fake: FakeXbongbong) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Xbongbong open API on loopback.")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--payments", type=int, default=1000)
    args = parser.parse_args()
    fake = FakeXbongbong()
    fake.seed(args.seed, args.customers, args.payments)
    serve_forever(fake.app, args.port, f"fake Xbongbong (corpid {CORPID}, token {TOKEN})")


if __name__ == "__main__":
    main()
