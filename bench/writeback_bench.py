"""bench/writeback: a day's write-back of reminder notes and follow-up tasks into the fake Odoo
and the fake K3Cloud over loopback HTTP, rate limit off (issue 26 item 12).

For each source: Dunlin's write-back (`SourceWriteback.run`: ledger rows in SQLite, lookups,
batched creates) is timed, with every source call it makes recorded; then a bare loop replays
exactly those calls with the same HTTP client against a second fake seeded the same way, so
the ratio is what Dunlin adds around the calls. Calls per 1,000 records are counted at the fake.
Both fakes run in threads of this process (the GIL is shared by both sides alike).

    python bench/writeback_bench.py                  # 2,000 notes + 400 tasks per source
    python bench/writeback_bench.py --notes 300 --tasks 60
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from support import ROOT

sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from connectors.kingdee.client import K3CloudClient  # noqa: E402
from connectors.odoo.client import OdooClient  # noqa: E402
from connectors.registry import open_connector  # noqa: E402
from dunlin.app import App  # noqa: E402
from dunlin.crypto import SecretBox, generate_key  # noqa: E402
from dunlin.db import make_engine, transaction  # noqa: E402
from dunlin.migrate import upgrade  # noqa: E402
from dunlin.orgs import ensure_org, get_org  # noqa: E402
from dunlin.settings import Settings  # noqa: E402
from mappings import load_mapping  # noqa: E402
from reminders.models import Reminder, Task  # noqa: E402
from sync.models import Receivable, Source  # noqa: E402
from sync.run import sync_sources  # noqa: E402
from sync.sources import add_source, credentials_of  # noqa: E402
from tests.fakes.k3cloud import FakeK3Cloud  # noqa: E402
from tests.fakes.k3cloud import served as served_k3  # noqa: E402
from tests.fakes.odoo import FakeOdoo  # noqa: E402
from tests.fakes.odoo import served as served_odoo  # noqa: E402
from usecases.writeback import SourceWriteback  # noqa: E402

PROFILE = False
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def fake_odoo() -> FakeOdoo:
    fake = FakeOdoo(version=17)
    fake.seed(7, customers=300, invoices=1500)
    return fake


def fake_k3() -> FakeK3Cloud:
    fake = FakeK3Cloud()
    fake.seed(3, customers=200, bills=1000)
    return fake


def add_sources(app: App, box: SecretBox, odoo: FakeOdoo, k3: FakeK3Cloud) -> None:
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        settings = {"url": odoo.url, "database": "prod", "protocol": "jsonrpc", "rate_limit": 0}
        login = {"login": "dunlin", "password": "secret"}
        add_source(session, box, org_id, "odoo", "odoo", "odoo", settings, login)
        add_source(
            session,
            box,
            org_id,
            "k3",
            "kingdee",
            "kingdee-k3cloud",
            {"url": k3.url, "acct_id": k3.acct_id, "auth": "signature", "rate_limit": 0},
            {"username": k3.username, "app_id": k3.app_id, "app_secret": k3.app_secret},
        )


def history(app: App, source: str, notes: int, tasks: int) -> None:
    """`notes` sent reminders and `tasks` open tasks on the source's invoices, round robin."""
    with app.factory() as session:
        rows = session.execute(
            select(Receivable.id, Receivable.customer_id, Receivable.org_id)
            .join(Source, Source.id == Receivable.source_id)
            .where(Source.name == source)
            .order_by(Receivable.id)
        ).all()
    reminders = [
        {
            "org_id": rows[n % len(rows)].org_id,
            "customer_id": rows[n % len(rows)].customer_id,
            "target_receivable_id": rows[n % len(rows)].id,
            "receivable_ids": [rows[n % len(rows)].id],
            "idempotency_key": f"{source}-bench-{n}",
            "policy": "default",
            "track": "standard",
            "step": f"overdue-{n // len(rows)}",
            "channel": "sms",
            "template": "reminder",
            "recipient": f"+86139{n:08d}",
            "currency": "CNY",
            "amount_open": Decimal("1234.50"),
            "status": "sent",
            "scheduled_at": NOW,
            "sent_at": NOW,
        }
        for n in range(notes)
    ]
    todo = [
        {
            "org_id": rows[n % len(rows)].org_id,
            "customer_id": rows[n % len(rows)].customer_id,
            "receivable_id": rows[n % len(rows)].id,
            "idempotency_key": f"{source}-bench-task-{n}",
            "summary": f"Call the customer about invoice {n} / 联系客户",
            "due_on": date(2026, 12, 3) + timedelta(days=n % 5),
            "status": "open",
        }
        for n in range(tasks)
    ]
    with transaction(app.factory) as session:
        session.execute(insert(Reminder), reminders)
        session.execute(insert(Task), todo)


