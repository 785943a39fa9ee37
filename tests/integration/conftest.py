"""Fixtures shared by integration tests: the real Redis and real RQ worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from redis import Redis

from tests.conftest import service_missing

REDIS_URL = os.environ.get("DUNLIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """An in-process RQ worker installs SIGINT/SIGTERM handlers that raise StopRequested and
    never puts the old ones back; a later interrupt would then land in an unrelated test."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def redis() -> Iterator[Redis]:
    conn = Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is unusable
        service_missing("Redis", exc)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def worker(app, redis) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `dunlin worker` processes against this test's database and Redis."""
    started: list[subprocess.Popen] = []
    settings = app.settings

    def start(*args: str, heartbeat: int = 2) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
        env.update(
            DUNLIN_DATABASE_URL=settings.resolved_database_url,
            DUNLIN_SECRET_KEY=settings.require_secret_key(),
            DUNLIN_REDIS_URL=REDIS_URL,
            DUNLIN_DATA_DIR=str(settings.data_dir),
            DUNLIN_JOB_HEARTBEAT_SECONDS=str(heartbeat),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "dunlin", "worker", "--queues", "email", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
