"""A key Canvas refuses, in a real browser: the customer's receipt says why and offers to submit
again; partner staff find it in the admin with the reason."""

import pytest

from keys.models import Credential
from tests.e2e.test_reveal_browser import sign_in, watch_for_policy_violations
from tests.flows import VALID_DAP_CLIENT_ID, last_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
RIGHT_SECRET = "browser-Right_secret-0123456789"
TYPO = "browser-Right_secret-0123456788"


def hand_over(page, live_server, institution, secret):
    page.goto(live_server.url + institution.intake_path())
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.get_by_label("Secret", exact=True).fill(secret)
    page.get_by_label("1 year").check()
    page.get_by_label("c•••@example.edu").check()
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_url("**/s/*/")
    page.get_by_label("Six-digit code").fill(last_code())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/receipt/")


def test_a_mistyped_secret_is_refused_on_the_receipt_and_staff_see_why(page, live_server, institution, fake_dap, dana):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, RIGHT_SECRET)
    violations = watch_for_policy_violations(page)
    hand_over(page, live_server, institution, TYPO)
    assert page.get_by_role("heading", name="Canvas did not accept this key").is_visible()
    assert "the secret may be mistyped" in page.locator(".kd-check-reason").text_content()
    assert "has your key" not in page.text_content("main")
    assert TYPO not in page.content()

    page.get_by_role("link", name="Submit the key again").click()
    page.wait_for_url(live_server.url + institution.intake_path())
    assert page.get_by_label("Client ID").is_visible()

    rejected = Credential.objects.get()
    assert rejected.status == Credential.Status.REJECTED and rejected.secret is None

    staff = page.context.browser.new_context().new_page()
    staff_violations = watch_for_policy_violations(staff)
    sign_in(staff, live_server, dana, "dana-password-123")
    staff.goto(f"{live_server.url}/admin/keys/credential/?status=rejected")
    rows = staff.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Rejected by Canvas" in rows.first.text_content()
    staff.get_by_role("link", name=rejected.masked_client_id).click()
    staff.wait_for_url(f"**/admin/keys/credential/{rejected.pk}/change/**")
    body = staff.text_content("#content")
    assert "Rejected when handed over" in body and "the secret may be mistyped" in body
    history = staff.locator(".kd-check-history tbody tr")
    assert history.count() == 1 and "Hand-over" in history.first.text_content()
    assert violations == [] and staff_violations == []
