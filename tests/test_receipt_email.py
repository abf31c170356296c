"""The receipt, emailed to the on-file address that confirmed the code: the receipt page's details."""

import pytest
from django.core import mail

from intake import services
from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET, last_code, submit

pytestmark = pytest.mark.django_db


def verify(client, institution, **overrides):
    _, verification = submit(client, institution, **overrides)
    assert client.post(f"/s/{verification.public_id}/", {"code": last_code()}).status_code == 302
    verification.refresh_from_db()
    return verification


def test_the_confirming_address_gets_the_receipt_with_the_keys_details(client, institution, charlie):
    institution.contacts.create(email="other@example.edu")
    verification = verify(client, institution, contact=str(charlie.pk))
    receipt = mail.outbox[-1]
    credential = verification.credential
    assert receipt.to == ["charlie@example.edu"]
    assert receipt.subject == "Receipt: Example University's Canvas Data 2 key is with Keydrop"
    for text in (receipt.body, receipt.alternatives[0][0]):
        assert credential.masked_client_id in text and "us-east-1" in text
        assert f"{credential.expires_on():%-d %B %Y}" in text and "days left" in text
        assert "c•••@example.edu" in text and "Nothing to do until" in text
        assert institution.intake_url() in text
        assert VALID_DAP_SECRET not in text and credential.client_id not in text
    assert not any("other@example.edu" in m.to for m in mail.outbox)


def test_a_key_canvas_refused_at_hand_over_gets_a_receipt_that_says_so_why_and_where_to_submit_again(
    client, institution, charlie, fake_dap
):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    verification = verify(client, institution, contact=str(charlie.pk), client_secret=VALID_DAP_SECRET[:-1] + "Z")
    assert verification.credential.status == "rejected"
    receipt = mail.outbox[-1]
    assert receipt.to == ["charlie@example.edu"]
    assert receipt.subject == "Canvas refused Example University's Canvas Data 2 key: please submit it again"
    html = receipt.alternatives[0][0]
    for text in (receipt.body, html):
        assert "Canvas refused the Canvas Data 2 key that" in text
        assert "the secret may be mistyped, or the key was deleted, regenerated or has expired" in text  # why
        assert institution.intake_url("dap") in text  # where to submit it again
        assert "has received" not in text and "is with Keydrop" not in text and "Nothing to do" not in text
        assert VALID_DAP_SECRET[:-1] + "Z" not in text
    assert "What Canvas said: rejected." in receipt.body
    assert "<strong>rejected</strong>." in html and "Submit the key again" in html


def test_a_partner_key_receipt_says_there_is_nothing_to_do(client, institution):
    verify(client, institution, key_type="partner", client_secret="")
    receipt = mail.outbox[-1]
    assert "(Instructure Partner)" in receipt.body and "Instructure sends Keydrop the secret" in receipt.body


def test_the_receipt_page_says_it_was_emailed(client, institution):
    verification = verify(client, institution)
    page = client.get(f"/s/{verification.public_id}/receipt/").content.decode()
    assert "We emailed these details to c•••@example.edu" in page


def test_a_refused_receipt_email_does_not_spoil_the_verification(client, institution, monkeypatch):
    _, verification = submit(client, institution)
    code = last_code()

    def refuse(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(services.emails, "send", refuse)
    assert client.post(f"/s/{verification.public_id}/", {"code": code}).url.endswith("/receipt/")
    verification.refresh_from_db()
    assert verification.credential.status == "active"
