"""SQLite writers take turns through a file lock instead of SQLite's sleeping busy handler."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dunlin.db import make_engine, sqlite_writer_turn


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    other = make_engine(f"sqlite:///{tmp_path / 'd.db'}")  # as another worker would
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with sqlite_writer_turn(engine):
            order.append("first in")
            first_in.set()
            time.sleep(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(5)
    with sqlite_writer_turn(other):
        order.append("second in")
    thread.join()

    assert order == ["first in", "first out", "second in"]
    assert (tmp_path / "d.db-writer.lock").exists()


def test_no_lock_file_for_memory_databases_or_other_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a lock file named after either database would land here
    with sqlite_writer_turn(make_engine("sqlite://")):
        pass
    with sqlite_writer_turn(make_engine("postgresql://nobody@127.0.0.1:1/none")):
        pass
    assert list(tmp_path.iterdir()) == []
