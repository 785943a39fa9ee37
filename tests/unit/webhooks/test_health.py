from dunlin.settings import Settings
from webhooks import create_app


def test_healthz_checks_the_database(tmp_path):
    client = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", _env_file=None)
    ).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database_without_leaking_the_url():
    settings = Settings(database_url="postgresql://u:pw@127.0.0.1:1/none", _env_file=None)
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unhealthy" and "pw" not in response.get_data(as_text=True)
