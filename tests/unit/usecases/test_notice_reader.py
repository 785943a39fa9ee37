"""The payment path's mapping reader: compiled once, and an edited mapping file takes effect
after the re-check interval without the file being looked at on every webhook."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mappings import resolve
from usecases import payments


def test_an_edited_mapping_is_picked_up_after_the_recheck_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "odoo.yaml"
    shutil.copy(resolve("odoo"), path)
    monkeypatch.setattr(payments, "MAPPING_RECHECK_SECONDS", 3600.0)
    first = payments.notice_reader(str(path))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file was edited

    assert payments.notice_reader(str(path)) is first  # within the interval: not looked at

    monkeypatch.setattr(payments, "MAPPING_RECHECK_SECONDS", 0.0)
    assert payments.notice_reader(str(path)) is not first
