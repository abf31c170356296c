"""A credential's whole life with the clock moved day by day: every reminder on its day, once.

How reminders are claimed, sent once, retried and handed back is the outbox's, tested once for
every user in tests/test_outbox.py; here is what differs about reminders."""

import datetime
import io

import pytest
from django.core import mail
from django.core.management import call_command

from keys.models import Credential, ReminderNotice
from keys.tasks import purge_dead_secrets, send_reminders
from tests.factories import tracked_credential, works
from tests.mail_backends import REFUSING

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
START = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET = "lifetime-Secret-value-000111"


def live_through(time_machine, start, days, hour=0, minute=5):
    """Run the schedules once a day (just after midnight UTC) for `days` days; mail per day."""
    sent = {}
    for day in range(days + 1):
        moment = datetime.datetime.combine(
            start.date() + datetime.timedelta(days=day), datetime.time(hour, minute), UTC
        )
        if moment < start:
            continue
        time_machine.move_to(moment, tick=False)
        before = len(mail.outbox)
        send_reminders()
        send_reminders()  # a second run the same day sends nothing more
        purge_dead_secrets()
        sent[moment.date()] = mail.outbox[before:]
    return sent


@pytest.fixture
def contact_institution(institution, settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]
    return institution


def test_a_one_year_key_gets_each_reminder_on_its_day_then_the_lapse_notice_then_its_secret_is_purged(
    time_machine, contact_institution
):
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, secret=SECRET, lifetime_days=365)
    expiry = credential.expires_on()
    assert expiry == datetime.date(2027, 11, 23)
    days = live_through(time_machine, START, 372)
    mail_days = {day: [m.to for m in messages] for day, messages in days.items() if messages}
    customer, staff = ["charlie@example.edu"], ["ops@partner.example"]
    assert mail_days == {
        datetime.date(2027, 10, 24): [customer],
        datetime.date(2027, 11, 9): [customer],
        datetime.date(2027, 11, 16): [customer],
        datetime.date(2027, 11, 20): [customer, staff],
        datetime.date(2027, 11, 22): [customer, staff],
        datetime.date(2027, 11, 23): [customer, staff],
    }
    subjects = [messages[0].subject for day, messages in sorted(days.items()) if messages]
    assert "expires in 30 days" in subjects[0]
    assert "expires tomorrow" in subjects[4]
    assert "has expired" in subjects[5]
    credential.refresh_from_db()
    assert credential.status == Credential.Status.EXPIRED
    assert credential.secret is None and credential.secret_purged_at is not None
    assert credential.client_id  # the record stays for the audit trail
    assert set(credential.reminders.values_list("state", flat=True)) == {ReminderNotice.State.SENT}


