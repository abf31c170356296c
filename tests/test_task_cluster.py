"""The schedules that migrate created run the reminders: a due reminder goes out through a real SMTP
server on the schedule's first run, and not again on its next run.

The cycle runs in this process, the way django-q2 tests itself: the scheduler turns due schedules into
tasks on the broker, the pusher hands them to a worker, the monitor saves the results and acknowledges
them. One smoke test (marked `cluster`, run by CI) starts the real `qcluster` command instead.

Broker: the embedded ORM broker always; Redis too when redis-server is installed (required in CI).
"""

import datetime
import shutil
import signal
import socket
import subprocess
import time
from multiprocessing import Event, Value

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.queues import Queue
from django_q.scheduler import scheduler
from django_q.worker import worker

from keys.models import ReminderNotice
from tests.ci import missing
from tests.factories import InstitutionFactory, midday_time_zone, tracked_credential
from tests.processes import manage
from tests.smtp_sink import SMTPSink, free_port

# Transactional: django-q2's worker and scheduler close stale connections, as they would in a cluster.
pytestmark = pytest.mark.django_db(transaction=True)
REDIS = shutil.which("redis-server")


def wait_for(condition, timeout: float, what: str) -> None:
    """Wait for another process to do something; this is polling a real server, not a time rule."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=["orm", "redis"])
def redis_url(request):
    """None for the ORM broker; for Redis, the URL of a private redis-server on a free port."""
    if request.param == "orm":
        yield None
        return
    if not REDIS:
        missing("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    command = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _accepts(port), 20, "redis to start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def broker(redis_url, monkeypatch):
    if redis_url:
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", redis_url)
    return get_broker()


def run_the_cluster_once(broker) -> None:
    """One scheduler cycle of a cluster, in this process: due schedules become tasks, the pusher
    takes them all off the broker, a worker runs them, the monitor saves and acknowledges them."""
    scheduler(broker=broker)
    task_queue, result_queue = Queue(), Queue()
    one_pull = Event()
    one_pull.set()
    while broker.queue_size():
        pusher(task_queue, one_pull, broker=broker)
    task_queue.put("STOP")
    worker(task_queue, result_queue, Value("b", -1))
    result_queue.put("STOP")
    monitor(result_queue, broker=broker)


def sweeps() -> list[Task]:
    return list(Task.objects.filter(func="keys.tasks.send_reminders").order_by("started"))


def successful_sweeps() -> int:
    return Task.objects.filter(func="keys.tasks.send_reminders", success=True).count()


def test_a_due_reminder_goes_out_once_on_the_schedules_first_run_and_not_on_its_next(broker, settings, time_machine):
    tracked_credential(lifetime_days=1, institution=InstitutionFactory(time_zone=midday_time_zone()))
    reminder = ReminderNotice.objects.get(offset_days=1)
    with SMTPSink() as sink:
        sink.receive_mail_of(settings)
        run_the_cluster_once(broker)
        assert ReminderNotice.objects.get(pk=reminder.pk).state == "sent"
        next_run = Schedule.objects.get(name="keys.send_reminders").next_run
        assert timezone.now() < next_run <= timezone.now() + datetime.timedelta(minutes=1)
        time_machine.move_to(next_run + datetime.timedelta(seconds=1))
        run_the_cluster_once(broker)
    assert [(task.success, task.result["sent"]) for task in sweeps()] == [(True, 1), (True, 0)]
    assert len(sink.handler.messages) == 1
    assert sink.handler.messages[0]["To"] == reminder.credential.institution.contacts.get().email
    assert "expires tomorrow" in sink.handler.messages[0]["Subject"]


@pytest.mark.cluster
def test_the_real_cluster_sends_a_due_reminder_once(redis_url):
    """The `qcluster` command, configured from the environment as in production, within its
    scheduler cycles (about 30 s each)."""
    tracked_credential(lifetime_days=1, institution=InstitutionFactory(time_zone=midday_time_zone()))
    reminder = ReminderNotice.objects.get(offset_days=1)
    env = {"REDIS_URL": redis_url} if redis_url else {}
    with SMTPSink() as sink:
        cluster = manage("qcluster", sink=sink, Q_WORKERS="1", **env)
        try:
            wait_for(lambda: ReminderNotice.objects.get(pk=reminder.pk).state == "sent", 90, "the reminder to be sent")
            runs = successful_sweeps()
            Schedule.objects.filter(name="keys.send_reminders").update(next_run=timezone.now())
            wait_for(lambda: successful_sweeps() > runs, 90, "the schedule to run again")
        finally:
            cluster.send_signal(signal.SIGTERM)
            _, errors = cluster.communicate(timeout=60)
    assert len(sink.handler.messages) == 1, errors
    assert sink.handler.messages[0]["To"] == reminder.credential.institution.contacts.get().email
    assert "expires tomorrow" in sink.handler.messages[0]["Subject"]
