"""The admin's grant in a real browser: from the receipt, through Canvas's own authorize page (the
loopback fake), back to Keydrop's callback, to "authorized by"."""

import pytest
from django.test import Client

from keys.models import CanvasGrant, Credential
from tests.e2e.test_reveal_browser import watch_for_policy_violations
from tests.test_handover_check import hand_over

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def canvas_asks_the_admin(canvas_for_grants):
    """Keydrop completes grants at the live server's callback; Canvas shows its Authorize page."""
    canvas_for_grants.browser = "confirm"
    return canvas_for_grants


def test_the_admin_authorizes_from_the_receipt_and_sees_who_authorized(
    page, live_server, institution, canvas_asks_the_admin
):
    _, credential = hand_over(Client(), institution, kind="developer_key", canvas_url=canvas_asks_the_admin.url)
    assert credential.status == Credential.Status.ACTIVE and credential.awaits_authorization
    violations = watch_for_policy_violations(page)
    receipt = credential.verification.public_id
    page.goto(f"{live_server.url}/s/{receipt}/receipt/")
    assert "Authorize Keydrop in Canvas to finish the setup" in page.text_content("main")

    page.get_by_role("button", name="Authorize Keydrop in Canvas").click()
    page.wait_for_url(f"{canvas_asks_the_admin.url}/login/oauth2/confirm**")
    assert "requesting access" in page.text_content("body")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"**/authorize/{credential.pk}/")
    assert page.get_by_role("heading", name="Keydrop has access to your Canvas").is_visible()
    assert "Ada Admin" in page.locator(".kd-authorized-by").text_content()
    assert "code=" not in page.url  # the callback's address, with its code, is gone from the bar
    assert CanvasGrant.objects.get(credential=credential).canvas_user_name == "Ada Admin"

    # The receipt no longer offers the button.
    page.goto(f"{live_server.url}/s/{receipt}/receipt/")
    assert page.get_by_role("button", name="Authorize Keydrop in Canvas").count() == 0
    assert violations == []
