"""The outbox's guarantees (keys/outbox.py), proved once for every user of it: renewal reminders,
check alerts and campaign emails. Each user's own tests cover only what differs (tests of
reminders, campaigns, checks).

Guarantee, then the tests that prove it:
- each message goes out once, however many sweeps race:
  test_sweeps_that_read_the_same_rows_send_each_message_once (threads),
  test_sweeps_in_processes_send_each_message_once_through_a_real_mail_server;
- a claim lasts past its sweep's end by a send in flight, never less than PORTAL_CLAIM_SECONDS:
  test_the_lease_rule, test_a_live_check_claim_follows_the_same_rule,
  test_a_message_still_in_flight_when_the_time_runs_out_is_not_sent_again;
- a dead sweep's claims go to the next sweep once its lease ends, none lost, none doubled:
  test_a_dead_sweeps_claims_go_to_the_next_sweep_once_its_lease_ends,
  test_a_sweep_killed_mid_run_loses_and_doubles_nothing;
- a sweep out of time hands the rest back at once: test_a_sweep_out_of_time_hands_the_rest_back_at_once;
- a refused message is retried after 5 min, 15 min, 1 h, 3 h, then every 6 h:
  test_a_refused_message_is_retried_on_the_back_off_schedule;
- only the claim's holder records: test_a_sweep_whose_claim_was_taken_over_records_nothing;
- a sweep without time is refused: test_a_sweep_without_time_is_refused,
  test_a_command_without_time_is_refused_by_name (the old claim settings and PORTAL_CLAIM_SECONDS=0: tests/test_env.py);
- one vocabulary: rows from before it say why and to whom where the others do
  (test_reasons_and_recipients_recorded_before_the_one_outbox_are_where_staff_now_look), and staff
  opening a stuck row are told what each field means.
"""

import collections
import datetime
import importlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from keys import outbox, reminders
from keys.checks import alerts, live_checks
from keys.models import CampaignMessage, CheckAlert, Institution, ReminderNotice
from keys.onboarding import campaign_emails, campaigns
from tests.factories import CredentialFactory, InstitutionFactory, tracked_credential
from tests.mail_backends import SLOW, SlowBackend
from tests.processes import line_up, manage, paused_manage
from tests.smtp_sink import SMTPSink

UTC = datetime.UTC
START = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECOND = datetime.timedelta(seconds=1)
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


# The three users, each with messages due now that go to one address each ------------------------


def due_reminders(count: int):
    # Three-day keys: the 3-day reminder is due at once, the next one two days away.
    for n in range(count):
        tracked_credential(lifetime_days=3, institution=InstitutionFactory(slug=f"r-{n}", contacts=[f"a@r-{n}.edu"]))
    return ReminderNotice.objects.filter(offset_days=3)


def due_alerts(count: int):
    for n in range(count):
        key = CredentialFactory(institution=InstitutionFactory(slug=f"k-{n}", contacts=[f"a@k-{n}.edu"]))
        CheckAlert.plan(key, CheckAlert.Topic.FAILING, episode=timezone.now(), reason="Refused.", now=timezone.now())
    return CheckAlert.objects.all()


def due_campaign_emails(count: int):
    for n in range(count):
        InstitutionFactory(slug=f"c-{n}", contacts=[f"a@c-{n}.edu"])
    campaigns.start(Institution.objects.all(), kind="dap", name="outbox", actor="test", now=timezone.now())
    return CampaignMessage.objects.all()


@dataclass(frozen=True)
class User:
    name: str
    box: Callable[[], outbox.Outbox]
    header: str
    make_due: Callable[[int], QuerySet]  # makes that many messages due now, and returns them
    module: str  # imported by a child process, whose sweep() it runs

    def sweep(self, **options) -> outbox.Report:
        return self.box().sweep(**options)


USERS = [
    User("reminders", reminders.Reminders, "X-Keydrop-Reminder", due_reminders, "keys.reminders"),
    User("alerts", alerts.Alerts, "X-Keydrop-Check-Alert", due_alerts, "keys.checks.alerts"),
    User(
        "campaigns",
        campaign_emails.CampaignEmails,
        "X-Keydrop-Campaign",
        due_campaign_emails,
        "keys.onboarding.campaigns",
    ),
]


@pytest.fixture(params=USERS, ids=[user.name for user in USERS])
def user(request, settings) -> User:
    settings.PORTAL_STAFF_EMAILS = []  # one email per message: the customer's
    return request.param


