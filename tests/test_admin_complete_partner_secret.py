"""Completing an Instructure Partner key: staff enter the secret Instructure sent them."""

import datetime

import pytest
from django.utils import timezone

from keys.models import AuditEvent, Credential, ReminderNotice
from tests.factories import CredentialFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
PARTNER_SECRET = "partner-OTP_secret-9f8e7d6c5b4a"


@pytest.fixture
def awaiting(institution):
    return CredentialFactory(
        institution=institution, key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None
    )


def complete_url(credential):
    return f"/admin/keys/credential/{credential.pk}/complete/"


def test_the_change_page_offers_completion_to_staff_with_the_permission(dana, bob, awaiting):
    assert b"Enter partner secret" in signed_in(dana).get(f"/admin/keys/credential/{awaiting.pk}/change/").content
    assert b"Enter partner secret" not in signed_in(bob).get(f"/admin/keys/credential/{awaiting.pk}/change/").content


def test_the_form_is_a_password_field_that_never_echoes_the_secret(dana, awaiting):
    page = signed_in(dana).get(complete_url(awaiting))
    assert page.status_code == 200 and b'type="password"' in page.content
    refused = signed_in(dana).post(complete_url(awaiting), {"secret": "has a space"})
    assert refused.status_code == 400
    assert b"has a space" not in refused.content


def test_completing_stores_the_secret_encrypted_activates_and_tracks_the_key(dana, institution, awaiting, fake_dap):
    fake_dap.add_key(awaiting.client_id, PARTNER_SECRET)
    older = CredentialFactory(
        institution=institution,
        submitted_at=timezone.now() - datetime.timedelta(days=300),
    )
    response = signed_in(dana).post(complete_url(awaiting), {"secret": PARTNER_SECRET}, REMOTE_ADDR="192.0.2.8")
    assert response.status_code == 302
    awaiting.refresh_from_db()
    assert awaiting.status == Credential.Status.ACTIVE
    assert awaiting.secret.reveal() == PARTNER_SECRET
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED and older.superseded_by == awaiting
    assert ReminderNotice.objects.filter(credential=awaiting).exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.ip, event.credential) == ("complete", "dana", "192.0.2.8", awaiting)
    assert PARTNER_SECRET not in f"{event.reason} {event.detail}"


def test_the_secret_is_taken_exactly_as_pasted(dana, awaiting):
    response = signed_in(dana).post(complete_url(awaiting), {"secret": f" {PARTNER_SECRET}"})
    assert response.status_code == 400  # not silently stripped into a different secret
    assert b"spaces" in response.content
    awaiting.refresh_from_db()
    assert awaiting.status == Credential.Status.AWAITING_SECRET and awaiting.secret is None


@pytest.mark.parametrize("value", ["", "x" * 5000, "caf\u00e9-secret", "tab\tsecret", "\x00"])
def test_bad_secrets_get_a_clear_error_and_store_nothing(dana, awaiting, value):
    response = signed_in(dana).post(complete_url(awaiting), {"secret": value})
    assert response.status_code == 400
    assert b"errorlist" in response.content
    awaiting.refresh_from_db()
    assert awaiting.secret is None and not AuditEvent.objects.exists()


def test_staff_without_the_permission_get_403(bob, awaiting):
    client = signed_in(bob)
    assert client.get(complete_url(awaiting)).status_code == 403
    assert client.post(complete_url(awaiting), {"secret": PARTNER_SECRET}).status_code == 403
    awaiting.refresh_from_db()
    assert awaiting.secret is None


def test_an_active_credential_cannot_be_completed_again(dana, institution):
    active = CredentialFactory(institution=institution)
    response = signed_in(dana).post(complete_url(active), {"secret": PARTNER_SECRET})
    assert response.status_code == 302
    assert not AuditEvent.objects.exists()


def test_the_secret_is_hidden_from_the_error_page(dana, awaiting, monkeypatch, settings):
    from keys import staff

    def explode(*args, **kwargs):
        raise RuntimeError("simulated failure while completing")

    monkeypatch.setattr(staff, "complete_partner_secret", explode)
    client = signed_in(dana, raise_request_exception=False)
    settings.DEBUG = True
    response = client.post(complete_url(awaiting), {"secret": PARTNER_SECRET})
    assert response.status_code == 500
    assert PARTNER_SECRET.encode() not in response.content


def test_a_secret_canvas_rejects_is_not_stored_and_staff_see_why(dana, institution, awaiting, fake_dap):
    fake_dap.add_key(awaiting.client_id, "the-secret-instructure-really-sent")
    older = CredentialFactory(institution=institution, submitted_at=timezone.now() - datetime.timedelta(days=300))
    response = signed_in(dana).post(complete_url(awaiting), {"secret": PARTNER_SECRET})
    assert response.status_code == 400
    assert b"Canvas rejected this secret, so it was not stored" in response.content
    assert PARTNER_SECRET.encode() not in response.content
    awaiting.refresh_from_db()
    assert awaiting.status == Credential.Status.AWAITING_SECRET and awaiting.secret is None
    assert awaiting.checks.get().outcome == "rejected"
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE
    assert not AuditEvent.objects.exists()


def test_a_secret_canvas_is_unsure_about_is_stored_but_replaces_nothing_yet(dana, institution, awaiting, fake_dap):
    fake_dap.mode = "503"
    older = CredentialFactory(institution=institution, submitted_at=timezone.now() - datetime.timedelta(days=300))
    assert signed_in(dana).post(complete_url(awaiting), {"secret": PARTNER_SECRET}).status_code == 302
    awaiting.refresh_from_db()
    assert awaiting.status == Credential.Status.ACTIVE and awaiting.handover_check_pending
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE  # it takes over only once Canvas says it works
