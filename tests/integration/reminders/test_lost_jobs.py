"""Which RQ jobs the sweeper gives up on, on real Redis: a job must never strand its rows in
`queued` (ARCHITECTURE invariant 5), nor be taken from a worker that is still sending."""

from __future__ import annotations

from rq import Queue

from reminders.sending.queue import alive_key, lost_jobs


def noop() -> None:
    return None


def test_a_job_waiting_in_its_queue_is_not_lost(redis):
    job = Queue("dunlin-test", connection=redis).enqueue(noop)
    assert lost_jobs(redis, [job.id]) == set()


def test_a_job_taken_off_its_queue_by_a_worker_that_died_is_lost(redis):
    """The worker dequeued it (the hash still says queued) and was killed before the job's
    first heartbeat: RQ itself would notice only at its next maintenance, minutes later."""
    queue = Queue("dunlin-test", connection=redis)
    job = queue.enqueue(noop)
    redis.lrem(queue.key, 0, job.id)
    assert lost_jobs(redis, [job.id]) == {job.id}


def test_a_dequeued_job_that_beats_is_not_lost(redis):
    queue = Queue("dunlin-test", connection=redis)
    job = queue.enqueue(noop)
    redis.lrem(queue.key, 0, job.id)
    redis.set(alive_key(job.id), "1", ex=30)
    assert lost_jobs(redis, [job.id]) == set()


def test_a_job_gone_from_redis_is_lost(redis):
    assert lost_jobs(redis, ["dunlin-1-gone"]) == {"dunlin-1-gone"}
