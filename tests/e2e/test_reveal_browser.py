"""Partner staff in a real browser: sign in, find a key, reveal its secret with a reason."""

import datetime

import pytest
from django.utils import timezone

from keys.admin import dashboard
from keys.models import AuditEvent
from tests.factories import CredentialFactory
from tests.staff_cast import authenticator, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SECRET = "browser-Reveal_secret-0123456789"
REASON = "Nightly sync returns 401; comparing the stored key"


def sign_in(page, live_server, user, password):
    """Password, then the code from the user's authenticator app (a revealer must have one)."""
    device = authenticator(user)
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(totp_code(device, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(live_server.url + "/admin/")


def watch_for_policy_violations(page):
    """The portal sends a CSP: any inline script or style it blocks shows up as a console error.
    A missing static file (our script, our styles) shows up as a failed response."""
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    page.on("response", lambda r: r.status == 404 and "/static/" in r.url and violations.append(r.url))
    return violations


def test_a_staff_member_reveals_a_secret_with_a_reason_and_it_is_audited(page, live_server, institution, dana):
    credential = CredentialFactory(
        institution=institution, secret=SECRET, expires_at=timezone.now() + datetime.timedelta(days=20)
    )
    violations = watch_for_policy_violations(page)
    sign_in(page, live_server, dana, "dana-password-123")
    assert page.get_by_role("heading", name="Credential health").is_visible()

    page.goto(f"{live_server.url}/admin/keys/credential/")
    page.get_by_role("link", name=credential.masked_client_id).click()
    assert SECRET not in page.content()
    page.get_by_role("link", name="Reveal secret").click()
    page.get_by_label("Reason").fill(REASON)
    with page.expect_response(lambda r: r.url.endswith("/reveal/") and r.request.method == "POST") as revealed:
        page.get_by_role("button", name="Record the reason and reveal").click()
    assert "no-store" in revealed.value.headers["cache-control"]
    assert page.locator("#kd-secret").text_content() == SECRET

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.locator("[data-copy-from=kd-secret]").click()
    assert page.evaluate("navigator.clipboard.readText()") == SECRET

    event = AuditEvent.objects.get(action=AuditEvent.Action.REVEAL)
    assert (event.action, event.actor, event.reason, event.credential_id) == ("reveal", "dana", REASON, credential.pk)
    assert event.ip == "127.0.0.1"
    assert violations == []


def test_the_dashboard_leads_to_this_months_expiring_keys_in_two_clicks(page, live_server, institution, dana):
    now = timezone.now()
    month = dashboard.upcoming_months(now)[1]
    expiring = CredentialFactory(institution=institution, expires_at=month + datetime.timedelta(days=4))
    CredentialFactory(institution=institution, expires_at=month + datetime.timedelta(days=70))
    violations = watch_for_policy_violations(page)
    sign_in(page, live_server, dana, "dana-password-123")  # click one: the dashboard is the landing page
    page.locator(f'a.kd-bar-link[href*="expires_month={month:%Y-%m}"]').click()  # click two: the month's bar
    page.wait_for_url("**expires_month=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert expiring.masked_client_id in rows.first.text_content()
    assert violations == []
