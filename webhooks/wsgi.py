"""The WSGI entry point gunicorn loads (`dunlin serve`): settings from the environment/.env."""

import os

from dunlin.log import setup_logging
from webhooks import create_app

# The app's own records (refusals, errors) go through the redacting handler.
setup_logging(os.environ.get("DUNLIN_DEBUG", "").lower() in ("1", "true", "yes"))
app = create_app()
