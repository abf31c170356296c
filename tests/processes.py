"""Start Keydrop commands as real child processes against the test database."""

import os
import subprocess
import sys
import tempfile

from django.conf import settings
from django.db import connection


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def manage(*args: str, sink, **env) -> subprocess.Popen:
    """`manage.py <args>` on the test database, mailing through `sink`, with its own data folder."""
    child_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_URL": sink.url,
        "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix="keydrop-child-"),
        "PORTAL_STAFF_EMAILS": "",
        "DEBUG": "0",
        **env,
    }
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), *args]
    return subprocess.Popen(command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
