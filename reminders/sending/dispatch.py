"""Send ledger rows: claim → guard → render → send → record, a small chunk at a time.

The same `Dispatcher` serves `dunlin send --now` (in this process) and the RQ jobs of the
workers (reminders/sending/jobs.py). Per chunk: one transaction claims the rows (planned|queued →
sending, with a lease) and re-checks that the money is still owed; the sends happen outside any
transaction; one more transaction records every outcome. A process killed in between leaves
`sending` rows whose lease expires: the sweeper turns them `uncertain`, never resends them.
Chunks stay small so a crash leaves few rows in doubt.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dunlin.alerts import alert
from dunlin.bulk import insert_ignoring_conflicts
from dunlin.db import utcnow
from dunlin.events import record_event
from dunlin.models import Org
from dunlin.orgs import get_org
from reminders import ledger
from reminders.core import statuses as s
from reminders.core.keys import sibling_key
from reminders.core.outcomes import BROKEN_PREFIX, Next, deferral, next_state
from reminders.models import ChannelConfig, Reminder
from reminders.sending.channels.base import Channel, Outcome, OutgoingMessage, SendResult
from reminders.sending.guard import Cancel, check_many
from reminders.sending.overrides import current_overrides
from reminders.sending.ratelimit import Limiter, MemoryLimiter
from reminders.sending.render import Overrides, Renderer

log = logging.getLogger(__name__)

# Rows claimed, sent and recorded together. A crash leaves at most this many sent but
# unrecorded rows `uncertain` (claimed rows not yet tried go back, vouched for by the attempt
# log), and a payment landing mid-chunk no longer stops the rows already claimed (~0.1 s of
# sends). 50 rather than 20: the chunk's ten or so round trips to the store are spread over
# more messages, +15% on PostgreSQL and +6% on SQLite in bench/dispatch (docs/performance.md).
CHUNK = 50
# Rows entered in the attempt log (`before_send`) per write, ahead of their sends: one Redis
# round trip per message was ~10% of a worker's time in bench/dispatch. A crash can leave up to
# this many rows minus one `uncertain` although their send never began (never a resend).
ATTEMPT_GROUP = 10
MAX_INLINE_WAIT = 2.0  # seconds a provider's token bucket may make us wait before deferring
# Seconds between tries to record a chunk's outcomes while the store is away (~30 s in all).
RECORD_RETRY = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass
class SendReport:
    counts: Counter[str] = field(default_factory=Counter)
    broken_channels: set[str] = field(default_factory=set)
    marked_uncertain: int = 0


@dataclass
class _Pending:
    row: Reminder  # as claimed; detached after the claiming transaction, read-only
    message: OutgoingMessage

    @property
    def row_id(self) -> int:
        return self.row.id

    @property
    def attempts(self) -> int:
        return self.row.attempts


class Dispatcher:
    """Sends rows of one org through channels resolved by name."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        org: Org,
        resolve: Callable[[str], Channel],
        renderer: Renderer | None = None,
        *,
        limiter: Limiter | None = None,
        clock: Callable[[], datetime] = utcnow,
        chunk: int = CHUNK,
        on_chunk: Callable[[], None] | None = None,
        before_send: Callable[[Sequence[int]], None] | None = None,
        job_id: str | None = None,
        links: Callable[[Reminder], dict[str, str | None]] | None = None,
        live: Callable[[Sequence[int], datetime], set[int]] | None = None,
    ) -> None:
        self.factory = factory
        self.live = live  # the policy's live balance check (reminders/sending/live.py): ids it held
        self.org = org
        self.resolve = resolve
        self.renderer = renderer or Renderer()
        self.limiter = limiter or MemoryLimiter()
        self.clock = clock
        self.chunk = chunk
        self.on_chunk = on_chunk
        self.before_send = before_send
        self.job_id = job_id
        self.links = links
        self.report = SendReport()
        self._overrides: Overrides | None = None  # the org's template texts, read once per run

    def deliver(
        self, ids: Sequence[int], on_progress: Callable[[int], None] | None = None
    ) -> SendReport:
        for start in range(0, len(ids), self.chunk):
            part = ids[start : start + self.chunk]
            self._chunk(part)
            if self.on_chunk:
                self.on_chunk()
            if on_progress:
                on_progress(len(part))
        return self.report

    def _chunk(self, ids: Sequence[int]) -> None:
        now = self.clock()
        if self.live is not None:
            held = self.live(ids, now)
            if held:
                self.report.counts["held"] += len(held)
                ids = [i for i in ids if i not in held]
        with self.factory() as session, session.begin():
            rows = ledger.claim(session, self.org.id, ids, now, self.job_id)
            if len(rows) < len(ids):
                self.report.counts["skipped"] += len(ids) - len(rows)
            pending, done = self._prepare(session, rows, now)
            ledger.record_transitions(session, self.org.id, ledger.claimed_transitions(rows))
            ledger.record_transitions(session, self.org.id, done)
        results: list[tuple[_Pending, Next]] = []
        unsent: list[_Pending] = []
        stop: Exception | None = None
        for index, item in enumerate(pending):
            if self.before_send and index % ATTEMPT_GROUP == 0:
                try:
                    # from here on, a crash leaves these rows `uncertain`, never resent
                    self.before_send([p.row_id for p in pending[index : index + ATTEMPT_GROUP]])
                except Exception as exc:  # the log cannot vouch for them: send none of them
                    log.warning(
                        "attempt log refused (%s): releasing %d row(s)", exc, len(pending) - index
                    )
                    stop, unsent = exc, pending[index:]
                    break
            results.append((item, self._send(item)))
        self._settle(results, unsent)
        if stop is not None:
            raise stop

    def _settle(self, results: list[tuple[_Pending, Next]], unsent: list[_Pending]) -> None:
        """Record the chunk's outcomes and release the rows whose send never began. The sends
        have happened, so a store that is briefly away (a restart) is waited for rather than
        leaving them to the sweeper as `uncertain`."""
        for pause in (*RECORD_RETRY, None):
            saved = Counter(self.report.counts), set(self.report.broken_channels)
            try:
                with self.factory() as session, session.begin():
                    self._record(session, results)
                    ledger.release(session, self.org.id, [p.row_id for p in unsent], self.job_id)
                return
            except OperationalError:
                self.report.counts, self.report.broken_channels = saved
                if pause is None:
                    raise
                log.warning("store unavailable while recording; retrying in %ss", pause)
                time.sleep(pause)

    def _prepare(
        self, session: Session, rows: list[Reminder], now: datetime
    ) -> tuple[list[_Pending], list[tuple[int, str, str]]]:
        verdicts = check_many(session, self.org, rows, now)
        if self._overrides is None:
            self._overrides = current_overrides(session, self.org.id)
        pending, done = [], []
        for row in rows:
            verdict = verdicts[row.id]
            if isinstance(verdict, Cancel):
                done.append(ledger.give_up_claimed(row, s.CANCELLED, verdict.reason))
                self.report.counts[s.CANCELLED] += 1
                continue
            try:
                locale = self.renderer.pick_locale(verdict.locale_wanted, self.org.language)
                context = verdict.context
                if self.links is not None:  # signed self-service / click / unsubscribe URLs
                    context = {**context, **self.links(row)}
                memo: dict[Any, str] = {}  # amounts formatted once per message
                rendered = self.renderer.render(
                    row.template,
                    locale,
                    context,
                    memo,
                    channel=row.channel,
                    overrides=self._overrides,
                )
                variables = self.renderer.variables(context, locale, memo)
            except Exception as exc:  # a broken template must not leave the row in flight
                done.append(ledger.give_up_claimed(row, s.FAILED, f"render: {exc}"))
                self.report.counts[s.FAILED] += 1
                continue
            message = OutgoingMessage(
                key=row.idempotency_key,
                channel=row.channel,
                recipient=row.recipient,
                locale=locale,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                short=rendered.short,
                created_at=row.scheduled_at,
                metadata={"reminder_id": row.id, "step": row.step, "track": row.track},
                template=row.template,
                variables=variables,
            )
            pending.append(_Pending(row, message))
        return pending, done

    def _send(self, pending: _Pending) -> Next:
        message = pending.message
        now = self.clock()
        if message.channel in self.report.broken_channels:
            return next_state(
                SendResult(
                    Outcome.CHANNEL_BROKEN, detail="held: channel broke earlier in this run"
                ),
                pending.attempts,
                now,
            )
        channel = self.resolve(message.channel)
        wait = self._gate(channel, message)
        if wait:
            return deferral(wait, pending.attempts, now, f"rate limit: retry in {wait:.0f}s")
        try:
            result = channel.send(message)
        except Exception as exc:  # unclassified: the provider may have accepted it
            log.exception("channel %s raised for reminder %s", message.channel, pending.row_id)
            return next_state(
                SendResult(Outcome.UNKNOWN, detail=f"unclassified error during send: {exc}"),
                pending.attempts,
                now,
            )
        return next_state(result, pending.attempts, self.clock())

    def _gate(self, channel: Channel, message: OutgoingMessage) -> float:
        """Seconds to wait before this send may happen; short provider waits are slept."""
        limits = getattr(channel, "recipient_limits", ())
        for per_template in (False, True):
            group = tuple(lim for lim in limits if lim.per_template == per_template)
            if group:
                scope = f"{message.template}:" if per_template else ""
                key = f"{self.org.id}:{message.channel}:{scope}{message.recipient}"
                wait = self.limiter.recipient_wait(key, group)
                if wait:
                    return wait
        rate = getattr(channel, "rate_per_second", None)
        if rate:
            key = f"{self.org.id}:{message.channel}"
            wait = self.limiter.provider_wait(key, rate, max(1.0, rate))
            while 0 < wait <= MAX_INLINE_WAIT:
                time.sleep(wait)
                wait = self.limiter.provider_wait(key, rate, max(1.0, rate))
            return wait
        return 0.0

    def _record(self, session: Session, results: list[tuple[_Pending, Next]]) -> None:
        if not results:
            return
        outcomes = [(pending.row_id, outcome.changes) for pending, outcome in results]
        transitions = ledger.record_outcomes(session, self.org.id, outcomes)
        for pending, outcome in results:
            self.report.counts[outcome.label] += 1
            if outcome.channel_broken:
                self._mark_broken(session, pending.message.channel, outcome)
            if outcome.fall_back and pending.row.fallbacks:
                self._fall_back(session, pending)
        ledger.record_transitions(session, self.org.id, transitions)

    def _mark_broken(self, session: Session, name: str, outcome: Next) -> None:
        if name in self.report.broken_channels:
            return
        self.report.broken_channels.add(name)
        reason = str(outcome.changes.get("error") or "").removeprefix(BROKEN_PREFIX)
        if reason.startswith("held:"):
            return  # already marked, or not configured well enough to be marked
        session.execute(
            update(ChannelConfig)
            .where(ChannelConfig.org_id == self.org.id, ChannelConfig.name == name)
            .values(broken_reason=reason[:1000], broken_at=self.clock())
        )
        record_event(
            session,
            self.org.id,
            "channel.broken",
            f"{name}: {reason[:300]}",
            data={"channel": name},
        )
        alert(
            f"channel {name} broken for org {self.org.slug}",
            f"组织 {self.org.slug} 的渠道 {name} 不可用",
            f"{reason[:500]} — its reminders are held until it is fixed and re-enabled "
            f"(dunlin channels enable {name}) / 修复后重新启用，被暂停的提醒将继续发送",
        )

    def _fall_back(self, session: Session, pending: _Pending) -> None:
        """The step's next channel group gets its own rows, keyed like planned ones."""
        group, rest = pending.row.fallbacks[0], pending.row.fallbacks[1:]
        now = self.clock()
        rows = [
            {
                **_copy(pending.row),
                "idempotency_key": sibling_key(pending.message.key, channel),
                "channel": channel,
                "recipient": address,
                "fallbacks": rest,
                "status": s.PLANNED,
                "scheduled_at": now,
                "attempts": 0,
                "reason": f"fallback after {pending.message.channel} was refused",
                "created_at": now,
                "updated_at": now,
            }
            for channel, address in group
        ]
        insert_ignoring_conflicts(session, Reminder.__table__, rows, ["org_id", "idempotency_key"])