def test_renewal_stops_the_old_keys_reminders_and_the_new_key_takes_over(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    old = tracked_credential(institution=contact_institution, lifetime_days=365)
    days = live_through(time_machine, START, 335)  # through the 30-day reminder on 2027-10-24
    assert sum(len(m) for m in days.values()) == 1
    renewed_at = datetime.datetime(2027, 10, 25, 9, 0, tzinfo=UTC)
    time_machine.move_to(renewed_at, tick=False)
    new = tracked_credential(institution=contact_institution, now=renewed_at, lifetime_days=365)
    works(new, renewed_at)  # a newer key takes over once Canvas says it works
    days = live_through(time_machine, renewed_at, 40)
    assert sum(len(m) for m in days.values()) == 0, "no reminder about the old key after renewal"
    old.refresh_from_db()
    assert old.status == Credential.Status.EXPIRED  # it kept working until its own date
    assert old.secret is None
    new.refresh_from_db()
    assert new.status == Credential.Status.ACTIVE and new.secret is not None


def test_a_one_week_key_gets_three_reminders_and_the_lapse_notice(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    tracked_credential(institution=contact_institution, lifetime_days=7)
    send_reminders()
    assert len(mail.outbox) == 1 and "7 days" in mail.outbox[0].subject
    days = live_through(time_machine, START + datetime.timedelta(days=1), 8)
    customer_days = sorted(day for day, messages in days.items() if messages)
    assert customer_days == [datetime.date(2026, 11, 27), datetime.date(2026, 11, 29), datetime.date(2026, 11, 30)]


def test_a_one_day_key_is_reminded_on_the_next_sweep_and_not_again(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    tracked_credential(institution=contact_institution, lifetime_days=1)
    assert send_reminders() == {"sent": 1, "failed": 0, "skipped": 0, "cancelled": 0, "deferred": 0}
    assert send_reminders() == {"sent": 0, "failed": 0, "skipped": 0, "cancelled": 0, "deferred": 0}
    assert len(mail.outbox) == 2  # the customer's reminder and, a final one, the staff copy
    assert mail.outbox[0].to == ["charlie@example.edu"]
    assert "tomorrow" in mail.outbox[0].subject


def test_the_reminder_email_says_what_where_when_and_how_and_never_the_secret(
    time_machine, contact_institution, settings
):
    settings.PORTAL_BASE_URL = "https://keys.partner.example"
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, secret=SECRET, lifetime_days=30)
    time_machine.move_to(datetime.datetime(2026, 12, 16, 0, 5, tzinfo=UTC), tick=False)
    send_reminders()
    message = mail.outbox[-1]
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert "Example University" in body
        assert "Canvas Data 2 key" in body
        assert credential.masked_client_id in body
        assert "23 December 2026" in body
        assert "in 7 days" in body
        assert "data feed stops" in body
        assert f"https://keys.partner.example/i/{contact_institution.intake_token}/" in body
        assert "identity.instructure.com" in body
        assert SECRET not in body
        assert credential.client_id not in body
    notice = credential.reminders.get(offset_days=7)
    assert notice.state == ReminderNotice.State.SENT
    assert notice.sent_at == datetime.datetime(2026, 12, 16, 0, 5, tzinfo=UTC)
    assert notice.recipients == "charlie@example.edu"


def test_a_partner_keys_reminder_and_lapse_notice_give_the_partner_key_steps(
    time_machine, contact_institution, settings
):
    settings.PORTAL_PARTNER_NAME = "EdPotential"
    settings.PORTAL_PARTNER_KEY_EMAIL = "keys@edpotential.example"
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, key_type="partner", lifetime_days=30)
    time_machine.move_to(datetime.datetime(2026, 12, 16, 0, 5, tzinfo=UTC), tick=False)  # 7 days before
    send_reminders()
    time_machine.move_to(credential.expires_at + datetime.timedelta(minutes=5), tick=False)
    send_reminders()
    reminder, lapse = (m for m in mail.outbox if m.to == ["charlie@example.edu"])
    assert "in 7 days" in reminder.subject and "has expired" in lapse.subject
    for message in (reminder, lapse):
        for body in (message.body, message.alternatives[0][0]):
            assert "Key Type Instructure Partner" in body
            assert "choose EdPotential in the Select Partner menu" in body
            assert "Enter keys@edpotential.example in the email field" in body
            assert "There is no secret for you to copy" in body and "Submit only the Client ID" in body
            assert "Institutional Use" not in body and "Reveal the Client ID and Secret" not in body


def test_an_institutional_keys_reminder_still_says_to_reveal_the_secret(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    tracked_credential(institution=contact_institution, lifetime_days=30)
    time_machine.move_to(datetime.datetime(2026, 12, 16, 0, 5, tzinfo=UTC), tick=False)
    send_reminders()
    body = mail.outbox[-1].body
    assert "Key Type Institutional Use" in body and "Reveal the Client ID and Secret" in body
    assert "Select Partner" not in body


def test_expiry_dates_are_shown_in_the_institutions_time_zone(time_machine, contact_institution):
    contact_institution.time_zone = "Pacific/Auckland"
    contact_institution.save()
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, lifetime_days=30)
    # 10:00 UTC on 23 November is 23:00 in Auckland: the key was created on the 23rd there.
    assert credential.expires_on() == datetime.date(2026, 12, 23)
    assert credential.expires_at == datetime.datetime(2026, 12, 22, 11, 0, tzinfo=UTC)
    time_machine.move_to(credential.expires_at - datetime.timedelta(days=7), tick=False)
    send_reminders()
    assert "23 December 2026" in mail.outbox[-1].body


def test_final_reminders_also_go_to_partner_staff(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    tracked_credential(institution=contact_institution, lifetime_days=30)
    live_through(time_machine, START, 31)
    staff_mail = [m for m in mail.outbox if m.to == ["ops@partner.example"]]
    assert [m.subject.split(": ", 1)[1] for m in staff_mail] == [
        "Canvas Data 2 key expires in 3 days",
        "Canvas Data 2 key expires tomorrow",
        "Canvas Data 2 key has lapsed",
    ]


def test_a_refused_message_is_retried_later_and_the_lapse_notice_still_follows(
    time_machine, contact_institution, settings
):
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, lifetime_days=1)
    settings.EMAIL_BACKEND = REFUSING
    assert send_reminders()["failed"] == 1
    notice = credential.reminders.get(offset_days=1)
    assert notice.state == ReminderNotice.State.SCHEDULED and notice.attempts == 1
    assert "refused" in notice.last_error
    assert send_reminders()["failed"] == 0, "not retried before its back-off"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    time_machine.move_to(START + datetime.timedelta(minutes=6), tick=False)
    assert send_reminders()["sent"] == 1
    notice.refresh_from_db()
    assert notice.state == ReminderNotice.State.SENT and notice.attempts == 2
    time_machine.move_to(credential.expires_at + datetime.timedelta(minutes=1), tick=False)
    assert send_reminders()["sent"] == 1
    assert "has expired" in mail.outbox[-2].subject


def test_a_reminder_that_failed_until_a_later_one_was_due_is_skipped(time_machine, contact_institution, settings):
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, lifetime_days=10)
    settings.EMAIL_BACKEND = REFUSING
    time_machine.move_to(credential.expires_at - datetime.timedelta(days=7), tick=False)
    send_reminders()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    time_machine.move_to(credential.expires_at - datetime.timedelta(days=3), tick=False)
    assert send_reminders() == {"sent": 1, "failed": 0, "skipped": 1, "cancelled": 0, "deferred": 0}
    assert "in 3 days" in mail.outbox[0].subject
    assert credential.reminders.get(offset_days=7).state == ReminderNotice.State.SKIPPED


