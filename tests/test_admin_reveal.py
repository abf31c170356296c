"""Revealing a secret in the admin: the permission, a reason, the audit event first, no caching."""

import datetime

import pytest
from django.db import DatabaseError
from django.utils import timezone

from keys import audit
from keys.models import AuditEvent, Credential
from keys.sealing import Sealed
from tests.factories import CredentialFactory
from tests.staff_cast import SECRET, signed_in

pytestmark = pytest.mark.django_db
REASON = "The nightly sync fails with 401; checking the key"


def reveal_url(credential):
    return f"/admin/keys/credential/{credential.pk}/reveal/"


@pytest.fixture
def reveal_calls(monkeypatch):
    """Every Sealed.reveal() call, with the number of reveal events that existed at that moment."""
    calls = []
    original = Sealed.reveal

    def counting(self, *args, **kwargs):
        calls.append(AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).count())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Sealed, "reveal", counting)
    return calls


def test_staff_without_the_permission_see_no_button_and_get_403(bob, credential, reveal_calls):
    client = signed_in(bob)
    change_page = client.get(f"/admin/keys/credential/{credential.pk}/change/")
    assert change_page.status_code == 200
    assert b"Reveal secret" not in change_page.content
    assert client.get(reveal_url(credential)).status_code == 403
    assert client.post(reveal_url(credential), {"reason": REASON}).status_code == 403
    assert reveal_calls == [] and not AuditEvent.objects.exists()


def test_staff_with_the_permission_see_the_button(dana, credential):
    change_page = signed_in(dana).get(f"/admin/keys/credential/{credential.pk}/change/")
    assert b"Reveal secret" in change_page.content


def test_the_form_asks_for_a_reason_and_shows_nothing_secret(dana, credential, reveal_calls):
    response = signed_in(dana).get(reveal_url(credential))
    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert SECRET.encode() not in response.content
    assert "no-store" in response["Cache-Control"]
    assert reveal_calls == []


def test_a_reveal_without_a_reason_is_refused_and_recorded_nowhere(dana, credential, reveal_calls):
    for reason in ["", "   ", "why"]:
        response = signed_in(dana).post(reveal_url(credential), {"reason": reason})
        assert response.status_code == 400
        assert SECRET.encode() not in response.content
    assert reveal_calls == [] and not AuditEvent.objects.exists()


def test_a_reveal_writes_the_audit_event_before_decrypting_and_shows_the_secret_uncached(
    dana, credential, reveal_calls
):
    response = signed_in(dana).post(reveal_url(credential), {"reason": REASON}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    assert SECRET.encode() in response.content
    assert credential.client_id.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    assert reveal_calls == [1]  # decrypted once, with its event already written
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.reason, event.ip) == ("reveal", "dana", REASON, "198.51.100.7")
    assert event.credential == credential and event.institution == credential.institution
    assert SECRET not in f"{event.reason} {event.detail} {event.actor}"


def test_superusers_are_audited_like_everyone(alice, credential):
    response = signed_in(alice).post(reveal_url(credential), {"reason": REASON})
    assert SECRET.encode() in response.content
    assert AuditEvent.objects.get().actor == "alice"


def test_each_reveal_is_a_new_event(dana, credential):
    client = signed_in(dana)
    client.post(reveal_url(credential), {"reason": REASON})
    client.post(reveal_url(credential), {"reason": REASON + " again"})
    assert AuditEvent.objects.filter(action="reveal").count() == 2


def test_if_the_audit_event_cannot_be_written_no_secret_is_shown(dana, credential, reveal_calls, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(audit, "record", broken)
    response = signed_in(dana).post(reveal_url(credential), {"reason": REASON})
    assert response.status_code == 503
    assert SECRET.encode() not in response.content
    assert b"could not record this access" in response.content
    assert reveal_calls == []


def test_an_undecryptable_secret_leaves_no_event_and_no_500(dana, institution, settings):
    credential = CredentialFactory(institution=institution, secret=Sealed(b"not a ciphertext"))
    response = signed_in(dana).post(reveal_url(credential), {"reason": REASON})
    assert response.status_code == 409
    assert b"cannot be decrypted" in response.content
    assert not AuditEvent.objects.exists()


def test_the_reveal_post_needs_a_csrf_token(dana, credential, reveal_calls):
    client = signed_in(dana, enforce_csrf_checks=True)
    assert client.post(reveal_url(credential), {"reason": REASON}).status_code == 403
    assert reveal_calls == [] and not AuditEvent.objects.exists()


def test_a_pending_submission_cannot_be_revealed_or_even_found(dana, institution, reveal_calls):
    pending = CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    client = signed_in(dana)
    assert client.get(reveal_url(pending)).status_code == 404
    assert client.post(reveal_url(pending), {"reason": REASON}).status_code == 404
    assert reveal_calls == [] and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "status, expired",
    [
        (Credential.Status.REVOKED, False),
        (Credential.Status.LOCKED, False),
        (Credential.Status.AWAITING_SECRET, False),
        (Credential.Status.ACTIVE, True),
    ],
)
def test_only_a_working_credential_can_be_revealed(dana, institution, status, expired, reveal_calls):
    expires_at = (
        timezone.now() - datetime.timedelta(days=1) if expired else timezone.now() + datetime.timedelta(days=30)
    )
    secret = (
        None
        if status in (Credential.Status.REVOKED, Credential.Status.LOCKED, Credential.Status.AWAITING_SECRET)
        else SECRET
    )
    other = CredentialFactory(institution=institution, status=status, secret=secret, expires_at=expires_at)
    client = signed_in(dana)
    assert b"Reveal secret" not in client.get(f"/admin/keys/credential/{other.pk}/change/").content
    response = client.post(reveal_url(other), {"reason": REASON})
    assert response.status_code == 302
    assert reveal_calls == [] and not AuditEvent.objects.exists()


def test_a_superseded_key_that_still_works_can_be_revealed(dana, institution):
    older = CredentialFactory(institution=institution, status=Credential.Status.SUPERSEDED, secret=SECRET)
    assert SECRET.encode() in signed_in(dana).post(reveal_url(older), {"reason": REASON}).content


def test_nonsense_ids_are_404s(dana):
    client = signed_in(dana)
    for value in ["999999", "abc", "%00", "1%20OR%201=1"]:
        assert client.get(f"/admin/keys/credential/{value}/reveal/").status_code == 404
