"""The path from `make demo` onwards, as a person at an 80-column terminal walks it (issue 26)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DUNLIN = [sys.executable, "-m", "dunlin"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
    full_env.update({"DUNLIN_UI_LANGUAGE": "en", "COLUMNS": "80", **env})
    return subprocess.run(
        [*DUNLIN, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small demo shared by the tests that only read it."""
    cwd = tmp_path_factory.mktemp("demo")
    result = run(["demo", "--customers", "40"], cwd)
    assert result.returncode == 0, result.stderr
    return cwd


HEAVY = ("alembic", "sqlalchemy.orm", "reminders.planning", "flask", "rq", "redis", "rich")


def test_help_imports_no_heavy_module(tmp_path):
    code = (
        "import sys, click\n"
        "from cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "Commands:" in result.stdout and "explain" in result.stdout


def test_listed_short_help_is_each_commands_own():
    import click

    from cli import COMMANDS, cli

    ctx = click.Context(cli)
    for name, spec in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert spec.short_help == command.get_short_help_str(200), name


def test_demo_hint_works_as_printed(demo_dir):
    """`dunlin status` right after the demo: the key from the data directory, the only org."""
    result = run(["status"], demo_dir)
    assert result.returncode == 0, result.stderr
    assert "Using the secret key in" in result.stderr
    assert "Reminder ledger" in result.stdout and "sent" in result.stdout


def test_without_an_org_named_several_orgs_are_listed(tmp_path):
    key = run(["secret-key"], tmp_path).stdout.strip()
    for org in ("acme", "beta"):
        assert run(["--org", org, "init"], tmp_path, DUNLIN_SECRET_KEY=key).returncode == 0
    result = run(["status"], tmp_path, DUNLIN_SECRET_KEY=key)
    assert result.returncode != 0
    assert "choose one with --org" in result.stderr and "acme, beta" in result.stderr
    assert "Traceback" not in result.stderr
