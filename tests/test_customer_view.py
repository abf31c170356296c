"""A customer admin reopening the intake link sees the institution's current keys, nothing secret.

| shown for each kind | test |
| --- | --- |
| masked id, region, expiry date and days left | test_the_intake_page_shows_the_current_key_with_its_expiry |
| last check outcome (once live checks exist) | test_the_last_check_outcome_is_shown_once_checks_exist |
| what to do next: renew now / authorize / nothing | test_what_to_do_next_follows_the_keys_state |
| who to ask if the link should be replaced | test_the_page_says_who_to_ask_to_replace_the_link |
"""

import datetime

import pytest
from django.utils import timezone

from keys import customer_view
from keys.models import Credential
from tests.factories import CredentialFactory
from tests.staff_cast import SECRET

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def page(client, institution, kind="dap") -> str:
    response = client.get(institution.intake_path(kind))
    assert response.status_code == 200
    return response.content.decode()


def steps_of(institution, now=None):
    return {s.kind.slug: s.keys for s in customer_view.current_keys(institution, now or timezone.now(), "Keydrop")}


def test_the_intake_page_shows_the_current_key_with_its_expiry(client, institution):
    key = CredentialFactory(institution=institution, secret=SECRET, expires_at=timezone.now() + 200 * DAY)
    html = page(client, institution)
    summary = html[html.index("current-keys-heading") : html.index("Create the key")]
    assert key.masked_client_id in summary and "us-east-1" in summary
    assert f"{key.expires_on():%-d %B %Y}" in summary and f"({key.days_left()} days left)" in summary
    assert "Nothing to do until" in summary
    assert SECRET not in html and key.client_id not in html
    assert "Canvas API developer key</h3>" in summary and "None yet." in summary


def test_a_developer_key_shows_its_canvas_and_review_date(client, institution):
    CredentialFactory(
        institution=institution,
        kind="developer_key",
        client_id="170000000000123",
        canvas_url="https://example.instructure.com",
        expires_at=timezone.now() + 10 * DAY,
    )
    summary = page(client, institution, "developer_key")
    assert "<dt>Canvas address</dt><dd>example.instructure.com</dd>" in summary
    assert "<dt>Review date</dt>" in summary
    assert (
        "It is due for review in" in summary
        and "expires" not in summary[summary.index("current-keys-heading") : summary.index("Create the key")]
    )


def test_what_to_do_next_follows_the_keys_state(institution):
    now = timezone.now()
    CredentialFactory(institution=institution, expires_at=now + 200 * DAY)
    assert steps_of(institution)["dap"][0].next_step.action == "none"

    soon = CredentialFactory(institution=institution, expires_at=now + 10 * DAY)
    dap = steps_of(institution)["dap"]
    assert [k.next_step.action for k in dap] == ["renew", "none"]  # newest first; the older one still works
    assert dap[0].credential == soon and "It expires in 10 days. Create a new key" in dap[0].next_step.text

    # Renewed: the new key takes the lead, and the old one, expiring soon, asks for nothing.
    CredentialFactory(institution=institution, expires_at=now + 365 * DAY, verified_at=now + DAY)
    dap = steps_of(institution)["dap"]
    assert [k.next_step.action for k in dap] == ["none", "none", "none"]
    assert "a newer key was handed over" in dap[1].next_step.text
    Credential.objects.filter(verified_at__gt=now + DAY / 2).delete()

    Credential.objects.filter(institution=institution).update(
        status=Credential.Status.EXPIRED, expires_at=now - 2 * DAY
    )
    lapsed = steps_of(institution)["dap"]
    assert len(lapsed) == 1 and lapsed[0].next_step.action == "renew" and lapsed[0].days_text == "2 days ago"

    CredentialFactory(
        institution=institution, status=Credential.Status.AWAITING_SECRET, key_type="partner", secret=None
    )
    assert steps_of(institution)["dap"][0].next_step.action == "wait"


def test_a_revoked_or_locked_key_is_not_shown_as_current(institution):
    CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None)
    CredentialFactory(institution=institution, status=Credential.Status.LOCKED, verified_at=None, secret=None)
    CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    assert steps_of(institution)["dap"] == []


def test_the_last_check_outcome_is_shown_with_its_reason(client, institution):
    key = CredentialFactory(institution=institution, expires_at=timezone.now() + 200 * DAY)
    assert "Last check" not in page(client, institution)  # not checked yet
    checked = timezone.now() - DAY
    Credential.objects.filter(pk=key.pk).update(
        last_check_at=checked,
        last_check_outcome="works",
        last_check_reason="Canvas issued an access token.",
        last_worked_at=checked,
    )
    html = page(client, institution)
    assert '<span class="outcome outcome-works">works</span>: Canvas issued an access token.' in html
    assert "Nothing to do until" in html

    Credential.objects.filter(pk=key.pk).update(
        last_check_outcome="rejected", last_check_reason="the secret does not match", failing_since=timezone.now()
    )
    html = page(client, institution)
    assert '<span class="outcome outcome-rejected">rejected</span>: the secret does not match' in html
    assert "Canvas refused this key (the secret does not match). Create a new key" in html


def test_a_key_awaiting_authorization_offers_the_button_once_the_grant_exists(client, institution, monkeypatch):
    CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123", expires_at=None)
    monkeypatch.setattr(Credential, "awaits_authorization", property(lambda self: True))
    monkeypatch.setattr(Credential, "authorization_path", lambda self: "/i/xyz/authorize/1/")
    html = page(client, institution, "developer_key")
    assert "Awaiting authorization in Canvas" in html
    assert '<form method="post" action="/i/xyz/authorize/1/"' in html
    assert "Authorize Keydrop in Canvas</button>" in html


def test_the_page_says_who_to_ask_to_replace_the_link(client, institution, settings):
    settings.PORTAL_SUPPORT_EMAIL = "help@partner.example"
    html = page(client, institution)
    assert "If the link reached someone who should not have it, ask" in html
    assert 'href="mailto:help@partner.example"' in html
