"""The daily checks, run in this process by the schedule's own task with the clock moved.

| rule                                                        | test                                        |
|-------------------------------------------------------------|---------------------------------------------|
| a key that worked and is now refused alerts once            | contacts and staff told on the first day    |
| a second refused day does not alert again                   | nothing more while the episode lasts        |
| when it works again, staff are told it recovered            | staff only; a new episode alerts again      |
| inconclusive answers never alert (a 429 storm)              | nine days of 429: no email at all           |
| an unclear daily answer is asked again, backing off         | after 15 min, 1 h, 3 h, then the daily slot |
| ten days of nothing but inconclusive tells staff once       | one staff email, never the customer         |
| a superseded key refused while its renewal works            | alerts nobody (old keys get deleted)        |
| … while no other key works (renewal lapsed or refused)      | alerts contacts and staff, as a working key |
| … ten days inconclusive while no other key works            | tells staff once                            |
| a key no check has seen work (from before live checks)      | its alert does not say it worked before     |
| each key once per interval, spread over the interval        | 48 keys over two days                       |
| never more than the configured rate per Canvas host         | 12 due keys, 5 a minute                     |
| history kept PORTAL_CHECK_HISTORY_DAYS                      | older records forgotten                     |
"""

import collections
import datetime

import pytest
from django.core import mail

from keys.admin import dashboard
from keys.checks import live_checks
from keys.models import CheckAlert, Credential, CredentialCheck
from keys.tasks import run_live_checks
from tests.factories import CredentialFactory, InstitutionFactory, works

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
START = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET = "Daily0Check1Secret2Value"


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


def run_schedule(time_machine, start, hours, step_minutes=60):
    """The schedule's task every `step_minutes` for `hours` hours. Returns the mail of each run."""
    sent = []
    for step in range(int(hours * 60 / step_minutes) + 1):
        time_machine.move_to(start + datetime.timedelta(minutes=step * step_minutes), tick=False)
        before = len(mail.outbox)
        run_live_checks()
        sent.extend(mail.outbox[before:])
    return sent


def to_customer(messages):
    return [m for m in messages if m.to == ["charlie@example.edu"]]


def to_staff(messages):
    return [m for m in messages if m.to == ["ops@partner.example"]]


@pytest.fixture
def working_key(institution, fake_dap, time_machine):
    """A key that works, checked today; its daily slot comes round within the next day."""
    time_machine.move_to(START, tick=False)
    credential = CredentialFactory(institution=institution, secret=SECRET, submitted_at=START)
    fake_dap.add_key(credential.client_id, SECRET)
    run_schedule(time_machine, START, 24)
    credential.refresh_from_db()
    assert credential.checks.count() == 1 and credential.last_check_outcome == "works"
    mail.outbox.clear()
    return credential


def test_a_key_that_starts_failing_alerts_once_then_recovery_tells_staff(working_key, fake_dap, time_machine):
    day2 = START + datetime.timedelta(days=1, hours=1)
    del fake_dap.secrets[working_key.client_id]  # the institution deleted the key
    first_day = run_schedule(time_machine, day2, 24)
    [customer] = to_customer(first_day)
    assert "stopped working" in customer.subject
    assert working_key.masked_client_id in customer.body
    assert "deleted, regenerated or has expired" in customer.body  # what Canvas said, in words
    assert "the key was deleted in Identity Services" in customer.body  # the likely causes
    assert working_key.institution.intake_url("dap") in customer.body  # the renewal link
    [staff] = to_staff(first_day)
    assert "Canvas Data 2 key stopped working" in staff.subject
    working_key.refresh_from_db()
    assert working_key.check_state == "failing"
    tiles = {tile.label: tile.count for tile in dashboard.tiles(day2 + datetime.timedelta(days=1))}
    assert tiles["Failing"] == 1

    assert run_schedule(time_machine, day2 + datetime.timedelta(days=1, hours=1), 24) == [], "no second alert"
    assert working_key.checks.filter(outcome="rejected").count() == 2

    fake_dap.add_key(working_key.client_id, SECRET)  # fixed: the secret works again
    recovered = run_schedule(time_machine, day2 + datetime.timedelta(days=2, hours=2), 24)
    assert to_customer(recovered) == []
    [staff] = to_staff(recovered)
    assert "works again" in staff.subject
    working_key.refresh_from_db()
    assert working_key.check_state == "works" and working_key.failing_since is None

    del fake_dap.secrets[working_key.client_id]  # a new episode is a new alert
    again = run_schedule(time_machine, day2 + datetime.timedelta(days=3, hours=3), 24)
    assert len(to_customer(again)) == 1 and len(to_staff(again)) == 1
    assert CheckAlert.objects.filter(topic="failing").count() == 2


