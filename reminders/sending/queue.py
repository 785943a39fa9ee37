"""Due ledger rows → RQ jobs on per-channel queues, and the sweeper that repairs lost work.

Redis only carries work (ARCHITECTURE invariant 1). Rows are marked `queued` with their job id
in the database first, then the jobs are pushed with one `enqueue_many` pipeline per channel.
If Redis loses a job (flush, restart, failover) or a worker dies holding one, the sweeper finds
`queued` rows whose job is gone, failed, or no longer beating and puts them back to `planned`;
the next enqueue sends them. A second copy of a job is harmless: claiming is atomic in SQL.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy.orm import Session, sessionmaker

from dunlin.alerts import alert
from dunlin.models import Org
from dunlin.orgs import get_org
from reminders import ledger

QUEUE_PREFIX = "dunlin"
BATCH = 200  # rows per job: big enough to amortise RQ's ~60 Redis commands per job
JOB_TIMEOUT = 3600
ALIVE_PREFIX = "dunlin:alive:"
ATTEMPTS_PREFIX = "dunlin:attempted:"
ATTEMPTS_TTL = 7 * 86400
UNCERTAIN_TOLD_PREFIX = "dunlin:uncertain-told:"
LIVE_STATES = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def queue_name(channel: str) -> str:
    return f"{QUEUE_PREFIX}-{channel}"


def alive_key(job_id: str) -> str:
    return ALIVE_PREFIX + job_id


def attempts_key(job_id: str) -> str:
    return ATTEMPTS_PREFIX + job_id


class AttemptLogLost(RuntimeError):
    """The job's attempt log is gone or sealed: no send may start that it cannot vouch for."""


# The worker's write: enter ids in the log only while it still holds this run's start marker
# and no sweeper has sealed it. A flushed or restarted Redis has no marker, so a bare SADD can
# never recreate a log that would later "prove" earlier sends never happened.
_LOG_ATTEMPTS = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
if redis.call('SISMEMBER', KEYS[1], 'sealed') == 1 then return -2 end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
return 1
"""

# The sweeper's read: seal each log (no attempt may be added after this) and return what it
# held at that instant, so a row absent from it provably never began its send.
_SEAL_LOGS = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('SADD', key, 'sealed')
    out[i] = redis.call('SMEMBERS', key)
  else
    out[i] = {}
  end
end
return out
"""


def server_run_id(redis: Redis) -> str:
    """The Redis process's run id: it changes on every restart and differs on a promoted
    replica, so a log written on another server instance (which may lack its last writes)
    is never trusted."""
    return str(redis.info("server")["run_id"])


def start_marker(run_id: str) -> str:
    return f"start:{run_id}"


def start_attempt_log(redis: Redis, job_id: str) -> str:
    """Create the log with this server's start marker before any send; returns the marker
    that every later write must find (its absence means the log was lost)."""
    marker = start_marker(server_run_id(redis))
    pipe = redis.pipeline()
    pipe.sadd(attempts_key(job_id), marker)
    pipe.expire(attempts_key(job_id), ATTEMPTS_TTL)
    pipe.execute()
    return marker


def log_attempts(redis: Redis, job_id: str, marker: str, reminder_ids: Sequence[int]) -> None:
    """Enter rows in the log ahead of their sends; raises AttemptLogLost when the log no
    longer holds `marker` (Redis flushed or restarted) or a sweeper sealed it."""
    if not reminder_ids:
        return
    answer = redis.eval(_LOG_ATTEMPTS, 1, attempts_key(job_id), marker, *map(str, reminder_ids))
    if answer != 1:
        why = "sealed by the sweeper" if answer == -2 else "lost (Redis flushed or restarted)"
        raise AttemptLogLost(f"attempt log of {job_id} {why}")


def never_attempted(redis: Redis, rows: Sequence[tuple[int, str | None]]) -> set[int]:
    """Rows whose send provably never began: their claiming run's log is intact (its start
    marker names the Redis server answering now) and, sealed at this instant, does not list
    them. A row without a run, or whose log is gone or from another server, stays in doubt."""
    jobs = sorted({job for _, job in rows if job})
    if not jobs:
        return set()
    marker = start_marker(server_run_id(redis)).encode()
    logs = dict(zip(jobs, redis.eval(_SEAL_LOGS, len(jobs), *map(attempts_key, jobs)), strict=True))
    out = set()
    for reminder_id, job in rows:
        log = set(logs.get(job) or ()) if job else set()
        if marker in log and str(reminder_id).encode() not in log:
            out.add(reminder_id)
    return out


@dataclass
class SweepReport:
    uncertain: int = 0
    requeued: int = 0


