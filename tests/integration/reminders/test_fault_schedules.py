"""Dispatch under random fault schedules, on real Redis, PostgreSQL, RQ workers and HTTP.

Each schedule, drawn from a seed, breaks a run of messages at points chosen by progress: a
worker killed with SIGKILL, Redis flushed or restarted (losing everything), PostgreSQL
restarted as after a crash, the provider slow past the sender's timeout or refusing with 503.
Workers and the dispatcher (`dunlin send --queue --every 1`) are restarted when they die, as a
process supervisor would. Afterwards time is moved past every lease and backoff and the queue
drained; then, for every schedule:

- no recipient was accepted twice by the provider (invariant 3);
- every row ends `sent`, `failed`, `cancelled` or `uncertain` (invariant 5), and a `sent` row's
  message was accepted exactly once;
- the `uncertain` rows are counted by `dunlin status` and named in an operators' alert.

A few seeds run in `make test`; `make soak` runs hundreds (DUNLIN_FAULT_SEEDS, _MESSAGES).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from sqlalchemy import select, update

from dunlin.alerts import install_alerts, stop_alerts
from dunlin.app import App
from dunlin.crypto import SecretBox, generate_key
from dunlin.db import make_engine, transaction
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org, get_org
from dunlin.settings import Settings
from reminders.ledger import LEASE
from reminders.models import Reminder
from reminders.sending.channel_store import save_channel
from reminders.sending.queue import enqueue_due, sweep
from tests.conftest import service_missing
from tests.integration.faults import CountingProvider, PrivatePostgres, PrivateRedis
from tests.integration.reminders.conftest import due_reminders

SEEDS = [int(s) for s in os.environ.get("DUNLIN_FAULT_SEEDS", "11,23,37").split(",")]
MESSAGES = int(os.environ.get("DUNLIN_FAULT_MESSAGES", "1200"))
FAULTS = ("kill_worker", "flush_redis", "restart_redis", "restart_pg", "slow", "down")
FINAL = {"sent", "failed", "cancelled", "uncertain"}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    try:
        pg = PrivatePostgres()
        pg.start()
    except Exception as exc:  # noqa: BLE001 - no private server means the test cannot run
        service_missing("a private PostgreSQL server", exc)
    redis_server = PrivateRedis()
    try:
        redis_server.start()
        yield pg, redis_server
    finally:
        redis_server.stop()
        pg.stop()


@dataclass
class Run:
    """One schedule's processes: two workers and the dispatcher, restarted when they die."""

    env: dict[str, str]
    log_dir: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        out = open(os.path.join(self.log_dir, f"{name}.log"), "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "dunlin", *argv], env=self.env, stdout=out, stderr=out
        )
        out.close()
        self.procs[name] = proc
        return proc

    def supervise(self) -> None:
        for name, argv in self.services().items():
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                self.spawn(name, *argv)

    @staticmethod
    def services() -> dict[str, tuple[str, ...]]:
        worker = ("worker", "--queues", "webhook")
        return {
            "worker-1": worker,
            "worker-2": worker,
            "dispatcher": ("--org", "acme", "send", "--queue", "--every", "1"),
        }

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        self.procs.clear()


def schedule_for(seed: int) -> list[tuple[float, str]]:
    """Three to five faults, each at a share of the messages accepted so far."""
    rng = random.Random(seed)
    faults = [rng.choice(FAULTS) for _ in range(rng.randint(3, 5))]
    return sorted((round(rng.uniform(0.03, 0.7), 2), fault) for fault in faults)


def inflict(fault: str, run: Run, pg: PrivatePostgres, redis_server: PrivateRedis,
            provider: CountingProvider, rng: random.Random) -> None:  # fmt: skip
    if fault == "kill_worker":
        name = rng.choice(["worker-1", "worker-2"])
        proc = run.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    elif fault == "flush_redis":
        redis_server.flush()
    elif fault == "restart_redis":
        redis_server.restart()
    elif fault == "restart_pg":
        pg.restart()
    elif fault in ("slow", "down"):
        provider.mode = fault
        time.sleep(0.6)
        provider.mode = "ok"


