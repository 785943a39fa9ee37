"""`--secret key` (a WeCom robot's) must never read DUNLIN_SECRET_KEY, Dunlin's own key."""

import click

from cli.params import read_secret


def test_a_secret_named_key_is_asked_for(monkeypatch):
    monkeypatch.setenv("DUNLIN_SECRET_KEY", "dunlins-own-fernet-key")
    monkeypatch.setenv("DUNLIN_SECRET_PASSWORD", "from-env")
    monkeypatch.setattr(click, "prompt", lambda *a, **k: "typed")
    assert read_secret("key") == "typed"
    assert read_secret("password") == "from-env"
