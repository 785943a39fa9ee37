"""A fake Jiandaoyun (简道云) open API v5 over real HTTP: bearer API key, POST data/list with a
`data_id` cursor and `limit` 1–100, `updateTime` range filters, data/create.

    python -m tests.fakes.jiandaoyun --port 8091 --customers 200 --invoices 1000
"""

from __future__ import annotations

import argparse
import json
import random
import threading
from datetime import date, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.server import FaultyApp, Served, serve_forever

API_KEY = "jdy-api-key"
APP_ID = "app1"
ENTRIES = {"customers": "entry_customers", "invoices": "entry_invoices", "log": "entry_log"}


class FakeJiandaoyun:
    def __init__(self) -> None:
        self.forms: dict[str, list[dict[str, Any]]] = {e: [] for e in ENTRIES.values()}
        self.counter = 0x6630A1B2C3D4E5F600000000
        self.lock = threading.Lock()
        self.app = FaultyApp(
            self.handle, lambda exc: _json({"code": 4000, "msg": f"请求参数错误: {exc}"}, 400)
        )

    def _new_id(self) -> str:
        with self.lock:
            self.counter += 1
            return f"{self.counter:024x}"

    def add(
        self, entry: str, values: dict[str, Any], updated: str = "2026-10-01T08:00:00.000Z"
    ) -> dict[str, Any]:
        row = {
            "_id": self._new_id(),
            "appId": APP_ID,
            "entryId": ENTRIES[entry],
            "createTime": updated,
            "updateTime": updated,
            **values,
        }
        self.forms[ENTRIES[entry]].append(row)
        return row

    def update(self, row: dict[str, Any], values: dict[str, Any], updated: str) -> None:
        row.update(values, updateTime=updated)

    def seed(self, seed: int, customers: int, invoices: int) -> None:
        rng = random.Random(seed)
        start = datetime(2026, 6, 1)
        for n in range(1, customers + 1):
            self.add(
                "customers",
                {
                    "_widget_1001": f"C{n:05d}",
                    "_widget_1002": f"客户{n:05d}",
                    "_widget_1003": f"139{n:08d}",
                    "_widget_1004": f"ap{n}@example.cn",
                    "_widget_1005": rng.choice(["重要", "普通", "一般"]),
                    "_widget_1006": {"username": "zhangwei", "name": "张伟"},
                },
                (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            )
        for n in range(1, invoices + 1):
            amount = round(rng.uniform(100, 9000), 2)
            due = date(2026, 12, 1) - timedelta(days=rng.randint(-20, 90))
            self.add(
                "invoices",
                {
                    "_widget_2001": f"C{rng.randint(1, customers):05d}",
                    "_widget_2002": f"FP{n:06d}",
                    "_widget_2003": amount,
                    "_widget_2004": amount,
                    "_widget_2005": (due - timedelta(days=30)).isoformat() + "T00:00:00.000Z",
                    "_widget_2006": due.isoformat() + "T00:00:00.000Z",
                    "_widget_2007": "未收",
                },
                (start + timedelta(minutes=customers + n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            )

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _json({"code": 8301, "msg": "Authorization 无效"}, 401)
        if request.method != "POST" or request.mimetype != "application/json":
            return _json({"code": 4000, "msg": "only POST application/json"}, 400)
        body = request.get_json(force=True)
        if body.get("app_id") != APP_ID or body.get("entry_id") not in self.forms:
            return _json({"code": 4001, "msg": "表单不存在"}, 400)
        rows = self.forms[body["entry_id"]]
        if request.path == "/api/v5/app/entry/data/list":
            limit = int(body.get("limit", 10))
            if not 1 <= limit <= 100:
                return _json({"code": 4002, "msg": "limit 须在 1-100 之间"}, 400)
            found = [r for r in rows if _matches(r, body.get("filter"))]
            after = body.get("data_id")
            found = [
                r for r in sorted(found, key=lambda r: r["_id"]) if not after or r["_id"] > after
            ]
            return _json({"data": found[:limit]})
        if request.path == "/api/v5/app/entry/data/create":
            values = {k: v.get("value") for k, v in (body.get("data") or {}).items()}
            row = self.add(next(k for k, v in ENTRIES.items() if v == body["entry_id"]), values)
            return _json({"data": row})
        return _json({"code": 404, "msg": "not found"}, 404)


def _matches(row: dict[str, Any], filter_: dict[str, Any] | None) -> bool:
    for cond in (filter_ or {}).get("cond", []):
        value = row.get(cond["field"])
        if cond.get("method") == "range":
            bounds = [*(cond.get("value") or []), None, None]
            low, high = bounds[0], bounds[1]
            if low is not None and (value is None or value < low):
                return False
            if high is not None and (value is None or value > high):
                return False
        elif cond.get("method") == "eq" and value != (cond.get("value") or [None])[0]:
            return False
    return True


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False), status=status, content_type="application/json"
    )


def served(fake: FakeJiandaoyun) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Jiandaoyun v5 API on loopback.")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=1000)
    args = parser.parse_args()
    fake = FakeJiandaoyun()
    fake.seed(args.seed, args.customers, args.invoices)
    serve_forever(fake.app, args.port, f"fake Jiandaoyun (API key {API_KEY}, app {APP_ID})")


if __name__ == "__main__":
    main()
