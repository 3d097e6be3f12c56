"""The WSGI entry point (app.webserver serves it; any WSGI server can): `app.wsgi:application`."""

import os

from app import create_app, logs

if os.environ.get("AA_LOG_FORMAT", "").strip().lower() == "json":
    logs.configure("json")  # the app's own records
application = create_app()
