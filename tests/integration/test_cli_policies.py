"""An admin's path through the CLI: write a three-track policy, check, load, preview, explain."""

import re
from pathlib import Path

import pytest

from tests.integration.test_cli import run

EXAMPLE = Path(__file__).parents[2] / "reminders" / "policies" / "three-tracks.yaml"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "ar-zh.csv"


@pytest.fixture
def org(tmp_path):
    key = run(["secret-key"], tmp_path).stdout.strip()
    env = {"DUNLIN_SECRET_KEY": key, "DUNLIN_ORG": "acme"}
    assert run(["init"], tmp_path, **env).returncode == 0
    assert (
        run(["import", str(FIXTURE), "--mapping", "spreadsheet-zh"], tmp_path, **env).returncode
        == 0
    )
    return tmp_path, env


def test_check_names_the_line_of_an_unknown_channel(org):
    cwd, env = org
    bad = cwd / "bad.yaml"
    bad.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("[sms, email]", "[sms, telex]"),
        encoding="utf-8",
    )
    result = run(["policies", "check", str(bad)], cwd, **env)
    assert result.returncode == 2
    assert f"{bad}:39: tracks.1.steps.2.channels" in result.stderr and "telex" in result.stderr
    assert "OK" in run(["policies", "check", str(EXAMPLE)], cwd, **env).stdout


def test_load_preview_tomorrow_explain_and_list(org):
    cwd, env = org
    preview = run(
        ["plan", "--dry-run", "--date", "2026-04-08", "--policy", str(EXAMPLE)], cwd, **env
    )
    assert preview.returncode == 0, preview.stderr
    assert "three-tracks (file)" in preview.stdout and "Dry run" in preview.stdout
    loaded = run(["policies", "load", str(EXAMPLE)], cwd, **env)
    assert "three-tracks@v1 is active" in loaded.stdout
    listing = run(["policies", "list"], cwd, **env)
    assert "three-tracks@v1" in listing.stdout
    shown = run(["policies", "show", "three-tracks"], cwd, **env)
    assert shown.stdout.strip() == EXAMPLE.read_text(encoding="utf-8").strip()
    explain = run(["explain", "C001", "--date", "2026-04-10"], cwd, **env)
    assert "key-accounts" in explain.stdout and "Asia/Shanghai" in explain.stdout
    status = run(["status"], cwd, **env)
    assert "Active policy: three-tracks@v1" in status.stdout


def test_veto_review_task_and_pause(org):
    cwd, env = org
    run(["policies", "load", str(EXAMPLE)], cwd, **env)
    planned = run(
        ["plan", "--date", "2026-04-02"], cwd, **env
    )  # C001 (tier A) is 1 day past due... before
    assert planned.returncode == 0, planned.stderr
    tasks = run(["tasks", "list"], cwd, **env).stdout
    assert "veto" in tasks
    task_id = next(re.findall(r"\d+", line)[0] for line in tasks.splitlines() if "veto" in line)
    vetoed = run(["tasks", "veto", task_id], cwd, **env)
    assert vetoed.returncode == 0 and "vetoed" in vetoed.stdout
    sent = run(["send", "--date", "2026-04-03"], cwd, **env)
    assert "cancelled 1" in sent.stdout
    # A pause ends on a day to come by the real clock, so this one lies far ahead.
    paused = run(["pause", "C002", "--until", "2099-05-01", "--reason", "promise"], cwd, **env)
    assert "paused until 2099-05-01" in paused.stdout
    explain = run(["explain", "C002", "--date", "2026-04-20"], cwd, **env)
    assert "paused until 2099-05-01" in explain.stdout
