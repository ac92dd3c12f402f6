"""Production settings (DEBUG off) with what a test run needs and a machine does not provide.

The database given here is a placeholder: conftest.py swaps in the backend chosen by --db.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
if not (os.environ.get("DATABASE_URL") or os.environ.get("POSTGRES_HOST")):
    os.environ["DATABASE_URL"] = "sqlite://:memory:"

from demo.settings import *  # noqa: E402, F403

# collectstatic runs at image build time; tests render the admin from the app directories.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