class Recorder:
    """Wraps a client's `call` to keep (args, kwargs) of every call Dunlin makes."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.seconds = 0.0  # spent inside the calls
        inner = client.call

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((args, kwargs))
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        client.call = call


def dunlin_writeback(app: App, box: SecretBox, name: str) -> tuple[float, Recorder, Any]:
    with app.factory() as session:
        source = session.scalar(select(Source).where(Source.name == name))
        session.expunge_all()
    connector = open_connector(
        load_mapping(source.mapping), source.settings or {}, credentials_of(box, source)
    )
    recorder = Recorder(connector.client)
    try:
        start = time.perf_counter()
        if PROFILE:
            import cProfile

            profiler = cProfile.Profile()
            report = profiler.runcall(SourceWriteback(app.factory, source, connector).run)
            profiler.dump_stats(f"/tmp/wb_{name}.prof")
        else:
            report = SourceWriteback(app.factory, source, connector).run()
        seconds = time.perf_counter() - start
    finally:
        connector.close()
    if report.status != "ok" or report.failed:
        raise SystemExit(f"write-back of {name} failed: {report}")
    return seconds, recorder, report


def bare_odoo(url: str, calls: list) -> float:
    client = OdooClient(url, "prod", "dunlin", "secret", protocol="jsonrpc", rate_limit=0)
    client.login()
    start = time.perf_counter()
    for args, kwargs in calls:
        client.call(*args, **kwargs)
    seconds = time.perf_counter() - start
    client.close()
    return seconds


def bare_k3(fake: FakeK3Cloud, calls: list) -> float:
    client = K3CloudClient(
        fake.url,
        acct_id=fake.acct_id,
        username=fake.username,
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        auth="signature",
        rate_limit=0,
    )
    start = time.perf_counter()
    for args, kwargs in calls:
        client.call(*args, **kwargs)
    seconds = time.perf_counter() - start
    client.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added to each Odoo model call, to play a real server (docs/reference/odoo.md §5.1: 0.3-2 s a page)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile Dunlin's side")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    logging.getLogger("sync").setLevel(logging.ERROR)  # the fake K3Cloud's odd bills
    records = args.notes + args.tasks
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        fakes = {"odoo": (fake_odoo(), fake_odoo()), "k3": (fake_k3(), fake_k3())}
        for odoo_or_k3, (first, second) in fakes.items():
            serve = served_odoo if odoo_or_k3 == "odoo" else served_k3
            for fake in (first, second):
                server = stack.enter_context(serve(fake))
                fake.url = server.url + ("/k3cloud/" if odoo_or_k3 == "k3" else "")
        url = f"sqlite:///{Path(tmp) / 'dunlin.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        settings = Settings(
            database_url=url, data_dir=Path(tmp) / "data", secret_key=generate_key(), _env_file=None
        )
        app = App(settings)
        box = SecretBox(settings.require_secret_key())
        with transaction(app.factory) as session:
            ensure_org(session, "acme", settings, name="Acme")
        add_sources(app, box, fakes["odoo"][0], fakes["k3"][0])
        sync_sources(app.factory, box, "acme", sleep=lambda _s: None)
        for odoo in fakes["odoo"]:
            odoo.latency = args.latency_ms / 1000
        print(
            f"write-back of {args.notes} notes + {args.tasks} tasks per source, rate limit off, "
            f"Odoo latency {args.latency_ms:.0f} ms a call"
        )
        for name, (fake, twin) in fakes.items():
            history(app, name, args.notes, args.tasks)
            fake.calls.clear()
            seconds, recorder, report = dunlin_writeback(app, box, name)
            at_fake = len(fake.calls)
            calls = recorder.calls
            bare = bare_odoo(twin.url, calls) if name == "odoo" else bare_k3(twin, calls)
            print(
                f"  {name:5s} dunlin {seconds:6.2f} s ({records / seconds:7.0f} records/s, "
                f"{recorder.seconds:5.2f} s of it in calls), "
                f"bare loop of the same calls {bare:6.2f} s, ratio {seconds / bare:4.2f}; "
                f"{at_fake} calls = {at_fake / records * 1000:.1f} per 1,000 records "
                f"(notes {report.notes}, tasks {report.tasks_created})"
            )
        app.engine.dispose()


if __name__ == "__main__":
    main()
