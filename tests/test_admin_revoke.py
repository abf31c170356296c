"""Revoking in the admin: a stated reason, the secret purged, reminders stopped, an audit event."""

import pytest
from django.utils import timezone

from keys.models import AuditEvent, Credential, ReminderNotice
from tests.factories import CredentialFactory, tracked_credential
from tests.staff_cast import SECRET, signed_in

pytestmark = pytest.mark.django_db
REASON = "Customer reports the key was shared by mistake"
CHANGELIST = "/admin/keys/credential/"


def revoke_url(credential):
    return f"/admin/keys/credential/{credential.pk}/revoke/"


def test_the_revoke_page_asks_for_a_reason_first(dana, credential):
    client = signed_in(dana)
    page = client.get(revoke_url(credential))
    assert page.status_code == 200 and b'name="reason"' in page.content
    refused = client.post(revoke_url(credential), {"confirm": "yes", "reason": ""})
    assert refused.status_code == 400
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE and credential.secret is not None


def test_revoking_purges_the_secret_cancels_reminders_and_is_audited(dana, institution):
    credential = tracked_credential(institution=institution, secret=SECRET)
    assert ReminderNotice.objects.filter(credential=credential, state="scheduled").exists()
    response = signed_in(dana).post(
        revoke_url(credential), {"confirm": "yes", "reason": REASON}, REMOTE_ADDR="192.0.2.4"
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED
    assert credential.secret is None and credential.secret_purged_at and credential.revoked_at
    assert not ReminderNotice.objects.filter(credential=credential, state="scheduled").exists()
    assert ReminderNotice.objects.filter(credential=credential, state="cancelled").exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.reason, event.ip, event.credential) == (
        "revoke",
        "dana",
        REASON,
        "192.0.2.4",
        credential,
    )


def test_the_bulk_action_confirms_then_revokes_every_selected_credential(dana, institution):
    first, second = (
        CredentialFactory(institution=institution),
        CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123"),
    )
    client = signed_in(dana)
    selection = {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]}
    confirmation = client.post(CHANGELIST, selection)
    assert confirmation.status_code == 200 and b"Revoking is final" in confirmation.content
    assert Credential.objects.filter(status="revoked").count() == 0
    done = client.post(CHANGELIST, {**selection, "confirm": "yes", "reason": REASON})
    assert done.status_code == 302
    assert Credential.objects.filter(status="revoked").count() == 2
    assert AuditEvent.objects.filter(action="revoke").count() == 2


def test_staff_without_the_permission_cannot_revoke(bob, credential):
    client = signed_in(bob)
    assert client.get(revoke_url(credential)).status_code == 403
    assert client.post(revoke_url(credential), {"confirm": "yes", "reason": REASON}).status_code == 403
    assert b"revoke_selected" not in client.get(CHANGELIST).content
    client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [credential.pk], "confirm": "yes", "reason": REASON},
    )
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE and not AuditEvent.objects.exists()


def test_a_revoked_credential_cannot_be_revoked_again(dana, credential):
    credential.revoke(timezone.now())
    response = signed_in(dana).post(revoke_url(credential), {"confirm": "yes", "reason": REASON})
    assert response.status_code == 302
    assert not AuditEvent.objects.exists()


def test_a_pending_submission_cannot_be_revoked_through_the_admin(dana, institution):
    pending = CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    client = signed_in(dana)
    assert client.post(revoke_url(pending), {"confirm": "yes", "reason": REASON}).status_code == 404
    client.post(
        CHANGELIST, {"action": "revoke_selected", "_selected_action": [pending.pk], "confirm": "yes", "reason": REASON}
    )
    pending.refresh_from_db()
    assert pending.status == Credential.Status.PENDING
