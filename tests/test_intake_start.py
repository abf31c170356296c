"""The intake page: instructions, the submission form, and everything bad input can try."""

import pytest
from django.core import mail

from keys.models import Credential
from tests import factories
from tests.flows import VALID_DAP_SECRET, VALID_DEV_KEY_SECRET, form_data, submit
from tests.mail_backends import REFUSING

pytestmark = pytest.mark.django_db


def test_it_shows_numbered_instructions_for_a_dap_key(client, institution, settings):
    settings.PORTAL_PARTNER_NAME = "EdPotential"
    response = client.get(institution.intake_path())
    assert response.status_code == 200
    page = response.content.decode()
    assert "Key Name: EdPotential" in page
    assert "Expiry: 1 year" in page
    assert "Key Type: Institutional Use" in page
    assert "identity.instructure.com" in page
    assert 'name="client_id"' in page and 'name="client_secret"' in page
    assert "c•••@example.edu" in page
    assert "charlie@example.edu" not in page
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]


def test_it_shows_scopes_redirect_uris_and_toggles_for_a_developer_key(client, institution):
    page = client.get(institution.intake_path("developer_key")).content.decode()
    assert "url:GET|/api/v1/accounts" in page
    assert "/api/v2/example-u/auth/canvas/callback" in page
    assert "Enforce Scopes" in page and "Allow Include Parameters" in page


@pytest.mark.parametrize("path", ["/i/not-a-token/", "/i/not-a-token/dap/", "/s/unknown/", "/s/unknown/receipt/"])
def test_unknown_or_tampered_links_are_404(client, institution, path):
    assert client.get(path).status_code == 404


def test_a_tampered_token_is_404(client, institution):
    token = institution.intake_token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/i/{tampered}/").status_code == 404


def test_an_unknown_kind_is_404(client, institution):
    assert client.get(f"/i/{institution.intake_token}/password/").status_code == 404


def test_a_rotated_link_stops_working(client, institution):
    old = institution.intake_path()
    institution.rotate_intake_token()
    assert client.get(old).status_code == 404
    assert client.get(institution.intake_path()).status_code == 200


def test_it_stores_a_pending_credential_with_an_encrypted_secret_and_emails_a_code(client, institution, charlie):
    response, verification = submit(client, institution)
    assert response.status_code == 302
    assert response["Location"] == f"/s/{verification.public_id}/"
    credential = verification.credential
    assert credential.status == Credential.Status.PENDING
    assert credential.client_id == "us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    assert credential.secret.reveal() == VALID_DAP_SECRET
    assert VALID_DAP_SECRET.encode() not in credential.secret.ciphertext
    assert credential.expires_on().year == credential.key_created_on.year + 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["charlie@example.edu"]
    assert VALID_DAP_SECRET not in message.body
    assert "…4c5d" in message.body
    assert message.alternatives and message.alternatives[0][1] == "text/html"


def test_the_secret_is_kept_exactly_as_pasted(client, institution):
    exact = "-_!#%&*+=.~^|" + "x" * 20 + "TRAILING-"
    response, verification = submit(client, institution, client_secret=exact)
    assert response.status_code == 302
    assert verification.credential.secret.reveal() == exact


