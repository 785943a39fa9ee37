"""The fake Odoo answers every call shape the vendors' clients send, and every refusal, as a
real Odoo does: OdooRPC's env API (browse, search, positional `read` through `execute`,
fields_get, `in env`, env.ref), odoo-client-lib's positional calls, wrong credentials, unknown
models, methods and fields, missing ACLs and revoked API keys (reference: docs/reference/odoo-fake.md).
"""

from __future__ import annotations

import json
import xmlrpc.client

import odoorpc
import pytest
import requests
from odoorpc.error import RPCError

from connectors.base import SourceAuthError, SourceConfigError
from connectors.odoo.client import OdooClient
from tests.fakes.odoo import FakeOdoo, client_lib, served


@pytest.fixture(params=[16, 17, 18, 19])
def server(request):
    fake = FakeOdoo(version=request.param)
    fake.seed(4, customers=12, invoices=30)
    with served(fake) as running:
        yield fake, running


def login(running, password="secret"):
    odoo = odoorpc.ODOO("127.0.0.1", port=running.port)
    odoo.login("prod", "dunlin", password)
    return odoo


def test_odoorpc_read_with_positional_fields_through_execute(server):
    """The issue's crash: `execute('account.move', 'read', ids, ['name', ...])`."""
    fake, running = server
    odoo = login(running)
    ids = sorted(fake.db.tables["account.move"])[:3]
    rows = odoo.execute("account.move", "read", ids, ["name", "amount_residual"])
    assert [r["id"] for r in rows] == ids
    assert set(rows[0]) == {"id", "name", "amount_residual"}
    assert rows[0]["name"] == fake.db.tables["account.move"][ids[0]]["name"]
    # The same through execute_kw, fields positional and by keyword, and one bare id.
    assert odoo.execute_kw("account.move", "read", [ids, ["name"]]) == [
        {"id": i, "name": fake.db.tables["account.move"][i]["name"]} for i in ids
    ]
    by_kw = odoo.execute_kw("account.move", "read", [ids], {"fields": ["name"]})
    assert by_kw == odoo.execute_kw("account.move", "read", [ids, ["name"]])
    (one,) = odoo.execute("account.move", "read", ids[0], ["name"])
    assert one["id"] == ids[0]


def test_odoorpc_env_api(server):
    fake, running = server
    odoo = login(running)
    assert "res.partner" in odoo.env and "no.such.model" not in odoo.env
    moves = odoo.env["account.move"]  # fields_get through `execute`
    domain = [("move_type", "=", "out_invoice"), ("state", "=", "posted")]
    ids = moves.search(domain, limit=4, order="id desc")
    expected = sorted(
        (
            m["id"]
            for m in fake.db.tables["account.move"].values()
            if m["move_type"] == "out_invoice" and m["state"] == "posted"
        ),
        reverse=True,
    )[:4]
    assert ids == expected
    assert moves.search_count(domain) == len(
        [
            m
            for m in fake.db.tables["account.move"].values()
            if m["move_type"] == "out_invoice" and m["state"] == "posted"
        ]
    )
    record = moves.browse(ids[0])
    stored = fake.db.tables["account.move"][ids[0]]
    assert record.name == stored["name"] and record.amount_total == stored["amount_total"]
    assert record.partner_id.id == stored["partner_id"]  # a many2one as a record
    for many in moves.browse(ids):  # a recordset reads all of them at once
        assert many.name == fake.db.tables["account.move"][many.id]["name"]
    fields = moves.fields_get(["name", "partner_id"], attributes=["type", "relation"])
    assert fields == {
        "name": {"type": "char"},
        "partner_id": {"type": "many2one", "relation": "res.partner"},
    }
    partners = odoo.env["res.partner"]
    pid = sorted(fake.db.tables["res.partner"])[0]
    hits = partners.name_search(fake.db.tables["res.partner"][pid]["name"], limit=5)
    assert [pid, fake.db.tables["res.partner"][pid]["name"]] in hits
    assert partners.write([pid], {"ref": "C-1"}) is True
    assert partners.browse(pid).ref == "C-1"
    new_id = partners.create({"name": "New Co", "customer_rank": 1})
    assert fake.db.tables["res.partner"][new_id]["name"] == "New Co"
    assert odoo.env.ref("mail.mail_activity_data_todo").id == 4


