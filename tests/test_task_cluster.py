"""The real django-q2 cluster runs the schedules that migrate created: a due reminder goes out
through a real SMTP server within one scheduler cycle, and not again when the schedule runs again.

Broker: the embedded ORM broker always; Redis too when redis-server is installed (required in CI).
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task

from keys.models import ReminderNotice
from tests.factories import tracked_credential
from tests.processes import manage
from tests.smtp_sink import SMTPSink, free_port

pytestmark = pytest.mark.django_db(transaction=True)
REDIS = shutil.which("redis-server")


def wait_for(condition, timeout: float, what: str) -> None:
    """Wait for another process to do something; this is polling a real cluster, not a time rule."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def redis_url():
    if not REDIS:
        if os.getenv("CI", "").lower() == "true":
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _accepts(port), 20, "redis to start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def sweeps_run() -> int:
    return Task.objects.filter(func="keys.tasks.send_reminders", success=True).count()


def check_the_cluster_sends_a_due_reminder_once(**env):
    tracked_credential(lifetime_days=1)
    reminder = ReminderNotice.objects.get(offset_days=1)
    with SMTPSink() as sink:
        cluster = manage("qcluster", sink=sink, Q_WORKERS="1", **env)
        try:
            wait_for(lambda: ReminderNotice.objects.get(pk=reminder.pk).state == "sent", 90, "the reminder to be sent")
            runs = sweeps_run()
            Schedule.objects.filter(name="keys.send_reminders").update(next_run=timezone.now())
            wait_for(lambda: sweeps_run() > runs, 90, "the schedule to run again")
        finally:
            cluster.send_signal(signal.SIGTERM)
            _, errors = cluster.communicate(timeout=60)
    assert len(sink.handler.messages) == 1, errors
    assert sink.handler.messages[0]["To"] == reminder.credential.institution.contacts.get().email
    assert "expires tomorrow" in sink.handler.messages[0]["Subject"]


def test_the_cluster_on_the_orm_broker_sends_a_due_reminder_once():
    check_the_cluster_sends_a_due_reminder_once()


def test_the_cluster_on_redis_sends_a_due_reminder_once(redis_url):
    check_the_cluster_sends_a_due_reminder_once(REDIS_URL=redis_url)
