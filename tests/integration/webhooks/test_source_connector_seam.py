"""The admin API's connection test and sync-now open sources through the app's connector
factory: handed an in-memory source, they run without HTTP to any source system."""

from __future__ import annotations

import pytest

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from sync.sources import add_source
from tests.fakes.memory_connector import MAPPING, MemoryConnector
from tests.integration.webhooks.test_api import auth, make_user
from webhooks import create_app


@pytest.fixture
def memory() -> MemoryConnector:
    fake = MemoryConnector(page_size=2)
    fake.put("customers", {"id": "c0", "name": "Acme"})
    fake.put(
        "receivables",
        *(
            {"id": f"r{n}", "customer": "c0", "total": 9, "open": 9, "due": "2026-12-01"}
            for n in range(3)
        ),
    )
    return fake


def test_connection_test_and_sync_now_use_the_factory_they_are_given(app, memory, tmp_path):
    path = tmp_path / "memory.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        source = add_source(
            session, box, org_id, "mem", "rest", str(path), {"url": "m:"}, {"k": "v"}
        )
        source_id = source.id
    client = create_app(app.settings, open_connector=memory.open).test_client()
    headers = auth(make_user(app, "acme"))

    tested = client.post(f"/api/v1/sources/{source_id}/test", headers=headers)
    assert tested.status_code == 200 and tested.json["ok"] is True
    assert tested.json["detail"] == "memory as test"

    synced = client.post(f"/api/v1/sources/{source_id}/sync", headers=headers)
    assert synced.status_code == 200, synced.json
    assert synced.json["status"] == "ok" and synced.json["counts"]["records"] == 4
    assert [o.credentials for o in memory.opened] == [{"k": "v"}, {"k": "v"}]
    assert memory.closes == 2
