"""The dispatch issue's reliability tests: real Redis, real RQ workers, a real SMTP sink.

Each checks the ledger's promise: every due reminder is sent exactly once or is `uncertain`
(surfaced, never resent), whatever happens to the worker or to Redis.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import responses
from rq import Queue
from sqlalchemy import update

from dunlin.crypto import SecretBox
from dunlin.db import transaction
from dunlin.orgs import get_org
from reminders.ledger import LEASE
from reminders.models import Reminder
from reminders.sending.channel_store import save_channel
from reminders.sending.dispatch import ATTEMPT_GROUP, CHUNK
from reminders.sending.queue import enqueue_due, queue_name, sweep
from reminders.sending.workers import DunlinSimpleWorker
from sync.models import Receivable
from tests.fakes.smtp import RecordingHandler, SmtpSink
from tests.integration.reminders.conftest import (
    due_reminders,
    statuses,
    use_smtp,
    wait_for,
)

EXIT_WITHIN = 5  # seconds from a burst worker's "done, quitting" to its exit


def now() -> datetime:
    return datetime.now(UTC)


def drain(app, redis, worker, rounds: int = 5) -> None:
    """Sweep, enqueue and run a burst worker until nothing is left queued."""
    for _ in range(rounds):
        sweep(app.factory, redis, "acme", now())
        enqueue_due(app.factory, redis, "acme", now(), batch=25)
        proc = worker("--burst")
        assert proc.wait(timeout=120) == 0, proc.stdout.read().decode()[-2000:]
        if not {"planned", "queued", "sending"} & set(statuses(app).values()):
            return
    raise AssertionError(f"work left after {rounds} rounds: {Counter(statuses(app).values())}")


class Watched:
    """A worker process whose output is read as it comes: when it logs "done, quitting" and when
    its output closes (it exited)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[bytes] = []
        self.quitting, self.exited = threading.Event(), threading.Event()
        self.quit_at = self.exit_at = 0.0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if b"done, quitting" in line and not self.quitting.is_set():
                self.quit_at = time.monotonic()
                self.quitting.set()
        self.exit_at = time.monotonic()
        self.exited.set()

    def output(self) -> str:
        return b"".join(self.lines).decode(errors="replace")[-2000:]

    def seconds_to_exit(self) -> float:
        """From "done, quitting" to the process's exit; killed (and inf) past EXIT_WITHIN."""
        assert self.quitting.wait(timeout=120), self.output()
        if not self.exited.wait(timeout=max(0.0, self.quit_at + EXIT_WITHIN - time.monotonic())):
            self.proc.kill()
            self.proc.wait(timeout=10)
            return float("inf")
        assert self.proc.wait(timeout=10) == 0, self.output()
        return self.exit_at - self.quit_at


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store plays no part here
def test_burst_workers_exit_within_seconds_of_their_last_job(app, tmp_path, redis, worker):
    """Every `dunlin worker --burst` process is gone a few seconds after "done, quitting".

    With rq >= 2.12 on redis-py 8 a worker lingered ~60 s when its pubsub thread won a race at
    shutdown (reminders/sending/workers.py), which is likelier when the CPU is busy: so several workers
    (one of them forking) quit at once, in several rounds."""
    rounds, per_round, jobs = 5, 4, 8
    due_reminders(app, tmp_path, rounds * jobs)  # no channel configured: the outbox sends
    delays: list[float] = []
    for _ in range(rounds):
        assert enqueue_due(app.factory, redis, "acme", now(), batch=1, limit=jobs) == jobs
        kinds = [("--burst",)] * (per_round - 1) + [("--burst", "--fork")]
        watched = [Watched(worker(*args)) for args in kinds]
        delays += [w.seconds_to_exit() for w in watched]
    slow = [d for d in delays if d >= EXIT_WITHIN]
    fast = max((d for d in delays if d < EXIT_WITHIN), default=0)
    assert not slow, (
        f"{len(slow)} of {len(delays)} burst workers were still running {EXIT_WITHIN} s after "
        f'"done, quitting" (the others took {fast:.2f} s at most)'
    )
    print(f"burst workers exited {min(delays):.2f}-{max(delays):.2f} s after their last job")
    assert set(statuses(app).values()) == {"sent"}


