"""The path from `make demo` onwards, as a person at an 80-column terminal walks it (issue 26)."""

from __future__ import annotations

import os
import re
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


AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})*\.\d\d [A-Z]{3}")


def test_demo_ends_in_words_and_the_command_that_works(demo_dir):
    again = run(["demo", "--customers", "40"], demo_dir)
    assert again.returncode == 0, again.stderr
    assert "{'" not in again.stdout
    assert "Sent so far by channel: email " in again.stdout
    assert "try `dunlin status`" in " ".join(again.stdout.split())


def test_plan_reads_at_80_columns_in_local_time(demo_dir):
    result = run(["plan", "--dry-run", "--date", "2026-12-20", "--show", "5"], demo_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "times in Asia/Shanghai" in result.stdout and "UTC" not in result.stdout
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith("… and"))]
    assert not any("…" in line for line in table)  # nothing cut
    assert len(AMOUNT.findall(result.stdout)) == 5
    assert re.search(r"\b12-2\d \d\d:\d\d\b", result.stdout)


def test_skip_reasons_are_grouped_with_counts(demo_dir):
    """One line per kind of reason, with its count (tests/unit/reminders/test_skip_category.py
    shows reasons naming an invoice fall into one kind)."""
    result = run(["plan", "--dry-run", "--date", "2026-12-20"], demo_dir)
    reasons = result.stdout.split("Not reminded today:")[1].strip("\n").splitlines()
    assert reasons and all(re.match(r"\s+\d+  \S", line) for line in reasons), reasons
    assert len(reasons) <= 9


def test_tasks_list_says_how_many_more(demo_dir):
    result = run(["tasks", "list", "--limit", "3"], demo_dir)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^… and \d+ more \(--limit N\)$", result.stdout, re.M)


FIXTURE = Path(__file__).parents[1] / "fixtures" / "ar-zh.csv"


