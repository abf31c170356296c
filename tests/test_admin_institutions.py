"""Institutions: contacts, the intake link to copy, invitations and link rotation, current key health."""

import datetime

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keys.models import AuditEvent, Credential, Institution
from tests.factories import CredentialFactory, InstitutionFactory
from tests.mail_backends import REFUSING
from tests.staff_cast import queries_to_load, signed_in

pytestmark = pytest.mark.django_db
LIST = "/admin/keys/institution/"


def test_the_list_shows_the_current_key_of_each_kind_with_status_and_days_left(bob, institution):
    now = timezone.now()
    CredentialFactory(
        institution=institution, status=Credential.Status.SUPERSEDED, submitted_at=now - datetime.timedelta(days=300)
    )
    current = CredentialFactory(institution=institution, expires_at=now + datetime.timedelta(days=20, hours=12))
    CredentialFactory(
        institution=institution,
        status=Credential.Status.PENDING,
        verified_at=None,
        expires_at=now + datetime.timedelta(days=700),
    )
    html = signed_in(bob).get(LIST).content.decode()
    row = html[html.index("Example University") :]
    row = row[: row.index("</tr>")]
    assert 'kd-status-active">Active<' in row and f"{current.days_left()} days left" in row
    assert "Superseded" not in row  # only the current one
    assert "none yet" in row  # no developer key


def test_the_list_runs_the_same_queries_for_any_number_of_institutions(bob):
    client = signed_in(bob)
    client.get(LIST)
    for _ in range(2):
        CredentialFactory()
    few = queries_to_load(client, LIST)
    for _ in range(15):
        institution = InstitutionFactory()
        CredentialFactory(institution=institution)
        CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123")
    assert queries_to_load(client, LIST) == few


def test_the_change_page_shows_the_intake_link_with_a_copy_button(alice, institution):
    html = signed_in(alice).get(f"{LIST}{institution.pk}/change/").content.decode()
    assert institution.intake_url() in html
    assert f'data-copy="{institution.intake_url()}"' in html
    assert "portal/admin.js" in html and "<script>" not in html  # no inline script under the CSP


def test_the_change_page_has_the_contacts_inline(alice, institution):
    html = signed_in(alice).get(f"{LIST}{institution.pk}/change/").content.decode()
    assert "charlie@example.edu" in html and "contacts-0-email" in html


def test_emailing_the_intake_link_sends_each_contact_an_invitation_and_is_audited(alice, institution):
    institution.contacts.create(email="it@example.edu")
    response = signed_in(alice).post(f"{LIST}{institution.pk}/invite/", REMOTE_ADDR="192.0.2.5")
    assert response.status_code == 302
    assert sorted(message.to[0] for message in mail.outbox) == ["charlie@example.edu", "it@example.edu"]
    message = mail.outbox[0]
    assert institution.intake_url() in message.body
    assert institution.intake_url("developer_key") in message.body
    html = message.alternatives[0][0]
    assert institution.intake_url() in html and message.alternatives[0][1] == "text/html"
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.institution, event.ip) == ("invite", "alice", institution, "192.0.2.5")
    assert "charlie@example.edu" in event.detail


def test_the_bulk_invitation_action_reports_institutions_without_contacts(alice, institution):
    empty = InstitutionFactory(contacts=[])
    response = signed_in(alice).post(
        LIST, {"action": "email_intake_link", "_selected_action": [institution.pk, empty.pk]}, follow=True
    )
    assert len(mail.outbox) == 1
    assert "has no admin contact on file" in response.content.decode()
    assert AuditEvent.objects.filter(action="invite").count() == 1


def test_a_refused_invitation_is_reported_and_not_audited(alice, institution, settings):
    settings.EMAIL_BACKEND = REFUSING
    response = signed_in(alice).post(f"{LIST}{institution.pk}/invite/", follow=True)
    assert "the mail server refused" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_rotating_the_link_kills_the_old_one_and_is_audited(alice, institution):
    old_path = institution.intake_path()
    response = signed_in(alice).post(f"{LIST}{institution.pk}/rotate-link/")
    assert response.status_code == 302
    institution.refresh_from_db()
    assert institution.intake_path() != old_path
    assert Client().get(old_path).status_code == 404
    assert Client().get(institution.intake_path()).status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.institution) == ("rotate_link", "alice", institution)
    assert institution.intake_token not in event.detail


def test_the_bulk_rotation_asks_for_confirmation_first(alice, institution):
    token = institution.intake_token
    client = signed_in(alice)
    selection = {"action": "rotate_intake_link", "_selected_action": [institution.pk]}
    confirmation = client.post(LIST, selection)
    assert confirmation.status_code == 200 and b"stop working at once" in confirmation.content
    assert Institution.objects.get().intake_token == token
    client.post(LIST, {**selection, "confirm": "yes"})
    assert Institution.objects.get().intake_token != token
    assert AuditEvent.objects.filter(action="rotate_link").count() == 1


def test_view_only_staff_can_neither_invite_nor_rotate(bob, institution):
    client = signed_in(bob)
    token = institution.intake_token
    assert client.post(f"{LIST}{institution.pk}/invite/").status_code == 403
    assert client.post(f"{LIST}{institution.pk}/rotate-link/").status_code == 403
    assert b"Rotate the intake link" not in client.get(f"{LIST}{institution.pk}/change/").content
    assert Institution.objects.get().intake_token == token and not mail.outbox


def test_invite_and_rotate_take_post_only(alice, institution):
    client = signed_in(alice)
    assert client.get(f"{LIST}{institution.pk}/invite/").status_code == 405
    assert client.get(f"{LIST}{institution.pk}/rotate-link/").status_code == 405
