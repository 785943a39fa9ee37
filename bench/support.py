"""What the benchmarks share: a throwaway PostgreSQL database, a child process per measurement,
and peak RSS read the right way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Pasted into each child: peak RSS of this process image. ru_maxrss would also count the
# parent's memory, which Linux carries across fork and exec.
VMHWM = """
def vmhwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


# Each child is an entry point like the CLI: it wires sync's settlements to the reminders
# ledger before it syncs or imports (usecases/wiring.py), or sync refuses to run.
WIRE = "from usecases.wiring import wire\nwire()\n"


def run_child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line of results last."""
    out = subprocess.run(
        [sys.executable, "-c", WIRE + textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def postgres_database(prefix: str) -> Iterator[str | None]:
    """A new database for the run (its URL), dropped afterwards; None if PostgreSQL is down."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: measure SQLite only
        print(f"PostgreSQL not reachable, skipping it: {exc}")
        yield None
        return
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
