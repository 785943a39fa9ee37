"""Invariant 8 end to end: `dunlin serve` (real gunicorn, and Flask's dev server) takes a whole
cycle of requests that carry secrets — the Odoo hook's path secret, a customer's link token,
a receipt URL's token, a push, an API token in the header and in a query, a session cookie,
refusals — and not one of them appears in anything the server writes to stdout or stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from reminders.sending.links import LinkSigner, LinkTarget, receipt_path_token
from tests.fakes.smtp import free_port
from tests.integration.webhooks.conftest import PUBLIC_URL, seed
from tests.integration.webhooks.test_api import make_user
from tests.integration.webhooks.test_payments import odoo_body


@dataclass
class Served:
    base: str
    proc: subprocess.Popen

    def stop(self) -> str:
        """Stop the server and return everything it wrote (stdout and stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out.decode(errors="replace") + err.decode(errors="replace")


@pytest.fixture
def serve(app) -> Iterator:
    started: list[Served] = []

    def start(*args: str) -> Served:
        settings = app.settings
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
        env.update(
            DUNLIN_DATABASE_URL=settings.resolved_database_url,
            DUNLIN_SECRET_KEY=settings.require_secret_key(),
            DUNLIN_DATA_DIR=str(settings.data_dir),
            DUNLIN_PUBLIC_URL=PUBLIC_URL,
            PYTHONUNBUFFERED="1",
        )
        command = [sys.executable, "-m", "dunlin", "serve", "--port", str(port), *args]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        served = Served(f"http://127.0.0.1:{port}", proc)
        started.append(served)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, served.stop()
            try:
                if requests.get(served.base + "/healthz", timeout=5).status_code == 200:
                    return served
            except requests.RequestException:  # not listening yet, or its worker still booting
                time.sleep(0.1)
        pytest.fail("dunlin serve did not answer /healthz within 60 s")

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.stop()


def cycle(app, base: str, wrong: list[str]) -> list[str]:
    """Drive a whole request cycle; return the secrets it used. Unexpected answers go to
    `wrong`, checked after the logs (so a leak is reported even where a call also 500s)."""
    s = seed(app)
    key = app.settings.require_secret_key()
    link = LinkSigner(key).sign(LinkTarget(s.org_id, s.customer_id, s.reminder_id))
    receipt = receipt_path_token(key, 4242)
    api_token = make_user(app, "acme")
    cookie = "session=eyJjb29raWUiOiJzZWNyZXQtdmFsdWUifQ.aBcDeF.cookiesignature1234567890"
    bearer = {"Authorization": f"Bearer {api_token}"}
    http = requests.Session()

    def call(method: str, path: str, status: int, **kwargs) -> requests.Response:
        response = http.request(method, base + path, allow_redirects=False, timeout=10, **kwargs)
        if response.status_code != status:
            wrong.append(
                f"{method} {path[:40]}: {response.status_code}, wanted {status} {response.text[:200]}"
            )
        if response.headers.get("Content-Type", "").startswith("application/json"):
            for secret in (s.secret, link, receipt, api_token):  # nor in an error or API answer
                assert secret not in response.text, path
        return response

    hook = f"/hooks/odoo/{s.source_id}/{s.secret}"
    call("POST", hook, 200, json=odoo_body("1234", 640.0, "partial"))
    call("POST", hook, 400, data="{not json", headers={"Content-Type": "application/json"})
    call("POST", hook, 400, data="[" * 100_000, headers={"Content-Type": "application/json"})
    call("GET", hook, 405)
    chunks = (b"[" * 65536 for _ in range(40))  # 2.6 MB, chunked: no Content-Length to refuse
    call("POST", hook, 413, data=chunks, headers={"Content-Type": "application/json"})
    small = iter([b'{"no_id"', b": 1}"])  # chunked and within the limit: read whole
    call("POST", hook, 422, data=small, headers={"Content-Type": "application/json"})
    call("POST", f"/hooks/odoo/{s.source_id}/{s.secret}x", 401, json=odoo_body("1", 0, "paid"))
    referer = {"Referer": f"{PUBLIC_URL}/c/{link}", "Cookie": cookie}
    call("GET", f"/c/{link}", 303, headers=referer)
    call("GET", f"/s/{link}?lang=en", 200, headers=referer)
    call("POST", f"/s/{link}/paid", 400, data={"x": "1"})  # no CSRF token
    call("GET", f"/u/{link}", 200)
    call("GET", f"/s/{link}x", 404)  # a tampered token is refused, and logged
    call("POST", f"/hooks/receipts/4242/{receipt}?signature=abc123def456", 404, json={})
    call("POST", f"/hooks/push/{s.source_id}", 404, json={"a": 1}, headers={"sign": "0" * 64})
    call("GET", "/api/v1/customers", 200, headers=bearer)
    call("GET", f"/api/v1/customers?access_token={api_token}", 401)
    call("GET", "/api/v1/customers", 401, headers={"Authorization": f"Bearer {api_token}x"})
    call("GET", f"/api/v1/customers/{2**64}", 404, headers=bearer)
    return [s.secret, link, receipt, api_token, cookie.partition("=")[2], key]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", [(), ("--dev",)], ids=["gunicorn", "dev"])
def test_no_secret_reaches_the_logs_of_a_whole_cycle(app, serve, mode):
    served, wrong = serve(*mode), []
    secrets = cycle(app, served.base, wrong)
    output = served.stop()
    leaks = [line for line in output.splitlines() if any(secret in line for secret in secrets)]
    assert not leaks, "\n".join(leaks)
    # the access log is there, with the paths masked rather than dropped
    assert "/hooks/odoo/" in output and "/s/***" in output, output[-3000:]
    assert "refused POST /hooks/odoo/" in output, output[-3000:]
    assert not wrong
