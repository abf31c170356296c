"""Start Keydrop commands as real child processes against the test database."""

import os
import select
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


def child_env(sink=None, **env) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        **({"EMAIL_URL": sink.url} if sink else {}),
        "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix="keydrop-child-"),
        "PORTAL_STAFF_EMAILS": "",
        "DEBUG": "0",
        **env,
    }


def manage(*args: str, sink=None, **env) -> subprocess.Popen:
    """`manage.py <args>` on the test database, mailing through `sink`, with its own data folder."""
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), *args]
    return subprocess.Popen(
        command, env=child_env(sink, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def paused_manage(target: str, *args: str, sink=None, **env) -> subprocess.Popen:
    """Like ``manage``, but the child stops after the first call of ``target`` (module:function)
    until it is told to go on: see tests/paused_command.py."""
    command = [sys.executable, "-m", "tests.paused_command", target, *args]
    return subprocess.Popen(
        command,
        env=child_env(sink, **env),
        cwd=settings.BASE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def line_up(children: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    """Wait until every child has paused; return what each saw (a digest), then let them all go."""
    digests = []
    for child in children:
        line = read_line(child, timeout)
        if not line.startswith("PAUSED "):
            child.kill()
            raise AssertionError(f"a child did not pause: {line!r} {child.stderr.read()}")
        digests.append(line.split()[1])
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    return digests


def read_line(child: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return child.stdout.readline().strip() if ready else "(nothing before the timeout)"
