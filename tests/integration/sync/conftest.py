"""Fakes of source systems served over real HTTP on loopback, and sources pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from dunlin.crypto import SecretBox
from dunlin.db import transaction, utcnow
from dunlin.orgs import get_org
from sync.engine import RECONCILE
from sync.models import SyncCursor
from sync.sources import add_source
from tests.fakes.k3cloud import FakeK3Cloud
from tests.fakes.k3cloud import served as served_k3
from tests.fakes.odoo import FakeOdoo, served


@pytest.fixture
def box(settings) -> SecretBox:
    return SecretBox(settings.require_secret_key())


@pytest.fixture(params=[17])
def odoo(request) -> Iterator[FakeOdoo]:
    fake = FakeOdoo(version=request.param)
    fake.seed(7, customers=30, invoices=120)
    with served(fake) as server:
        fake.url = server.url
        yield fake


def add_odoo_source(app, box, fake, name="odoo", org="acme", protocol="jsonrpc", **settings):
    credentials = (
        {"api_key": "dunlin-api-key"}
        if protocol == "json2"
        else {"login": "dunlin", "password": "secret"}
    )
    with transaction(app.factory) as session:
        org_id = get_org(session, org).id
        add_source(
            session,
            box,
            org_id,
            name,
            "odoo",
            "odoo",
            {
                "url": fake.url,
                "database": "prod",
                "protocol": protocol,
                "rate_limit": 0,
                **settings,
            },
            credentials,
        )


@pytest.fixture
def k3cloud() -> Iterator[FakeK3Cloud]:
    fake = FakeK3Cloud()
    fake.add_customer("C001", "上海某某贸易有限公司", FTEL="13812345678")
    fake.add_customer("C002", "Acme Trading", FTEL="+8613900000000")
    fake.add_bill(
        "C001",
        [(1000.0, 0.0, "2026-11-01"), (500.0, 200.0, "2026-12-01")],
        FModifyDate="2026-10-01T09:00:00",
    )
    fake.add_bill(  # fully written off
        "C001", [(300.0, 300.0, "2026-10-15")], FModifyDate="2026-10-02T09:00:00"
    )
    for n in range(6):
        fake.add_bill(
            "C002",
            [(100.0 + n, 0.0, "2026-11-20"), (50.0, 0.0, "2026-12-20")],
            FModifyDate=f"2026-10-{n + 3:02d}T09:00:00",
        )
    with served_k3(fake) as server:
        fake.url = server.url + "/k3cloud/"
        yield fake


def add_k3_source(app, box, fake, name="k3", org="acme", auth="signature", **settings):
    credentials = {
        "username": fake.username,
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "password": fake.password,
    }
    with transaction(app.factory) as session:
        add_source(
            session,
            box,
            get_org(session, org).id,
            name,
            "kingdee",
            "kingdee-k3cloud",
            {"url": fake.url, "acct_id": fake.acct_id, "auth": auth, "rate_limit": 0, **settings},
            credentials,
        )


def add_rest_source(app, box, name, mapping, settings, credentials, org="acme"):
    """A REST-kind source (Jiandaoyun, Xbongbong, JDY, YonSuite, Fxiaoke) without pacing."""
    with transaction(app.factory) as session:
        add_source(
            session,
            box,
            get_org(session, org).id,
            name,
            "rest",
            mapping,
            {"rate_limit": 0, **settings},
            credentials,
        )


def reconcile_due(app) -> None:
    """Make the next sync reconcile, as it would a day after the last reconcile."""
    with transaction(app.factory) as session:
        session.execute(
            update(SyncCursor)
            .where(SyncCursor.entity == RECONCILE)
            .values(updated_at=utcnow() - timedelta(days=2))
        )
