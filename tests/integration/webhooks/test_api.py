"""The admin API: auth, roles and strict org isolation on every endpoint. Its OpenAPI contract
(schemathesis, every check) is test_api_contract.py."""

from __future__ import annotations

import re

from sqlalchemy import select

from dunlin.db import transaction
from dunlin.orgs import get_org
from dunlin.users import ApiToken, User
from reminders.models import Task
from tests.integration.webhooks.conftest import seed
from webhooks.api.auth import new_token


def make_user(app, org_slug: str, role: str = "admin", ref: str | None = None) -> str:
    with transaction(app.factory) as session:
        org = get_org(session, org_slug)
        user = User(
            org_id=org.id,
            email=f"{role}{ref or ''}@{org_slug}.test",
            name=role,
            role=role,
            salesperson_ref=ref,
            active=True,
        )
        session.add(user)
        session.flush()
        token, digest = new_token()
        session.add(
            ApiToken(org_id=org.id, user_id=user.id, name="t", prefix=token[:10], token_hash=digest)
        )
        return token


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_required_and_stored_hashed(app, client):
    token = make_user(app, "acme")
    assert client.get("/api/v1/customers").status_code == 401
    assert client.get("/api/v1/customers", headers=auth("dln_nope")).status_code == 401
    assert client.get("/api/v1/customers", headers=auth(token)).status_code == 200
    with app.factory() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored[0]) == 64
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=auth(token))
    assert created.status_code == 201 and created.json["token"].startswith("dln_")
    revoked = client.delete(f"/api/v1/tokens/{created.json['id']}", headers=auth(token))
    assert revoked.status_code == 204
    assert client.get("/api/v1/org", headers=auth(created.json["token"])).status_code == 401


def test_roles(app, client):
    a = seed(app)
    finance = make_user(app, "acme", "finance")
    sales_mine = make_user(app, "acme", "sales", ref="7")
    sales_other = make_user(app, "acme", "sales", ref="8")
    assert client.get("/api/v1/users", headers=auth(finance)).status_code == 403
    assert client.get("/api/v1/sources", headers=auth(finance)).status_code == 200
    assert client.get("/api/v1/sources", headers=auth(sales_mine)).status_code == 403
    mine = client.get("/api/v1/customers", headers=auth(sales_mine)).json["items"]
    assert [c["id"] for c in mine] == [a.customer_id]
    assert client.get("/api/v1/customers", headers=auth(sales_other)).json["items"] == []
    assert (
        client.get(f"/api/v1/customers/{a.customer_id}", headers=auth(sales_other)).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/reminders/{a.reminder_id}", headers=auth(sales_other)).status_code
        == 404
    )
    timeline = client.get(f"/api/v1/customers/{a.customer_id}/timeline", headers=auth(sales_mine))
    assert (
        timeline.status_code == 200
        and timeline.json["reminders"][0]["recipient"] == "c***@example.com"
    )


def test_session_login_needs_csrf_for_changes(app, client):
    from werkzeug.security import generate_password_hash

    make_user(app, "acme")
    with transaction(app.factory) as session:
        user = session.scalar(select(User).where(User.email == "admin@acme.test"))
        user.password_hash = generate_password_hash("correct horse battery")
    bad = client.post(
        "/api/v1/session", json={"org": "acme", "email": "admin@acme.test", "password": "x"}
    )
    assert bad.status_code == 401
    ok = client.post(
        "/api/v1/session",
        json={"org": "acme", "email": "admin@acme.test", "password": "correct horse battery"},
    )
    assert ok.status_code == 200
    assert client.get("/api/v1/org").status_code == 200
    assert client.patch("/api/v1/org", json={"name": "New"}).status_code == 403
    changed = client.patch(
        "/api/v1/org", json={"name": "New"}, headers={"X-CSRFToken": ok.json["csrf_token"]}
    )
    assert changed.status_code == 200 and changed.json["name"] == "New"


def ids_of_org(app, s) -> dict[str, int]:
    with app.factory() as session:
        user_id = session.scalar(select(User.id).where(User.org_id == s.org_id))
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.org_id == s.org_id))
        session.add(
            Task(
                org_id=s.org_id,
                customer_id=s.customer_id,
                receivable_id=s.receivable_id,
                idempotency_key="k",
                summary="call",
                due_on=__import__("datetime").date.today(),
            )
        )
        session.commit()
        task_id = session.scalar(select(Task.id).where(Task.org_id == s.org_id))
    return {
        "customer_id": s.customer_id,
        "receivable_id": s.receivable_id,
        "reminder_id": s.reminder_id,
        "source_id": s.source_id,
        "user_id": user_id,
        "token_id": token_id,
        "task_id": task_id,
    }


