"""A link to the OAuth callback that carries no state proves nothing: anyone can send one.

Before: `?error=…` without state used the visitor's open authorization (the newest one of their
browser) and the page showed the link's own error text, so a stranger's link could cancel a
customer's authorization and put words of its choosing on the partner's page.
"""

import pytest
from django.test import Client

from keys.models import AuthorizationRequest
from tests import factories

pytestmark = pytest.mark.django_db
CALLBACK = "/oauth/canvas/callback"
PLANTED = "Your account is suspended. Call 555-0100 now"


@pytest.fixture
def awaiting_key(settings):
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    key = factories.developer_key_credential(
        factories.InstitutionFactory(), "170000000000123", "K" * 64, "https://example.instructure.com"
    )
    assert key.awaits_authorization
    return key


@pytest.mark.parametrize(
    "query",
    [
        {"error": "access_denied", "error_description": PLANTED},
        {
            "error": "invalid_scope",
            "error_description": f"The following scopes were requested, but not granted: {PLANTED}",
        },
        {"error": PLANTED},
    ],
)
def test_an_error_link_without_state_cancels_nothing_and_shows_none_of_its_text(awaiting_key, query):
    browser = Client()
    assert browser.post(awaiting_key.authorization_path()).status_code == 302  # the customer clicked Authorize
    response = browser.get(CALLBACK, query, follow=True)
    page = response.content.decode()
    assert response.status_code == 400 and "without finishing the authorization" in page
    assert "555-0100" not in page and "suspended" not in page
    assert AuthorizationRequest.objects.get(credential=awaiting_key).used_at is None  # still theirs to finish
