"""Reminder sweeps as separate processes, through a real SMTP server, under races and SIGKILL.

Runs on SQLite in `make test` and on PostgreSQL in CI: the claim is a conditional UPDATE, so
the guarantees come from the database on both.
"""

import collections
import datetime
import signal
import subprocess

import pytest
from django.utils import timezone

from keys import reminders
from keys.models import ReminderNotice
from tests.factories import InstitutionFactory, midday_time_zone, tracked_credential
from tests.processes import manage
from tests.smtp_sink import SMTPSink

pytestmark = pytest.mark.django_db(transaction=True)


def sweep_process(sink, *args) -> subprocess.Popen:
    return manage("send_reminders", *args, sink=sink)


def due_reminders(count: int) -> list:
    # One-day keys: each has its one-day reminder due at once, and its lapse hours away.
    zone = midday_time_zone()
    return [tracked_credential(lifetime_days=1, institution=InstitutionFactory(time_zone=zone)) for _ in range(count)]


@pytest.mark.processes
def test_four_concurrent_sweeps_send_every_reminder_exactly_once():
    due_reminders(300)
    # The overlap is forced: the first message is held until another sweep begins sending.
    with SMTPSink(hold_transaction=1, release_on_transaction=2) as sink:
        sweeps = [sweep_process(sink, "--batch-size", "25") for _ in range(4)]
        outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
        assert sink.handler.holding.is_set() and sink.handler.release.is_set()
    for sweep, (_out, err) in zip(sweeps, outputs, strict=False):
        assert sweep.returncode == 0, err
    sent_by_each = [int(out.split()[1]) for out, _ in outputs]
    assert sum(sent_by_each) == 300
    assert sum(1 for sent in sent_by_each if sent) >= 2, f"the sweeps did not overlap: {sent_by_each}"
    delivered = collections.Counter(sink.handler.header_values("X-Keydrop-Reminder"))
    assert len(delivered) == 300
    assert max(delivered.values()) == 1
    assert ReminderNotice.objects.filter(offset_days=1, state=ReminderNotice.State.SENT).count() == 300


@pytest.mark.processes
def test_a_sweep_killed_mid_run_loses_and_doubles_nothing(settings, time_machine):
    due_reminders(40)
    with SMTPSink(hold_transaction=15) as sink:
        sweep = sweep_process(sink, "--batch-size", "100")
        assert sink.handler.holding.wait(timeout=120), (
            sweep.stderr.read() if sweep.poll() is not None else "no 15th message"
        )
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
        sink.handler.release.set()
        assert sweep.returncode == -signal.SIGKILL

        assert len(sink.handler.messages) == 14
        sent = ReminderNotice.objects.filter(state=ReminderNotice.State.SENT)
        assert sent.count() == 14, "every accepted message was recorded before the next was sent"
        stranded = ReminderNotice.objects.filter(offset_days=1, state=ReminderNotice.State.SCHEDULED)
        assert stranded.count() == 26 and all(n.claimed_until for n in stranded)

        sink.receive_mail_of(settings)
        settings.PORTAL_STAFF_EMAILS = []
        assert reminders.sweep().sent == 0, "the dead worker's claim is respected until it runs out"
        lease_ends = max(notice.claimed_until for notice in stranded)  # the killed sweep's budget and more
        assert lease_ends >= timezone.now() + datetime.timedelta(seconds=settings.PORTAL_REMINDER_CLAIM_SECONDS - 60)
        time_machine.move_to(lease_ends - datetime.timedelta(seconds=1))
        assert reminders.sweep().sent == 0
        time_machine.move_to(lease_ends + datetime.timedelta(seconds=1))
        assert reminders.sweep().sent == 26

    delivered = collections.Counter(sink.handler.header_values("X-Keydrop-Reminder"))
    assert len(delivered) == 40 and max(delivered.values()) == 1
    assert ReminderNotice.objects.filter(offset_days=1, state=ReminderNotice.State.SENT).count() == 40


def test_mail_refused_by_a_real_smtp_server_is_retried(settings, time_machine):
    due_reminders(3)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on the discard port
    settings.EMAIL_TIMEOUT = 5
    assert reminders.sweep().failed == 3
    with SMTPSink() as sink:
        settings.EMAIL_PORT = sink.port
        time_machine.move_to(timezone.now() + datetime.timedelta(minutes=6))
        assert reminders.sweep().sent == 3
    assert len(sink.handler.messages) == 3
