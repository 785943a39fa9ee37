"""Fakes of source systems served over real HTTP on loopback, and sources pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from sync.sources import add_source
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