def test_odoorpc_sees_real_refusals(server):
    fake, running = server
    with pytest.raises(RPCError, match="Wrong login ID or password"):
        login(running, password="wrong")
    odoo = login(running)
    with pytest.raises(RPCError) as unknown_model:
        odoo.execute_kw("no.such.model", "search", [[]])
    assert unknown_model.value.info["data"]["name"] == "odoo.exceptions.UserError"
    assert "Object no.such.model doesn't exist" in str(unknown_model.value)
    with pytest.raises(RPCError) as unknown_method:
        odoo.execute_kw("res.partner", "no_such_method", [[]])
    assert unknown_method.value.info["data"]["name"] == "builtins.AttributeError"
    with pytest.raises(RPCError) as private:
        odoo.execute_kw("res.partner", "_read", [[1]])
    assert private.value.info["data"]["name"] == "odoo.exceptions.AccessError"
    with pytest.raises(RPCError) as bad_field:
        odoo.execute("account.move", "read", [sorted(fake.db.tables["account.move"])[0]], ["nope"])
    assert bad_field.value.info["data"]["name"] == "builtins.ValueError"
    assert "Invalid field 'nope'" in str(bad_field.value)
    with pytest.raises(RPCError) as bad_write:
        odoo.execute_kw("res.partner", "write", [[1001], {"nope": 1}])
    assert "Invalid field 'nope'" in str(bad_write.value)
    with pytest.raises(RPCError) as extra:
        odoo.execute_kw("res.partner", "search", [[]], {"bogus": 1})
    assert extra.value.info["data"]["name"] == "builtins.TypeError"
    # OdooRPC's urllib raises HTTPError on any non-200: each of these came as a JSON-RPC
    # error object under HTTP 200, as Odoo sends it.


def test_missing_acl_and_revoked_key(server):
    fake, running = server
    fake.env.denied[6] = {"account.move"}
    odoo = login(running)
    assert odoo.execute("account.move", "check_access_rights", "read", False) is False
    with pytest.raises(RPCError) as denied:
        odoo.execute_kw("account.move", "search_read", [[]], {"fields": ["name"], "limit": 1})
    assert denied.value.info["data"]["name"] == "odoo.exceptions.AccessError"
    assert "(account.move)" in str(denied.value)
    assert odoo.execute_kw("res.partner", "search", [[]], {"limit": 1})
    # An API key revoked (or past its 19.0 lifetime) mid-run: AccessDenied from then on.
    client = OdooClient(running.url, "prod", "dunlin", "dunlin-api-key", protocol="xmlrpc")
    assert client.call("res.partner", "search", domain=[], limit=1)
    fake.revoke_api_key("dunlin")
    with pytest.raises(SourceAuthError):
        client.call("res.partner", "search", domain=[], limit=1)
    with pytest.raises(SourceAuthError, match="permission"):
        OdooClient(running.url, "prod", "dunlin", "secret").call(
            "account.move", "search", domain=[], limit=1
        )


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_odoo_client_lib_every_method_positionally_and_by_keyword(server, protocol):
    fake, running = server
    conn = client_lib(running, protocol)
    partners = conn.get_model("res.partner")
    domain = [("customer_rank", ">", 0)]
    assert partners.search(domain, 2, 3, "id desc") == partners.search(
        domain, offset=2, limit=3, order="id desc"
    )
    assert partners.search_count(domain) == len(fake.db.tables["res.partner"])
    ids = partners.search(domain, 0, 2)
    assert partners.read(ids, ["name"]) == partners.read(ids, fields=["name"])
    assert set(partners.fields_get(["name"], ["type"])) == {"name"}
    assert partners.write(ids, {"ref": "X"}) is True
    created = partners.create({"name": "Positional Co"})
    assert fake.db.tables["res.partner"][created]["name"] == "Positional Co"
    object_service = conn.get_service("object")
    rows = object_service.execute_kw(
        "prod",
        6,
        "secret",
        "account.move",
        "search_read",
        [[("state", "=", "posted")], ["name"], 0, 2, "id asc"],
    )
    assert len(rows) == 2 and set(rows[0]) == {"id", "name"}
    unknown = client_lib(running, protocol).get_model("no.such.model")
    with pytest.raises(Exception, match="doesn't exist"):
        unknown.search([])


def test_xmlrpc_faults_keep_odoos_shapes(server):
    fake, running = server
    proxy = xmlrpc.client.ServerProxy(f"{running.url}/xmlrpc/2/object")
    with pytest.raises(xmlrpc.client.Fault) as unknown_model:
        proxy.execute_kw("prod", 6, "secret", "no.such.model", "search", [[]])
    assert (
        unknown_model.value.faultCode
        == "warning -- UserError\n\nObject no.such.model doesn't exist"
    )
    with pytest.raises(xmlrpc.client.Fault) as denied:
        proxy.execute_kw("prod", 6, "wrong", "res.partner", "search", [[]])
    assert denied.value.faultCode == "AccessDenied"
    with pytest.raises(xmlrpc.client.Fault) as bad_ids:
        proxy.execute_kw("prod", 6, "secret", "res.partner", "read", ["x", ["name"]])
    assert "record ids must be integers" in bad_ids.value.faultCode
    with pytest.raises(xmlrpc.client.Fault):
        proxy.execute("prod", 6, "secret", "res.partner", "read")  # no ids at all
    garbage = requests.post(f"{running.url}/xmlrpc/2/object", data=b"<not xml", timeout=10)
    assert garbage.status_code == 200 and b"<fault>" in garbage.content


