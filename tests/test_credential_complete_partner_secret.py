"""Credential.complete_partner_secret(): once, for a key waiting for its partner secret."""

import pytest
from django.utils import timezone

from keys.models import Credential
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


def test_it_makes_a_waiting_partner_key_active_with_its_secret():
    credential = CredentialFactory(key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None)
    assert credential.complete_partner_secret("otp-secret-value", timezone.now())
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    assert credential.secret.reveal() == "otp-secret-value"
    assert credential.is_usable()


def test_a_second_racing_completion_stores_nothing():
    credential = CredentialFactory(key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None)
    stale = Credential.objects.get(pk=credential.pk)
    assert credential.complete_partner_secret("first-secret", timezone.now())
    assert stale.complete_partner_secret("second-secret", timezone.now()) is False
    credential.refresh_from_db()
    assert credential.secret.reveal() == "first-secret"


@pytest.mark.parametrize("status", [Credential.Status.PENDING, Credential.Status.ACTIVE, Credential.Status.REVOKED])
def test_it_refuses_any_other_state(status):
    credential = CredentialFactory(status=status, secret=None)
    assert credential.complete_partner_secret("otp-secret-value", timezone.now()) is False
    credential.refresh_from_db()
    assert credential.status == status and credential.secret is None