def test_revoked_credentials_get_no_reminders(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    credential = tracked_credential(institution=contact_institution, lifetime_days=1)
    Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.REVOKED)
    assert send_reminders() == {"sent": 0, "failed": 0, "skipped": 0, "cancelled": 1, "deferred": 0}
    assert credential.reminders.get(offset_days=1).state == ReminderNotice.State.CANCELLED


def test_the_send_reminders_command_prints_how_many_it_sent(time_machine, contact_institution):
    time_machine.move_to(START, tick=False)
    tracked_credential(institution=contact_institution, lifetime_days=1)
    tracked_credential(lifetime_days=1)
    out = io.StringIO()
    call_command("send_reminders", stdout=out)
    assert out.getvalue().startswith("Sent 2 reminder(s)")
    out = io.StringIO()
    call_command("send_reminders", stdout=out)
    assert out.getvalue().startswith("Sent 0 reminder(s)")


def test_the_schedules_exist_after_migrate_without_arguments_and_can_not_pile_up(settings):
    from django_q.models import Schedule

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"keys.send_reminders", "keys.purge_dead_secrets", "intake.lock_stale_submissions"} <= names
    for schedule in Schedule.objects.all():
        assert schedule.args in (None, "") and schedule.kwargs in (None, "")
        assert schedule.repeats == -1
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]
    assert q["max_attempts"] > 0
    assert q["catch_up"] is False


def test_revoked_and_locked_secrets_are_purged(time_machine):
    time_machine.move_to(START, tick=False)
    revoked = tracked_credential()
    Credential.objects.filter(pk=revoked.pk).update(status=Credential.Status.REVOKED)
    active = tracked_credential()
    assert purge_dead_secrets() == {"expired": 0, "unfixed": 0, "purged": 1}
    assert Credential.objects.get(pk=revoked.pk).secret is None
    assert Credential.objects.get(pk=active.pk).secret is not None
    assert purge_dead_secrets() == {"expired": 0, "unfixed": 0, "purged": 0}
