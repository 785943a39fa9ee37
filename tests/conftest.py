"""Shared fixtures. Store tests run twice: on SQLite and on the real PostgreSQL, in a throwaway
database created for this run. Under CI=true an unreachable PostgreSQL fails the run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from dunlin.app import App
from dunlin.crypto import generate_key
from dunlin.db import make_engine, transaction
from dunlin.migrate import upgrade
from dunlin.orgs import ensure_org
from dunlin.settings import Settings
from usecases.schema import all_models
from usecases.wiring import wire

wire()  # as every entry point does: sync's settlements cancel reminders

PG_ADMIN_URL = os.environ.get(
    "DUNLIN_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def service_missing(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"dunlin_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means the service is unusable
        service_missing("PostgreSQL", exc)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in all_models().metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dunlin.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_database")
    yield url
    engine = make_engine(url)
    _truncate(engine)
    engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url, data_dir=tmp_path / "data", secret_key=generate_key(), _env_file=None
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    app = App(settings)
    with transaction(app.factory) as session:
        ensure_org(session, "acme", settings, name="Acme 示例")
        ensure_org(session, "other", settings, name="Other Org")
    yield app
    app.engine.dispose()