def test_a_429_storm_never_alerts_and_ten_days_of_it_tell_staff_once(working_key, fake_dap, time_machine):
    fake_dap.mode = "429"
    storm = START + datetime.timedelta(days=1, hours=1)
    assert run_schedule(time_machine, storm, 24 * 9) == [], "nine days of 429: no email at all"
    working_key.refresh_from_db()
    assert working_key.check_state == "inconclusive" and working_key.failing_since is None
    tenth = run_schedule(time_machine, storm + datetime.timedelta(days=9, hours=1), 24 * 5)
    assert to_customer(tenth) == []
    [staff] = to_staff(tenth)
    assert "no clear answer from Canvas for 10 days" in staff.subject
    assert "Instructure asked us to slow down" in staff.body


def test_an_unclear_daily_answer_is_asked_again_with_back_off_then_daily(working_key, fake_dap, time_machine):
    fake_dap.mode = "503"
    start = START + datetime.timedelta(days=1, hours=1)
    run_schedule(time_machine, start, 24 * 2, step_minutes=5)
    working_key.refresh_from_db()
    times = list(working_key.checks.filter(at__gte=start).order_by("at").values_list("at", flat=True))
    gaps = [round((later - earlier).total_seconds() / 60) for earlier, later in zip(times, times[1:], strict=False)]
    # 15 minutes, an hour, three hours (each to the sweep's 5-minute step), then the daily slot again.
    assert [5 * round(gap / 5) for gap in gaps[:3]] == [15, 60, 180], gaps
    assert all(gap >= 12 * 60 for gap in gaps[3:]) and gaps[3:], gaps
    assert working_key.failing_since is None and to_customer(mail.outbox) == []


def test_a_superseded_key_that_stops_working_alerts_nobody(working_key, fake_dap, time_machine):
    newer = CredentialFactory(
        institution=working_key.institution, secret="newer-secret", submitted_at=START + datetime.timedelta(days=1)
    )
    newer.start_tracking(START + datetime.timedelta(days=1))
    fake_dap.add_key(newer.client_id, "newer-secret")
    works(newer, START + datetime.timedelta(days=1))
    del fake_dap.secrets[working_key.client_id]  # deleted once the new one worked: as it should be
    assert run_schedule(time_machine, START + datetime.timedelta(days=1, hours=1), 48) == []
    working_key.refresh_from_db()
    assert working_key.status == Credential.Status.SUPERSEDED and working_key.check_state == "failing"


def renewal(older, *, days_after: int, lifetime_days: int, fake_dap):
    """A newer key of the same institution, verified and seen working `days_after` START."""
    verified = START + datetime.timedelta(days=days_after)
    newer = CredentialFactory(
        institution=older.institution,
        secret="newer-secret",
        submitted_at=verified,
        expires_at=verified + datetime.timedelta(days=lifetime_days),
    )
    newer.start_tracking(verified)
    fake_dap.add_key(newer.client_id, "newer-secret")
    works(newer, verified)
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED and older.superseded_by == newer
    return newer


