"""An alias bomb sent to the API is refused at once with a JSON reason and its line, whether it
is validated or stored; the worker is never busy expanding it."""

from __future__ import annotations

import time

from tests.integration.webhooks.test_api import auth, make_user
from tests.unit.dunlin.test_yamlsource import billion_laughs


def test_policy_alias_bomb_is_refused_fast_with_a_line(app, client):
    token = make_user(app, "acme")
    bomb = billion_laughs()
    started = time.perf_counter()
    checked = client.post("/api/v1/policies/validate", json={"text": bomb}, headers=auth(token))
    stored = client.post("/api/v1/policies", json={"text": bomb}, headers=auth(token))
    mapping = client.post("/api/v1/mappings/validate", json={"text": bomb}, headers=auth(token))
    assert time.perf_counter() - started < 1.0
    assert checked.status_code == 200 and checked.json["valid"] is False
    assert checked.json["issues"] == [
        {
            "line": 6,
            "field": "(yaml)",
            "message": "more than 20000 values (each alias counted as what it repeats) / "
            "超过 20000 个值（别名按展开计算）",
        }
    ]
    assert stored.status_code == 422 and stored.json["error"]["code"] == "invalid_policy"
    assert stored.json["error"]["fields"][0]["line"] == 6
    assert mapping.status_code == 200 and mapping.json["valid"] is False
    assert "more than 20000 values" in mapping.json["issues"][0]["message"]
