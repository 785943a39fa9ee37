"""`dunlin sources …` and `dunlin sync` as a person runs them, against the fake Odoo over HTTP."""

from __future__ import annotations

from dunlin.crypto import generate_key
from tests.integration.test_cli import run


def _env(tmp_path, **extra):
    return {
        "DUNLIN_SECRET_KEY": generate_key(),
        "DUNLIN_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
        "DUNLIN_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def _add_odoo(tmp_path, env, url, mapping="odoo", password="secret"):
    return run(
        [
            "sources",
            "add",
            "erp",
            "--mapping",
            mapping,
            "--url",
            url,
            "--set",
            "database=prod",
            "--set",
            "rate_limit=0",
            "--credential",
            "login=dunlin",
            "--secret",
            "password",
        ],
        tmp_path,
        **env,
        DUNLIN_SECRET_PASSWORD=password,
    )


def test_add_test_sync_list_and_remove_an_odoo_source(tmp_path, odoo):
    env = _env(tmp_path)
    assert run(["init"], tmp_path, **env).returncode == 0
    added = _add_odoo(tmp_path, env, odoo.url, "odoo", "secret")
    assert added.returncode == 0, added.stderr
    listed = run(["sources", "list"], tmp_path, **env)
    assert "password=••••••" in listed.stdout and "login=dunlin" in listed.stdout
    assert "secret" not in listed.stdout.replace("secret_key", "")

    tested = run(["sources", "test", "erp"], tmp_path, **env)
    assert tested.returncode == 0, tested.stderr
    assert "version 17.0" in tested.stdout and "every mapped field exists" in tested.stdout

    synced = run(["sync", "erp"], tmp_path, **env)
    assert synced.returncode == 0, synced.stderr
    assert "erp" in synced.stdout and "ok" in synced.stdout
    status = run(["status"], tmp_path, **env)
    assert "erp" in status.stdout and "odoo" in status.stdout

    removed = run(["sources", "remove", "erp", "--yes"], tmp_path, **env)
    assert removed.returncode == 0, removed.stderr
    assert "erp" not in run(["sources", "list"], tmp_path, **env).stdout.split("Sources")[-1]


def test_a_mapping_field_the_source_lacks_is_named(tmp_path, odoo):
    env = _env(tmp_path)
    run(["init"], tmp_path, **env)
    bad = tmp_path / "my-odoo.yaml"
    from mappings import resolve

    bad.write_text(resolve("odoo").read_text().replace("  email: email", "  email: x_email"))
    assert run(["mappings", "check", str(bad)], tmp_path, **env).returncode == 0
    _add_odoo(tmp_path, env, odoo.url, str(bad), "secret")
    tested = run(["sources", "test", "erp"], tmp_path, **env)
    assert tested.returncode != 0
    assert "x_email" in tested.stderr
    checked = run(["mappings", "check", str(bad), "--source", "erp"], tmp_path, **env)
    assert checked.returncode != 0 and "x_email" in checked.stderr
    synced = run(["sync"], tmp_path, **env)
    assert synced.returncode == 4
    assert "x_email" in synced.stdout


def test_refused_credentials_are_reported_without_the_secret(tmp_path, odoo):
    env = _env(tmp_path)
    run(["init"], tmp_path, **env)
    _add_odoo(tmp_path, env, odoo.url, "odoo", "wrong-password-123")
    tested = run(["sources", "test", "erp"], tmp_path, **env)
    assert tested.returncode != 0
    assert "refused" in tested.stderr
    assert "wrong-password-123" not in tested.stderr + tested.stdout


def test_add_test_and_sync_a_k3cloud_source(tmp_path, k3cloud):
    env = _env(tmp_path)
    run(["init"], tmp_path, **env)
    added = run(
        [
            "sources",
            "add",
            "k3",
            "--mapping",
            "kingdee-k3cloud",
            "--url",
            k3cloud.url,
            "--set",
            f"acct_id={k3cloud.acct_id}",
            "--set",
            "rate_limit=0",
            "--credential",
            f"username={k3cloud.username}",
            "--credential",
            f"app_id={k3cloud.app_id}",
            "--secret",
            "app_secret",
        ],
        tmp_path,
        **env,
        DUNLIN_SECRET_APP_SECRET=k3cloud.app_secret,
    )
    assert added.returncode == 0, added.stderr
    listed = run(["sources", "list"], tmp_path, **env)
    assert "app_secret=••••••" in listed.stdout and k3cloud.app_secret not in listed.stdout
    tested = run(["sources", "test", "k3"], tmp_path, **env)
    assert tested.returncode == 0, tested.stderr
    assert "every mapped field exists" in tested.stdout
    synced = run(["sync", "k3"], tmp_path, **env)
    assert synced.returncode == 0, synced.stderr
    again = run(["sync", "k3", "--full"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