def test_a_superseded_key_whose_shorter_lived_renewal_lapsed_alerts_when_it_stops_working(
    working_key, fake_dap, time_machine
):
    newer = renewal(working_key, days_after=1, lifetime_days=2, fake_dap=fake_dap)
    del fake_dap.secrets[working_key.client_id]  # the old key, the only one left, is deleted
    sent = run_schedule(time_machine, START + datetime.timedelta(days=3, hours=1), 24)
    [customer] = to_customer(sent)
    assert "stopped working" in customer.subject and working_key.masked_client_id in customer.body
    for text in (customer.body, customer.alternatives[0][0]):
        assert "It worked before" in text
        assert "A newer key was handed over since, but none works now" in text
    [staff] = to_staff(sent)
    assert working_key.masked_client_id in staff.subject + staff.body and newer.masked_client_id not in staff.body
    assert "It is superseded, but no newer key works now." in staff.body


def test_a_superseded_key_whose_renewal_is_refused_too_alerts(working_key, fake_dap, time_machine):
    newer = renewal(working_key, days_after=1, lifetime_days=365, fake_dap=fake_dap)
    fake_dap.secrets.clear()  # both keys deleted at Instructure
    time_machine.move_to(START + datetime.timedelta(days=2), tick=False)
    live_checks.check(newer, trigger=CredentialCheck.Trigger.SCHEDULE)  # the newer one is refused first
    sent = run_schedule(time_machine, START + datetime.timedelta(days=2), 24)
    customer = to_customer(sent)
    assert len(customer) == 2, "one alert per key: the working one, then the superseded one"
    assert {m.subject for m in customer} == {
        "Canvas Data 2 key for Example University stopped working: please check it"
    }
    assert working_key.masked_client_id in customer[1].body and newer.masked_client_id in customer[0].body
    assert CheckAlert.objects.filter(credential=working_key, topic="failing").count() == 1


def test_a_superseded_key_with_ten_days_of_unclear_answers_tells_staff_once_its_renewal_lapsed(
    working_key, fake_dap, time_machine
):
    renewal(working_key, days_after=1, lifetime_days=2, fake_dap=fake_dap)
    fake_dap.mode = "429"
    storm = START + datetime.timedelta(days=3, hours=1)
    assert run_schedule(time_machine, storm, 24 * 9, step_minutes=180) == []
    sent = run_schedule(time_machine, storm + datetime.timedelta(days=9, hours=3), 24 * 3, step_minutes=180)
    assert to_customer(sent) == []
    [staff] = to_staff(sent)
    assert "no clear answer from Canvas for 10 days" in staff.subject
    assert working_key.masked_client_id in staff.subject + staff.body


def test_a_superseded_key_with_ten_days_of_unclear_answers_tells_nobody_while_its_renewal_works(
    working_key, fake_dap, time_machine
):
    newer = renewal(working_key, days_after=1, lifetime_days=365, fake_dap=fake_dap)
    fake_dap.mode = "429"  # the renewal gets no clear answers either, yet it worked and was never refused
    sent = run_schedule(time_machine, START + datetime.timedelta(days=1, hours=1), 24 * 12, step_minutes=180)
    [staff] = to_staff(sent)
    assert newer.masked_client_id in staff.subject + staff.body, "only the working key's long silence is news"
    assert not CheckAlert.objects.filter(credential=working_key).exists()


def test_a_key_no_check_has_seen_work_is_not_said_to_have_worked_before(institution, fake_dap, time_machine):
    time_machine.move_to(START, tick=False)
    CredentialFactory(institution=institution, secret=SECRET, submitted_at=START - datetime.timedelta(days=200))
    sent = run_schedule(time_machine, START, 24)  # its first check ever: Instructure does not know it
    [customer] = to_customer(sent)
    assert customer.subject == "Canvas Data 2 key for Example University is refused by Canvas: please check it"
    [staff] = to_staff(sent)
    assert "is refused by Canvas, and no check has seen it work" in staff.subject
    for text in (customer.body, customer.alternatives[0][0], staff.body, staff.alternatives[0][0]):
        assert "worked before" not in text and "no longer accepts" not in text
    for text in (customer.body, customer.alternatives[0][0]):
        assert "No check since it was handed over has seen it work" in text
    assert "No check has seen it work." in staff.body


