"""A credential's page: everything about it but the secret, its key history and its audit trail."""

import datetime

import pytest
from django.utils import timezone

from keys import audit
from keys.models import Credential
from tests.factories import CredentialFactory, works
from tests.staff_cast import SECRET, signed_in

pytestmark = pytest.mark.django_db


def change_page(client, credential):
    response = client.get(f"/admin/keys/credential/{credential.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_superseded_chain_of_the_institution_newest_first(bob, institution):
    now = timezone.now()
    oldest = CredentialFactory(institution=institution, submitted_at=now - datetime.timedelta(days=700))
    middle = CredentialFactory(institution=institution, submitted_at=now - datetime.timedelta(days=350))
    newest = CredentialFactory(institution=institution, submitted_at=now)
    newest.start_tracking(now)
    works(newest, now)
    middle.refresh_from_db()
    assert middle.status == Credential.Status.SUPERSEDED
    html = change_page(signed_in(bob), middle)
    history = html[html.index('class="kd-history"') :]
    positions = [history.index(c.masked_client_id) for c in (newest, middle, oldest)]
    assert positions == sorted(positions)
    assert 'class="kd-current"' in history


def test_the_history_leaves_out_pending_submissions(bob, institution):
    active = CredentialFactory(institution=institution)
    pending = CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    assert pending.masked_client_id not in change_page(signed_in(bob), active)


def test_it_lists_the_credentials_audit_events(bob, institution):
    credential = CredentialFactory(institution=institution, secret=SECRET)
    audit.record(audit.Action.REVEAL, actor="dana", credential=credential, reason="checking a 401", ip="192.0.2.1")
    html = change_page(signed_in(bob), credential)
    assert "Secret revealed" in html and "checking a 401" in html and "192.0.2.1" in html


def test_it_is_read_only_for_everyone(alice, institution):
    credential = CredentialFactory(institution=institution, secret=SECRET)
    client = signed_in(alice)
    html = change_page(client, credential)
    assert 'name="_save"' not in html
    response = client.post(f"/admin/keys/credential/{credential.pk}/change/", {"status": "revoked", "client_id": "x"})
    assert response.status_code == 403
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    assert client.get("/admin/keys/credential/add/").status_code == 403
    assert client.post(f"/admin/keys/credential/{credential.pk}/delete/").status_code == 403


def test_it_offers_only_the_actions_the_user_may_take(bob, dana, institution):
    credential = CredentialFactory(institution=institution, secret=SECRET)
    for_bob, for_dana = change_page(signed_in(bob), credential), change_page(signed_in(dana), credential)
    for label in ("Reveal secret", f"{credential.pk}/revoke/"):
        assert label not in for_bob and label in for_dana


def test_a_purged_secret_says_when(bob, institution):
    credential = CredentialFactory(institution=institution)
    credential.revoke(timezone.now())
    assert "Destroyed <time" in change_page(signed_in(bob), credential)
