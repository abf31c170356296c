"""Credential.revoke(): final, purging, and won by exactly one caller."""

import datetime

import pytest
from django.utils import timezone

from keys.models import Credential, ReminderNotice
from tests.factories import CredentialFactory, tracked_credential

pytestmark = pytest.mark.django_db


def test_it_purges_the_secret_and_stamps_the_time():
    credential = CredentialFactory()
    now = timezone.now()
    assert credential.revoke(now) is True
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED
    assert credential.secret is None
    assert credential.revoked_at == now and credential.secret_purged_at == now


def test_it_keeps_an_earlier_purge_time():
    purged = timezone.now() - datetime.timedelta(days=3)
    credential = CredentialFactory(status=Credential.Status.EXPIRED, secret=None, secret_purged_at=purged)
    assert credential.revoke(timezone.now())
    credential.refresh_from_db()
    assert credential.secret_purged_at == purged


def test_it_cancels_only_the_reminders_still_scheduled():
    credential = tracked_credential()
    sent = credential.reminders.first()
    ReminderNotice.objects.filter(pk=sent.pk).update(state=ReminderNotice.State.SENT)
    credential.revoke(timezone.now())
    states = dict(credential.reminders.values_list("pk", "state"))
    assert states.pop(sent.pk) == "sent"
    assert set(states.values()) == {"cancelled"}


@pytest.mark.parametrize("status", [Credential.Status.PENDING, Credential.Status.LOCKED, Credential.Status.REVOKED])
def test_it_refuses_credentials_that_have_nothing_to_revoke(status):
    credential = CredentialFactory(status=status)
    assert credential.revoke(timezone.now()) is False
    credential.refresh_from_db()
    assert credential.status == status


def test_a_second_revoke_with_a_stale_copy_changes_nothing():
    credential = CredentialFactory()
    stale = Credential.objects.get(pk=credential.pk)
    assert credential.revoke(timezone.now())
    assert stale.revoke(timezone.now() + datetime.timedelta(minutes=1)) is False
