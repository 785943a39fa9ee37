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
import sys
import tempfile
from pathlib import Path

from support import ROOT, VMHWM, postgres_database, run_child

CHILD = (
    VMHWM
    + """
import json, random, sys, time
from datetime import date, timedelta
from decimal import Decimal
from sqlalchemy import select
from dunlin.bulk import upsert_rows
from dunlin.db import make_engine, make_sessionmaker, transaction, utcnow
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org
from dunlin.settings import Settings
from reminders.planning.facts import INVOICE_COLUMNS
from reminders.planning.planner import plan
from sync.models import Customer, Receivable
from sync.sources import ensure_source

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

import reminders.planning.planner as planner_module  # decide() timed on its own, for the floor below
decide_seconds = [0.0]
real_decide = planner_module.decide
def timed_decide(*args):
    started = time.perf_counter()
    try:
        return real_decide(*args)
    finally:
        decide_seconds[0] += time.perf_counter() - started
planner_module.decide = timed_decide
start = time.perf_counter()
first = plan(factory, "bench", anchor, keep=0)
first_seconds = time.perf_counter() - start
first_decide = decide_seconds[0]
planner_module.decide = real_decide
start = time.perf_counter()
second = plan(factory, "bench", anchor + timedelta(days=1), keep=0)
second_seconds = time.perf_counter() - start
# The first run's ledger rows and tasks written again by the driver alone (already in the
# store's own form; no conflict handling on PostgreSQL): a floor for the first run's writes.
def replay_writes():
    raw = engine.raw_connection()
    written, seconds = 0, 0.0
    try:
        cur = raw.cursor()
        for table in (Reminder.__table__, Task.__table__):
            names = [c.name for c in table.columns if c.name != "id"]
            listed = ", ".join(names)
            if engine.dialect.name == "postgresql":
                cur.execute(f"SELECT {', '.join(n + '::text' for n in names)} FROM {table.name}")
            else:
                cur.execute(f"SELECT {listed} FROM {table.name}")
            stored = cur.fetchall()
            cur.execute(f"DELETE FROM {table.name}")
            raw.commit()
            started = time.perf_counter()
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table.name} ({listed}) FROM STDIN") as copy:
                    for row in stored:
                        copy.write_row(row)
            else:
                sql = (f"INSERT INTO {table.name} ({listed}) VALUES ({', '.join('?' * len(names))}) "
                       "ON CONFLICT (org_id, idempotency_key) DO NOTHING")
                for at in range(0, len(stored), 2000):
                    cur.executemany(sql, stored[at:at + 2000])
            raw.commit()
            seconds += time.perf_counter() - started
            written += len(stored)
    finally:
        raw.close()
    return written, seconds
from reminders.models import Reminder, Task
planning_rss = vmhwm()  # before the replay, which holds every row it writes again
floor_rows, floor_write = replay_writes()
print(json.dumps({"floor_rows": floor_rows, "floor_write": floor_write, "first_decide": first_decide,
                  "rows": rows, "load": load_seconds, "baseline": baseline,
                  "first": first_seconds, "first_planned": first.reminders_inserted, "first_tasks": first.tasks_inserted,
                  "second": second_seconds, "second_planned": second.reminders_inserted, "rss_mb": planning_rss}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivables", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: receivables / 5")
    args = parser.parse_args()
    customers = args.customers or args.receivables // 5
    sys.path.insert(0, str(ROOT))
    print(f"{args.receivables:,} open receivables, {customers:,} customers")
    print(
        f"{'backend':<11} {'load s':>7} {'SELECT s':>9} {'plan s':>7} {'× SELECT':>9} {'planned':>8} "
        f"{'next day s':>11} {'× SELECT':>9} {'planned':>8} {'peak RSS':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp, postgres_database("dunlin_plan") as pg_url:
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'plan.db'}")]
        targets += [("postgresql", pg_url)] if pg_url else []
        for label, url in targets:
            r = run_child(CHILD, url, str(args.receivables), str(customers))
            print(
                f"{label:<11} {r['load']:>7.1f} {r['baseline']:>9.2f} {r['first']:>7.2f} "
                f"{r['first'] / r['baseline']:>9.2f} {r['first_planned']:>8,} {r['second']:>11.2f} "
                f"{r['second'] / r['baseline']:>9.2f} {r['second_planned']:>8,} {r['rss_mb']:>7.0f}MB"
            )
            read, write, decide = (
                r["baseline"] / r["baseline"],
                r["floor_write"] / r["baseline"],
                r["first_decide"] / r["baseline"],
            )
            print(
                f"{'':<11} first run's floor: the read {read:.2f}× + its {r['floor_rows']:,} rows "
                f"written by the driver alone {write:.2f}× + decide() {decide:.2f}× = "
                f"{read + write + decide:.2f}× SELECT"
            )
    print("goal: planning ≤ 3× the plain SELECT; peak RSS < 1 GB (issue 4)")


if __name__ == "__main__":
    main()
