"""Alerts for the people who run Dunlin: a channel broke, a source is failing, sends are in doubt.

Sent through Apprise (docs/reference/channels.md §9), which reaches ops chats and mail — Slack,
Teams, Telegram, ntfy, Feishu, DingTalk and WeCom robots, mailto — from one URL each. It is for
operators only: it has no receipts, ids or failure classes, so customers never get a message
through it. URLs come from DUNLIN_ALERT_URLS (space- or comma-separated); without them an
alert is only logged.

An alert is an ERROR record on the `dunlin.alerts` logger. A queue handler hands it to a
background listener, so a slow or dead chat service never holds up sending or a sync; the
record is redacted before it is queued.
"""

from __future__ import annotations

import atexit
import logging
import queue
import re
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from dunlin.log import redacting_filter

log = logging.getLogger("dunlin.alerts")
_listener: QueueListener | None = None
_handler: QueueHandler | None = None


def alert(subject_en: str, subject_zh: str, detail: str) -> None:
    """Tell the operators (bilingual subject); always logged, sent when alert URLs are set."""
    log.error("%s / %s: %s", subject_en, subject_zh, detail, extra={"subject": subject_en})


class AppriseHandler(logging.Handler):
    """Posts each alert record to every configured Apprise URL (best effort). Apprise and its
    plugins load with the first alert, in the listener thread: a CLI command that raises none
    does not pay for them."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.urls = urls
        self._apprise: Any = None

    def _targets(self) -> Any:
        if self._apprise is None:
            import apprise

            self._apprise = apprise.Apprise()
            for url in self.urls:
                if not self._apprise.add(url):
                    logging.getLogger(__name__).warning("alert URL not understood by Apprise: ***")
        return self._apprise

    def emit(self, record: logging.LogRecord) -> None:
        title = f"Dunlin: {getattr(record, 'subject', 'alert')}"
        try:
            if not self._targets().notify(title=title, body=record.getMessage()):
                logging.getLogger(__name__).warning("an alert could not be delivered")
        except Exception:  # noqa: BLE001 - an alert must never take anything down with it
            logging.getLogger(__name__).warning("an alert could not be delivered", exc_info=True)


def split_urls(value: str | None) -> list[str]:
    return [u for u in re.split(r"[\s,]+", value or "") if u]


def install_alerts(urls: str | None) -> None:
    """Route `dunlin.alerts` records to Apprise (replacing an earlier setup); no URLs: logs only."""
    global _listener, _handler
    stop_alerts()
    targets = split_urls(urls)
    if not targets:
        return
    redacting_filter.known.update(targets)  # the URLs carry tokens: never echo them
    pending: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _handler = QueueHandler(pending)
    _handler.addFilter(redacting_filter)
    _listener = QueueListener(pending, AppriseHandler(targets))
    log.addHandler(_handler)
    _listener.start()
    atexit.register(stop_alerts)  # deliver what is queued before the process ends


def stop_alerts() -> None:
    """Send what is queued, then detach (tests and process exit)."""
    global _listener, _handler
    if _handler is not None:
        log.removeHandler(_handler)
        _handler = None
    if _listener is not None:
        _listener.stop()
        _listener = None
