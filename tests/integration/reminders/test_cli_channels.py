"""`dunlin channels` as an admin runs it: config errors store nothing, secrets stay masked,
`channels test` sends one real message through the configured provider."""

from __future__ import annotations

from dunlin.crypto import generate_key
from tests.fakes.smtp import RecordingHandler, SmtpSink
from tests.integration.test_cli import run


def test_add_list_and_test_an_smtp_channel(tmp_path):
    env = {"DUNLIN_SECRET_KEY": generate_key(), "DUNLIN_SECRET_PASSWORD": "smtp-password-1"}
    assert run(["--org", "acme", "init"], tmp_path, **env).returncode == 0
    incomplete = run(
        ["--org", "acme", "channels", "add", "email", "--provider", "smtp"], tmp_path, **env
    )
    assert incomplete.returncode != 0 and "host" in incomplete.stderr + incomplete.stdout
    listed = run(["--org", "acme", "channels", "list"], tmp_path, **env)
    assert "outbox (not configured)" in listed.stdout  # the failed add stored nothing

    handler = RecordingHandler()
    with SmtpSink(handler) as sink:
        added = run(
            [
                "--org",
                "acme",
                "channels",
                "add",
                "email",
                "--provider",
                "smtp",
                "--set",
                "host=127.0.0.1",
                "--set",
                f"port={sink.port}",
                "--set",
                "security=none",
                "--set",
                "from=ar@acme.example",
                "--secret",
                "password",
            ],
            tmp_path,
            **env,
        )
        assert added.returncode == 0, added.stderr
        listed = run(["--org", "acme", "channels", "list"], tmp_path, **env)
        assert "password=****" in listed.stdout and "smtp-password-1" not in listed.stdout
        sent = run(
            ["--org", "acme", "channels", "test", "email", "--to", "me@x.cn"], tmp_path, **env
        )
    assert sent.returncode == 0, sent.stderr + sent.stdout
    assert "sent" in sent.stdout and handler.recipients() == ["me@x.cn"]