@pytest.fixture
def acme(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """One org with the three-row fixture imported; DUNLIN_ORG is not set."""
    env = {"DUNLIN_SECRET_KEY": run(["secret-key"], tmp_path).stdout.strip()}
    assert run(["--org", "acme", "init"], tmp_path, **env).returncode == 0
    imported = run(["import", str(FIXTURE), "--mapping", "spreadsheet-zh"], tmp_path, **env)
    assert imported.returncode == 0, imported.stderr
    return tmp_path, env


def test_the_built_in_policy_can_be_shown_and_loaded_back(acme):
    cwd, env = acme
    listed = run(["policies", "list"], cwd, **env)
    assert "active: default (built-in)" in listed.stdout
    shown = run(["policies", "show", "default"], cwd, **env)
    assert shown.returncode == 0, shown.stderr
    (cwd / "mine.yaml").write_text(shown.stdout, encoding="utf-8")
    checked = run(["policies", "check", "mine.yaml"], cwd, **env)
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stderr
    missing = run(["policies", "show", "nope"], cwd, **env)
    assert missing.returncode == 1 and "the policies are: default" in missing.stderr


def test_an_unknown_template_is_named_with_the_known_ones(acme):
    cwd, env = acme
    result = run(["templates", "preview", "nosuch", "--customer", "C001"], cwd, **env)
    assert result.returncode == 1
    assert "no template 'nosuch'" in result.stderr and "reminder" in result.stderr
    assert "Unexpected error" not in result.stderr


def test_a_pause_until_a_past_day_is_refused(acme):
    cwd, env = acme
    result = run(["pause", "C001", "--until", "2020-01-01"], cwd, **env)
    assert result.returncode == 2
    assert "in the past" in result.stderr and "paused until" not in result.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (FIXTURE.read_text(encoding="utf-8-sig").splitlines()[0] + "\n", "no data rows"),
        ("客户编码,客户名称\n", "column(s) missing"),
    ],
    ids=["header-only", "columns-missing"],
)
def test_an_unusable_file_is_a_rejected_import(acme, content, words):
    cwd, env = acme
    (cwd / "bad.csv").write_text(content, encoding="utf-8")
    result = run(["import", "bad.csv", "--mapping", "spreadsheet-zh"], cwd, **env)
    assert result.returncode == 3, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_date_is_not_queued_for_workers_that_use_the_real_clock(acme):
    cwd, env = acme
    env = {**env, "DUNLIN_REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing may reach a queue
    send = run(["send", "--queue", "--date", "2026-04-10"], cwd, **env)
    assert send.returncode == 2 and "--date cannot be used with --queue" in send.stderr
    cycle = run(["run", "--no-sync", "--date", "2026-04-10"], cwd, DUNLIN_DISPATCH="queue", **env)
    assert cycle.returncode == 2 and "DUNLIN_DISPATCH=queue" in cycle.stderr
    assert "--now" in cycle.stderr
    # Refused before anything was written: the day's plan is still to be made.
    dry = run(["plan", "--dry-run", "--date", "2026-04-10"], cwd, **env)
    assert "Dry run: 2 decision(s)" in dry.stdout
    inline = run(["run", "--now", "--no-sync", "--date", "2026-04-10"], cwd, **env)
    assert inline.returncode == 0 and "sent 2" in inline.stdout, inline.stderr


def test_run_syncs_every_source_and_a_failing_one_does_not_stop_it(acme):
    from tests.fakes.odoo import FakeOdoo, served

    cwd, env = acme
    fake = FakeOdoo(version=17)
    fake.seed(7, customers=5, invoices=12)
    with served(fake) as server:
        common = ["--mapping", "odoo", "--set", "database=prod", "--set", "rate_limit=0"]
        login = ["--credential", "login=dunlin", "--secret", "password"]
        for name, url in (("erp", server.url), ("down", "http://127.0.0.1:9")):
            added = run(
                ["sources", "add", name, "--url", url, *common, *login],
                cwd,
                DUNLIN_SECRET_PASSWORD="secret",
                **env,
            )
            assert added.returncode == 0, added.stderr
        cycle = run(["run", "--date", "2026-04-10"], cwd, COLUMNS="200", **env)
    assert cycle.returncode == 4, cycle.stderr
    out = cycle.stdout
    assert out.index("Sync") < out.index("Planned") < out.index("Send:")
    assert re.search(r"erp\s.*\bok\b", out) and re.search(r"down\s.*\bfailing", out)
    assert "without fresh data from: down" in out
    quiet = run(["run", "--no-sync", "--date", "2026-04-10"], cwd, **env)
    assert quiet.returncode == 0 and "Sync" not in quiet.stdout, quiet.stderr


def test_channels_add_help_lists_a_providers_settings(tmp_path):
    smtp = run(["channels", "add", "email", "--provider", "smtp", "--help"], tmp_path)
    assert smtp.returncode == 0, smtp.stderr
    text = " ".join(smtp.stdout.split())
    assert "security default starttls." in text and "none (plain, port 25" in text
    assert "password optional." in text and "Example: DUNLIN_SECRET_PASSWORD=" in text
    assert all(len(line) <= 80 for line in smtp.stdout.splitlines())
    bare = run(["channels", "add", "--help"], tmp_path)
    assert "aliyun_sms" in bare.stdout and "docs/channels.md" in bare.stdout


def test_a_setting_the_provider_does_not_read_is_named(acme):
    cwd, env = acme
    result = run(
        ["channels", "add", "email", "--provider", "smtp", "--set", "host=127.0.0.1"]
        + ["--set", "from=ar@example.com", "--set", "securty=none"],
        cwd,
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert "smtp has no setting securty" in " ".join(result.stderr.split())


def test_the_readmes_next_commands_work_as_printed(demo_dir):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\nsource .venv/bin/activate", 1)[1].split("```", 1)[0]
    commands = [words for line in block.splitlines() if (words := line.split("#")[0].split())]
    assert len(commands) >= 3
    for words in commands:
        assert words[0] == "dunlin"
        result = run(words[1:], demo_dir)
        assert result.returncode == 0, (words, result.stderr)
