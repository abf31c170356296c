"""`make run` (manage.py run) stops both halves promptly on Ctrl-C.

Ctrl-C is SIGINT to the terminal's whole foreground process group. The case that used to take
15 s: `make run` started where SIGINT is ignored (a background job, some IDEs and runners), which
runserver inherited and so sat out Ctrl-C until it was killed.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from django.conf import settings

from tests.smtp_sink import free_port

pytestmark = pytest.mark.cluster


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def descendants(pid: int) -> set[int]:
    """Every process below pid (Linux /proc): the web server, the cluster and its workers."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_run(port: int, ignore_sigint: bool) -> subprocess.Popen:
    env = {**os.environ, "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix="keydrop-run-")}
    for name in ("DEBUG", "SECRET_KEY", "PORTAL_ENCRYPTION_KEY", "DATABASE_URL", "EMAIL_URL", "REDIS_URL"):
        env.pop(name, None)  # a local install, as `make run` on a fresh clone
    return subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "run", "--addr", f"127.0.0.1:{port}", "--no-demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own terminal-like process group, so SIGINT goes to all of it
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
    )


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["from-a-terminal", "sigint-ignored-where-started"])
def test_ctrl_c_stops_the_web_server_and_the_cluster_within_seconds(ignore_sigint):
    port = free_port()
    run = start_run(port, ignore_sigint)
    try:
        deadline = time.monotonic() + 90
        # Polling other processes' start-up, not a time rule: runserver serving, and the cluster
        # with its sentinel, two workers, monitor and pusher.
        while not (accepts(port) and len(started := descendants(run.pid)) >= 7):
            assert run.poll() is None and time.monotonic() < deadline, "manage.py run did not start"
            time.sleep(0.2)
        pressed = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        run.wait(timeout=30)
        stopped_after = time.monotonic() - pressed
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert stopped_after < 5, f"took {stopped_after:.1f}s"
    assert run.returncode == 0
    assert not accepts(port), "the web server is still serving"
    assert not [pid for pid in started if alive(pid)], "a process of the portal is still running"


def test_make_run_takes_the_port_it_is_given_and_links_follow_it():
    # What `make run PORT=8001` runs (make -n prints the command without running it).
    # As typed in a shell: not inside another make (make test), whose MAKEFLAGS would change the output.
    env = {name: value for name, value in os.environ.items() if not name.startswith("MAKE")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8001"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    [command] = [line for line in dry.stdout.splitlines() if "manage.py run" in line]
    assert "manage.py run --addr 127.0.0.1:8001" in command and "http://127.0.0.1:8001" in command


def test_a_busy_port_is_named_with_the_way_out_instead_of_a_traceback():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix="keydrop-run-")}
        result = subprocess.run(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "run", "--addr", f"127.0.0.1:{port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} is in use" in result.stderr and "make run PORT=8001" in result.stderr
    assert "Traceback" not in result.stderr
