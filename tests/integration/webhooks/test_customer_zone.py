"""A customer whose time zone is not a real zone is served in the org's zone everywhere: the
send-time guard sends their reminder and their self-service page opens (the planner already
fell back; the guard and the page raised ZoneInfoNotFoundError)."""

from datetime import UTC, datetime

from sqlalchemy import update

from dunlin.db import transaction
from reminders.sending.dispatch import send_due
from sync.models import Customer
from tests.integration.test_cycle import Recorder
from tests.integration.webhooks.conftest import seed
from tests.integration.webhooks.test_receipts_and_links import status, token_for


def _misspell_zone(app) -> None:
    with transaction(app.factory) as session:
        session.execute(update(Customer).values(timezone="Mars/Base"))


def test_the_guard_sends_to_a_customer_with_an_unknown_zone(app):
    s = seed(app)
    _misspell_zone(app)
    recorder = Recorder()
    report = send_due(app.factory, "acme", datetime.now(UTC), lambda _name: recorder)
    assert report.counts["sent"] == 1 and len(recorder.sent) == 1
    assert status(app, s.reminder_id) == "sent"


def test_the_self_service_page_opens_for_a_customer_with_an_unknown_zone(app, client):
    s = seed(app)
    _misspell_zone(app)
    page = client.get(f"/s/{token_for(app, s)}?lang=en")
    assert page.status_code == 200 and b"INV/0" in page.data