def _copy(row: Reminder) -> dict[str, object]:
    return {
        "org_id": row.org_id,
        "customer_id": row.customer_id,
        "target_receivable_id": row.target_receivable_id,
        "receivable_ids": row.receivable_ids,
        "policy": row.policy,
        "track": row.track,
        "step": row.step,
        "template": row.template,
        "tone": row.tone,
        "currency": row.currency,
        "amount_open": row.amount_open,
        "planned_on": row.planned_on,
    }


def send_one(
    factory: sessionmaker[Session],
    org: Org,
    reminder_id: int,
    now: datetime,
    channel: Channel,
    renderer: Renderer,
) -> str:
    """Send one row; returns what happened (sent, cancelled, retry, failed, uncertain, held,
    skipped)."""
    dispatcher = Dispatcher(factory, org, lambda _n: channel, renderer, clock=lambda: now)
    counts = dispatcher.deliver([reminder_id]).counts
    return next((label for label, n in counts.items() if n), "skipped")


def send_due(
    factory: sessionmaker[Session],
    org_slug: str,
    now: datetime,
    channel_for: Callable[[str], Channel],
    *,
    links: Callable[[Reminder], dict[str, str | None]] | None = None,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    live: Callable[[Org], Any] | None = None,
) -> SendReport:
    """Everything due for one org, in this process (no queue). `live` builds the policy's
    live balance check for the org (reminders/sending/live.py), if it has one."""
    with factory() as session, session.begin():
        org = get_org(session, org_slug)
        marked = ledger.sweep_expired_leases(session, org.id, now)
        due = ledger.due_rows(session, org.id, now, limit)
    checker = live(org) if live is not None else None
    dispatcher = Dispatcher(
        factory,
        org,
        channel_for,
        clock=lambda: now,
        links=links,
        live=checker.check if checker is not None else None,
    )
    done = 0

    def progressed(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, len(due))

    try:
        report = dispatcher.deliver([i for i, _ in due], progressed)
    finally:
        if checker is not None:
            checker.close()
    report.marked_uncertain = marked
    with factory() as session, session.begin():
        record_event(
            session,
            org.id,
            "send.completed",
            ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "nothing due",
            data={
                "counts": dict(report.counts),
                "broken": sorted(report.broken_channels),
                "uncertain": report.marked_uncertain,
            },
        )
    return report