def test_jsonrpc_malformed_requests_are_errors_not_500s(server):
    fake, running = server
    for body in (
        b"not json",
        b"[1, 2]",
        json.dumps(
            {"params": {"service": "object", "method": "execute_kw", "args": ["prod"]}}
        ).encode(),
    ):
        response = requests.post(f"{running.url}/jsonrpc", data=body, timeout=10)
        assert response.status_code == 200, body
        assert "error" in response.json(), body


def test_json2_refusals_on_19():
    fake = FakeOdoo(version=19)
    fake.seed(4, customers=3, invoices=3)
    with served(fake) as running:
        headers = {"Authorization": "bearer dunlin-api-key", "Content-Type": "application/json"}

        def post(path, body):
            return requests.post(
                f"{running.url}/json/2/{path}", json=body, headers=headers, timeout=10
            )

        unknown_model = post("no.such.model/search", {"domain": []})
        assert unknown_model.status_code == 404
        assert unknown_model.json()["name"] == "werkzeug.exceptions.NotFound"
        unknown_method = post("res.partner/nope", {})
        assert unknown_method.status_code == 404
        extra = post("res.partner/search", {"domain": [], "bogus": 1})
        assert extra.status_code == 422
        assert extra.json()["name"] == "werkzeug.exceptions.UnprocessableEntity"
        read = post("res.partner/read", {"ids": [1001], "fields": ["name"]})
        assert read.status_code == 200 and read.json()[0]["id"] == 1001
        # odoo-client-lib maps positional arguments through /doc-bearer (name_search's second
        # parameter is `domain` on 19).
        conn = client_lib(running, "json2", "dunlin-api-key", login=None)
        name = fake.db.tables["res.partner"][1001]["name"]
        assert [1001, name] in conn.get_model("res.partner").name_search(name, [], "ilike", 5)
        fake.env.denied[6] = {"account.move"}
        assert post("account.move/search", {"domain": []}).status_code == 403
        fake.revoke_api_key("dunlin")
        assert post("res.partner/search", {"domain": []}).status_code == 401
        client = OdooClient(running.url, "prod", "dunlin", "dunlin-api-key", protocol="json2")
        with pytest.raises(SourceAuthError):
            client.call("res.partner", "search", domain=[])
        with pytest.raises(SourceConfigError):
            OdooClient(running.url, "prod", "admin", "admin-api-key", protocol="json2").call(
                "no.such.model", "search", domain=[]
            )


def test_web_session_expiry_through_odoorpcs_cookie_jar(server):
    """The web client's cookie sessions: what OdooRPC's `json()` drives (and its login on Odoo
    < 10); a session that is gone answers code 100 "Odoo Session Expired"."""
    fake, running = server
    odoo = odoorpc.ODOO("127.0.0.1", port=running.port)
    with pytest.raises(RPCError) as wrong:
        odoo.json("/web/session/authenticate", {"db": "prod", "login": "dunlin", "password": "x"})
    assert wrong.value.info["data"]["name"] == "odoo.exceptions.AccessDenied"
    session = odoo.json(
        "/web/session/authenticate", {"db": "prod", "login": "dunlin", "password": "secret"}
    )
    assert session["result"]["uid"] == 6
    call = {"model": "res.partner", "method": "search_read", "args": [[]]}
    call["kwargs"] = {"fields": ["name"], "limit": 2}
    rows = odoo.json("/web/dataset/call_kw/res.partner/search_read", call)["result"]
    assert [r["id"] for r in rows] == sorted(fake.db.tables["res.partner"])[:2]
    positional = {**call, "method": "read", "args": [[rows[0]["id"]], ["name"]], "kwargs": {}}
    assert odoo.json("/web/dataset/call_kw", positional)["result"] == [rows[0]]
    fake.expire_web_sessions()
    with pytest.raises(RPCError) as expired:
        odoo.json("/web/dataset/call_kw/res.partner/search_read", call)
    assert expired.value.info["code"] == 100
    assert expired.value.info["message"] == "Odoo Session Expired"
    assert expired.value.info["data"]["name"] == "odoo.http.SessionExpiredException"
