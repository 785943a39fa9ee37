"""Syncs a push asks for: run soon, once per burst, without holding up the push's answer.

A source's pushes come in bursts (an import edits hundreds of records) and each names one
record, while an incremental sync reads every change since the cursor. So requests for a
source are coalesced: while a sync of it is waiting or running, further requests only add
their entities to what the next run covers, and a request that arrives mid-run causes exactly
one more run (the change may have landed after that run read its page).

- queue mode (DUNLIN_DISPATCH=queue): an RQ job on `dunlin-sync`, so the web process only
  writes two Redis keys. If Redis is unreachable the sync runs here instead: a push is news
  we would otherwise drop until the next scheduled sync.
- inline mode (the embedded default, no worker running): a background thread of this process.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from connectors.base import ConnectorFactory
from connectors.registry import open_connector
from dunlin.app import App, worker_app
from dunlin.crypto import SecretBox
from dunlin.models import Org
from sync.engine import SyncReport
from sync.models import Source
from sync.run import sync_one

log = logging.getLogger(__name__)
SYNC_QUEUE = "dunlin-sync"
PENDING_PREFIX = "dunlin:sync-pending:"  # set of entities the next run of a source covers
QUEUED_PREFIX = "dunlin:sync-queued:"  # present while a job for the source waits
KEY_TTL = 3600  # a lost job frees its source after an hour; scheduled syncs cover the gap
JOB_TIMEOUT = 3600


def sync_pushed(
    app: App,
    source_id: int,
    entities: frozenset[str],
    open_connector: ConnectorFactory = open_connector,
) -> SyncReport | None:
    """Incremental sync of the named entities of one source (None: the source is gone)."""
    with app.factory() as session:
        source = session.get(Source, source_id)
        if source is None:
            return None
        org = session.get(Org, source.org_id)
        currency = org.currency if org else app.settings.default_currency
        session.expunge(source)
    box = SecretBox(app.settings.require_secret_key())
    return sync_one(
        app.factory, box, source, currency, entities=entities, open_connector=open_connector
    )


class InlineSyncs:
    """Background syncs in this process, coalesced per source."""

    def __init__(self, run: Callable[[int, frozenset[str]], object]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._pending: dict[int, set[str]] = {}
        self._running: set[int] = set()
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dunlin-push-sync")

    def request(self, source_id: int, entities: Iterable[str]) -> str:
        with self._lock:
            self._pending.setdefault(source_id, set()).update(entities)
            if source_id in self._running:
                return "coalesced"
            self._running.add(source_id)
        self._threads.submit(self._drain, source_id)
        return "started"

    def _drain(self, source_id: int) -> None:
        while True:
            with self._lock:
                entities = self._pending.pop(source_id, None)
                if not entities:
                    self._running.discard(source_id)
                    return
            try:
                self._run(source_id, frozenset(entities))
            except Exception:  # a thread has no caller to tell; the source's status shows it
                log.exception("pushed sync of source %s failed", source_id)

    def wait(self) -> None:
        """Until no sync is waiting or running (tests, and a clean shutdown)."""
        self._threads.shutdown(wait=True)
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dunlin-push-sync")


def enqueue_sync(redis: Redis, source_id: int, entities: Iterable[str]) -> str:
    """Add the entities to the source's next run; queue a job only if none is waiting."""
    pipe = redis.pipeline()
    pipe.sadd(PENDING_PREFIX + str(source_id), *sorted(set(entities)))
    pipe.expire(PENDING_PREFIX + str(source_id), KEY_TTL)
    pipe.set(QUEUED_PREFIX + str(source_id), "1", nx=True, ex=KEY_TTL)
    first = pipe.execute()[2]
    if not first:
        return "coalesced"
    Queue(SYNC_QUEUE, connection=redis).enqueue(
        sync_job,
        source_id,
        job_id=f"dunlin-sync-{source_id}-{uuid.uuid4().hex}",
        job_timeout=JOB_TIMEOUT,
        result_ttl=3600,
        failure_ttl=7 * 86400,
        description=f"sync source {source_id} (pushed)",
    )
    return "queued"


def take_pending(redis: Redis, source_id: int) -> frozenset[str]:
    """Free the source for the next request first, then take what this run covers: a push
    landing in between either joins this run or queues the next one, never neither."""
    redis.delete(QUEUED_PREFIX + str(source_id))
    pipe = redis.pipeline()  # MULTI: read and clear as one step
    pipe.smembers(PENDING_PREFIX + str(source_id))
    pipe.delete(PENDING_PREFIX + str(source_id))
    members = pipe.execute()[0]
    return frozenset(m.decode() for m in members)


def sync_job(source_id: int) -> dict[str, object]:
    """The RQ job: sync what the pushes since the last run named."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    entities = take_pending(job.connection, source_id)
    if not entities:
        return {"source": source_id, "skipped": "nothing pending"}
    report = sync_pushed(worker_app(), source_id, entities)
    if report is None:
        return {"source": source_id, "skipped": "source removed"}
    return {"source": source_id, "status": report.status, "records": report.records}


class PushSyncs:
    """What a push endpoint calls: the queue when configured and reachable, else a thread."""

    def __init__(self, app: App, open_connector: ConnectorFactory = open_connector) -> None:
        self.app = app
        self.inline = InlineSyncs(
            lambda sid, entities: sync_pushed(app, sid, entities, open_connector)
        )
        self._redis: Redis | None = None

    def request(self, source_id: int, entities: Iterable[str]) -> str:
        if self.app.settings.dispatch == "queue":
            try:
                if self._redis is None:
                    self._redis = Redis.from_url(self.app.settings.redis_url)
                return enqueue_sync(self._redis, source_id, entities)
            except RedisError as exc:
                log.warning("queue unreachable (%s): syncing source %s here", exc, source_id)
        return self.inline.request(source_id, entities)
