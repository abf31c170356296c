"""Credential.objects.lapsed_without_renewal(): keys past expiry that nothing newer replaces."""

import datetime

import pytest
from django.utils import timezone

from keys.models import Credential
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db
Status = Credential.Status


def lapsed():
    return set(Credential.objects.lapsed_without_renewal(timezone.now()).values_list("pk", flat=True))


def days(n):
    return timezone.now() + datetime.timedelta(days=n)


def test_an_active_or_expired_key_past_its_date_with_nothing_newer_is_lapsed(institution):
    old = CredentialFactory(institution=institution, status=Status.EXPIRED, expires_at=days(-1))
    assert lapsed() == {old.pk}


@pytest.mark.parametrize("newer_status", [Status.ACTIVE, Status.AWAITING_SECRET, Status.SUPERSEDED, Status.EXPIRED])
def test_a_newer_verified_key_counts_as_a_renewal(institution, newer_status):
    CredentialFactory(institution=institution, status=Status.EXPIRED, expires_at=days(-1), submitted_at=days(-400))
    newer = CredentialFactory(
        institution=institution,
        status=newer_status,
        expires_at=days(-1) if newer_status == Status.EXPIRED else days(300),
    )
    assert lapsed() == ({newer.pk} if newer_status == Status.EXPIRED else set())


@pytest.mark.parametrize("newer_status", [Status.PENDING, Status.LOCKED, Status.REVOKED])
def test_an_unverified_locked_or_revoked_newer_key_is_no_renewal(institution, newer_status):
    old = CredentialFactory(
        institution=institution, status=Status.EXPIRED, expires_at=days(-1), submitted_at=days(-400)
    )
    CredentialFactory(
        institution=institution,
        status=newer_status,
        verified_at=None if newer_status != Status.REVOKED else days(0),
        submitted_at=days(0),
    )
    assert lapsed() == {old.pk}


def test_another_kind_or_institution_is_no_renewal(institution):
    old = CredentialFactory(
        institution=institution, status=Status.EXPIRED, expires_at=days(-1), submitted_at=days(-400)
    )
    CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123")
    CredentialFactory()
    assert lapsed() == {old.pk}


def test_a_key_still_in_date_or_revoked_is_not_lapsed(institution):
    CredentialFactory(institution=institution, expires_at=days(3))
    CredentialFactory(institution=institution, status=Status.REVOKED, expires_at=days(-3), secret=None)
    CredentialFactory(institution=institution, expires_at=None, kind="developer_key", client_id="170000000000123")
    assert lapsed() == set()


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.SUPERSEDED, Status.AWAITING_SECRET])
def test_a_live_key_past_its_date_is_lapsed_before_the_sweep_marks_it_expired(institution, status):
    old = CredentialFactory(institution=institution, status=status, expires_at=days(-1), submitted_at=days(-400))
    CredentialFactory(institution=institution, status=Status.REVOKED, verified_at=days(0), submitted_at=days(0))
    assert lapsed() == {old.pk}
