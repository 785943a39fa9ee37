"""The `dunlin` command as a person runs it: a real process, real files, exit codes."""

import email
import email.policy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

DUNLIN = [sys.executable, "-m", "dunlin"]


def run(args, cwd: Path, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DUNLIN_")}
    full_env.update({"DUNLIN_UI_LANGUAGE": "en", "COLUMNS": "160", **env})
    return subprocess.run(
        [*DUNLIN, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def outbox_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_demo_twice_leaves_the_same_outbox(tmp_path):
    first = run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Generated a demo secret key" in first.stdout
    outbox = tmp_path / ".dunlin" / "outbox" / "demo"
    before = outbox_digest(outbox)
    assert len(before) >= 100
    assert any(name.endswith(".eml") for name in before) and any(
        name.endswith(".json") for name in before
    )
    # every message carries the customer's links, served by `dunlin serve` on its default port
    emails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in (outbox / "email").glob("*.eml")
    ]
    assert emails and all(
        "http://127.0.0.1:8000/s/" in e.get_body(("plain",)).get_content() for e in emails
    )
    assert all("<http://127.0.0.1:8000/u/" in str(e["List-Unsubscribe"]) for e in emails)
    texts = [p.read_text() for p in outbox.glob("[!e]*/*.json")]
    assert texts and all("http://127.0.0.1:8000/m/" in t for t in texts)
    second = run(["demo"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Generated a demo secret key" not in second.stdout
    assert "Planned 0 reminder(s)" in second.stdout
    assert outbox_digest(outbox) == before


def test_missing_secret_key_is_a_clear_error_without_traceback(tmp_path):
    result = run(["status"], tmp_path)
    assert result.returncode == 2
    assert "DUNLIN_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def workspace(tmp_path):
    key = run(["secret-key"], tmp_path).stdout.strip()
    env = {"DUNLIN_SECRET_KEY": key, "DUNLIN_ORG": "acme"}
    init = run(["init", "--name", "Acme"], tmp_path, **env)
    assert init.returncode == 0, init.stderr
    return tmp_path, env


def test_import_plan_explain_send_status(workspace):
    cwd, env = workspace
    fixture = Path(__file__).parents[1] / "fixtures" / "ar-zh.csv"
    imported = run(["import", str(fixture), "--mapping", "spreadsheet-zh"], cwd, **env)
    assert imported.returncode == 0, imported.stderr
    assert "Imported 3 of 3 rows" in imported.stdout
    dry = run(["plan", "--dry-run", "--date", "2026-04-10"], cwd, **env)
    assert "Dry run: 2 decision(s)" in dry.stdout
    explain = run(["explain", "C001", "--date", "2026-04-10"], cwd, **env)
    assert "overdue-3" in explain.stdout and "remind via" in explain.stdout
    cycle = run(["run", "--date", "2026-04-10"], cwd, **env)
    assert cycle.returncode == 0, cycle.stderr
    assert "Planned 2 reminder(s)" in cycle.stdout and "sent 2" in cycle.stdout
    status = run(["status"], cwd, **env)
    assert "sent" in status.stdout and "spreadsheet-zh" in status.stdout
    assert f"Outbox: {Path('.dunlin') / 'outbox' / 'acme'}" in status.stdout


def test_bad_file_exits_nonzero_and_names_the_row(workspace):
    cwd, env = workspace
    bad = cwd / "bad.csv"
    fixture = (Path(__file__).parents[1] / "fixtures" / "ar-zh.csv").read_text(encoding="utf-8")
    bad.write_text(fixture.replace("2026-03-31", "31.3.2026"), encoding="utf-8")
    result = run(["import", str(bad), "--mapping", "spreadsheet-zh"], cwd, **env)
    assert result.returncode == 3
    assert (
        "row 4" in result.stderr and "到期日" in result.stderr and "Traceback" not in result.stderr
    )


def test_mappings_check_prints_line_numbers(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text(
        "version: 1\nkind: spreadsheet\nname: m\ncustomer:\n  external_id: A\n  name: B\n  emial: C\n"
    )
    result = run(["mappings", "check", str(bad)], tmp_path)
    assert result.returncode == 2
    assert f"{bad}:7: customer.emial: unknown field" in result.stderr
    ok = run(["mappings", "check", "spreadsheet"], tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout


def test_help_reads_well_and_chinese_ui(tmp_path):
    help_text = run(["--help"], tmp_path).stdout
    for command in ("demo", "import", "plan", "send", "run", "status", "init", "explain"):
        assert command in help_text
    zh = run(["status"], tmp_path, DUNLIN_UI_LANGUAGE="zh_CN")
    assert "错误" in zh.stderr