def headers(user: User) -> collections.Counter:
    return collections.Counter(message.extra_headers[user.header] for message in mail.outbox)


# Exactly once -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sweeps_that_read_the_same_rows_send_each_message_once(user, monkeypatch):
    """The worst order, forced: both sweeps read the same due rows; the first claims and loads
    them; only then does the second try to claim what it read, while the first is about to send."""
    made = user.make_due(6)
    read, both_read = {}, threading.Barrier(2)
    first_loaded, second_claimed = threading.Event(), threading.Event()
    look, take, deliver = outbox.candidates, outbox.claim, outbox.Outbox.deliver

    def read_and_wait_for_the_other(due, batch_size):
        rows = look(due, batch_size)
        if threading.current_thread().name not in read:
            read[threading.current_thread().name] = rows
            both_read.wait(30)
        return rows

    def second_claims_after_the_first_loaded(*args, **kwargs):
        if threading.current_thread().name == "second" and not second_claimed.is_set():
            first_loaded.wait(30)
            token = take(*args, **kwargs)
            second_claimed.set()
            return token
        return take(*args, **kwargs)

    def first_sends_after_the_second_claimed(box, batch, *args):
        if threading.current_thread().name == "first" and not first_loaded.is_set():
            first_loaded.set()
            second_claimed.wait(30)
        return deliver(box, batch, *args)

    monkeypatch.setattr(outbox, "candidates", read_and_wait_for_the_other)
    monkeypatch.setattr(outbox, "claim", second_claims_after_the_first_loaded)
    monkeypatch.setattr(outbox.Outbox, "deliver", first_sends_after_the_second_claimed)
    reports = {}

    def sweep():
        try:
            reports[threading.current_thread().name] = user.sweep(batch_size=3)
        finally:
            connection.close()

    sweeps = [threading.Thread(target=sweep, name=name) for name in ("first", "second")]
    for thread in sweeps:
        thread.start()
    for thread in sweeps:
        thread.join(60)
    assert first_loaded.is_set() and second_claimed.is_set(), "the race was not staged"
    assert read["first"] == read["second"] and len(read["first"]) == 3, "both sweeps read the same rows"
    assert reports["first"].sent >= 3 and reports["first"].sent + reports["second"].sent == 6
    assert len(headers(user)) == 6 and set(headers(user).values()) == {1}
    assert made.filter(state=outbox.State.SENT, attempts=1).count() == 6


