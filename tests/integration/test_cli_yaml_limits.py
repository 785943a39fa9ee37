"""`dunlin policies check` and `dunlin mappings check` refuse an alias bomb at once: exit code
2 (a configuration error, as the README says), the line on stderr, no traceback."""

from __future__ import annotations

import time

from tests.integration.test_cli import run
from tests.unit.dunlin.test_yamlsource import billion_laughs


def test_cli_checks_refuse_an_alias_bomb_and_a_file_not_in_utf8(tmp_path):
    key = run(["secret-key"], tmp_path).stdout.strip()
    env = {"DUNLIN_SECRET_KEY": key, "DUNLIN_ORG": "acme"}
    assert run(["init"], tmp_path, **env).returncode == 0
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    for command in (["policies", "check"], ["mappings", "check"]):
        started = time.perf_counter()
        result = run([*command, str(bomb)], tmp_path, **env)
        # the process start dominates; expanding the bomb would take minutes
        assert time.perf_counter() - started < 10
        assert result.returncode == 2, result.stderr
        assert f"{bomb}:6: (yaml): more than 20000 values" in result.stderr
        assert "Traceback" not in result.stderr
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("name: 测试\n".encode("gbk"))
    for command in (["policies", "check"], ["mappings", "check"], ["policies", "load"]):
        result = run([*command, str(gbk)], tmp_path, **env)
        assert result.returncode == 2, result.stderr
        assert f"{gbk}: (file): not UTF-8 text" in result.stderr
