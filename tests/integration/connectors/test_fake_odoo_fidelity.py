"""The fake Odoo is faithful enough for Odoo's own client libraries, unchanged, and for ours
on every protocol and version."""

from __future__ import annotations

import odoorpc
import pytest
from odoolib.tools import AuthenticationError

from connectors.base import SourceAuthError, SourceConfigError
from connectors.odoo import OdooConnector
from connectors.odoo.client import OdooClient
from mappings import load_mapping
from tests.fakes.odoo import FakeOdoo, client_lib, served


@pytest.fixture(params=[16, 17, 18, 19])
def server(request):
    fake = FakeOdoo(version=request.param)
    fake.seed(3, customers=12, invoices=40)
    with served(fake) as running:
        yield fake, running


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc"])
def test_odoo_client_lib_unchanged(server, protocol):
    fake, running = server
    conn = client_lib(running, protocol)
    partners = conn.get_model("res.partner")
    ids = partners.search([("customer_rank", ">", 0)], 0, 5)
    assert ids == sorted(fake.db.tables["res.partner"])[:5]
    rows = partners.read(ids[:2], ["name", "user_id"])
    assert rows[0]["name"] == fake.db.tables["res.partner"][ids[0]]["name"]
    assert rows[0]["user_id"] is False or isinstance(rows[0]["user_id"], list)  # [id, name]
    bad = client_lib(running, protocol, "nope")
    with pytest.raises(AuthenticationError):
        bad.get_model("res.partner").search([])


def test_odoo_client_lib_json2_on_19():
    fake = FakeOdoo(version=19)
    fake.seed(3, customers=12, invoices=40)
    with served(fake) as running:
        _json2_positional_calls(fake, running)


def _json2_positional_calls(fake, running):
    conn = client_lib(running, "json2", "dunlin-api-key", login=None)
    moves = conn.get_model("account.move")
    rows = moves.search_read([("move_type", "=", "out_invoice")], ["name"], 0, 3)  # positional
    assert len(rows) == 3 and set(rows[0]) == {"id", "name"}
    assert ("GET", "/doc-bearer/account.move.json") in fake.app.requests


def test_odoorpc_unchanged(server):
    fake, running = server
    odoo = odoorpc.ODOO("127.0.0.1", port=running.port)
    assert odoo.version == f"{fake.version}.0"
    odoo.login("prod", "dunlin", "secret")
    partners = odoo.env["res.partner"]
    first = partners.search([("customer_rank", ">", 0)], limit=1)[0]
    assert partners.browse(first).name == fake.db.tables["res.partner"][first]["name"]


def test_our_client_on_every_protocol_and_its_error_classes(server):
    fake, running = server
    protocols = ["xmlrpc", "jsonrpc"] + (["json2"] if fake.version >= 19 else [])
    for protocol in protocols:
        secret = "dunlin-api-key" if protocol == "json2" else "secret"
        client = OdooClient(running.url, "prod", "dunlin", secret, protocol=protocol)
        rows = client.call(
            "account.move",
            "search_read",
            domain=[],
            fields=["partner_id", "write_date"],
            limit=2,
            order="write_date asc, id asc",
            load="",
        )
        assert isinstance(rows[0]["partner_id"], int)  # load='' gives bare ids
        with pytest.raises(SourceConfigError, match="nope"):
            client.call("res.partner", "search_read", domain=[], fields=["nope"], limit=1)
        wrong = OdooClient(running.url, "prod", "dunlin", "bad", protocol=protocol)
        with pytest.raises(SourceAuthError):
            wrong.call("res.partner", "search", domain=[])


def test_capabilities_follow_the_version(server):
    fake, running = server
    mapping = load_mapping("odoo")
    protocol = "json2" if fake.version >= 19 else "jsonrpc"
    credentials = (
        {"api_key": "dunlin-api-key"}
        if protocol == "json2"
        else {"login": "dunlin", "password": "secret"}
    )
    connector = OdooConnector(
        mapping, {"url": running.url, "database": "prod", "protocol": protocol}, credentials
    )
    info = connector.test()
    assert info.server_version == f"{fake.version}.0"
    assert info.missing_fields == {}
    assert info.capabilities["partner_mobile"] is (fake.version <= 18)
    assert ("blocked" in info.capabilities["payment_states"]) is (fake.version >= 18)
    assert info.capabilities["html_notes"] is (fake.version >= 17)
    page = connector.read_page("customers", connector.begin("customers", {}, full=True))
    assert "mobile" not in page.records[0] or fake.version <= 18
    assert isinstance(page.records[0]["user_id"], dict | bool)  # resolved through the lookup


def test_kingdee_official_sdk_unchanged_against_the_fake_k3cloud():
    import json

    from k3cloud_webapi_sdk.main import K3CloudApiSdk

    from tests.fakes.k3cloud import FakeK3Cloud
    from tests.fakes.k3cloud import served as served_k3

    fake = FakeK3Cloud()
    fake.seed(5, customers=4, bills=9)
    with served_k3(fake) as running:
        base = running.url + "/k3cloud/"
        sdk = K3CloudApiSdk(base)
        sdk.InitConfig(fake.acct_id, fake.username, fake.app_id, fake.app_secret, base, 2052)
        rows = json.loads(
            sdk.ExecuteBillQuery(
                {
                    "FormId": "AR_receivable",
                    "FieldKeys": "FID,FBillNo",
                    "OrderString": "FID ASC",
                    "TopRowCount": 4,
                    "StartRow": 0,
                    "Limit": 4,
                }
            )
        )
        assert [r[0] for r in rows] == sorted(fake.forms["AR_receivable"])[:4]
        error = json.loads(
            sdk.ExecuteBillQuery(
                {"FormId": "AR_receivable", "FieldKeys": "FNOPE", "OrderString": "FID ASC"}
            )
        )
        assert error[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 9
        saved = json.loads(sdk.Save("k1234_DUNNING_LOG", {"Model": {"F_DL_Text": "hi"}}))
        assert saved["Result"]["ResponseStatus"]["IsSuccess"] is True
        # The SDK's signed first call opened a session, which it then carried as a cookie.
        assert len(fake.sessions) == 1
        wrong = K3CloudApiSdk(base)
        wrong.InitConfig(fake.acct_id, fake.username, fake.app_id, "0" * 32, base, 2052)
        refused = json.loads(
            wrong.ExecuteBillQuery(
                {"FormId": "BD_Customer", "FieldKeys": "FNumber", "OrderString": "FCUSTID ASC"}
            )
        )
        assert refused[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 1
