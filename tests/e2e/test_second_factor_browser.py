"""A revealer's first sign-in in a real browser: open the emailed enrolment link, set up an
authenticator from the key on the page, keep the recovery codes, sign out, sign in again with a
code, and reveal a secret."""

import base64
import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import timezone
from django_otp.oath import TOTP

from keys.models import AuditEvent
from tests.factories import CredentialFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SECRET = "browser-Second_factor-0123456789"
REASON = "Pipeline moved hosts; re-entering the key"


def authenticator_code(key: str, steps_ahead: int = 0) -> str:
    """What a phone's authenticator app shows for the key the page displayed."""
    return f"{TOTP(base64.b32decode(key.replace(' ', '')), drift=steps_ahead).token():06d}"


def test_a_revealer_enrols_signs_in_with_a_code_and_reveals(page, live_server, institution, dana):
    credential = CredentialFactory(
        institution=institution, secret=SECRET, expires_at=timezone.now() + datetime.timedelta(days=40)
    )
    csp_errors = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_errors.append(message.text))

    # First sign-in: the password is right, but a revealer must set up a second factor first.
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("dana-password-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/two-step/setup/**")
    # The password alone is shown no key: the link emailed to dana's own address opens the set-up.
    assert page.locator("#kd-totp-key").count() == 0
    page.get_by_role("button", name="Email the link to d***@partner.example").click()
    page.wait_for_load_state()
    link = re.search(r"https?://\S+/admin/two-step/enrol/\S+/", mail.outbox[-1].body).group(0)
    page.goto(live_server.url + urlsplit(link).path)
    page.wait_for_url("**/admin/two-step/setup/**")
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    key = page.locator("#kd-totp-key").text_content()
    page.get_by_label("Code from the app").fill(authenticator_code(key))
    page.get_by_role("button", name="Turn on two-step verification").click()
    codes = page.locator("#kd-recovery-codes li").all_text_contents()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(live_server.url + "/admin/")
    page.get_by_role("button", name="Log out").click()

    # Next sign-in: password, then the app's code (the next one: each code works once).
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("dana-password-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/two-step/?**")
    page.get_by_label("Code").fill(authenticator_code(key, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(live_server.url + "/admin/")

    # Reveal: the check a moment ago is recent enough.
    page.goto(f"{live_server.url}/admin/keys/credential/{credential.pk}/change/")
    page.get_by_role("link", name="Reveal secret").click()
    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Record the reason and reveal").click()
    assert page.locator("#kd-secret").text_content() == SECRET

    actions = list(AuditEvent.objects.filter(actor="dana").order_by("at", "pk").values_list("action", flat=True))
    assert actions == [
        "sign_in",
        "enrolment_link",
        "enrolment_link",
        "second_factor_enrolled",
        "sign_out",
        "sign_in",
        "second_factor",
        "reveal",
    ]
    assert csp_errors == []
