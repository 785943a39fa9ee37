"""The live balance check: ask the source about an invoice right before its reminder is sent.

A policy with a `live_check` section asks for it (ARCHITECTURE invariant 2: "where the source
can be asked cheaply"). Before a chunk of rows is claimed, their invoices are re-read from
their source and written exactly as a sync writes them, so a payment made since the last sync
cancels the reminder and a partial one shows in the message; the claim's guard then decides on
fresh rows. A source that cannot be reached holds the rows for a while (or, if the policy says
`send`, trusts the last sync). Sources that cannot be asked for single records (spreadsheets,
REST systems) are left to their last sync.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import ConnectorFactory, NotSupported, SourceError
from connectors.registry import open_connector
from dunlin.crypto import SecretBox
from dunlin.db import same_org
from dunlin.models import Org
from mappings import load_mapping
from reminders import ledger
from reminders.core.policy import THANK_YOU_STEP, LiveCheck
from reminders.models import Reminder
from reminders.planning.policy_store import active_policy
from sync.engine import SourceSync
from sync.models import Receivable, Source
from sync.sources import credentials_of

log = logging.getLogger(__name__)


class LiveBalances:
    """One per dispatcher run: keeps a connector per source open across chunks."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        box: SecretBox | None,
        org: Org,
        spec: LiveCheck,
        open_connector: ConnectorFactory = open_connector,
    ) -> None:
        self.factory = factory
        self.open_connector = open_connector
        self.box = box
        self.org = org
        self.spec = spec
        self._syncs: dict[int, SourceSync | str | None] = {}  # see _sync_for

    def check(self, reminder_ids: Sequence[int], now: datetime) -> set[int]:
        """Refresh the invoices of the rows about to be claimed; returns the ids held back."""
        with self.factory() as session:
            rows = session.execute(
                select(Reminder.id, Reminder.receivable_ids).where(
                    *ledger.claimable_conditions(self.org.id, reminder_ids, now),
                    Reminder.step != THANK_YOU_STEP,  # thanks are for paid invoices
                )
            ).all()
            wanted = {i for row in rows for i in row.receivable_ids}
            invoices = session.execute(
                select(Receivable.id, Receivable.source_id, Receivable.external_id).where(
                    same_org(Receivable.org_id, self.org.id), Receivable.id.in_(wanted)
                )
            ).all()
            by_source: dict[int, list[str]] = defaultdict(list)
            for invoice in invoices:
                by_source[invoice.source_id].append(invoice.external_id)
            self._open_syncs(session, set(by_source))
        failed: dict[int, str] = {}
        for source_id, external_ids in by_source.items():
            runner = self._syncs.get(source_id)
            if runner is None:
                continue  # cannot be asked: its last sync stands
            try:
                if isinstance(runner, str):
                    raise SourceError(runner)
                runner.refresh("receivables", sorted(external_ids))
            except NotSupported:
                self._syncs[source_id] = None
            except SourceError as exc:
                failed[source_id] = str(exc)
                log.warning("live balance check: source %s unreachable: %s", source_id, exc)
        if not failed or self.spec.when_unreachable == "send":
            return set()
        source_of = {invoice.id: invoice.source_id for invoice in invoices}
        held = {
            row.id for row in rows if any(source_of.get(i) in failed for i in row.receivable_ids)
        }
        self._hold(held, now, failed)
        return held

    def _open_syncs(self, session: Session, source_ids: set[int]) -> None:
        for source in session.scalars(
            select(Source).where(
                Source.org_id == self.org.id, Source.id.in_(source_ids - set(self._syncs))
            )
        ):
            self._syncs[source.id] = self._sync_for(source)

    def _sync_for(self, source: Source) -> SourceSync | str | None:
        """A sync runner for the source; None if it cannot be asked, the reason if it cannot
        be opened (its rows then wait as in an outage)."""
        try:
            mapping = load_mapping(source.mapping)
            credentials = credentials_of(self.box, source) if self.box else {}
            connector = self.open_connector(mapping, source.settings or {}, credentials)
        except NotSupported:
            log.info("live balance check: source %s cannot be asked; last sync used", source.name)
            return None
        except SourceError as exc:
            return str(exc)
        currency = self.org.currency
        return SourceSync(self.factory, source, mapping, connector, default_currency=currency)

    def _hold(self, held: set[int], now: datetime, failed: dict[int, str]) -> None:
        if not held:
            return
        why = (
            f"live balance check: source unreachable ({next(iter(failed.values()))[:200]}); "
            f"held {self.spec.hold_minutes} min"
        )
        with self.factory.begin() as session:
            until = now + timedelta(minutes=self.spec.hold_minutes)
            ledger.hold(session, self.org.id, held, until, why, now)

    def close(self) -> None:
        for runner in self._syncs.values():
            if isinstance(runner, SourceSync):
                runner.connector.close()


def live_balances(
    factory: sessionmaker[Session],
    box: SecretBox | None,
    org: Org,
    open_connector: ConnectorFactory = open_connector,
) -> LiveBalances | None:
    """The check the org's active policy asks for, or None."""
    with factory() as session:
        spec = active_policy(session, org.id).policy.live_check
    if spec is None:
        return None
    return LiveBalances(factory, box, org, spec, open_connector)
