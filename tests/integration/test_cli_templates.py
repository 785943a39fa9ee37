"""`dunlin templates list|show|edit|preview` as a person runs them: a real process."""

from pathlib import Path

from tests.integration.test_cli import run, workspace  # noqa: F401 - the fixture

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ar-zh.csv"


def test_edit_show_list_and_preview_an_override(workspace, tmp_path):  # noqa: F811
    cwd, env = workspace
    assert run(["import", str(FIXTURE), "--mapping", "spreadsheet-zh"], cwd, **env).returncode == 0
    broken = tmp_path / "broken.j2"
    broken.write_text("【{{ org.name }}】\n{{ customer.nmae }}", encoding="utf-8")
    args = ["templates", "edit", "reminder", "--channel", "sms", "--locale", "zh_CN"]
    refused = run([*args, "--part", "short", "--file", str(broken)], cwd, **env)
    assert refused.returncode == 1 and "line 2: UndefinedError" in refused.stderr
    assert "Traceback" not in refused.stderr
    good = tmp_path / "sms.j2"
    good.write_text("【{{ org.name }}】{{ customer.name }} 请付 {{ total|money(currency) }}")
    saved = run([*args, "--part", "short", "--file", str(good)], cwd, **env)
    assert saved.returncode == 0 and "version 1" in saved.stdout, saved.stderr
    shown = run(
        [
            "templates",
            "show",
            "reminder",
            "--channel",
            "sms",
            "--locale",
            "zh_CN",
            "--part",
            "short",
        ],
        cwd,
        **env,
    )
    assert shown.stdout.rstrip("\n") == good.read_text()  # the text, to edit and store again
    listed = run(["templates", "list"], cwd, **env)
    assert "reminder" in listed.stdout and "v1" in listed.stdout
    preview = ["templates", "preview", "reminder", "--customer", "C001", "--date", "2026-04-10"]
    sms = run([*preview, "--channel", "sms", "--locale", "zh_CN"], cwd, **env)
    assert sms.returncode == 0, sms.stderr
    assert "请付 ¥" in sms.stdout and "SMS segment(s)" in sms.stdout
    email = run([*preview, "--channel", "email", "--locale", "zh_CN"], cwd, **env)
    assert "请付 ¥" not in email.stdout  # the override is for SMS only
    draft = tmp_path / "subject.j2"
    draft.write_text("草稿主题 {{ overdue_count }}")
    drafted = run([*preview, "--draft", str(draft), "--part", "subject"], cwd, **env)
    assert "草稿主题" in drafted.stdout, drafted.stderr
    stored = run(["templates", "list"], cwd, **env)
    assert "subject" not in stored.stdout.split("Overrides")[-1]  # a draft is never stored
