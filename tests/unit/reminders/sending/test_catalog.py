"""Every provider's settings are documented, and the documentation is the catalog (issue 26)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reminders.sending.channels.catalog import CATALOG, markdown
from reminders.sending.channels.http import ChannelContext
from reminders.sending.channels.registry import providers

DOC = Path(__file__).parents[4] / "docs" / "channels.md"


class Recording(dict):
    """A settings dict that remembers every key a provider looks up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def plausible(name: str) -> Any:
    if name == "templates":
        return {"reminder": "T_1"}
    if name in ("agent_id", "sdk_app_id"):
        return "1000002"
    if name == "service_account":
        return {"project_id": "p", "client_email": "a@p.iam", "private_key": "x", "token_uri": "u"}
    if name in ("url", "host"):
        return "127.0.0.1"
    if name == "from":
        return "AR <ar@example.com>"
    return "value"


def test_the_catalog_has_every_provider():
    assert set(CATALOG) == set(providers())


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_key_a_provider_reads_is_in_the_catalog(name, tmp_path):
    spec = CATALOG[name]
    settings = Recording(
        {s.name: plausible(s.name) for s in spec.settings if s.required or s.name == "from"}
    )
    secrets = Recording({s.name: plausible(s.name) for s in spec.secrets if s.required})
    try:
        channel = providers()[name](name, settings, secrets, ChannelContext(tmp_path))
        channel.close()
    except (ValueError, TypeError, KeyError):
        pass  # a dummy key that does not parse; what was read up to there still counts
    # `require` looks a name up in both (a robot's token may be either), so compare the union.
    documented = {s.name for s in (*spec.settings, *spec.secrets)}
    assert settings.read | secrets.read <= documented, name


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_docs_channels_md_is_the_catalog(lang):
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- catalog:{lang} -->\n(.*)<!-- /catalog:{lang} -->", text, re.S)
    assert found and found.group(1) == markdown(lang)


def test_every_provider_has_a_worked_example_with_its_required_parts():
    for spec in CATALOG.values():
        assert f"--provider {spec.name}" in spec.example
        for s in spec.settings:
            if s.required and s.name != "templates":
                assert f"{s.name}=" in spec.example, (spec.name, s.name)
        for s in spec.secrets:
            if s.required:
                assert f"--secret {s.name}" in spec.example, (spec.name, s.name)
