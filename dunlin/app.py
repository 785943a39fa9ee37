"""Wiring shared by the CLI and the web app: settings → engine → session factory, schema check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache, cached_property
from zoneinfo import ZoneInfo

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dunlin.db import make_engine, make_sessionmaker
from dunlin.errors import ConfigError
from dunlin.migrate import alembic_config
from dunlin.settings import Settings, get_settings


@dataclass
class App:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        url = self.settings.resolved_database_url
        if url.startswith("sqlite"):
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(url)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    def require_current_schema(self) -> None:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            raise ConfigError(
                f"the database schema is at {current or 'nothing'}, not {head}: run `dunlin init` / "
                "数据库结构不是最新，请先运行 dunlin init"
            )


@cache
def worker_app() -> App:
    """The app of an RQ worker process: one engine and pool for every job it runs."""
    return App(get_settings())


@dataclass(frozen=True)
class RunClock:
    """When a run happens: the plan day, the earliest send time, and until when to send."""

    today: date
    not_before: datetime
    send_until: datetime


def clock(as_of: date | None, tz_name: str) -> RunClock:
    """The real clock, or — with `as_of` — that whole day in the org's time zone: plan from its
    start, send everything scheduled before its end."""
    tz = ZoneInfo(tz_name)
    if as_of is None:
        now = datetime.now(UTC)
        return RunClock(now.astimezone(tz).date(), now, now)
    start = datetime.combine(as_of, time(0), tz).astimezone(UTC)
    end = datetime.combine(as_of, time(23, 59, 59), tz).astimezone(UTC)
    return RunClock(as_of, start, end)
