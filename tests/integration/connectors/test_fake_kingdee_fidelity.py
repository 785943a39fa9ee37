"""Kingdee's official SDK (kingdee.cdp.webapi.sdk), unchanged, sees from the fake K3Cloud what
it would see from a real one: wrong credentials, an unknown form id, an expired session
renewed silently by the next signed request, BillQuery's object rows, and ResponseStatus errors
(never a bare HTTP 500) for whatever malformed request reaches it (reference: docs/reference/
kingdee-fake.md)."""

from __future__ import annotations

import json

import pytest
import requests
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from tests.fakes.k3cloud import FakeK3Cloud, served


@pytest.fixture
def k3():
    fake = FakeK3Cloud()
    fake.seed(5, customers=4, bills=9)
    with served(fake) as running:
        yield fake, running.url + "/k3cloud/"


def sdk(fake, base, **change):
    given = {
        "acct_id": fake.acct_id,
        "user_name": fake.username,
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        **change,
    }
    client = K3CloudApiSdk(base)
    client.InitConfig(server_url=base, lcid=2052, **given)
    return client


QUERY = {"FormId": "BD_Customer", "FieldKeys": "FCUSTID,FNumber", "OrderString": "FCUSTID ASC"}


def status(answer):
    """The ResponseStatus of an SDK answer, however it is wrapped."""
    data = json.loads(answer)
    while isinstance(data, list):
        data = data[0]
    return data["Result"]["ResponseStatus"]


@pytest.mark.parametrize(
    "wrong",
    [{"app_secret": "0" * 32}, {"acct_id": "000000000000"}, {"user_name": "someone_else"}],
    ids=["app_secret", "acct_id", "user_name"],
)
def test_wrong_credentials_are_msgcode_1_and_open_no_session(k3, wrong):
    fake, base = k3
    for call in (
        lambda c: c.ExecuteBillQuery(QUERY),
        lambda c: c.BillQuery(QUERY),
        lambda c: c.Save("BD_Customer", {"Model": {"FName": "x"}}),
    ):
        answer = status(call(sdk(fake, base, **wrong)))
        assert answer["IsSuccess"] is False and answer["MsgCode"] == 1
        assert "重新登录" in answer["Errors"][0]["Message"]
    assert fake.sessions == set()


def test_unknown_form_id_is_msgcode_4_on_every_call(k3):
    fake, base = k3
    client = sdk(fake, base)
    for answer in (
        client.ExecuteBillQuery({**QUERY, "FormId": "NO_SUCH_FORM"}),
        client.BillQuery({**QUERY, "FormId": "NO_SUCH_FORM"}),
        client.Save("NO_SUCH_FORM", {"Model": {"FName": "x"}}),
    ):
        found = status(answer)
        assert found["IsSuccess"] is False and found["MsgCode"] == 4
        assert "NO_SUCH_FORM" in found["Errors"][0]["Message"]


def test_expired_session_is_renewed_silently_by_the_next_signed_call(k3):
    fake, base = k3
    client = sdk(fake, base)
    first = json.loads(client.ExecuteBillQuery(QUERY))
    (old_sid,) = fake.sessions
    assert old_sid == client.cookiesStore.SID  # the SDK carries the session it was given
    fake.expire_sessions()
    again = json.loads(client.ExecuteBillQuery(QUERY))
    assert again == first  # no error reaches the caller
    (new_sid,) = fake.sessions
    assert new_sid != old_sid and new_sid == client.cookiesStore.SID


def test_billquery_rows_are_objects_keyed_by_field_key(k3):
    fake, base = k3
    rows = json.loads(sdk(fake, base).BillQuery({**QUERY, "Limit": 2}))
    expected = sorted(fake.forms["BD_Customer"].values(), key=lambda r: r["FCUSTID"])[:2]
    assert rows == [{"FCUSTID": r["FCUSTID"], "FNumber": r["FNumber"]} for r in expected]


def test_malformed_requests_get_a_response_status_not_a_500(k3):
    fake, base = k3
    client = sdk(fake, base)
    client.ExecuteBillQuery(QUERY)  # open a session to send raw requests with
    cookies = {"kdservice-sessionid": next(iter(fake.sessions))}
    url = base + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{}.common.kdsvc"
    for service, body in (
        ("ExecuteBillQuery", b"not json"),
        ("ExecuteBillQuery", b"[1]"),
        ("ExecuteBillQuery", json.dumps({"data": {**QUERY, "StartRow": "x"}}).encode()),
        ("ExecuteBillQuery", json.dumps({"data": "{broken"}).encode()),
        ("Save", json.dumps({"formid": "BD_Customer"}).encode()),
        ("Save", json.dumps({"formid": "BD_Customer", "data": [1]}).encode()),
    ):
        response = requests.post(url.format(service), data=body, cookies=cookies, timeout=10)
        assert response.status_code == 200, (service, body)
        assert status(response.text)["IsSuccess"] is False, (service, body)
    login = base + "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginBySign.common.kdsvc"
    refused = requests.post(login, json={"parameters": [fake.acct_id, "u", "a", "soon", "s"]})
    assert refused.status_code == 200 and refused.json()["LoginResultType"] == 0
    unknown = requests.post(url.format("NoSuchService"), data=b"{}", cookies=cookies, timeout=10)
    assert unknown.status_code == 404
