"""The customer's instructions and form: partner-key steps, links, copy buttons, review-date wording,
and errors a screen reader can follow."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from keys import kinds
from keys.reminders import build_messages
from tests.factories import tracked_credential
from tests.flows import form_data

pytestmark = pytest.mark.django_db


def steps(html: str, list_id: str) -> list[str]:
    block = html[html.index(f'id="{list_id}"') :]
    block = block[: block.index("</ol>")]
    return [re.sub(r"<[^>]+>", "", item) for item in re.findall(r"<li>(.*?)</li>", block, re.S)]


def test_the_partner_key_steps_match_instructures(client, institution, settings):
    settings.PORTAL_PARTNER_NAME = "EdPotential"
    settings.PORTAL_PARTNER_KEY_EMAIL = "keys@edpotential.example"
    html = client.get(institution.intake_path() + "?key_type=partner").content.decode()
    partner = steps(html, "steps-partner")
    assert (
        "Key Type: Instructure Partner" in partner[3] and "choose EdPotential in the Select Partner menu" in partner[3]
    )
    assert "Enter keys@edpotential.example in the email field" in partner[3]
    assert "There is no secret for you to copy" in partner[5] and "Copy the Client ID" in partner[5]
    assert "Institutional Use" not in " ".join(partner)
    assert 'id="steps-institutional" class="hidden"' in html
    assert re.search(r'value="partner"[^>]*checked', html), "the form's key type follows the steps shown"
    institutional = steps(client.get(institution.intake_path()).content.decode(), "steps-institutional")
    assert "Key Type: Institutional Use" in institutional[3] and "Reveal OAuth Credentials" in institutional[5]


def test_the_renewal_steps_follow_the_key_being_renewed(settings):
    settings.PORTAL_PARTNER_NAME = "EdPotential"
    partner = tracked_credential(key_type="partner")
    institutional = tracked_credential()
    developer = tracked_credential(kind="developer_key", client_id="170000000000123", key_type="")
    partner_steps = " ".join(kinds.DAP.renewal_instructions_for(partner))
    assert "Key Type Instructure Partner" in partner_steps and "Select Partner" in partner_steps
    assert "There is no secret for you to copy" in partner_steps and "Reveal" not in partner_steps
    assert "email field" not in partner_steps, "no partner address configured: none is named"
    assert kinds.DAP.renewal_instructions_for(institutional) == kinds.DAP.renewal_instructions("EdPotential")
    assert "Reveal the Client ID and Secret" in " ".join(kinds.DAP.renewal_instructions_for(institutional))
    assert kinds.DEVELOPER_KEY.renewal_instructions_for(developer) == kinds.DEVELOPER_KEY.renewal_instructions(
        "EdPotential"
    )
    assert "EdPotential key is still On" in kinds.DEVELOPER_KEY.renewal_instructions_for(developer)[0]


def test_identity_services_and_instructures_guide_are_links(client, institution):
    html = client.get(institution.intake_path()).content.decode()
    assert '<a href="https://identity.instructure.com/">identity.instructure.com</a>' in html
    assert f'href="{kinds.DAP.guide_url}"' in html
    developer = client.get(institution.intake_path("developer_key")).content.decode()
    assert f'href="{kinds.DEVELOPER_KEY.guide_url}"' in developer


def test_every_redirect_uri_and_scope_has_a_copy_button(client, institution, settings):
    html = client.get(institution.intake_path("developer_key")).content.decode()
    setup = kinds.developer_key_setup(institution.slug)
    for region, uri in setup["redirect_uris"]:
        assert f'data-copy="{uri}" aria-label="Copy the redirect URI for {region}"' in html
    for scope, _ in setup["scopes"]:
        assert f'data-copy="{scope}"' in html
    assert 'data-copy-from="scope-list"' in html


def test_help_and_error_ids_exist_for_every_aria_describedby(client, institution):
    for response in (
        client.get(institution.intake_path()),
        client.post(institution.intake_path(), form_data(client, institution, client_id="nonsense", client_secret="")),
    ):
        html = response.content.decode()
        ids = set(re.findall(r'\sid="([^"]+)"', html))
        described = {token for value in re.findall(r'aria-describedby="([^"]+)"', html) for token in value.split()}
        assert described and described <= ids, described - ids
    assert 'aria-invalid="true"' in html


def test_a_refused_form_starts_with_a_summary_of_its_errors_linked_to_the_fields(client, institution):
    response = client.post(institution.intake_path(), form_data(client, institution, client_id="nonsense", expiry=None))
    assert response.status_code == 400
    html = response.content.decode()
    summary = html[html.index('id="error-summary"') : html.index("</ul>", html.index('id="error-summary"'))]
    assert 'role="alert" tabindex="-1"' in html
    assert '<a href="#id_client_id">Client ID: That doesn' in summary
    assert '<a href="#field-expiry">Expiry: Choose the expiry you set for the key in Canvas.</a>' in summary
    assert '<ul class="errorlist" role="alert"' not in html and 'role="alert"><li>' not in html


def test_a_wrong_code_is_announced_without_a_list_that_plays_alert(client, institution):
    from tests.flows import submit

    _, verification = submit(client, institution)
    html = client.post(
        f"/s/{verification.public_id}/", {"code": "000000" if "000000" not in mail.outbox[-1].body else "111111"}
    ).content.decode()
    assert 'id="error-summary"' in html and "That code didn" in html
    assert '<ul class="errorlist nonfield" role="alert">' not in html
    assert 'aria-invalid="true" aria-describedby="error-summary"' in html


def test_a_developer_keys_review_date_is_worded_as_a_review(settings):
    now = timezone.now()
    credential = tracked_credential(
        lifetime_days=14,
        now=now,
        kind="developer_key",
        client_id="170000000000123",
        canvas_url="https://example.instructure.com",
    )
    notice = credential.reminders.get(offset_days=14)
    customer, _ = build_messages(notice, now)
    assert "is due for review in 14 days" in customer.subject
    assert "expire" not in customer.subject + customer.body
    lapse = credential.reminders.get(offset_days=0)
    lapsed, _ = build_messages(lapse, credential.expires_at)
    assert lapsed.subject.endswith("is due for review: please check it")
    assert "was due for review on" in lapsed.body and "expired" not in lapsed.body


def test_a_developer_keys_page_speaks_of_its_review_date(client, institution):
    credential = tracked_credential(
        institution=institution, lifetime_days=20, kind="developer_key", client_id="170000000000123"
    )
    html = client.get(institution.intake_path("developer_key")).content.decode()
    summary = html[html.index("current-keys-heading") : html.index("Create the key")]
    assert "<dt>Review date</dt>" in summary and credential.masked_client_id in summary
    assert "It is due for review in 20 days." in summary and "expire" not in summary
