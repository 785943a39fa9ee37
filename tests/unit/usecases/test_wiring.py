"""Sync sits below reminders and cannot cancel reminders itself: the composition root connects
them. These tests prove that connection is made by every entry point, and that a process where
it is missing refuses to record a settlement instead of leaving reminders running for money no
longer owed (ARCHITECTURE invariant 2). That the cancellation then happens in the same
transaction is shown end to end by tests/integration/test_import.py and the sync tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import cli
from dunlin.crypto import generate_key
from dunlin.settings import Settings
from reminders.ledger import cancel_for_settled
from sync import settlement
from webhooks import create_app


def test_an_unwired_process_refuses_to_record_a_settlement(monkeypatch):
    monkeypatch.setattr(settlement, "_listeners", [])
    with pytest.raises(settlement.NotWired, match="invariant|outlive"):
        settlement.settled(None, 1)  # type: ignore[arg-type]  # refused before any use


def test_the_web_app_wires_the_ledger(monkeypatch, tmp_path):
    monkeypatch.setattr(settlement, "_listeners", [])
    create_app(Settings(data_dir=tmp_path, secret_key=generate_key(), _env_file=None))
    assert settlement._listeners == [cancel_for_settled]


def test_the_cli_wires_the_ledger(monkeypatch):
    monkeypatch.setattr(settlement, "_listeners", [])
    result = CliRunner().invoke(cli, ["secret-key"])
    assert result.exit_code == 0, result.output
    assert settlement._listeners == [cancel_for_settled]


def test_wiring_twice_registers_once(monkeypatch):
    from usecases.wiring import wire

    monkeypatch.setattr(settlement, "_listeners", [])
    wire()
    wire()
    assert settlement._listeners == [cancel_for_settled]
