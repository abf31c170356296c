"""No input produces a 500: every public form field gets every nasty value we know of."""

import pytest
from django.test import Client

from keys.models import Credential
from tests.flows import NASTY, form_data, submit

pytestmark = pytest.mark.django_db

START_FIELDS = [
    "client_id",
    "client_secret",
    "key_type",
    "canvas_url",
    "expiry",
    "created_on",
    "expires_on",
    "contact",
    "form_nonce",
]


@pytest.mark.parametrize("kind", ["dap", "developer_key"])
@pytest.mark.parametrize("field", START_FIELDS)
def test_the_submission_form_never_errors(client, institution, kind, field):
    base = form_data(client, institution, kind)
    for value in NASTY:
        response = client.post(institution.intake_path(kind), {**base, field: value})
        assert response.status_code < 500, (field, value[:40])
        if response.status_code == 302:
            # Only a value that is valid for the field may store anything, once per nonce.
            base = form_data(client, institution, kind)
    for value in NASTY[:5]:
        assert client.post(institution.intake_path(kind), {**base, field: [value, value]}).status_code < 500


def test_the_code_form_never_errors(client, institution):
    response, verification = submit(client, institution)
    for value in NASTY:
        assert client.post(f"/s/{verification.public_id}/", {"code": value}).status_code < 500, value[:40]
    assert client.post(f"/s/{verification.public_id}/", {"other": "1"}).status_code < 500
    assert client.post(f"/s/{verification.public_id}/new-code/", {"code": "x"}).status_code < 500


@pytest.mark.parametrize("path", ["/i/{}/", "/i/{}/dap/", "/s/{}/", "/s/{}/receipt/", "/s/{}/new-code/"])
def test_nasty_tokens_in_urls_are_404s(path):
    client = Client()
    for value in ["x" * 5000, "%00", "%F0%9F%98%80", "..%2F..%2F", "' OR 1=1"]:
        assert client.get(path.format(value)).status_code in (404, 405)


def test_methods_other_than_get_and_post_are_refused(client, institution):
    assert client.put(institution.intake_path()).status_code == 405
    assert client.delete(institution.intake_path()).status_code == 405
    assert Credential.objects.count() == 0