def test_a_client_id_without_region_prefix_is_accepted_with_a_warning(client, institution):
    response, verification = submit(client, institution, client_id="1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "no region prefix" in page


def test_an_instructure_partner_key_asks_for_no_secret(client, institution):
    response, verification = submit(client, institution, key_type="partner", client_secret="")
    assert response.status_code == 302
    assert verification.credential.secret is None
    assert verification.credential.key_type == "partner"


def test_an_instructure_partner_key_refuses_a_pasted_secret(client, institution):
    response, verification = submit(client, institution, key_type="partner")
    assert verification is None
    assert "Instructure sends it to us directly" in response.content.decode()


def test_a_developer_key_is_stored_with_its_canvas_url(client, institution):
    response, verification = submit(client, institution, "developer_key", canvas_url="https://Example.Instructure.com/")
    assert response.status_code == 302
    credential = verification.credential
    assert credential.kind == "developer_key"
    assert credential.canvas_url == "https://example.instructure.com"
    assert credential.secret.reveal() == VALID_DEV_KEY_SECRET


def test_a_developer_key_may_have_no_review_date(client, institution):
    response, verification = submit(client, institution, "developer_key", expiry="none", created_on="")
    assert response.status_code == 302
    assert verification.credential.expires_at is None


def test_an_exact_expiry_date_is_accepted(client, institution):
    response, verification = submit(client, institution, expiry="exact", expires_on="2027-03-15")
    assert response.status_code == 302
    assert verification.credential.expires_on().isoformat() == "2027-03-15"


@pytest.mark.time_machine("2026-11-23 12:00:00+00:00")
def test_one_month_from_the_31st_is_the_end_of_the_next_month(client, institution):
    response, verification = submit(client, institution, expiry="1m", created_on="2026-10-31")
    assert verification.credential.expires_on().isoformat() == "2026-11-30"


LONG = "x" * 4097
BAD_DAP_INPUTS = [
    ({"client_id": ""}, "client_id", "Enter the Client ID"),
    ({"client_id": "   "}, "client_id", "Enter the Client ID"),
    ({"client_id": "us-east-1#not-a-uuid"}, "client_id", "look like a Canvas Data 2 Client ID"),
    ({"client_id": "<script>alert(1)</script>"}, "client_id", "look like a Canvas Data 2 Client ID"),
    (
        {"client_id": "us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\x00"},
        "client_id",
        "Null characters are not allowed",
    ),
    (
        {"client_id": "us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5\u0661"},
        "client_id",
        "look like a Canvas Data 2 Client ID",
    ),
    ({"client_id": LONG}, "client_id", "look like a Canvas Data 2 Client ID"),
    ({"client_secret": ""}, "client_secret", "Enter the secret"),
    ({"client_secret": LONG}, "client_secret", "longer than any secret"),
    ({"client_secret": "abc def"}, "client_secret", "spaces or line breaks"),
    ({"client_secret": " leading-space"}, "client_secret", "spaces or line breaks"),
    ({"client_secret": "trailing\n"}, "client_secret", "spaces or line breaks"),
    ({"client_secret": "ctrl\x07char"}, "client_secret", "control characters"),
    ({"client_secret": "nul\x00byte"}, "client_secret", "Null characters are not allowed"),
    ({"client_secret": "caf\u00e9"}, "client_secret", "non-ASCII"),
    ({"expiry": "forever"}, "expiry", "Choose one of the expiry choices listed"),
    ({"expiry": "exact", "expires_on": "2020-01-01"}, "expires_on", "has already passed"),
    ({"expiry": "exact", "expires_on": ""}, "expires_on", "Enter the expiry"),
    ({"expiry": "exact", "expires_on": "2099-01-01"}, "expires_on", "more than three years away"),
    ({"expiry": "exact", "expires_on": "31/31/2027"}, "expires_on", "such as 2026-12-06"),
    ({"expiry": "1d", "created_on": "2020-01-01"}, "created_on", "has already passed"),
    ({"expiry": "1y", "created_on": "2999-01-01"}, "created_on", "can't be in the future"),
    ({"key_type": "master"}, "key_type", "Choose Institutional Use or Instructure Partner"),
    ({"contact": "999999"}, "contact", "That address is no longer on file"),
    ({"contact": "attacker@evil.example"}, "contact", "That address is no longer on file"),
    ({"form_nonce": "tampered"}, "form_nonce", "expired"),
]


@pytest.mark.parametrize("overrides, field, message", BAD_DAP_INPUTS)
def test_bad_input_gets_a_clear_error_and_stores_nothing(client, institution, overrides, field, message):
    response, verification = submit(client, institution, **overrides)
    assert response.status_code == 400
    assert verification is None
    assert Credential.objects.count() == 0
    assert mail.outbox == []
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]


BAD_DEV_KEY_INPUTS = [
    ({"client_id": "0123"}, "client_id", "1 to 19 digits"),
    ({"client_id": str(2**63)}, "client_id", "1 to 19 digits"),
    ({"client_id": "1700000000001234567890"}, "client_id", "1 to 19 digits"),
    ({"client_id": "١٧٠٠٠٠٠٠٠٠٠٠١٢٣"}, "client_id", "1 to 19 digits"),
    ({"client_secret": "AbCdE..."}, "client_secret", "the hint Canvas shows"),
    ({"client_secret": "short"}, "client_secret", "64 letters and digits"),
    ({"client_secret": "A" * 63 + "!"}, "client_secret", "64 letters and digits"),
    ({"canvas_url": "http://example.instructure.com"}, "canvas_url", "https address"),
    ({"canvas_url": "https://example.instructure.com/courses/1"}, "canvas_url", "https address"),
    ({"canvas_url": "javascript:alert(1)"}, "canvas_url", "Enter just the https address"),
    ({"canvas_url": ""}, "canvas_url", "Enter your Canvas address"),
    # Every check is a request from our server: an address a stranger types must be public.
    ({"canvas_url": "https://10.0.0.1"}, "canvas_url", "public https address"),
    ({"canvas_url": "https://127.0.0.1"}, "canvas_url", "public https address"),
    ({"canvas_url": "https://169.254.169.254"}, "canvas_url", "public https address"),
    ({"canvas_url": "https://[::1]"}, "canvas_url", "public https address"),
    ({"canvas_url": "https://localhost"}, "canvas_url", "public https address"),
    ({"canvas_url": "http://127.0.0.1:8000"}, "canvas_url", "https address"),
]


