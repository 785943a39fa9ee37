"""The REST vendors' fakes refuse as their vendors do: wrong credentials and unknown forms or
endpoints in each vendor's own envelope, and malformed input (not JSON, not an object, a page
size that is not a number) as a vendor error rather than a crash page (HTTP 500)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from connectors.rest_auth import jdy_app_signature, jdy_gateway_headers, yonsuite_token_query
from tests.fakes import fxiaoke, jiandaoyun, kingdee_jdy, xbongbong, yonsuite

Send = Callable[..., requests.Response]


@contextmanager
def _jiandaoyun() -> Iterator[tuple[Send, dict[str, Any]]]:
    fake = jiandaoyun.FakeJiandaoyun()
    fake.seed(1, customers=3, invoices=3)
    with jiandaoyun.served(fake) as server:

        def send(body: Any, key: str = jiandaoyun.API_KEY, raw: bytes | None = None):
            return requests.post(
                f"{server.url}/api/v5/app/entry/data/list",
                data=raw if raw is not None else json.dumps(body),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                timeout=10,
            )

        good = {"app_id": jiandaoyun.APP_ID, "entry_id": jiandaoyun.ENTRIES["customers"]}
        yield (
            send,
            {
                "wrong_credentials": lambda: send(good, key="wrong"),
                "unknown_form": lambda: send({**good, "entry_id": "nope"}),
                "bad_page_size": lambda: send({**good, "limit": "x"}),
                "not_an_object": lambda: send(None, raw=b"[1]"),
                "not_json": lambda: send(None, raw=b"not json"),
            },
        )


@contextmanager
def _xbongbong() -> Iterator[tuple[Send, dict[str, Any]]]:
    fake = xbongbong.FakeXbongbong()
    fake.seed(1, customers=3, payments=3)
    with xbongbong.served(fake) as server:

        def send(body: Any, token: str = xbongbong.TOKEN, raw: bytes | None = None):
            data = raw if raw is not None else json.dumps(body).encode()
            sign = hashlib.sha256(data + token.encode()).hexdigest()
            url = f"{server.url}/pro/v2/api/customer/list"
            return requests.post(url, data=data, headers={"sign": sign}, timeout=10)

        good = {"corpid": xbongbong.CORPID, "formId": xbongbong.CUSTOMER_FORM}
        yield (
            send,
            {
                "wrong_credentials": lambda: send(good, token="wrong"),
                "unknown_form": lambda: send({**good, "formId": 9}),
                "bad_page_size": lambda: send({**good, "pageSize": "x"}),
                "not_an_object": lambda: send(None, raw=b"[1]"),
                "not_json": lambda: send(None, raw=b"not json"),
            },
        )


@contextmanager
def _fxiaoke() -> Iterator[tuple[Send, dict[str, Any]]]:
    fake = fxiaoke.FakeFxiaoke()
    fake.seed(1, customers=3, plans=3)
    with fxiaoke.served(fake) as server:

        def post(path: str, body: Any = None, raw: bytes | None = None):
            data = raw if raw is not None else json.dumps(body).encode()
            return requests.post(f"{server.url}{path}", data=data, timeout=10)

        creds = {
            "appId": fxiaoke.APP_ID,
            "appSecret": fxiaoke.APP_SECRET,
            "permanentCode": fxiaoke.PERMANENT_CODE,
        }
        token = post("/cgi/corpAccessToken/get/V2", creds).json()["corpAccessToken"]
        auth = {"corpAccessToken": token, "corpId": fxiaoke.CORP_ID}
        auth["currentOpenUserId"] = fxiaoke.OPEN_USER

        def query(data: dict[str, Any]):
            return post("/cgi/crm/v2/data/query", {**auth, "data": data})

        info = {"limit": "x", "offset": 0}
        yield (
            post,
            {
                "wrong_credentials": lambda: post(
                    "/cgi/corpAccessToken/get/V2", {**creds, "appSecret": "wrong"}
                ),
                "unknown_form": lambda: query({"dataObjectApiName": "NoSuchObj"}),
                "bad_page_size": lambda: query(
                    {"dataObjectApiName": "AccountObj", "search_query_info": info}
                ),
                "not_an_object": lambda: post("/cgi/crm/v2/data/query", raw=b"[1]"),
                "not_json": lambda: post("/cgi/crm/v2/data/query", raw=b"not json"),
            },
        )


@contextmanager
def _kingdee_jdy() -> Iterator[tuple[Send, dict[str, Any]]]:
    fake = kingdee_jdy.FakeKingdeeJdy()
    fake.seed(1, customers=3, bills=3)
    with kingdee_jdy.served(fake) as server:

        def get(path: str, query: dict[str, str], secret: str = kingdee_jdy.CLIENT_SECRET, **extra):
            headers = jdy_gateway_headers(
                "GET",
                path,
                query,
                client_id=kingdee_jdy.CLIENT_ID,
                client_secret=secret,
                nonce="1234567890",
                timestamp_ms=str(int(time.time() * 1000)),
            )
            url = f"{server.url}{path}"
            return requests.get(url, params=query, headers={**headers, **extra}, timeout=10)

        signature = jdy_app_signature(kingdee_jdy.APP_KEY, kingdee_jdy.APP_SECRET)
        answer = get(
            "/jdyconnector/app_management/kingdee_auth_token",
            {"app_key": kingdee_jdy.APP_KEY, "app_signature": signature},
        ).json()
        session = {"app-token": answer["data"]["app-token"], "X-GW-Router-Addr": kingdee_jdy.DOMAIN}
        yield (
            get,
            {
                "wrong_credentials": lambda: get("/jdy/v2/bd/customer", {}, secret="wrong"),
                "unknown_form": lambda: get("/jdy/v2/bd/no_such_form", {}, **session),
                "bad_page_size": lambda: get("/jdy/v2/bd/customer", {"page_size": "x"}, **session),
            },
        )


@contextmanager
def _yonsuite() -> Iterator[tuple[Send, dict[str, Any]]]:
    fake = yonsuite.FakeYonSuite()
    fake.seed(1, customers=3, receivables=3)
    with yonsuite.served(fake) as server:
        stamp = str(int(time.time() * 1000))
        query = yonsuite_token_query(yonsuite.APP_KEY, yonsuite.APP_SECRET, stamp)
        token = requests.get(f"{server.url}{yonsuite.TOKEN_PATH}", params=query, timeout=10)
        access = token.json()["data"]["access_token"]

        def post(path: str, body: Any = None, raw: bytes | None = None):
            data = raw if raw is not None else json.dumps(body).encode()
            url = f"{server.url}{path}?access_token={access}"
            return requests.post(url, data=data, timeout=10)

        wrong = {**query, "signature": "d3Jvbmc="}
        customers = "/yonbip/digitalModel/merchant/newlist"
        yield (
            post,
            {
                "wrong_credentials": lambda: requests.get(
                    f"{server.url}{yonsuite.TOKEN_PATH}", params=wrong, timeout=10
                ),
                "unknown_form": lambda: post("/yonbip/no/such/list", {}),
                "bad_page_size": lambda: post(customers, {"pageIndex": 1, "pageSize": "x"}),
                "not_an_object": lambda: post(customers, raw=b"[1]"),
                "not_json": lambda: post(customers, raw=b"not json"),
            },
        )


# vendor → (its fake, how each refusal reads: (HTTP status, error code) by case)
VENDORS = {
    "jiandaoyun": (
        _jiandaoyun,
        lambda r: (r.status_code, r.json().get("code")),
        {"wrong_credentials": (401, 8301), "unknown_form": (400, 4001)},
    ),
    "xbongbong": (
        _xbongbong,
        lambda r: (r.status_code, r.json().get("code")),
        {"wrong_credentials": (200, xbongbong.BAD_SIGN), "unknown_form": (200, 100004)},
    ),
    "fxiaoke": (
        _fxiaoke,
        lambda r: (r.status_code, r.json().get("errorCode")),
        {"wrong_credentials": (200, 10006), "unknown_form": (200, 10006)},
    ),
    "kingdee_jdy": (
        _kingdee_jdy,
        lambda r: (r.status_code, r.json().get("errcode")),
        {"wrong_credentials": (401, 1030002001), "unknown_form": (404, 404)},
    ),
    "yonsuite": (
        _yonsuite,
        lambda r: (r.status_code, r.json().get("code")),
        {"wrong_credentials": (200, "40003"), "unknown_form": (200, "404")},
    ),
}


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_fake_refuses_in_the_vendors_envelope_and_never_crashes(vendor):
    fake, read, expected = VENDORS[vendor]
    with fake() as (_send, cases):
        for case, call in cases.items():
            response = call()
            assert response.status_code != 500, (vendor, case, response.text[:200])
            assert response.headers["Content-Type"].startswith("application/json"), (vendor, case)
            status, code = read(response)
            if case in expected:
                assert (status, code) == expected[case], (vendor, case)
            else:  # malformed input: the vendor's error envelope, not a success
                assert code not in (0, 1, "0", "00000", "200", None), (vendor, case, code)