def test_worker_stops_promptly_when_its_pubsub_thread_already_read_the_unsubscribe(redis):
    """The interleaving that lingered, forced: rq's pubsub thread has handled the UNSUBSCRIBE reply
    (so it waits for a new subscription) by the time the worker's shutdown stops and joins it."""
    worker = DunlinSimpleWorker([Queue(queue_name("email"), connection=redis)], connection=redis)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    wait_for(lambda: not worker.pubsub.subscribed, timeout=10, what="the thread to read the reply")
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    started = time.monotonic()
    stopping.start()
    stopping.join(timeout=EXIT_WITHIN)
    took = time.monotonic() - started
    assert not stopping.is_alive(), f"the worker's unsubscribe() still waiting after {took:.1f} s"
    assert not worker.pubsub_thread.is_alive()
    assert took < 2


def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(app, tmp_path, redis, worker):
    ids = due_reminders(app, tmp_path, 60)
    handler = RecordingHandler(delay=0.03)
    with SmtpSink(handler) as sink:
        use_smtp(app, sink.port)
        assert enqueue_due(app.factory, redis, "acme", now(), batch=60) == 60
        proc = worker()
        wait_for(lambda: handler.count >= 8, what="the worker to start sending")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = handler.count
        assert 0 < killed_at < 60
        wait_for(
            lambda: not redis.keys("dunlin:alive:*"), timeout=10, what="the heartbeat to lapse"
        )
        # Later than any lease: rows claimed by the dead worker are settled now.
        report = sweep(app.factory, redis, "acme", now() + LEASE + timedelta(minutes=1))
        assert report.requeued > 0
        drain(app, redis, worker)
        sink_count = Counter(handler.recipients())
    final = statuses(app)
    assert set(final) == set(ids)
    assert set(final.values()) <= {"sent", "uncertain"}
    assert max(sink_count.values()) == 1, "a recipient got the same reminder twice"
    sent = sum(1 for s in final.values() if s == "sent")
    uncertain = sum(1 for s in final.values() if s == "uncertain")
    # In doubt are only the rows whose send had begun in the chunk the worker died in (sent
    # but not yet recorded, or on the wire) and the rest of their attempt-log group; rows it
    # had claimed beyond that went back.
    assert 0 < uncertain <= min(killed_at + ATTEMPT_GROUP, CHUNK)
    assert sent + uncertain == 60 and sent <= len(sink_count) <= sent + uncertain


def test_flush_mid_run_then_sweeper_sends_every_reminder_exactly_once(app, tmp_path, redis, worker):
    due_reminders(app, tmp_path, 80)
    handler = RecordingHandler(delay=0.01)
    with SmtpSink(handler) as sink:
        use_smtp(app, sink.port)
        assert enqueue_due(app.factory, redis, "acme", now(), batch=20) == 80
        proc = worker("--burst")
        wait_for(lambda: handler.count >= 5, what="the first sends")
        redis.flushdb()  # this test's own database only, never every db of the server
        proc.wait(timeout=120)
        drain(app, redis, worker)
        sink_count = Counter(handler.recipients())
    final = statuses(app)
    assert set(final.values()) == {"sent"}, Counter(final.values())
    assert len(sink_count) == 80 and max(sink_count.values()) == 1