@pytest.mark.parametrize("overrides, field, message", BAD_DEV_KEY_INPUTS)
def test_bad_developer_key_input_gets_a_clear_error(client, institution, overrides, field, message):
    response, verification = submit(client, institution, "developer_key", **overrides)
    assert response.status_code == 400
    assert Credential.objects.count() == 0
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors


def test_with_allow_private_a_loopback_canvas_over_http_is_accepted_for_local_fakes(client, institution, settings):
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True
    response, verification = submit(client, institution, "developer_key", canvas_url="http://127.0.0.1:8765/")
    assert response.status_code == 302
    assert verification.credential.canvas_url == "http://127.0.0.1:8765"
    refused, _ = submit(client, institution, "developer_key", canvas_url="http://canvas.example.edu")
    assert refused.status_code == 400, "plain http only to loopback, even then"


def test_a_form_from_another_institution_is_refused(client, institution):
    other = factories.InstitutionFactory()
    data = form_data(client, other)
    data["contact"] = str(institution.contacts.first().pk)
    response = client.post(institution.intake_path(), data)
    assert response.status_code == 400
    assert "belongs to another link" in str(response.context["form"].errors)
    assert Credential.objects.count() == 0


def test_a_contact_of_another_institution_cannot_be_chosen(client, institution):
    other = factories.InstitutionFactory(contacts=["mallory@other.edu"])
    response, verification = submit(client, institution, contact=str(other.contacts.get().pk))
    assert verification is None
    assert mail.outbox == []


def test_a_replayed_form_stores_nothing_more(client, institution):
    data = form_data(client, institution)
    first = client.post(institution.intake_path(), data)
    assert first.status_code == 302
    replay = client.post(institution.intake_path(), data)
    assert replay.status_code == 400
    assert "already submitted" in replay.content.decode()
    assert Credential.objects.count() == 1
    assert len(mail.outbox) == 1


def test_an_empty_post_is_a_form_error_not_a_crash(client, institution):
    response = client.post(institution.intake_path(), {})
    assert response.status_code == 400
    assert Credential.objects.count() == 0


def test_a_duplicated_field_does_not_crash(client, institution):
    data = form_data(client, institution)
    response = client.post(institution.intake_path(), {**data, "client_secret": [VALID_DAP_SECRET, "other"]})
    assert response.status_code in (302, 400)


def test_an_institution_without_contacts_says_so(client, db):
    lonely = factories.InstitutionFactory(contacts=[])
    page = client.get(lonely.intake_path()).content.decode()
    assert "no admin address on file" in page


def test_submissions_per_link_are_limited(client, institution, settings):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 2
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 100
    for _ in range(2):
        assert submit(client, institution)[0].status_code == 302
    response, verification = submit(client, institution)
    assert response.status_code == 429
    assert verification is None
    assert len(mail.outbox) == 2


def test_code_emails_per_contact_are_limited(client, institution, settings):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 3
    for _ in range(3):
        submit(client, institution)
    response, verification = submit(client, institution)
    assert response.status_code == 429
    assert "several codes to that address" in response.content.decode()
    assert len(mail.outbox) == 3


def test_the_limits_reset_after_an_hour(client, institution, settings, time_machine):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 1
    time_machine.move_to("2026-11-23 09:00:00+00:00")
    assert submit(client, institution)[0].status_code == 302
    assert submit(client, institution)[0].status_code == 429
    time_machine.move_to("2026-11-23 10:00:01+00:00")
    assert submit(client, institution)[0].status_code == 302


def test_a_failing_mail_server_keeps_the_submission_and_offers_a_new_code(client, institution, settings):
    settings.EMAIL_BACKEND = REFUSING
    response, verification = submit(client, institution)
    assert response.status_code == 302
    verification.refresh_from_db()
    assert verification.codes_sent == 0
    page = client.get(response["Location"]).content.decode()
    assert "couldn't send the code email" in page