def test_each_key_is_checked_once_per_interval_spread_over_it(fake_dap, time_machine, settings):
    settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE = 100
    time_machine.move_to(START, tick=False)
    institutions = InstitutionFactory.create_batch(4)
    keys = [CredentialFactory(institution=institutions[n % 4], secret=SECRET, submitted_at=START) for n in range(48)]
    for key in keys:
        fake_dap.add_key(key.client_id, SECRET)
    run_schedule(time_machine, START, 48, step_minutes=10)
    times = collections.defaultdict(list)
    for check in CredentialCheck.objects.order_by("at"):
        times[check.credential_id].append(check.at)
    assert sorted(len(t) for t in times.values()) == [2] * 48, "each key once a day, two days"
    for first, second in times.values():
        assert second - first >= datetime.timedelta(hours=23, minutes=50)
    per_hour = collections.Counter(t[0].replace(minute=0, second=0) for t in times.values())
    assert max(per_hour.values()) <= 6, (
        f"spread over the day (2 an hour on average), got {max(per_hour.values())} in one hour"
    )
    assert len(per_hour) >= 18
    assert len(fake_dap.served) == 96


def test_no_canvas_host_gets_more_than_the_configured_rate(fake_dap, fake_canvas, time_machine, settings):
    settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE = 5
    time_machine.move_to(START, tick=False)
    keys = [CredentialFactory(secret=SECRET, submitted_at=START, next_check_at=START) for _ in range(12)]
    for key in keys:
        fake_dap.add_key(key.client_id, SECRET)
    # A developer key on another host is not held up by the Canvas Data 2 gateway's budget.
    other = CredentialFactory(
        kind="developer_key",
        client_id="170000000000777",
        secret="S" * 64,
        canvas_url=fake_canvas.url.replace("127.0.0.1", "localhost"),
        key_type="",
        expires_at=None,
        submitted_at=START,
        next_check_at=START + datetime.timedelta(seconds=1),
    )
    served = []
    for second in (0, 20, 40, 60, 80, 120):
        time_machine.move_to(START + datetime.timedelta(seconds=second), tick=False)
        run_live_checks()
        served.append(len(fake_dap.served))
    assert served == [5, 5, 5, 10, 10, 12]
    assert other.checks.count() == 1


def test_check_history_is_kept_for_the_configured_days(working_key, time_machine, settings):
    settings.PORTAL_CHECK_HISTORY_DAYS = 3
    run_schedule(time_machine, START + datetime.timedelta(days=1, hours=1), 24 * 6)
    remaining = list(working_key.checks.values_list("at", flat=True))
    assert remaining and min(remaining) >= START + datetime.timedelta(days=4)


def test_alert_emails_name_the_outcome_in_one_of_the_three_words(working_key, fake_dap, time_machine):
    del fake_dap.secrets[working_key.client_id]
    sent = run_schedule(time_machine, START + datetime.timedelta(days=1, hours=1), 24)
    for message in sent:
        html = message.alternatives[0][0]
        assert "rejected. Instructure did not accept" in message.body
        assert "<strong>rejected</strong>. Instructure did not accept" in html


def test_keys_from_before_live_checks_get_slots_spread_over_the_next_day(fake_dap, time_machine):
    time_machine.move_to(START, tick=False)
    keys = [CredentialFactory(secret=SECRET, submitted_at=START) for _ in range(24)]
    dead = CredentialFactory(status=Credential.Status.REVOKED, secret=None)
    run_live_checks()
    slots = sorted(Credential.objects.filter(pk__in=[k.pk for k in keys]).values_list("next_check_at", flat=True))
    assert slots[0] > START and slots[-1] <= START + datetime.timedelta(days=1)
    assert len({slot.hour for slot in slots}) >= 12
    dead.refresh_from_db()
    assert dead.next_check_at is None