BODIES = {
    "patch_users": {"name": "hijack"},
    "patch_customers": {"do_not_remind": True},
    "patch_tasks": {"status": "done"},
}


def test_org_a_cannot_read_or_change_anything_of_org_b(app, client, web):
    """Every operation in the OpenAPI document with an id in its path is tried with org B's
    ids and org A's admin token: each answers 404, and nothing of B changes."""
    a_token = make_user(app, "acme")
    make_user(app, "other")
    seed(app)
    b = seed(app, "other", "888", n=1)
    b_ids = ids_of_org(app, b)
    spec = client.get("/api/v1/openapi.json").json
    tried = 0
    for path, methods in spec["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if not names or names == ["name"]:
            continue
        url = path
        for name in names:
            url = url.replace("{" + name + "}", str(b_ids[name]))
        for method in methods:
            kind = path.split("/")[3]
            body = BODIES.get(f"{method}_{kind}", {})
            response = client.open(url, method=method.upper(), json=body, headers=auth(a_token))
            assert response.status_code == 404, (method, url, response.json)
            tried += 1
    assert tried >= 12
    with app.factory() as session:
        from sync.models import Customer, Source

        assert session.get(Customer, b.customer_id).do_not_remind is False
        assert session.get(Source, b.source_id) is not None
        assert session.get(User, b_ids["user_id"]).name == "admin"
    # lists hold only A's rows
    for kind in (
        "customers",
        "receivables",
        "reminders",
        "tasks",
        "events",
        "users",
        "tokens",
        "sources",
    ):
        items = client.get(f"/api/v1/{kind}", headers=auth(a_token)).json["items"]
        assert all(i.get("id") not in (b_ids.get(f"{kind[:-1]}_id"),) for i in items), kind


def test_secrets_never_appear_in_responses(app, client):
    token = make_user(app, "acme")
    s = seed(app)
    source = client.get(f"/api/v1/sources/{s.source_id}", headers=auth(token))
    assert (
        "pw-secret-1" not in source.get_data(as_text=True)
        and "••••••" in source.json["credentials"]
    )
    put = client.put(
        "/api/v1/channels/email",
        headers=auth(token),
        json={
            "provider": "smtp",
            "settings": {"host": "127.0.0.1", "port": 2525, "from": "a@b.c"},
            "secrets": {"password": "smtp-password-1"},
        },
    )
    assert put.status_code == 200, put.json
    listed = client.get("/api/v1/channels", headers=auth(token)).get_data(as_text=True)
    assert "smtp-password-1" not in listed and "/hooks/receipts/" in listed


def test_validation_errors_are_consistent(app, client):
    token = make_user(app, "acme")
    response = client.get("/api/v1/customers?limit=0", headers=auth(token))
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == "limit"
    bad_policy = client.post(
        "/api/v1/policies/validate", json={"text": "name: x\ntracks: 5\n"}, headers=auth(token)
    )
    assert bad_policy.status_code == 200 and bad_policy.json["valid"] is False
    assert bad_policy.json["issues"][0]["line"] is not None


def test_templates_are_checked_versioned_and_listed(app, client):
    admin, finance = make_user(app, "acme"), make_user(app, "acme", role="finance")
    body = {"name": "reminder", "channel": "sms", "locale": "zh_CN", "part": "short"}
    broken = {**body, "text": "【{{ org.name }}】\n{{ customer.nmae }}"}
    checked = client.post("/api/v1/templates/validate", json=broken, headers=auth(finance))
    assert checked.status_code == 200 and checked.json["valid"] is False
    assert checked.json["issues"][0]["line"] == 2
    refused = client.post("/api/v1/templates", json=broken, headers=auth(admin))
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_template"
    assert refused.json["error"]["fields"][0]["line"] == 2
    assert client.post("/api/v1/templates", json=broken, headers=auth(finance)).status_code == 403
    for n, text in enumerate(("【{{ org.name }}】请付款", "【{{ org.name }}】请尽快付款"), 1):
        saved = client.post("/api/v1/templates", json={**body, "text": text}, headers=auth(admin))
        assert saved.status_code == 201 and saved.json["version"] == n
    listed = client.get("/api/v1/templates", headers=auth(finance)).json["items"]
    assert [(i["channel"], i["version"], i["text"]) for i in listed] == [
        ("sms", 2, "【{{ org.name }}】请尽快付款")
    ]
    other = make_user(app, "other")
    assert client.get("/api/v1/templates", headers=auth(other)).json["items"] == []
