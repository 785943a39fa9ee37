"""bench/import: import a generated 100,000-row CSV; print rows/s, peak RSS and ratios.

Each measurement runs in its own process so peak RSS is that run's alone. The baseline is a
bare csv.reader pass over the same file, measured in the same run: the ratio says how much of
the cost is Dunlin's (validation, mapping, upserts) rather than reading the file.

    make bench                      # SQLite, and PostgreSQL when it is reachable
    python bench/import_bench.py --rows 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from support import ROOT, VMHWM, postgres_database, run_child

BASELINE = (
    VMHWM
    + """
import csv, json, sys, time

start = time.perf_counter()
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    rows = sum(1 for _ in csv.reader(f)) - 1
elapsed = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": elapsed,
                  "rss_mb": vmhwm()}))
"""
)

IMPORT = (
    VMHWM
    + """
import json, sys, time

from datetime import date
from pathlib import Path
from dunlin.db import make_engine, make_sessionmaker, transaction
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org
from dunlin.settings import Settings
from reminders.planning.planner import plan
from sync.importer import import_file
from rich.progress import Progress
url, path = sys.argv[1], Path(sys.argv[2])
engine = make_engine(url); upgrade(engine); factory = make_sessionmaker(engine)
with transaction(factory) as s:
    ensure_org(s, "bench", Settings(_env_file=None))
start = time.perf_counter()
with Progress(transient=True) as bar:
    task = bar.add_task("importing", total=None)
    report = import_file(factory, "bench", path, "spreadsheet-zh",
                         on_progress=lambda n: bar.update(task, completed=n))
elapsed = time.perf_counter() - start
import_rss = vmhwm()
start = time.perf_counter()
planned = plan(factory, "bench", date(2026, 12, 1))
plan_seconds = time.perf_counter() - start
again = time.perf_counter()
import_file(factory, "bench", path, "spreadsheet-zh")
reimport_seconds = time.perf_counter() - again
print(json.dumps({"rows": report.rows_read, "seconds": elapsed, "reimport_seconds": reimport_seconds,
                  "groups": len(planned.planned) + sum(planned.skipped.values()),
                  "planned": planned.reminders_inserted, "plan_seconds": plan_seconds,
                  "import_rss_mb": import_rss, "rss_mb": vmhwm()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from cli.sample.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "ar.csv"
        customers = max(1, args.rows // 5)
        rows = generate(csv_path, customers=customers)
        print(
            f"generated {rows:,} rows for {customers:,} customers ({csv_path.stat().st_size / 1e6:.1f} MB)"
        )
        base = run_child(BASELINE, str(csv_path))
        base_rate = base["rows"] / base["seconds"]
        print(f"baseline csv.reader: {base_rate:,.0f} rows/s, peak RSS {base['rss_mb']:.0f} MB")
        header = (
            f"{'backend':<11} {'rows/s':>9} {'× baseline':>11} {'re-import rows/s':>17} "
            f"{'peak RSS':>9} {'plan groups/s':>14} {'planned':>8} {'RSS after plan':>15}"
        )
        print(header)
        with postgres_database("dunlin_bench") as pg_url:
            targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
            targets += [("postgresql", pg_url)] if pg_url else []
            for label, url in targets:
                r = run_child(IMPORT, url, str(csv_path))
                rate = r["rows"] / r["seconds"]
                print(
                    f"{label:<11} {rate:>9,.0f} {rate / base_rate:>11.3f} "
                    f"{r['rows'] / r['reimport_seconds']:>17,.0f} {r['import_rss_mb']:>7.0f}MB "
                    f"{r['groups'] / r['plan_seconds']:>14,.0f} {r['planned']:>8,} {r['rss_mb']:>13.0f}MB"
                )
    print("goal: ≥ 10,000 rows/s and peak RSS < 300 MB (issue 2)")


if __name__ == "__main__":
    main()
