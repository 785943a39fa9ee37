"""bench/plan: plan reminders for 1,000,000 open receivables across 200,000 customers.

For each backend (SQLite, and PostgreSQL when reachable), in a fresh process: bulk-load the
data, time a plain SELECT of the rows the planner reads (the baseline), then time `plan` for the
anchor day (first run: every customer's catch-up step) and for the next day (steady state:
only what newly came due). Prints wall time, ratio to the baseline and peak RSS (VmHWM).

    make bench
    python bench/plan_bench.py --receivables 200000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

CHILD = """
import json, random, sys, time
from datetime import date, timedelta
from decimal import Decimal
from sqlalchemy import select
from dunlin.bulk import upsert_rows
from dunlin.db import make_engine, make_sessionmaker, transaction, utcnow
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org
from dunlin.settings import Settings
from reminders.facts import INVOICE_COLUMNS
from reminders.planner import plan
from sync.models import Customer, Receivable
from sync.sources import ensure_source

def vmhwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

url, receivables, customers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
anchor = date(2026, 12, 1)
engine = make_engine(url); upgrade(engine); factory = make_sessionmaker(engine)
with transaction(factory) as s:
    org = ensure_org(s, "bench", Settings(_env_file=None)); org_id = org.id
    source_id = ensure_source(s, org_id, "bench", "spreadsheet", "spreadsheet").id
rng = random.Random(7)
start = time.perf_counter()
now = utcnow()
with transaction(factory) as s:
    for first in range(0, customers, 20000):
        upsert_rows(s, Customer.__table__, [
            {"org_id": org_id, "source_id": source_id, "external_id": f"C{i}", "name": f"Customer {i}",
             "email": f"c{i}@example.com", "mobile": "+8613800000000" if i % 3 else None,
             "tier": "ABC"[i % 3], "tags": ["vip"] if i % 10 == 0 else [], "channel_preferences": [],
             "opted_out_channels": [], "do_not_remind": False, "created_at": now, "updated_at": now}
            for i in range(first, min(first + 20000, customers))],
            key=("org_id", "source_id", "external_id"), update=["name"])
    ids = dict(s.execute(select(Customer.external_id, Customer.id).where(Customer.org_id == org_id)).tuples().all())
    per = receivables // customers
    batch = []
    for n in range(receivables):
        c = n // per if n // per < customers else rng.randrange(customers)
        amount = Decimal(rng.randrange(1000, 10_000_000)) / 100
        batch.append({"org_id": org_id, "source_id": source_id, "customer_id": ids[f"C{c}"],
                      "external_id": f"R{n}", "number": f"R{n}", "currency": "USD" if c % 7 == 0 else "CNY",
                      "amount_total": amount, "amount_open": amount, "issued_on": None,
                      "due_on": anchor + timedelta(days=rng.randint(-120, 40)), "status": "open",
                      "do_not_remind": False, "source_updated_at": None, "payment_url": None,
                      "created_at": now, "updated_at": now})
        if len(batch) == 20000:
            upsert_rows(s, Receivable.__table__, batch, key=("org_id", "source_id", "external_id"), update=["status"])
            batch = []
    upsert_rows(s, Receivable.__table__, batch, key=("org_id", "source_id", "external_id"), update=["status"])
if engine.dialect.name == "postgresql":
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE customers, receivables")
load_seconds = time.perf_counter() - start

start = time.perf_counter()
with engine.connect() as conn:  # Core, the path the planner reads through
    rows = 0
    for _ in conn.execute(select(*INVOICE_COLUMNS).where(Receivable.org_id == org_id, Receivable.status == "open")
                       .order_by(Receivable.customer_id, Receivable.currency, Receivable.due_on, Receivable.id)
                       .execution_options(yield_per=5000)):
        rows += 1
baseline = time.perf_counter() - start

start = time.perf_counter()
first = plan(factory, "bench", anchor, keep=0)
first_seconds = time.perf_counter() - start
start = time.perf_counter()
second = plan(factory, "bench", anchor + timedelta(days=1), keep=0)
second_seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "load": load_seconds, "baseline": baseline,
                  "first": first_seconds, "first_planned": first.reminders_inserted, "first_tasks": first.tasks_inserted,
                  "second": second_seconds, "second_planned": second.reminders_inserted, "rss_mb": vmhwm()}))
"""


def run_child(url: str, receivables: int, customers: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, str(receivables), str(customers)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivables", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: receivables / 5")
    args = parser.parse_args()
    customers = args.customers or args.receivables // 5
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import create_engine, text

    targets: list[tuple[str, str, str | None]] = []
    tmp = tempfile.TemporaryDirectory()
    targets.append(("sqlite", f"sqlite:///{Path(tmp.name) / 'plan.db'}", None))
    admin = None
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"dunlin_plan_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        targets.append(("postgresql", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name))
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL not reachable, skipping it: {exc}")
    print(f"{args.receivables:,} open receivables, {customers:,} customers")
    print(
        f"{'backend':<11} {'load s':>7} {'SELECT s':>9} {'plan s':>7} {'× SELECT':>9} {'planned':>8} "
        f"{'next day s':>11} {'× SELECT':>9} {'planned':>8} {'peak RSS':>9}"
    )
    try:
        for label, url, _ in targets:
            r = run_child(url, args.receivables, customers)
            print(
                f"{label:<11} {r['load']:>7.1f} {r['baseline']:>9.2f} {r['first']:>7.2f} "
                f"{r['first'] / r['baseline']:>9.2f} {r['first_planned']:>8,} {r['second']:>11.2f} "
                f"{r['second'] / r['baseline']:>9.2f} {r['second_planned']:>8,} {r['rss_mb']:>7.0f}MB"
            )
    finally:
        for _label, _url, name in targets:
            if name and admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        tmp.cleanup()
    print("goal: planning ≤ 3× the plain SELECT; peak RSS < 1 GB (issue 4)")


if __name__ == "__main__":
    main()
