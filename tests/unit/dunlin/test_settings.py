from pathlib import Path

from dunlin.settings import Settings


def test_env_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("DUNLIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DUNLIN_REDIS_URL", "redis://example:6380/2")
    settings = Settings(_env_file=None)
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'dunlin.db'}"
    assert settings.resolved_outbox_dir == tmp_path / "outbox"


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("DUNLIN_DATABASE_URL", raising=False)
    env = tmp_path / ".env"
    env.write_text("DUNLIN_DATABASE_URL=postgresql://u@h/db\nDUNLIN_SECRET_KEY=abc\n")
    settings = Settings(_env_file=env)
    assert settings.resolved_database_url == "postgresql://u@h/db"
    assert settings.require_secret_key() == "abc"
    assert "abc" not in repr(settings)  # SecretStr keeps it out of reprs and logs
    assert isinstance(settings.data_dir, Path)
