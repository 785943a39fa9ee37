"""The admin API keeps its OpenAPI contract: schemathesis runs every check, stateless over every
operation and stateful along the document's links, against the app on PostgreSQL over real HTTP,
and finds nothing.

The run's admin token is one it cannot lock itself out with: the API refuses (409) any caller
revoking the token it authenticates with, or demoting or deactivating itself. Operations whose
body is a document checked by its own parser (policy YAML, a provider's settings) declare so in
the document (`x-validated-beyond-schema`); only for those is a 422 an accepted answer to
schema-valid data.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from tests.integration.webhooks.conftest import seed
from tests.integration.webhooks.test_api import auth, make_user

schemathesis = pytest.importorskip("schemathesis")

# Bounded: about 2,500 requests stateless (the coverage phase alone sends ~2,200, 600 of them one
# per time zone in PATCH /org's enum) and ~300 stateful, 60-90 s together on one core. A fixed
# seed so a failure reproduces.
MAX_EXAMPLES = 6
STATEFUL_MAX_EXAMPLES = 15
STATEFUL_STEPS = 12
SEED = 20261206
ACCEPTED_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429"]


@pytest.fixture
def no_outside_network(monkeypatch) -> list[str]:
    """Channel and source tests call out; a run must not reach a host it made up (nor be slowed
    by DNS). Names other than the loopback fail to resolve, as they would offline."""
    real = socket.getaddrinfo
    refused: list[str] = []

    def local_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in ("127.0.0.1", "localhost", "::1"):
            refused.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: blocked in this test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    return refused


@pytest.fixture
def served(app, web, no_outside_network) -> Iterator[str]:
    """The app over real HTTP (werkzeug's server in a thread): schemathesis' in-process WSGI
    transport cannot send its ignored-auth probes, and a socket also exercises real framing."""
    seed(app)
    seed(app, "other", "888", n=1)
    server = make_server("127.0.0.1", 0, web, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def beyond_schema_operations(web) -> list[str]:
    from webhooks.api.spec import BEYOND_SCHEMA

    spec = web.test_client().get("/api/v1/openapi.json").json
    return [
        entry["operationId"]
        for methods in spec["paths"].values()
        for entry in methods.values()
        if entry.get(BEYOND_SCHEMA)
    ]


def run_schemathesis(base: str, token: str, web, phases: dict) -> tuple[list[str], dict]:
    """Run the engine with every check; each failure or error as one line, and how many
    requests each phase sent."""
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import Status, events, from_schema

    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["all"],
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": phases,
            "operations": [
                {
                    "include-operation-id": beyond_schema_operations(web),
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*ACCEPTED_POSITIVE, "422"]
                        }
                    },
                }
            ],
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_POSITIVE}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", config=config)
    problems: list[str] = []
    sent: dict[str, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            sent["links"] = event.payload.transitions_total
        if isinstance(event, events.ScenarioFinished):
            phase = event.phase.value
            sent[phase] = sent.get(phase, 0) + len(event.recorder.interactions)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        case = event.recorder.cases[case_id].value
                        problems.append(
                            f"{check.name}: {failure.operation}: {failure.title}: "
                            f"{failure.message[:300]} | {case.method} {case.formatted_path} "
                            f"query={case.query!r} body={str(case.body)[:200]!r}"
                        )
                    elif check.status == Status.ERROR:
                        problems.append(f"{check.name}: error in {event.recorder.label}")
        elif isinstance(event, events.NonFatalError):
            problems.append(f"error: {event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
    return sorted(set(problems)), sent


def assert_token_still_works(base_client, token: str) -> None:
    response = base_client.get("/api/v1/org", headers=auth(token))
    assert response.status_code == 200, "the run locked itself out"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_stateless_every_check_every_operation(app, web, served, no_outside_network):
    token = make_user(app, "acme")
    started = time.monotonic()
    problems, sent = run_schemathesis(
        served,
        token,
        web,
        {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    )
    elapsed = time.monotonic() - started
    assert not problems, "\n".join(problems)
    assert sent.get("fuzzing", 0) > 100 and sent.get("coverage", 0) > 100, sent
    assert_token_still_works(web.test_client(), token)
    print(f"stateless: {sent} requests in {elapsed:.1f} s; blocked {no_outside_network[:20]}")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_stateful_along_the_links(app, web, served, no_outside_network):
    token = make_user(app, "acme")
    started = time.monotonic()
    problems, sent = run_schemathesis(
        served,
        token,
        web,
        {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": False},
            "stateful": {
                "enabled": True,
                "max-steps": STATEFUL_STEPS,
                "generation": {"max-examples": STATEFUL_MAX_EXAMPLES},
            },
        },
    )
    elapsed = time.monotonic() - started
    assert not problems, "\n".join(problems)
    assert sent.get("stateful", 0) > 20 and sent.get("links", 0) >= 20, sent
    assert_token_still_works(web.test_client(), token)
    print(f"stateful: {sent} requests in {elapsed:.1f} s; blocked {no_outside_network[:20]}")


# The failures the runs above found, each pinned on SQLite and PostgreSQL.


def test_every_api_error_is_json(app, web, client):
    # an app-wide page for HTTP errors (what public pages may want) must not reach the API
    web.register_error_handler(HTTPException, lambda exc: ("<html>page</html>", exc.code))
    token = make_user(app, "acme")
    for method, path in (
        ("GET", "/api/v1/users/abc"),  # not an integer id: a routing miss
        ("GET", "/api/v1/customers/-1"),
        ("DELETE", "/api/v1/channels/fax"),  # not a channel name
        ("GET", "/api/v1/no-such-thing"),
    ):
        response = client.open(path, method=method, headers=auth(token))
        assert response.status_code == 404, path
        assert response.json["error"]["code"] == "not_found", path
    wrong = client.put("/api/v1/users", headers=auth(token))
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    # public pages keep their own handling
    assert client.get("/hooks/no-such-thing").get_data(as_text=True) == "<html>page</html>"


def test_an_oversized_body_is_a_documented_json_413(app, web, client):
    token = make_user(app, "acme")
    web.config["MAX_CONTENT_LENGTH"] = 4096
    response = client.post(
        "/api/v1/mappings/validate", json={"text": "x" * 5000}, headers=auth(token)
    )
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    spec = client.get("/api/v1/openapi.json").json
    assert "413" in spec["paths"]["/api/v1/mappings/validate"]["post"]["responses"]


def test_over_long_text_is_422_not_413_at_the_default_limit(app, client):
    """Even written as JSON escapes of astral characters (12 bytes each), a text one character
    over maxLength fits the default 1 MiB body, so it is refused for its length."""
    from webhooks.api.schemas import MAX_DOCUMENT

    token = make_user(app, "acme")
    response = client.post(
        "/api/v1/mappings/validate",
        data='{"text": "' + "\\ud83d\\ude00" * (MAX_DOCUMENT + 1) + '"}',
        content_type="application/json",
        headers=auth(token),
    )
    assert response.status_code == 422, response.status_code
    assert response.json["error"]["fields"][0]["field"] == "text"


def test_bodies_take_the_types_the_schema_states(app, client):
    token = make_user(app, "acme")
    for body in ({"on": 0}, {"on": "2026-02-30"}, {"limit": "5"}, {"limit": True}):
        response = client.post("/api/v1/policies/preview", json=body, headers=auth(token))
        assert response.status_code == 422, body
    ok = client.post("/api/v1/policies/preview", json={"on": "2026-03-02"}, headers=auth(token))
    assert ok.status_code == 200 and ok.json["on"] == "2026-03-02"
    # JSON Schema counts 2.0 as an integer; so do we
    whole = client.get("/api/v1/users", headers=auth(token)).json["items"][0]["id"]
    created = client.post(
        "/api/v1/tokens", json={"name": "ci", "user_id": float(whole)}, headers=auth(token)
    )
    assert created.status_code == 201, created.json


def test_closed_sets_are_enums_the_server_agrees_with(app, client):
    from zoneinfo import ZoneInfo

    from mappings import shipped_names
    from reminders.sending.channels.registry import providers

    token = make_user(app, "acme")
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]

    def enum(model: str, name: str) -> list[str]:
        prop = schemas[model]["properties"][name]
        return next(a["enum"] for a in prop.get("anyOf", [prop]) if "enum" in a)

    zones = enum("OrgPatch", "timezone")
    assert "Asia/Shanghai" in zones and all(ZoneInfo(z) for z in zones[:50])
    assert enum("ChannelIn", "provider") == sorted(providers())
    assert enum("SourceIn", "mapping") == shipped_names()
    for body in ({"timezone": "Mars/Olympus"}, {"timezone": "asia/shanghai"}):
        assert client.patch("/api/v1/org", json=body, headers=auth(token)).status_code == 422
    ok = client.patch("/api/v1/org", json={"timezone": "Europe/Berlin"}, headers=auth(token))
    assert ok.status_code == 200 and ok.json["timezone"] == "Europe/Berlin"
    bad = client.put(
        "/api/v1/channels/sms", json={"provider": "carrier-pigeon"}, headers=auth(token)
    )
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "provider"


def test_nul_is_refused_where_the_schema_says_so(app, client):
    token = make_user(app, "acme")
    spec = client.get("/api/v1/openapi.json").json
    name = spec["components"]["schemas"]["UserIn"]["properties"]["name"]
    assert name["pattern"] == "^[^\\x00]*$"
    q = next(p for p in spec["paths"]["/api/v1/customers"]["get"]["parameters"] if p["name"] == "q")
    assert any(a.get("pattern") == "^[^\\x00]*$" for a in q["schema"]["anyOf"])
    response = client.get("/api/v1/customers?q=a%00b", headers=auth(token))
    assert response.status_code == 400 and response.json["error"]["code"] == "nul_byte"


def test_a_repeated_query_parameter_is_refused(app, client):
    token = make_user(app, "acme")
    response = client.get("/api/v1/customers?tier=A&tier=B", headers=auth(token))
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == "tier"


def test_every_operation_documents_its_errors(client):
    spec = client.get("/api/v1/openapi.json").json
    for path, methods in spec["paths"].items():
        for method, entry in methods.items():
            codes = set(entry["responses"])
            assert {"400", "401", "404", "422", "429"} <= codes, (method, path)
            assert ("403" in codes) == (entry.get("security") != []), (method, path)
            assert ("413" in codes) == ("requestBody" in entry), (method, path)
    links = spec["paths"]["/api/v1/users"]["post"]["responses"]["201"]["links"]
    assert links["get_users_int_user_id"]["parameters"] == {"user_id": "$response.body#/id"}


def test_no_caller_locks_itself_out(app, client):
    token = make_user(app, "acme")
    mine = client.get("/api/v1/tokens", headers=auth(token)).json["items"][0]["id"]
    me = client.get("/api/v1/users", headers=auth(token)).json["items"][0]["id"]
    refused = client.delete(f"/api/v1/tokens/{mine}", headers=auth(token))
    assert refused.status_code == 409 and refused.json["error"]["code"] == "self"
    for body in ({"active": False}, {"role": "finance"}):
        response = client.patch(f"/api/v1/users/{me}", json=body, headers=auth(token))
        assert response.status_code == 409, body
    assert (
        client.patch(f"/api/v1/users/{me}", json={"name": "Me"}, headers=auth(token)).json["name"]
        == "Me"
    )
    # another token of the same admin may revoke it
    other = client.post("/api/v1/tokens", json={"name": "other"}, headers=auth(token)).json
    assert client.delete(f"/api/v1/tokens/{mine}", headers=auth(other["token"])).status_code == 204
    assert client.get("/api/v1/org", headers=auth(token)).status_code == 401


def test_opting_out_of_a_misspelt_channel_is_refused(app, client):
    token = make_user(app, "acme")
    customer = seed(app).customer_id
    url = f"/api/v1/customers/{customer}"
    typo = client.patch(url, json={"opted_out_channels": ["emial"]}, headers=auth(token))
    assert typo.status_code == 422 and typo.json["error"]["fields"][0]["field"].startswith(
        "opted_out_channels"
    )
    ok = client.patch(
        url, json={"opted_out_channels": ["sms", "email", "sms"]}, headers=auth(token)
    )
    assert ok.status_code == 200 and ok.json["opted_out_channels"] == ["email", "sms"]
