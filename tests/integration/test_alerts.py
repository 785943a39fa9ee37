"""Operator alerts reach a real HTTP endpoint through Apprise, redacted, without blocking."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dunlin.alerts import alert, install_alerts, stop_alerts
from dunlin.log import redacting_filter
from reminders.sending.channels.base import Outcome
from reminders.sending.dispatch import send_due
from sync.run import sync_sources
from tests.integration.reminders.test_dispatch import NOON, Answering, load
from tests.integration.sync.conftest import add_odoo_source, box, odoo  # noqa: F401


class _Sink(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[list[dict]]:
    """An ops chat on loopback (Apprise's json:// posts {title, message, type})."""
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    install_alerts(f"json://127.0.0.1:{server.server_address[1]}/alerts?token=alert-url-token")
    yield _Sink.received
    stop_alerts()
    server.shutdown()


def test_an_alert_is_posted_bilingual_and_redacted(sink):
    redacting_filter.known.add("smtp-password-123")
    alert("channel email broken", "渠道 email 不可用", "login refused for smtp-password-123")
    stop_alerts()  # flushes the queue
    (posted,) = sink
    assert posted["title"] == "Dunlin: channel email broken"
    assert "渠道 email 不可用" in posted["message"] and "login refused for ***" in posted["message"]
    assert "smtp-password-123" not in json.dumps(posted)


def test_without_urls_alerts_are_only_logged(caplog):
    install_alerts(None)
    alert("source x failing", "数据源 x 同步失败", "timeout")
    assert any("source x failing" in r.getMessage() for r in caplog.records)


def test_a_broken_channel_alerts_the_operators(app, tmp_path, sink):
    load(app, tmp_path)
    send_due(app.factory, "acme", NOON, lambda _n: Answering("sms", Outcome.CHANNEL_BROKEN))
    stop_alerts()
    (posted,) = sink
    assert posted["title"] == "Dunlin: channel sms broken for org acme"
    assert "said so" in posted["message"] and "dunlin channels enable sms" in posted["message"]


def test_a_failing_source_alerts_once_per_outage(app, box, odoo, sink):  # noqa: F811
    add_odoo_source(app, box, odoo, url="http://127.0.0.1:9", timeout_seconds=1)
    for _ in range(2):
        (report,) = sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
        assert report.status == "failing"
    stop_alerts()
    (posted,) = sink
    assert posted["title"] == "Dunlin: source odoo failing"
    assert "the next sync resumes there" in posted["message"]
