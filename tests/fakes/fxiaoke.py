"""A fake 纷享销客 Fxiaoke open API over real HTTP: corpAccessToken from appId/appSecret/
permanentCode, token + corpId + currentOpenUserId checked in every body, offset paging under
data.search_query_info (limit ≤ 100, offset a multiple of limit), errorCode envelopes.

    python -m tests.fakes.fxiaoke --port 8095 --customers 100 --plans 500
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.server import FaultyApp, Served, serve_forever

APP_ID, APP_SECRET, PERMANENT_CODE = "FSAID_dunlin", "fx-app-secret", "fx-permanent-code"
CORP_ID, OPEN_USER = "FSCORP_1", "FSUID_ADMIN"


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(0), UTC).timestamp() * 1000)


class FakeFxiaoke:
    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {
            "AccountObj": [],
            "PaymentPlanObj": [],
            "ActiveRecordObj": [],
        }
        self.tokens: set[str] = set()
        self.app = FaultyApp(self.handle, lambda exc: _reply(10001, f"参数错误: {exc}"))

    def seed(self, seed: int, customers: int, plans: int) -> None:
        rng = random.Random(seed)
        for n in range(1, customers + 1):
            self.objects["AccountObj"].append(
                {
                    "_id": f"acc{n:05d}",
                    "name": f"纷享客户{n:05d}",
                    "tel": f"136{n:08d}",
                    "owner__r": {"name": "王芳"},
                    "last_modified_time": 1_780_000_000_000 + n,
                }
            )
        for n in range(1, plans + 1):
            amount = round(rng.uniform(100, 6000), 2)
            paid = amount if rng.random() < 0.2 else 0
            due = date(2026, 12, 1) - timedelta(days=rng.randint(-10, 60))
            self.objects["PaymentPlanObj"].append(
                {
                    "_id": f"plan{n:06d}",
                    "name": f"HK{n:06d}",
                    "account_id": rng.choice(self.objects["AccountObj"])["_id"],
                    "plan_payment_amount": str(amount),
                    "actual_payment_amount": str(paid),
                    "plan_payment_time": _ms(due),
                    "plan_payment_status": "completed" if paid else "incomplete",
                    "life_status": "normal",
                    "last_modified_time": 1_780_100_000_000 + n * 60_000,
                }
            )

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def handle(self, request: Request) -> Response:
        body = request.get_json(force=True) or {}
        if request.path == "/cgi/corpAccessToken/get/V2":
            if (body.get("appId"), body.get("appSecret"), body.get("permanentCode")) != (
                APP_ID,
                APP_SECRET,
                PERMANENT_CODE,
            ):
                return _reply(10006, "appSecret 错误")
            token = secrets.token_hex(10)
            self.tokens.add(token)
            return _reply(0, "success", corpAccessToken=token, corpId=CORP_ID, expiresIn=7200)
        if body.get("corpAccessToken") not in self.tokens:
            return _reply(20016, "corpAccessToken 无效")
        if body.get("corpId") != CORP_ID or body.get("currentOpenUserId") != OPEN_USER:
            return _reply(20017, "corpId 或 currentOpenUserId 无效")
        data = body.get("data") or {}
        if request.path == "/cgi/crm/v2/data/query":
            return self._query(data)
        if request.path == "/cgi/crm/v2/object/describe":
            rows = self.objects.get(body.get("apiName", ""))
            if not rows:
                return _reply(10006, "apiName missing")
            fields = {name: {"api_name": name} for name in rows[0] if name != "owner__r"}
            fields["owner"] = {"api_name": "owner"}
            return _reply(0, "success", data={"describe": {"fields": fields}})
        if request.path == "/cgi/crm/v2/data/create":
            record = dict((data.get("object_data") or {}), _id=secrets.token_hex(6))
            self.objects[record.pop("dataObjectApiName")].append(record)
            return _reply(0, "success", dataId=record["_id"])
        return _reply(404, "not found")

    def _query(self, data: dict[str, Any]) -> Response:
        rows = self.objects.get(data.get("dataObjectApiName", ""))
        if rows is None:
            return _reply(10006, "apiName missing")
        info = data.get("search_query_info") or {}
        limit, offset = int(info.get("limit", 20)), int(info.get("offset", 0))
        if limit > 100 or offset % limit:
            return _reply(10013, "limit ≤ 100 and offset a multiple of limit")
        found = rows
        for f in info.get("filters") or []:
            if f.get("operator") == "GTE":
                found = [r for r in found if r.get(f["field_name"], 0) >= int(f["field_values"][0])]
        return _reply(
            0,
            "success",
            data={
                "dataList": found[offset : offset + limit],
                "total": len(found),
                "offset": offset,
                "limit": limit,
            },
        )


def _reply(code: int, message: str, **extra: Any) -> Response:
    body = {"errorCode": code, "errorMessage": message, "traceId": secrets.token_hex(4), **extra}
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def served(fake: FakeFxiaoke) -> Served:
    return Served(fake.app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Fxiaoke open API on loopback.")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--plans", type=int, default=500)
    args = parser.parse_args()
    fake = FakeFxiaoke()
    fake.seed(args.seed, args.customers, args.plans)
    serve_forever(fake.app, args.port, f"fake Fxiaoke (appId {APP_ID}, user {OPEN_USER})")


if __name__ == "__main__":
    main()
