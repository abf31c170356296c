"""A customer admin in a real browser: the happy path, and the lock-out path."""

import pytest
from django.core import mail

from keys.models import Credential
from tests.flows import VALID_DAP_CLIENT_ID, last_code, wrong_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SECRET = "browser-Secret-value-0123456789"


def fill_and_submit(page, live_server, institution):
    page.goto(live_server.url + institution.intake_path())
    assert page.get_by_role("heading", name="Create the key").is_visible()
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.get_by_label("Secret", exact=True).fill(SECRET)
    page.get_by_label("1 year").check()
    page.get_by_label("c•••@example.edu").check()
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_url("**/s/*/")


def test_a_customer_submits_a_key_and_confirms_it_with_the_emailed_code(page, live_server, institution):
    fill_and_submit(page, live_server, institution)
    assert "We sent a six-digit code to c•••@example.edu" in page.text_content("main")
    page.get_by_label("Six-digit code").fill(last_code())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/receipt/")
    receipt = page.text_content("main")
    assert "has your key" in receipt
    assert "…4c5d" in receipt
    assert SECRET not in page.content()
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.ACTIVE
    assert credential.secret.reveal() == SECRET


def test_choosing_a_partner_key_hides_the_secret_field(page, live_server, institution):
    page.goto(live_server.url + institution.intake_path())
    assert page.get_by_label("Secret", exact=True).is_visible()
    page.get_by_label("Instructure Partner").check()
    assert not page.get_by_label("Secret", exact=True).is_visible()
    assert "no secret to paste" in page.text_content("#partner-note")


def test_five_wrong_codes_lock_the_submission(page, live_server, institution):
    fill_and_submit(page, live_server, institution)
    wrong = wrong_code(last_code())
    for _ in range(5):
        page.get_by_label("Six-digit code").fill(wrong)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()
    assert "This submission is locked" in page.text_content("main")
    assert "start a new submission" in page.text_content("main")
    assert page.get_by_label("Six-digit code").count() == 0
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.LOCKED and credential.secret is None
    assert len(mail.outbox) == 1