def enqueue_due(
    factory: sessionmaker[Session],
    redis: Redis,
    org_slug: str,
    now: datetime,
    *,
    batch: int = BATCH,
    limit: int | None = None,
) -> int:
    """Queue every due `planned` row of the org; returns how many rows were queued."""
    from reminders.sending.jobs import deliver_job

    with factory() as session:
        org = get_org(session, org_slug)
        due = ledger.due_rows(session, org.id, now, limit)
    by_channel: dict[str, list[int]] = defaultdict(list)
    for reminder_id, channel in due:
        by_channel[channel].append(reminder_id)
    queued = 0
    for channel, ids in by_channel.items():
        jobs: list[tuple[str, list[int]]] = []
        with factory() as session, session.begin():
            for start in range(0, len(ids), batch):
                job_id = f"dunlin-{org.id}-{uuid.uuid4().hex}"
                taken = ledger.mark_queued(session, org.id, ids[start : start + batch], job_id, now)
                if taken:
                    jobs.append((job_id, taken))
        queue = Queue(queue_name(channel), connection=redis)
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    deliver_job,
                    args=(org.id, taken),
                    job_id=job_id,
                    timeout=JOB_TIMEOUT,
                    result_ttl=3600,
                    failure_ttl=7 * 86400,
                    description=f"{org.slug}: {len(taken)} {channel} reminder(s)",
                )
                for job_id, taken in jobs
            ]
        )
        queued += sum(len(taken) for _, taken in jobs)
    return queued


def lost_jobs(redis: Redis, job_ids: Sequence[str]) -> set[str]:
    """Jobs that will never deliver their rows: gone from Redis, finished or failed with rows
    still queued, started by a worker that stopped beating (killed), or taken off their queue
    by a worker that died before the job began (still "queued" in its hash, in no queue: RQ
    would only notice at its next maintenance, minutes later). Requeuing a job that was about
    to start is harmless: claiming is atomic in SQL."""
    lost = set()
    jobs = Job.fetch_many(list(job_ids), connection=redis)
    pipe = redis.pipeline()
    for job_id in job_ids:
        pipe.exists(alive_key(job_id))
    beating = pipe.execute()
    waiting: list[tuple[str, Job]] = []
    for job_id, job, alive in zip(job_ids, jobs, beating, strict=True):
        if job is None:
            lost.add(job_id)
            continue
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED and not alive:
            waiting.append((job_id, job))
            continue
        if status in LIVE_STATES:
            continue
        if status == JobStatus.STARTED and alive:
            continue
        lost.add(job_id)
    if waiting:
        pipe = redis.pipeline()
        for job_id, job in waiting:
            pipe.lpos(Queue(job.origin, connection=redis).key, job_id)
        for (job_id, _), position in zip(waiting, pipe.execute(), strict=True):
            if position is None:
                lost.add(job_id)
    return lost


def sweep(
    factory: sessionmaker[Session], redis: Redis, org_slug: str, now: datetime
) -> SweepReport:
    report = SweepReport()
    with factory() as session, session.begin():
        org = get_org(session, org_slug)
        report.uncertain = ledger.sweep_expired_leases(
            session, org.id, now, lambda rows: never_attempted(redis, rows)
        )
        job_ids = ledger.queued_job_ids(session, org.id)
        tell_uncertain(session, redis, org)
    if not job_ids:
        return report
    lost = sorted(lost_jobs(redis, [j for j in job_ids if j]))
    if not lost:
        return report
    with factory() as session, session.begin():
        report.requeued = ledger.requeue_lost(session, org.id, lost, now)
    return report


def tell_uncertain(session: Session, redis: Redis, org: Org) -> None:
    """Alert whenever the org's set of unresolved `uncertain` rows changes, however they got
    there (a lease expired, a provider's answer was lost): every such row is named in an alert
    as long as a sweeper runs. Redis only remembers what was told; losing it re-alerts."""
    count, newest = ledger.uncertain_summary(session, org.id)
    told = redis.getset(UNCERTAIN_TOLD_PREFIX + str(org.id), f"{count}:{newest}")
    if not count or told == f"{count}:{newest}".encode():
        return
    alert(
        f"{count} reminder(s) uncertain in org {org.slug}",
        f"组织 {org.slug} 有 {count} 条提醒发送结果不确定",
        "each may or may not have reached the customer: check with the provider, then resolve "
        "it (dunlin status) / 请向服务商核实后处理（dunlin status）",
    )


def queue_depths(redis: Redis, channels: Sequence[str]) -> dict[str, int]:
    pipe = redis.pipeline()
    for channel in channels:
        pipe.llen(f"rq:queue:{queue_name(channel)}")
    return dict(zip(channels, pipe.execute(), strict=True))