def race_code(user: User, batch_size: int) -> str:
    return f"import {user.module} as box; print('Sent', box.sweep(batch_size={batch_size}, time_budget=600).sent)"


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_sweeps_in_processes_send_each_message_once_through_a_real_mail_server(user):
    made = user.make_due(120)
    with SMTPSink() as sink:
        sweeps = [
            paused_manage("keys.outbox:candidates", "shell", "--no-imports", "-c", race_code(user, 25), sink=sink)
            for _ in range(4)
        ]
        digests = line_up(sweeps)
        outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert len(set(digests)) == 1, "the sweeps were meant to read the very same rows before claiming"
    for sweep, (_out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err
    sent = [int(out.split()[1]) for out, _ in outputs]
    assert sum(sent) == 120 and sum(1 for n in sent if n) >= 2, sent
    delivered = collections.Counter(sink.handler.header_values(user.header))
    assert len(delivered) == 120 and max(delivered.values()) == 1
    assert made.filter(state=outbox.State.SENT).count() == 120


# The lease ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("budget, email_timeout", [(60, 20), (60, None), (600, 20), (600, None)])
def test_the_lease_rule(user, settings, time_machine, budget, email_timeout):
    """Past the sweep's end by every SMTP step of an email begun just before it (each may wait
    EMAIL_TIMEOUT, or a minute without one), and never shorter than PORTAL_CLAIM_SECONDS."""
    time_machine.move_to(START, tick=False)
    settings.EMAIL_TIMEOUT = email_timeout
    user.make_due(1)
    _, [message] = user.box().claim_batch(10, START + datetime.timedelta(seconds=budget))
    in_flight = 8 * (email_timeout or 60)
    least = max(settings.PORTAL_CLAIM_SECONDS, budget + in_flight)
    assert message.claimed_until == START + datetime.timedelta(seconds=least)


@pytest.mark.django_db
@pytest.mark.parametrize("budget", [50, 3600])
def test_a_live_check_claim_follows_the_same_rule(settings, time_machine, budget):
    time_machine.move_to(START, tick=False)
    key = CredentialFactory(next_check_at=START)
    [claimed] = live_checks.claim_batch(START, 10, until=START + datetime.timedelta(seconds=budget))
    in_flight = settings.PORTAL_OUTBOUND_DEADLINE  # a check runs at most this long past the sweep's end
    least = max(settings.PORTAL_CLAIM_SECONDS, budget + in_flight)
    assert claimed.pk == key.pk and claimed.check_claimed_until == START + datetime.timedelta(seconds=least)
    assert live_checks.claim_batch(START + datetime.timedelta(seconds=least), 10, until=START) == []
    assert live_checks.claim_batch(START + datetime.timedelta(seconds=least) + SECOND, 10, until=START)


@pytest.mark.django_db
def test_a_message_still_in_flight_when_the_time_runs_out_is_not_sent_again(user, settings, time_machine):
    time_machine.move_to(START, tick=False)
    settings.EMAIL_BACKEND, settings.EMAIL_TIMEOUT = SLOW, 20
    made = user.make_due(1)
    in_flight = datetime.timedelta(seconds=8 * 20)
    meanwhile = {}

    def the_mail_server_dawdles():
        # The sweep's whole time, and all but a second of the longest an email may take, pass on
        # this one message; meanwhile another worker sweeps.
        time_machine.move_to(START + datetime.timedelta(seconds=600) + in_flight - SECOND, tick=False)
        meanwhile["sweep"] = user.sweep()

    SlowBackend.meanwhile = the_mail_server_dawdles
    assert user.sweep(time_budget=600).sent == 1
    assert meanwhile["sweep"].sent == 0, "the message was still claimed by the first sweep"
    assert len(mail.outbox) == 1 and made.get().state == outbox.State.SENT


@pytest.mark.django_db
def test_a_dead_sweeps_claims_go_to_the_next_sweep_once_its_lease_ends(user, time_machine):
    time_machine.move_to(START, tick=False)
    user.make_due(3)
    _, claimed = user.box().claim_batch(10, START + datetime.timedelta(seconds=60))
    assert len(claimed) == 3  # and then its worker dies: nothing sent, nothing recorded
    lease_ends = max(message.claimed_until for message in claimed)
    time_machine.move_to(lease_ends - SECOND, tick=False)
    assert user.sweep().sent == 0, "the dead sweep's claim is respected until it runs out"
    time_machine.move_to(lease_ends + SECOND, tick=False)
    assert user.sweep().sent == 3
    assert len(headers(user)) == 3 and set(headers(user).values()) == {1}


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_sweep_killed_mid_run_loses_and_doubles_nothing(user, settings, time_machine):
    made = user.make_due(40)
    with SMTPSink(hold_transaction=15) as sink:
        sweep = manage("shell", "--no-imports", "-c", race_code(user, 100), sink=sink)
        assert sink.handler.holding.wait(timeout=120), (
            sweep.stderr.read() if sweep.poll() is not None else "no 15th message"
        )
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
        sink.handler.release.set()
        assert sweep.returncode == -signal.SIGKILL

        assert len(sink.handler.messages) == 14
        assert made.filter(state=outbox.State.SENT).count() == 14, (
            "every accepted message was recorded before the next was sent"
        )
        stranded = made.filter(state=outbox.State.SCHEDULED)
        assert stranded.count() == 26 and all(message.claimed_until for message in stranded)

        sink.receive_mail_of(settings)
        assert user.sweep().sent == 0, "the dead worker's claim is respected until it runs out"
        lease_ends = max(message.claimed_until for message in stranded)
        time_machine.move_to(lease_ends - SECOND)
        assert user.sweep().sent == 0
        time_machine.move_to(lease_ends + SECOND)
        assert user.sweep().sent == 26

    delivered = collections.Counter(sink.handler.header_values(user.header))
    assert len(delivered) == 40 and max(delivered.values()) == 1
    assert made.filter(state=outbox.State.SENT).count() == 40


@pytest.mark.django_db
def test_a_sweep_out_of_time_hands_the_rest_back_at_once(user, settings, time_machine):
    time_machine.move_to(START, tick=False)
    settings.EMAIL_BACKEND = SLOW
    waiting = user.make_due(3).filter(state=outbox.State.SCHEDULED)

    def the_first_email_takes_all_the_time():
        time_machine.move_to(START + datetime.timedelta(seconds=61), tick=False)

    SlowBackend.meanwhile = the_first_email_takes_all_the_time
    assert user.sweep(time_budget=60).sent == 1
    assert waiting.count() == 2
    assert not waiting.filter(claimed_until__isnull=False).exists(), "handed back, not left to the lease"
    assert user.sweep().sent == 2


# Failures --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_message_is_retried_on_the_back_off_schedule(user, settings, time_machine):
    time_machine.move_to(START, tick=False)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 5  # nothing listens
    made = user.make_due(1)
    waits = []
    for _ in range(6):
        failed_at = timezone.now()
        assert user.sweep().failed == 1
        message = made.get(state=outbox.State.SCHEDULED)
        waits.append(message.not_before - failed_at)
        time_machine.move_to(message.not_before - SECOND, tick=False)
        assert user.sweep().failed == 0, "not retried before its back-off"
        time_machine.move_to(message.not_before, tick=False)
    minutes = [int(wait.total_seconds()) // 60 for wait in waits]
    assert minutes == [5, 15, 60, 180, 360, 360]
    assert message.attempts == 6 and message.last_error.startswith("ConnectionRefusedError")
    settings.EMAIL_BACKEND = LOCMEM
    assert user.sweep().sent == 1
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_error) == (outbox.State.SENT, 7, "")
    assert message.recipients == mail.outbox[0].to[0]


@pytest.mark.django_db
def test_a_sweep_whose_claim_was_taken_over_records_nothing(user, time_machine):
    time_machine.move_to(START, tick=False)
    made = user.make_due(1)
    box = user.box()
    _, [stale] = box.claim_batch(10, START + datetime.timedelta(seconds=60))
    time_machine.move_to(stale.claimed_until + SECOND, tick=False)
    _, [current] = box.claim_batch(10, timezone.now() + datetime.timedelta(seconds=60))
    assert not outbox.record_sent(stale, ["someone@example.edu"])
    outbox.record_failure(stale, OSError("too late"))
    assert not outbox.finish(stale, outbox.State.CANCELLED, "too late")
    assert outbox.release([stale]) == 0
    row = made.get()
    assert (row.state, row.claimed_by, row.claimed_until) == (
        outbox.State.SCHEDULED,
        current.claimed_by,
        current.claimed_until,
    )
    assert (row.attempts, row.last_error, row.recipients) == (0, "", "")


# Settings and arguments ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("budget", [0, -60])
def test_a_sweep_without_time_is_refused(user, budget):
    made = user.make_due(1)
    with pytest.raises(ValueError, match="time budget must be a positive number of seconds"):
        user.sweep(time_budget=budget)
    assert not made.filter(claimed_until__isnull=False).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("command", [["send_reminders"], ["send_campaign_emails"], ["invite", "--without-key", "dap"]])
@pytest.mark.parametrize("budget", ["0", "-5", "soon", "inf"])
def test_a_command_without_time_is_refused_by_name(command, budget):
    with pytest.raises(CommandError, match=r"--time-budget: .* is not a positive number of seconds"):
        call_command(*command, "--time-budget", budget)


@pytest.mark.parametrize("model", [ReminderNotice, CheckAlert, CampaignMessage])
def test_staff_opening_a_stuck_message_are_told_what_every_field_means(model):
    unexplained = [field.name for field in model._meta.concrete_fields if not field.primary_key and not field.help_text]
    assert unexplained == []


@pytest.mark.django_db
def test_reasons_and_recipients_recorded_before_the_one_outbox_are_where_staff_now_look():
    # Migration 0015: alerts wrote why they were cancelled into last_error; campaign emails kept
    # no recipients.
    sent = due_campaign_emails(1).get()
    CampaignMessage.objects.filter(pk=sent.pk).update(state="sent")
    due_alerts(2)
    cancelled, failing = CheckAlert.objects.order_by("pk")
    CheckAlert.objects.filter(pk=cancelled.pk).update(state="cancelled", last_error="It no longer waits for a fix.")
    CheckAlert.objects.filter(pk=failing.pk).update(last_error="SMTPServerDisconnected: gone")
    importlib.import_module("keys.migrations.0015_outbox").one_vocabulary(django_apps, None)
    cancelled.refresh_from_db(), failing.refresh_from_db(), sent.refresh_from_db()
    assert (cancelled.state_reason, cancelled.last_error) == ("It no longer waits for a fix.", "")
    assert (failing.state_reason, failing.last_error) == ("", "SMTPServerDisconnected: gone")
    assert sent.recipients == sent.email
