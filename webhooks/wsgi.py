"""The WSGI entry point gunicorn loads (`dunlin serve`): settings from the environment/.env."""

from webhooks import create_app

app = create_app()