def settle(app: App, redis: Redis, run: Run, rounds: int = 8) -> None:
    """Every process stopped; time moves past leases and backoffs; burst workers drain."""
    for _ in range(rounds):
        run.kill_all()
        later = datetime.now(UTC) + LEASE + timedelta(minutes=1)
        sweep(app.factory, redis, "acme", later)
        with transaction(app.factory) as session:  # every backoff elapses
            session.execute(
                update(Reminder)
                .where(Reminder.status == "planned")
                .values(scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        enqueue_due(app.factory, redis, "acme", datetime.now(UTC))
        workers = [run.spawn(f"drain-{i}", "worker", "--queues", "webhook", "--burst")
                   for i in range(2)]  # fmt: skip
        for proc in workers:
            proc.wait(timeout=300)
        print(Counter(statuses(app).values()), flush=True)
        if not {"planned", "queued", "sending"} & set(statuses(app).values()):
            run.kill_all()
            return
    raise AssertionError(f"work left after settling: {Counter(statuses(app).values())}")


def statuses(app: App) -> dict[int, tuple[str, str]]:
    with app.factory() as session:
        rows = session.execute(select(Reminder.id, Reminder.status, Reminder.recipient))
        return {i: status for i, status, _ in rows}


def recipients(app: App) -> dict[int, tuple[str, str]]:
    with app.factory() as session:
        rows = session.execute(select(Reminder.id, Reminder.status, Reminder.recipient))
        return {i: (status, recipient) for i, status, recipient in rows}


@pytest.mark.parametrize("seed", SEEDS)
def test_no_fault_schedule_duplicates_or_strands_a_message(servers, tmp_path, seed):
    pg, redis_server = servers
    url = pg.create_database(f"faults_{seed}_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(
        database_url=url, data_dir=tmp_path / "data", secret_key=generate_key(), _env_file=None
    )
    app = App(settings)
    provider = CountingProvider()
    redis_server.flush()
    redis = Redis.from_url(redis_server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
    env.update(
        DUNLIN_DATABASE_URL=url,
        DUNLIN_SECRET_KEY=settings.require_secret_key(),
        DUNLIN_REDIS_URL=redis_server.url,
        DUNLIN_DATA_DIR=str(settings.data_dir),
        DUNLIN_JOB_HEARTBEAT_SECONDS="2",
        DUNLIN_DISPATCH="queue",
        DUNLIN_ALERT_URLS=provider.alert_url,
    )
    run = Run(env, str(tmp_path))
    install_alerts(provider.alert_url)  # this process's sweeps alert like a dispatcher's
    try:
        with transaction(app.factory) as session:
            ensure_org(session, "acme", settings, name="Acme")
        due_reminders(app, tmp_path, MESSAGES)
        with transaction(app.factory) as session:
            org_id = get_org(session, "acme").id
            session.execute(update(Reminder).values(channel="webhook"))
            save_channel(
                session,
                SecretBox(settings.require_secret_key()),
                org_id,
                "webhook",
                "webhook",
                {"url": provider.url, "timeout": 0.3},
                {"signing_secret": "fault-test-secret"},
            )
        rng = random.Random(seed)
        pending = schedule_for(seed)
        t0 = time.monotonic()
        run.supervise()
        last_total, last_change = 0, time.monotonic()
        while pending:
            total = provider.total
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            stalled = time.monotonic() - last_change > 5
            if total >= pending[0][0] * MESSAGES or stalled:
                _, fault = pending.pop(0)
                print(f"{time.monotonic() - t0:6.1f}s {total} accepted: {fault}", flush=True)
                inflict(fault, run, pg, redis_server, provider, rng)
                last_change = time.monotonic()
            run.supervise()
            time.sleep(0.02)
        print(f"{time.monotonic() - t0:6.1f}s {provider.total} accepted: settling", flush=True)
        settle(app, redis, run)
        print(f"{time.monotonic() - t0:6.1f}s {provider.total} accepted: settled", flush=True)

        final = recipients(app)
        assert set(s for s, _ in final.values()) <= FINAL, Counter(s for s, _ in final.values())
        accepted = Counter(provider.accepted)
        twice = {r: n for r, n in accepted.items() if n > 1}
        assert not twice, f"seed {seed}: recipients accepted more than once: {twice}"
        for status, recipient in final.values():
            if status == "sent":
                assert accepted[recipient] == 1, f"sent but never accepted: {recipient}"
        uncertain = sum(1 for s, _ in final.values() if s == "uncertain")
        status_out = subprocess.run(
            [sys.executable, "-m", "dunlin", "--org", "acme", "status"],
            env={**env, "DUNLIN_UI_LANGUAGE": "en", "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        if uncertain:
            assert f"{uncertain} message(s) are uncertain" in status_out, status_out
            subprocess.run(  # a dispatcher's sweep: the alert names today's total
                [sys.executable, "-m", "dunlin", "--org", "acme", "send", "--queue"],
                env=env, capture_output=True, timeout=120,
            )  # fmt: skip
            told = f"{uncertain} reminder(s) uncertain in org acme"
            deadline = time.monotonic() + 20
            while not any(told in a for a in provider.alerts) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert any(told in a for a in provider.alerts), provider.alerts
        else:
            assert "uncertain" not in status_out
    finally:
        stop_alerts()
        run.kill_all()
        provider.stop()
        app.engine.dispose()