def test_flush_then_kill_9_mid_job_resends_nothing(app, tmp_path, redis, worker):
    """Redis loses the attempt log mid-job, then the worker dies before recording: the sends
    made before the flush must end `sent` or `uncertain`, never go out a second time. (Before
    the fix, the next attempt write recreated the log without its start marker and the
    sweeper trusted it: rows sent earlier in the chunk were requeued and sent twice.)"""
    ids = due_reminders(app, tmp_path, 60)
    handler = RecordingHandler(delay=0.03)
    with SmtpSink(handler) as sink:
        use_smtp(app, sink.port)
        assert enqueue_due(app.factory, redis, "acme", now(), batch=60) == 60
        proc = worker()
        wait_for(lambda: handler.count >= 4, what="the worker to start sending")
        redis.flushdb()
        deadline = time.monotonic() + 2
        while handler.count < ATTEMPT_GROUP + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        report = sweep(app.factory, redis, "acme", now() + LEASE + timedelta(minutes=1))
        assert report.uncertain <= ATTEMPT_GROUP
        drain(app, redis, worker)
        sink_count = Counter(handler.recipients())
    final = statuses(app)
    assert set(final) == set(ids)
    assert set(final.values()) <= {"sent", "uncertain"}, Counter(final.values())
    assert max(sink_count.values()) == 1, "a recipient got the same reminder twice"
    assert len(sink_count) >= sum(1 for s in final.values() if s == "sent")


def test_payment_while_queued_is_not_sent_and_the_row_is_cancelled(app, tmp_path, redis, worker):
    ids = due_reminders(app, tmp_path, 6)
    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        use_smtp(app, sink.port)
        enqueue_due(app.factory, redis, "acme", now())
        assert set(statuses(app).values()) == {"queued"}
        with transaction(app.factory) as session:  # two payments land while the job waits
            session.execute(
                update(Receivable)
                .where(Receivable.external_id.in_(["INV-0000", "INV-0001"]))
                .values(status="paid", amount_open=0)
            )
        proc = worker("--burst")
        assert proc.wait(timeout=60) == 0
        received = set(handler.recipients())
    final = statuses(app)
    assert sorted(final.values()) == ["cancelled"] * 2 + ["sent"] * 4
    assert {"k0000@x.cn", "k0001@x.cn"}.isdisjoint(received) and len(received) == 4
    assert len(ids) == 6


@responses.activate
def test_provider_429_then_503_then_ok_is_delivered_once_after_backoff(
    app, tmp_path, redis, monkeypatch
):
    """An in-process DunlinSimpleWorker (real RQ on real Redis) so `responses` answers the provider."""
    from reminders.sending import jobs

    monkeypatch.setattr(jobs, "worker_app", lambda: app)
    due_reminders(app, tmp_path, 1)
    url = "https://hooks.acme.example/reminders"
    responses.post(url, status=429, headers={"Retry-After": "120"})
    responses.post(url, status=503)
    responses.post(url, status=200, headers={"X-Message-Id": "hook-1"})
    box = SecretBox(app.settings.require_secret_key())
    with transaction(app.factory) as session:
        org_id = get_org(session, "acme").id
        session.execute(update(Reminder).values(channel="webhook"))
        save_channel(
            session,
            box,
            org_id,
            "webhook",
            "webhook",
            {"url": url},
            {"signing_secret": "webhook-test-secret"},
        )

    def run_once() -> None:
        enqueue_due(app.factory, redis, "acme", now())
        DunlinSimpleWorker([Queue(queue_name("webhook"), connection=redis)], connection=redis).work(
            burst=True
        )

    def row() -> Reminder:
        with app.factory() as session:
            return session.query(Reminder).one()

    for expected_wait in (timedelta(seconds=120), timedelta(minutes=5)):
        before = now()
        run_once()
        waiting = row()
        assert waiting.status == "planned" and waiting.scheduled_at >= before + expected_wait
        with transaction(app.factory) as session:  # the backoff elapses
            session.execute(update(Reminder).values(scheduled_at=now() - timedelta(seconds=1)))
    run_once()
    done = row()
    assert done.status == "sent" and done.provider_message_id == "hook-1" and done.attempts == 3
    assert len(responses.calls) == 3
    run_once()  # nothing due: no fourth call
    assert len(responses.calls) == 3
