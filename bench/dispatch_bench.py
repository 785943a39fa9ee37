"""bench/dispatch: N email reminders rendered and sent by 2 RQ workers to a local SMTP sink.

Baseline, in the same run: the same number of pre-rendered messages sent with a bare smtplib
loop over one connection to the same sink. The sink runs in its own process and counts
messages, distinct recipients and duplicates. Prints messages/s, the ratio to the baseline,
and the ledger's final state. `--fork` also times rq.Worker (fork per job) on a smaller set.

    make bench
    python bench/dispatch_bench.py --count 20000 [--no-pipelining] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from support import ROOT, postgres_database

sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from dunlin.bulk import analyze_after_bulk, upsert_rows  # noqa: E402
from dunlin.crypto import SecretBox, generate_key  # noqa: E402
from dunlin.db import make_engine, make_sessionmaker, transaction, utcnow  # noqa: E402
from dunlin.migrate import upgrade  # noqa: E402
from dunlin.orgs import ensure_org  # noqa: E402
from dunlin.settings import Settings  # noqa: E402
from reminders.models import Reminder  # noqa: E402
from reminders.sending.channel_store import save_channel  # noqa: E402
from reminders.sending.channels.base import OutgoingMessage  # noqa: E402
from reminders.sending.channels.smtp import build_message  # noqa: E402
from reminders.sending.guard import LINK_KEYS  # noqa: E402
from reminders.sending.queue import enqueue_due  # noqa: E402
from reminders.sending.render import Renderer  # noqa: E402
from sync.models import Customer, Receivable  # noqa: E402
from sync.sources import ensure_source  # noqa: E402
from tests.fakes.smtp import free_port  # noqa: E402

REDIS_URL = os.environ.get("DUNLIN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


class Sink:
    """The counting SMTP sink in its own process."""

    # Offers PIPELINING as Postfix and Exchange do; `--no-pipelining` leaves it out.
    pipelining = True

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.smtp", "--port", str(self.port)]
            + ([] if self.pipelining else ["--no-pipelining"]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "SMTP sink" in (self.proc.stdout.readline() if self.proc.stdout else "")

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def load(url: str, count: int, key: str, port: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    today = date.today()
    now = utcnow()
    with transaction(factory) as s:
        org = ensure_org(s, "bench", Settings(_env_file=None))
        org_id = org.id
        source_id = ensure_source(s, org_id, "bench", "spreadsheet", "spreadsheet").id
        save_channel(
            s,
            SecretBox(key),
            org_id,
            "email",
            "smtp",
            {"host": "127.0.0.1", "port": port, "security": "none", "from": "ar@bench.example"},
            {},
        )
    for first in range(0, count, 20000):
        ids = range(first, min(count, first + 20000))
        with transaction(factory) as s:
            upsert_rows(
                s,
                Customer.__table__,
                [
                    {
                        "org_id": org_id,
                        "source_id": source_id,
                        "external_id": f"C{i}",
                        "name": f"客户 {i}",
                        "email": f"c{i}@bench.example",
                        "language": "zh_CN" if i % 2 else "en_US",
                        "tier": "B",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
                key=("org_id", "source_id", "external_id"),
                update=["name"],
            )
            customer_ids = dict(
                s.execute(
                    select(Customer.external_id, Customer.id).where(Customer.org_id == org_id)
                ).all()
            )
            upsert_rows(
                s,
                Receivable.__table__,
                [
                    {
                        "org_id": org_id,
                        "source_id": source_id,
                        "customer_id": customer_ids[f"C{i}"],
                        "external_id": f"INV{i}",
                        "number": f"INV-{i:06d}",
                        "currency": "CNY",
                        "amount_total": Decimal("1234.50"),
                        "amount_open": Decimal("1234.50"),
                        "due_on": today - timedelta(days=10),
                        "status": "open",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
                key=("org_id", "source_id", "external_id"),
                update=["status"],
            )
            receivable_ids = dict(
                s.execute(
                    select(Receivable.external_id, Receivable.id).where(
                        Receivable.org_id == org_id,
                        Receivable.external_id.in_([f"INV{i}" for i in ids]),
                    )
                ).all()
            )
            s.execute(
                Reminder.__table__.insert(),
                [
                    {
                        "org_id": org_id,
                        "customer_id": customer_ids[f"C{i}"],
                        "target_receivable_id": receivable_ids[f"INV{i}"],
                        "receivable_ids": [receivable_ids[f"INV{i}"]],
                        "idempotency_key": f"r{receivable_ids[f'INV{i}']}:overdue-10:email",
                        "policy": "bench",
                        "track": "standard",
                        "step": "overdue-10",
                        "channel": "email",
                        "template": "reminder",
                        "tone": "friendly",
                        "recipient": f"c{i}@bench.example",
                        "currency": "CNY",
                        "amount_open": "1234.50"
                        if url.startswith("sqlite")
                        else Decimal("1234.50"),
                        "status": "planned",
                        "reason": "bench",
                        "scheduled_at": now - timedelta(minutes=1),
                        "attempts": 0,
                        "fallbacks": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    with factory() as session:  # as the import and the planner do after writing this many rows
        analyze_after_bulk(session, count, "customers", "receivables", "reminders")
    engine.dispose()


def baseline(count: int) -> dict:
    """Pre-rendered messages, one smtplib connection, send_message in a loop."""
    renderer = Renderer()
    context = {
        "org": {"name": "Bench"},
        "customer": {"name": "客户", "external_id": "C"},
        "salesperson_name": "张伟",
        "tone": "friendly",
        "currency": "CNY",
        "total": Decimal("1234.50"),
        "days_overdue": 10,
        "payment_url": None,
        "overdue_count": 1,
        "due_soon_count": 0,
        **dict.fromkeys(LINK_KEYS),
        "invoices": [
            {
                "number": "INV-000001",
                "amount_open": Decimal("1234.50"),
                "amount_total": Decimal("1234.50"),
                "due_on": date.today() - timedelta(days=10),
                "issued_on": None,
                "days_overdue": 10,
            }
        ],
    }
    messages = []
    for i in range(count):
        locale = "zh_CN" if i % 2 else "en_US"
        rendered = renderer.render("reminder", locale, context)
        out = OutgoingMessage(
            f"b{i}",
            "email",
            f"b{i}@bench.example",
            locale,
            rendered.subject,
            rendered.text,
            rendered.html,
            rendered.short,
            datetime.now(UTC),
        )
        messages.append(build_message(out, "ar@bench.example", "bench.example"))
    sink = Sink()
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for message in messages:
            smtp.send_message(message)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "rate": count / elapsed, **sink.stop()}


def dunlin(url: str, count: int, workers: int, fork: bool) -> dict:
    key = generate_key()
    sink = Sink()
    load(url, count, key, sink.port)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
    env.update(
        DUNLIN_DATABASE_URL=url,
        DUNLIN_SECRET_KEY=key,
        DUNLIN_REDIS_URL=REDIS_URL,
        DUNLIN_DATA_DIR=tempfile.mkdtemp(prefix="dunlin-bench-"),
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    start = time.perf_counter()
    queued = enqueue_due(factory, redis, "bench", utcnow())
    enqueued_at = time.perf_counter() - start
    # Worker logs go to files: a pipe nobody reads until the end fills up (64 KiB, about 400
    # jobs of RQ's log lines) and blocks the workers.
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(workers)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "dunlin", "worker", "--burst", "--queues", "email"]
                + (["--fork"] if fork else []),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for log in logs
        ]
        for proc, log in zip(procs, logs, strict=True):
            if proc.wait() != 0:
                log.seek(0)
                raise SystemExit(log.read().decode()[-3000:])
    elapsed = time.perf_counter() - start
    with factory() as s:
        states = dict(
            s.execute(select(Reminder.status, func.count()).group_by(Reminder.status)).all()
        )
    engine.dispose()
    return {
        "queued": queued,
        "enqueue_seconds": enqueued_at,
        "seconds": elapsed,
        "rate": count / elapsed,
        "ledger": states,
        **sink.stop(),
    }


def show(label: str, result: dict, base: dict) -> None:
    print(
        f"{label:<34} {result['rate']:8.0f} msg/s  {result['seconds']:7.1f} s  "
        f"ratio {result['rate'] / base['rate']:.2f}×  sink: {result['messages']} messages, "
        f"{result['distinct']} distinct, {result['duplicates']} duplicates; "
        f"ledger {result['ledger']}; enqueue {result['enqueue_seconds']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fork", action="store_true", help="also time rq.Worker on count/10")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--no-pipelining", action="store_true", help="the sink leaves PIPELINING out of EHLO"
    )
    args = parser.parse_args()
    Sink.pipelining = not args.no_pipelining
    base = baseline(args.count)
    print(
        f"baseline: bare smtplib, one connection   {base['rate']:8.0f} msg/s  "
        f"{base['seconds']:7.1f} s  ({base['messages']} at the sink)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        show(
            f"dunlin, SQLite, {args.workers} SimpleWorkers",
            dunlin(url, args.count, args.workers, False),
            base,
        )
    if not args.sqlite_only:
        with postgres_database("dunlin_dispatch") as pg:
            if pg:
                show(
                    f"dunlin, PostgreSQL, {args.workers} SimpleWorkers",
                    dunlin(pg, args.count, args.workers, False),
                    base,
                )
    if args.fork:
        small = max(1000, args.count // 10)
        for fork in (False, True):  # a fresh database each: the same rows are loaded twice
            with postgres_database("dunlin_dispatch_fork") as pg:
                if pg:
                    label = f"PostgreSQL, {small}, {'Worker (fork)' if fork else 'SimpleWorker'}"
                    show(label, dunlin(pg, small, args.workers, fork), base)


if __name__ == "__main__":
    main()
