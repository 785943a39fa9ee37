"""The RQ worker classes `dunlin worker` runs, and what lets its process exit promptly when the
worker stops (a burst worker with nothing left, or a deploy's SIGTERM).

1. The pubsub poll.
rq (2.12 and later) hears its commands (stop a job, shut down) on a pubsub thread started with
`run_in_thread(sleep_time=60)`. At shutdown `unsubscribe()` sends UNSUBSCRIBE, then stops and joins
the thread. If the thread reads the UNSUBSCRIBE reply before `stop()` has cleared its running flag
(likelier on a busy CPU), it goes round once more, finds no subscription and waits `sleep_time` for
one (`get_message` → `subscribed_event.wait(60)`). Up to redis-py 7 `stop()` only cleared the flag
and rq's `join(timeout=1)` capped the wait at a second; redis-py 8's `stop()` joins the thread with
no timeout, so the process sat out the whole 60 s. A short poll bounds that wait with any version;
commands are still handled the moment they arrive (the poll is a socket wait, not a Redis command).

2. The interpreter's own exit. With ~1,300 modules loaded (SQLAlchemy, babel, holidays, ...) the
full garbage collections Python runs while finalizing walk 150,000+ objects several times: 0.3 s
on an idle machine, over 5 s on a loaded one. `freeze_heap_for_exit()` moves them out of the
collector's sight; they are still freed by reference counting, and the OS takes the rest.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from rq import SimpleWorker, Worker

# The mixin is only ever combined with an rq Worker: type checkers see that base.
if TYPE_CHECKING:
    _WorkerBase = Worker
else:
    _WorkerBase = object

# Seconds the pubsub thread waits per poll, hence the most a shutdown can wait for it.
PUBSUB_POLL_SECONDS = 0.5


class PromptPubsub(_WorkerBase):
    """Mixin for an rq worker class: rq's `subscribe()` with a short poll (see the module doc)."""

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # rq types it None
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


def freeze_heap_for_exit() -> None:
    """Call once the worker has stopped and the process is about to exit (never in a process
    that goes on: nothing allocated so far would be collected again)."""
    gc.freeze()


class DunlinSimpleWorker(PromptPubsub, SimpleWorker):
    """Runs jobs in-process (the default: see reminders/sending/jobs.py)."""


class DunlinForkWorker(PromptPubsub, Worker):
    """Forks a child per job (`dunlin worker --fork`)."""
