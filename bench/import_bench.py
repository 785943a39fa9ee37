"""bench/import: import a generated 100,000-row CSV; print rows/s, peak RSS and ratios.

Each measurement runs in its own process so peak RSS is that run's alone. The baseline is a
bare csv.reader pass over the same file, measured in the same run: the ratio says how much of
the cost is Dunlin's (validation, mapping, upserts) rather than reading the file.

    make bench                      # SQLite, and PostgreSQL when it is reachable
    python bench/import_bench.py --rows 20000
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

BASELINE = """
import csv, json, sys, time

def vmhwm():
    # Peak RSS of this process image; ru_maxrss would include the parent's memory before exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
start = time.perf_counter()
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    rows = sum(1 for _ in csv.reader(f)) - 1
elapsed = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": elapsed,
                  "rss_mb": vmhwm()}))
"""

IMPORT = """
import json, sys, time

def vmhwm():
    # Peak RSS of this process image; ru_maxrss would include the parent's memory before exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from datetime import date
from pathlib import Path
from dunlin.db import make_engine, make_sessionmaker, transaction
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org
from dunlin.settings import Settings
from reminders.planner import plan
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


def child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pg_database() -> tuple[str, str] | None:
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"dunlin_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return name, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL not reachable, skipping it: {exc}")
        return None


def drop_pg(name: str) -> None:
    from sqlalchemy import create_engine, text

    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from dunlin.demo.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "ar.csv"
        customers = max(1, args.rows // 5)
        rows = generate(csv_path, customers=customers)
        print(
            f"generated {rows:,} rows for {customers:,} customers ({csv_path.stat().st_size / 1e6:.1f} MB)"
        )
        base = child(BASELINE, str(csv_path))
        base_rate = base["rows"] / base["seconds"]
        print(f"baseline csv.reader: {base_rate:,.0f} rows/s, peak RSS {base['rss_mb']:.0f} MB")
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", None)]
        pg = pg_database()
        if pg:
            targets.append(("postgresql", pg[1], pg[0]))
        print(
            f"{'backend':<11} {'rows/s':>9} {'× baseline':>11} {'re-import rows/s':>17} {'peak RSS':>9} "
            f"{'plan groups/s':>14} {'planned':>8} {'RSS after plan':>15}"
        )
        try:
            for label, url, _ in targets:
                r = child(IMPORT, url, str(csv_path))
                rate = r["rows"] / r["seconds"]
                print(
                    f"{label:<11} {rate:>9,.0f} {rate / base_rate:>11.3f} "
                    f"{r['rows'] / r['reimport_seconds']:>17,.0f} {r['import_rss_mb']:>7.0f}MB "
                    f"{r['groups'] / r['plan_seconds']:>14,.0f} {r['planned']:>8,} {r['rss_mb']:>13.0f}MB"
                )
        finally:
            if pg:
                drop_pg(pg[0])
    print("goal: ≥ 10,000 rows/s and peak RSS < 300 MB (issue 2)")


if __name__ == "__main__":
    main()
