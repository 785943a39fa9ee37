"""The RQ job a worker runs: deliver one batch of ledger rows.

Workers are `rq.SimpleWorker`s (no fork per job): a job here is a batch that reuses one database
pool, one SMTP connection and one token per provider, which a fork per job would throw away
(docs/performance.md has the measurement). The job beats a Redis key after every chunk so the
sweeper can tell a live job from one whose worker was killed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache

from rq import get_current_job
from sqlalchemy.orm import Session, sessionmaker

from dunlin.app import worker_app
from dunlin.crypto import optional_box
from dunlin.models import Org
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.registry import ChannelSet
from reminders.sending.channels.tokens import RedisTokenCache
from reminders.sending.dispatch import Dispatcher
from reminders.sending.links import links_for
from reminders.sending.live import live_balances
from reminders.sending.queue import alive_key, log_attempts, start_attempt_log
from reminders.sending.ratelimit import RedisLimiter
from reminders.sending.render import Renderer


@cache
def _renderer() -> Renderer:
    return Renderer()


def deliver_job(org_id: int, reminder_ids: list[int]) -> dict[str, int]:
    app = worker_app()
    job = get_current_job()
    redis = job.connection if job else None
    ttl = app.settings.job_heartbeat_seconds

    def beat() -> None:
        if job is not None and redis is not None:
            redis.set(alive_key(job.id), "1", ex=ttl)

    beat()
    # Each run of the job has its own attempt log, named on the rows it claims: a second run
    # of the same job (an RQ retry) must not vouch for rows the first one may have sent.
    run = f"{job.id}#{uuid.uuid4().hex[:8]}" if job is not None else None
    marker = start_attempt_log(redis, run) if run is not None and redis is not None else ""

    def attempted(reminder_ids: Sequence[int]) -> None:
        if run is not None and redis is not None:
            log_attempts(redis, run, marker, reminder_ids)

    factory: sessionmaker[Session] = app.factory
    with factory() as session:
        org = session.get(Org, org_id)
        if org is None:
            return {"skipped": len(reminder_ids)}
        session.expunge(org)
        ctx = ChannelContext(outbox_dir=app.settings.resolved_outbox_dir / org.slug)
        if redis is not None:
            ctx.tokens = RedisTokenCache(redis)
        box = optional_box(app.settings.secret_key_material)
        channels = ChannelSet.load(session, org_id, box, ctx)
    checker = live_balances(factory, box, org)
    dispatcher = Dispatcher(
        factory,
        org,
        channels.get,
        _renderer(),
        limiter=RedisLimiter(redis) if redis is not None else None,
        on_chunk=beat,
        before_send=attempted,
        job_id=run,
        links=links_for(app.settings),
        live=checker.check if checker is not None else None,
    )
    try:
        report = dispatcher.deliver(reminder_ids)
    finally:
        channels.close()
        if checker is not None:
            checker.close()
        if job is not None and redis is not None:
            redis.delete(alive_key(job.id))
    return dict(report.counts)
