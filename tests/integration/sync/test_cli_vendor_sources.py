"""`dunlin sources add` + `test` + `sync` for YonSuite, Fxiaoke, Xbongbong and Kingdee JDY,
each against its fake over real HTTP, as a person runs them."""

from __future__ import annotations

import pytest

from tests.fakes import fxiaoke, kingdee_jdy, xbongbong, yonsuite
from tests.integration.sync.test_cli_sources import _env
from tests.integration.test_cli import run


def _xbongbong(url):
    return (
        "xbongbong",
        [
            "--set",
            f"customer_form_id={xbongbong.CUSTOMER_FORM}",
            "--credential",
            f"corpid={xbongbong.CORPID}",
            "--secret",
            "token",
        ],
        {"DUNLIN_SECRET_TOKEN": xbongbong.TOKEN},
    )


SYSTEMS = {
    "yonsuite": (
        yonsuite.FakeYonSuite,
        lambda url: (
            "yonsuite",
            [
                "--set",
                f"token_url={url}",
                "--credential",
                f"app_key={yonsuite.APP_KEY}",
                "--secret",
                "app_secret",
            ],
            {"DUNLIN_SECRET_APP_SECRET": yonsuite.APP_SECRET},
        ),
    ),
    "fxiaoke": (
        fxiaoke.FakeFxiaoke,
        lambda url: (
            "fxiaoke",
            [
                "--credential",
                f"app_id={fxiaoke.APP_ID}",
                "--credential",
                f"open_user_id={fxiaoke.OPEN_USER}",
                "--secret",
                "app_secret",
                "--secret",
                "permanent_code",
            ],
            {
                "DUNLIN_SECRET_APP_SECRET": fxiaoke.APP_SECRET,
                "DUNLIN_SECRET_PERMANENT_CODE": fxiaoke.PERMANENT_CODE,
            },
        ),
    ),
    "xbongbong": (xbongbong.FakeXbongbong, _xbongbong),
    "kingdee-jdy": (
        kingdee_jdy.FakeKingdeeJdy,
        lambda url: (
            "kingdee-jdy",
            [
                "--credential",
                f"client_id={kingdee_jdy.CLIENT_ID}",
                "--secret",
                "client_secret",
                "--secret",
                "outer_instance_id",
            ],
            {
                "DUNLIN_SECRET_CLIENT_SECRET": kingdee_jdy.CLIENT_SECRET,
                "DUNLIN_SECRET_OUTER_INSTANCE_ID": kingdee_jdy.INSTANCE,
            },
        ),
    ),
}
MODULES = {
    "yonsuite": yonsuite,
    "fxiaoke": fxiaoke,
    "xbongbong": xbongbong,
    "kingdee-jdy": kingdee_jdy,
}


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_add_test_and_sync(tmp_path, system):
    make, options = SYSTEMS[system]
    fake = make()
    fake.seed(1, 8, 40)
    with MODULES[system].served(fake) as server:
        mapping, extra, secrets = options(server.url)
        env = _env(tmp_path, **secrets)
        assert run(["init"], tmp_path, **env).returncode == 0
        added = run(
            [
                "sources",
                "add",
                "src",
                "--mapping",
                mapping,
                "--url",
                server.url,
                "--set",
                "rate_limit=0",
                *extra,
            ],
            tmp_path,
            **env,
        )
        assert added.returncode == 0, added.stderr
        tested = run(["sources", "test", "src"], tmp_path, **env)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "every mapped field exists" in tested.stdout
        if system == "kingdee-jdy":
            assert "write_back: not available" in tested.stdout
        if system in ("xbongbong", "yonsuite"):
            assert "/hooks/push/1" in tested.stdout  # where to point the vendor's pushes
        if system == "xbongbong":  # its push token is a credential of its own, added later
            assert "pushes are refused" in tested.stdout
            token = {"DUNLIN_SECRET_WEBHOOK_TOKEN": xbongbong.WEBHOOK_TOKEN}
            updated = run(
                ["sources", "update", "src", "--secret", "webhook_token"], tmp_path, **env, **token
            )
            assert updated.returncode == 0, updated.stderr
            retested = run(["sources", "test", "src"], tmp_path, **env)
            assert "pushes are refused" not in retested.stdout
            assert "every mapped field exists" in retested.stdout  # the API token survived
        synced = run(["sync", "src"], tmp_path, **env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        status = run(["status"], tmp_path, **env)
        assert "src" in status.stdout and "ok" in status.stdout


def test_a_field_the_tenant_lacks_is_named_with_the_systems_field_list(tmp_path):
    fake = xbongbong.FakeXbongbong()
    fake.seed(1, 5, 5)
    with xbongbong.served(fake) as server:
        mapping = tmp_path / "xbb.yaml"
        from mappings import resolve

        mapping.write_text(resolve("xbongbong").read_text().replace("data.text_16", "data.text_99"))
        _name, extra, secrets = _xbongbong(server.url)
        env = _env(tmp_path, **secrets)
        run(["init"], tmp_path, **env)
        run(
            [
                "sources",
                "add",
                "src",
                "--mapping",
                str(mapping),
                "--url",
                server.url,
                "--set",
                "rate_limit=0",
                *extra,
            ],
            tmp_path,
            **env,
        )
        tested = run(["sources", "test", "src"], tmp_path, **env)
    assert tested.returncode != 0
    assert "text_99" in tested.stderr
    assert "text_1, text_16, text_2" in tested.stdout  # the form's own attrs, from form/get
