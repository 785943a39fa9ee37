"""Servers a fault test may break at will: a private Redis and a private PostgreSQL (each its own
process on a free loopback port, restarted or flushed without touching the shared services
other tests use) and a counting provider fake that tells accepted messages apart.

Each `stop()` leaves nothing behind: the processes are killed and their folders removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from redis import Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class PrivateRedis:
    """redis-server without persistence: a restart loses everything, like the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dunlin-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(lambda: Redis.from_url(self.url).ping(), 10, "the private Redis")

    def restart(self) -> None:
        self._kill()
        self.start()

    def flush(self) -> None:
        Redis.from_url(self.url).flushdb()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """A throwaway cluster run by the `postgres` system user (the server refuses root), with
    durability off: it is restarted, not trusted with data."""

    def __init__(self) -> None:
        found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found or os.geteuid() != 0 or shutil.which("runuser") is None:
            raise RuntimeError("needs root, runuser and PostgreSQL's server binaries")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="dunlin-pg-"))
        self.data = self.base / "data"
        shutil.chown(self.base, "postgres", "postgres")
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale", "C",
        )  # fmt: skip
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.base,
        )

    def _ctl(self, *argv: str) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"),
            "-o", options, "-w", "-t", "60", *argv,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Immediate: connections are cut and the server recovers as after a crash."""
        self._ctl("-m", "immediate", "restart")

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


class CountingProvider:
    """A message provider over real HTTP that counts what it accepted, per recipient.

    Modes: `ok` accepts at once; `slow` accepts but answers after the sender's timeout (the
    message went out; the sender cannot know); `down` refuses with 503 (nothing went out).
    `/alerts` collects Apprise's json:// posts, so a test can read the operators' alerts."""

    def __init__(self, slow_seconds: float = 0.8) -> None:
        self.accepted: Counter[str] = Counter()
        self.alerts: list[str] = []
        self.mode = "ok"
        self.slow_seconds = slow_seconds
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/alerts"):
                    with provider.lock:
                        provider.alerts.append(json.loads(body or b"{}").get("message", ""))
                    return self._answer(200)
                mode = provider.mode
                if mode == "down":
                    return self._answer(503)
                with provider.lock:
                    provider.accepted[json.loads(body)["to"]] += 1
                if mode == "slow":
                    time.sleep(provider.slow_seconds)
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/messages"
        self.alert_url = f"json://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.accepted.values())

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
