"""Hourly flood limits of the intake: what the visitor sees, when uses free up, and lifting them.

| limit | default | counts |
| --- | --- | --- |
| submissions per intake link | 12 / rolling hour | each accepted submission |
| submissions per client address | 20 / rolling hour | each accepted submission (IPv6: per /64) |
| code emails per contact | 8 / rolling hour | each code email the mail server took (first and re-sent) |

A refused visitor gets HTTP 429, nothing stored or sent, and the time the oldest use frees up.
Staff lift an institution's limits early (audited).
"""

import datetime

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keys import limits
from keys.models import AuditEvent, Credential
from tests import factories
from tests.flows import form_data, submit
from tests.mail_backends import REFUSING
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
START = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)


def test_the_refusal_says_when_to_try_again(client, institution, settings, time_machine):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 2
    institution.time_zone = "America/Chicago"
    institution.save()
    time_machine.move_to(START, tick=False)
    submit(client, institution)
    time_machine.move_to(START + datetime.timedelta(minutes=20), tick=False)
    submit(client, institution)
    time_machine.move_to(START + datetime.timedelta(minutes=30), tick=False)
    response, verification = submit(client, institution)
    assert response.status_code == 429 and verification is None
    # The first use frees at 10:00 UTC, 04:00 in Chicago: thirty minutes from now.
    assert "try again after 04:00 (CST), in about 30 minute(s)" in response.content.decode()
    assert response["Retry-After"] == "1800"


def test_uses_free_up_one_hour_after_each_one_not_all_at_once(client, institution, settings, time_machine):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 2
    time_machine.move_to(START)
    assert submit(client, institution)[0].status_code == 302
    time_machine.move_to(START + datetime.timedelta(minutes=40))
    assert submit(client, institution)[0].status_code == 302
    time_machine.move_to(START + datetime.timedelta(minutes=59, seconds=59))
    assert submit(client, institution)[0].status_code == 429
    time_machine.move_to(START + datetime.timedelta(hours=1, seconds=1))
    assert submit(client, institution)[0].status_code == 302  # the 09:00 use is free
    assert submit(client, institution)[0].status_code == 429  # the 09:40 one is not yet


def test_the_address_limit_spans_institutions(settings):
    settings.PORTAL_SUBMISSIONS_PER_IP_PER_HOUR = 2
    first, second = factories.InstitutionFactory(), factories.InstitutionFactory()
    visitor = Client(REMOTE_ADDR="198.51.100.9")
    assert submit(visitor, first)[0].status_code == 302
    assert submit(visitor, second)[0].status_code == 302
    assert submit(visitor, second)[0].status_code == 429
    assert submit(Client(REMOTE_ADDR="198.51.100.10"), second)[0].status_code == 302


def test_ipv6_clients_are_limited_per_network(settings, institution):
    settings.PORTAL_SUBMISSIONS_PER_IP_PER_HOUR = 1
    assert submit(Client(REMOTE_ADDR="2001:db8:1:2::10"), institution)[0].status_code == 302
    assert submit(Client(REMOTE_ADDR="2001:db8:1:2:ffff::1"), institution)[0].status_code == 429
    assert limits.address_scope("::ffff:192.0.2.1") == limits.address_scope("192.0.2.1")


def test_a_refusal_by_one_limit_takes_nothing_from_the_others(client, institution, settings):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 1
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 2
    assert submit(client, institution)[0].status_code == 302
    assert submit(client, institution)[0].status_code == 429  # the inbox is full, the link is not
    other_contact = institution.contacts.create(email="it@example.edu")
    assert submit(client, institution, contact=str(other_contact.pk))[0].status_code == 302


def test_a_re_sent_code_counts_against_the_contact(client, institution, settings):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 2
    response, verification = submit(client, institution)
    assert client.post(f"/s/{verification.public_id}/new-code/").status_code == 302
    page = client.post(f"/s/{verification.public_id}/new-code/", follow=True).content.decode()
    assert "several codes to that address" in page and "try again after" in page
    assert len(mail.outbox) == 2


def test_a_code_email_the_mail_server_refused_gives_its_use_back(client, institution, settings, caplog):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 1
    settings.EMAIL_BACKEND = REFUSING
    refused, verification = submit(client, institution)
    assert refused.status_code == 302 and verification.codes_sent == 0  # no code counts as sent
    assert "failed: ConnectionRefusedError" in caplog.text  # the server refused: not a mistyped backend
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert submit(client, institution)[0].status_code == 302  # the refused email's use was given back
    assert len(mail.outbox) == 1


def test_a_replayed_form_gives_its_uses_back(client, institution, settings):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 2
    data = form_data(client, institution)
    assert client.post(institution.intake_path(), data).status_code == 302
    assert client.post(institution.intake_path(), data).status_code == 400  # the same nonce again
    assert submit(client, institution)[0].status_code == 302


def test_staff_lift_an_institutions_limits_early_and_it_is_audited(client, institution, settings, alice):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 1
    assert submit(client, institution)[0].status_code == 302
    assert submit(client, institution)[0].status_code == 429
    staff = signed_in(alice)
    assert (
        staff.post(f"/admin/keys/institution/{institution.pk}/lift-limits/", REMOTE_ADDR="192.0.2.5").status_code == 302
    )
    assert submit(client, institution)[0].status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LIMIT_LIFTED)
    assert event.actor == "alice" and event.institution == institution and event.ip == "192.0.2.5"
    assert "2 use(s)" in event.detail  # the link's and the contact's


def test_the_list_action_lifts_limits_too(client, institution, settings, alice):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 1
    submit(client, institution)
    signed_in(alice).post(
        "/admin/keys/institution/", {"action": "lift_hourly_limits", "_selected_action": [institution.pk]}
    )
    assert submit(client, institution)[0].status_code == 302
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LIMIT_LIFTED).count() == 1


def test_viewers_cannot_lift_limits(institution, bob):
    assert signed_in(bob).post(f"/admin/keys/institution/{institution.pk}/lift-limits/").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LIMIT_LIFTED).exists()


def test_spent_slots_are_forgotten(institution, client, time_machine):
    time_machine.move_to(START, tick=False)
    submit(client, institution)
    from keys.models import LimitSlot

    assert LimitSlot.objects.filter(taken_at__isnull=False).count() == 3
    never_used = LimitSlot.objects.filter(taken_at__isnull=True).count()
    assert limits.forget_spent(START + datetime.timedelta(minutes=59)) == never_used
    assert limits.forget_spent(START + datetime.timedelta(hours=1)) == 3
    assert Credential.objects.count() == 1


def test_a_refusal_has_a_retry_time_even_before_any_use(institution):
    now = timezone.now()
    with pytest.raises(limits.LimitReached) as refused:
        limits.take("link:0", 0, now)
    assert refused.value.retry_at == now + limits.HOUR
