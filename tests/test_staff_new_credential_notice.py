"""Partner staff hear of a credential after it is verified, and never before."""

import pytest
from django.core import mail

from tests.flows import VALID_DAP_SECRET, last_code, submit, wrong_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


def staff_mail():
    return [message for message in mail.outbox if message.to == ["ops@partner.example"]]


def test_staff_are_told_once_the_submission_is_verified_and_not_before(client, institution):
    response, verification = submit(client, institution)
    assert staff_mail() == []
    code = last_code()
    client.post(f"/s/{verification.public_id}/", {"code": code})
    client.post(f"/s/{verification.public_id}/", {"code": code})
    [notice] = staff_mail()
    assert "Example University handed over a new Canvas Data 2 key" in notice.subject
    assert f"/admin/keys/credential/{verification.credential_id}/change/" in notice.body
    assert VALID_DAP_SECRET not in notice.body and verification.credential.client_id not in notice.body


def test_a_partner_key_asks_staff_to_enter_the_secret(client, institution):
    response, verification = submit(client, institution, key_type="partner", client_secret="")
    client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    [notice] = staff_mail()
    assert "enter its secret" in notice.subject
    assert "one-time password" in notice.body


def test_a_locked_submission_tells_staff_nothing(client, institution):
    response, verification = submit(client, institution)
    wrong = wrong_code(last_code())
    for _ in range(5):
        client.post(f"/s/{verification.public_id}/", {"code": wrong})
    assert staff_mail() == []


def test_a_failing_mail_server_does_not_undo_the_verification(client, institution, settings, monkeypatch):
    from portal import emails

    response, verification = submit(client, institution)
    code = last_code()
    monkeypatch.setattr(emails, "send", lambda *a, **k: (_ for _ in ()).throw(ConnectionRefusedError()))
    assert client.post(f"/s/{verification.public_id}/", {"code": code}).status_code == 302
    verification.credential.refresh_from_db()
    assert verification.credential.status == "active"
