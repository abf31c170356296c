"""The developer-key check, without any user signing in, through every row of the reference's
tables (§ 2.1) on a fake Canvas that applies Canvas's checks in Canvas's order.

Probe A (GET /login/oauth2/auth, redirects not followed; with a scope that cannot exist, A′):

| Canvas answers                                              | Keydrop concludes                         |
|-------------------------------------------------------------|-------------------------------------------|
| 401 invalid_client                                          | rejected: unknown or deleted key          |
| 400 invalid_request "redirect_uri does not match…"          | rejected: add our redirect URI            |
| 302 to the redirect URI, invalid_scope naming only the probe | scopes enforced and complete: ask again   |
| 302 … invalid_scope naming more scopes                      | rejected: add these N scopes (named)      |
| 302 … unauthorized_client                                   | rejected: switch the key On               |
| 302 to the login page, to /login/oauth2/confirm, or to the  | every pre-login check passed              |
|   redirect URI with a code (an admin signed in already)     |                                           |
| no invalid_scope for the probe scope                        | Enforce Scopes is off: works, with a note |

Probe B (POST /login/oauth2/token with a random code):

| 401 invalid_client "unknown client"      | rejected: unknown key (even when probe A |
|                                          |   still knew it: deleted in between)     |
| 401 invalid_client "invalid client"      | rejected: the secret does not match      |
| 400 invalid_grant "authorization_code…"  | the id and secret are right              |
| 403 Rate Limit Exceeded, 5xx, non-JSON   | inconclusive                             |
"""

import pytest

from keys import kinds
from keys.checks import live_checks
from keys.instructure import canvas, outbound
from keys.models import CredentialCheck
from tests.factories import developer_key_credential
from tests.fakes import FakeKey

pytestmark = pytest.mark.django_db
KEY_ID = "170000000000123"
CANVAS = "https://c.example"
KEY_SECRET = "K" * 32 + "s3" * 16


def required_scopes():
    return [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]


def redirect_uri(institution, region="United States"):
    return dict(kinds.developer_key_setup(institution.slug)["redirect_uris"])[region]


@pytest.fixture
def fake_key(fake_canvas, institution):
    """The key as the customer set it up: our US redirect URI, every scope, enforced, On."""
    return fake_canvas.add_key(
        KEY_ID, FakeKey(secret=KEY_SECRET, redirect_uris=[redirect_uri(institution)], scopes=required_scopes())
    )


@pytest.fixture
def credential(fake_canvas, institution):
    return developer_key_credential(institution, KEY_ID, KEY_SECRET, fake_canvas.url)


def check(credential):
    return live_checks.check(credential, trigger=CredentialCheck.Trigger.COMMAND)


def test_a_key_set_up_as_asked_works(fake_key, credential, fake_canvas):
    checked = check(credential)
    assert checked.outcome == "works"
    assert checked.record.reason == "Canvas knows the key, it is On, and the secret matches."
    # A′ (with the probe scope), A (without it: On or Off), B (the secret): three calls, no user.
    assert [(s.method, s.path) for s in fake_canvas.served] == [
        ("GET", "/login/oauth2/auth"),
        ("GET", "/login/oauth2/auth"),
        ("POST", "/login/oauth2/token"),
    ]


def spy_on(fake, endpoint: str) -> list:
    """Every answer the fake's endpoint gives, as (status, headers, body)."""
    answers, original = [], getattr(fake, endpoint)

    def answer(request):
        answers.append(original(request))
        return answers[-1]

    setattr(fake, endpoint, answer)
    return answers


def test_a_key_deleted_between_the_probes_is_rejected_as_unknown_by_the_token_endpoint(
    fake_key, credential, fake_canvas
):
    fake_canvas.token_forgets.add(KEY_ID)  # probe A still finds the key; the token endpoint does not
    tokens = spy_on(fake_canvas, "token")
    checked = check(credential)
    assert [answer[2] for answer in tokens] == [{"error": "invalid_client", "error_description": "unknown client"}]
    assert checked.outcome == "rejected" and checked.record.http_status == 401
    assert checked.record.reason.startswith("Canvas does not know key ID …0123, or the key was deleted or deactivated")
    assert "secret does not match" not in checked.record.reason  # the secret is not the problem


@pytest.mark.parametrize(
    "browser, lands",
    [
        ("approve", "the redirect URI with a code"),  # an admin signed in who authorized before
        ("confirm", "Canvas's Authorize page"),  # an admin signed in, asked to authorize
    ],
)
def test_a_signed_in_browser_sent_on_past_the_pre_login_checks_means_the_key_works(
    fake_key, credential, fake_canvas, institution, browser, lands
):
    fake_canvas.browser = browser
    authorizations = spy_on(fake_canvas, "authorize")
    checked = check(credential)
    # A′ is refused for the probe scope only; A, without it, is sent on: not to the login page.
    status, headers, _ = authorizations[-1]
    location = headers["Location"]
    if browser == "approve":
        assert location.startswith(redirect_uri(institution) + "?") and "code=" in location, lands
    else:
        assert location.startswith(f"{fake_canvas.url}/login/oauth2/confirm?"), lands
    assert status == 302 and "/login/canvas" not in location
    assert checked.outcome == "works"
    assert checked.record.reason == "Canvas knows the key, it is On, and the secret matches."
    assert [(s.method, s.path) for s in fake_canvas.served][-1] == ("POST", "/login/oauth2/token")


def test_a_code_for_the_probe_scope_means_scopes_are_not_enforced(fake_key, credential, fake_canvas):
    fake_canvas.browser, fake_key.require_scopes = "approve", False
    checked = check(credential)
    assert checked.outcome == "works" and "Enforce Scopes is off on this key" in checked.record.reason


def test_an_unknown_key_id_is_rejected(fake_key, credential, fake_canvas):
    credential.client_id = "170000000000999"
    checked = check(credential)
    assert checked.outcome == "rejected"
    assert "Canvas does not know key ID …0999" in checked.record.reason
    assert len(fake_canvas.served) == 1  # nothing more to ask about a key Canvas does not know


def test_a_deleted_key_is_rejected(fake_key, credential):
    fake_key.active = False
    assert "does not know key ID" in check(credential).record.reason


def test_a_key_without_our_redirect_uri_is_rejected_with_the_fix(fake_key, credential):
    fake_key.redirect_uris = ["https://elsewhere.example/callback"]
    checked = check(credential)
    assert checked.outcome == "rejected"
    assert "add the one shown on the intake page" in checked.record.reason


def test_a_key_registering_another_regions_redirect_uri_works(fake_key, credential, institution):
    fake_key.redirect_uris = [redirect_uri(institution, "Europe")]
    assert check(credential).outcome == "works"


def test_missing_scopes_are_named_with_their_count(fake_key, credential):
    scopes = required_scopes()
    fake_key.scopes = scopes[:-3]
    checked = check(credential)
    assert checked.outcome == "rejected"
    assert checked.record.reason.startswith(
        f"Add 3 missing scopes to the key in Admin → Developer Keys: {', '.join(scopes[-3:])}."
    )
    assert canvas.CANARY_SCOPE not in checked.record.reason


def test_one_missing_scope_is_named(fake_key, credential):
    fake_key.scopes = required_scopes()[1:]
    assert "Add 1 missing scope to the key" in check(credential).record.reason


def test_a_key_that_is_off_needs_a_fix_naming_every_cause_canvas_means(fake_key, credential):
    # authorized_for_account? is false for a key Off, of another root account, or test-cluster only.
    fake_key.on = False
    checked = check(credential)
    assert checked.outcome == "rejected" and checked.record.http_status == 302
    reason = checked.record.reason
    assert "switch it On" in reason and "another Canvas account" in reason and "Test Cluster Only" in reason


def test_a_wrong_secret_is_rejected_as_not_matching(fake_key, credential):
    credential.secret = None  # the check reads the stored secret
    credential.set_secret("W" * 64)
    credential.save()
    checked = check(credential)
    assert checked.outcome == "rejected"
    assert (
        checked.record.reason
        == "The secret does not match key ID …0123: copy it again with Show Key on the Developer Keys page."
    )


def test_a_key_that_is_off_and_has_a_wrong_secret_names_both_fixes(fake_key, credential):
    fake_key.on, fake_key.secret = False, "R" * 64
    reason = check(credential).record.reason
    assert "switch it On" in reason and "The secret does not match" in reason
    assert reason.index("The secret does not match") < reason.index("switch it On")  # what decides comes first


def test_a_key_without_enforced_scopes_works_with_a_note(fake_key, credential, settings):
    settings.PORTAL_PARTNER_NAME = "Acme Analytics"
    fake_key.require_scopes = False
    checked = check(credential)
    assert checked.outcome == "works"
    assert (
        "Enforce Scopes is off on this key" in checked.record.reason
        and "Acme Analytics asks for it On" in checked.record.reason
    )


def test_a_key_without_enforced_scopes_that_is_off_is_rejected(fake_key, credential):
    fake_key.require_scopes, fake_key.on = False, False
    assert "switch it On" in check(credential).record.reason


@pytest.mark.parametrize("mode", ["rate_limit", "500", "503", "html"])
def test_throttling_and_server_errors_are_inconclusive(fake_key, credential, fake_canvas, mode):
    fake_canvas.mode = mode
    checked = check(credential)
    assert checked.outcome == "inconclusive"
    assert checked.record.reason.endswith("We will check again later.")


def test_canvas_limiting_our_requests_is_said_in_words(fake_key, credential, fake_canvas):
    fake_canvas.mode = "rate_limit"
    assert "Canvas is limiting our requests (HTTP 403" in check(credential).record.reason


def test_a_canvas_that_does_not_answer_in_time_is_inconclusive(fake_key, credential, fake_canvas, settings):
    settings.PORTAL_OUTBOUND_READ_TIMEOUT = 0.2
    fake_canvas.mode = "slow"
    assert check(credential).outcome == "inconclusive"


def test_a_canvas_address_that_stopped_existing_is_inconclusive_never_a_verdict_on_the_key(credential, monkeypatch):
    # The form refuses a name that does not exist; one that vanishes later says nothing about the key.
    credential.canvas_url = "https://no-such-canvas.example.edu"

    def no_such_host(host, port):
        raise outbound.NoSuchHost(f"{host} does not exist in DNS")

    monkeypatch.setattr(outbound, "resolve", no_such_host)
    checked = check(credential)
    assert checked.outcome == "inconclusive"
    assert "no-such-canvas.example.edu does not exist in DNS" in checked.record.reason


def test_a_private_canvas_address_is_never_called_and_says_why(fake_key, credential, fake_canvas, settings):
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = False
    checked = check(credential)
    assert checked.outcome == "inconclusive"  # our own rule, not Canvas's answer about the key
    assert "only at a public https address" in checked.record.reason
    assert fake_canvas.served == []


# The redirect Canvas answers with, read without following it ------------------------------------


def test_a_redirect_to_the_redirect_uri_with_a_code_means_every_pre_login_check_passed():
    answer = canvas.read_authorize_redirect(
        302, "https://us.partner.example/cb?code=abc&state=xyz", "https://us.partner.example/cb", CANVAS
    )
    assert answer.passed and answer.error == ""


def test_an_error_redirect_without_state_is_read_by_its_error():
    location = "https://us.partner.example/cb?error=unauthorized_client&error_description=Client+does+not+have+access"
    answer = canvas.read_authorize_redirect(302, location, "https://us.partner.example/cb", CANVAS)
    assert answer.error == "unauthorized_client" and not answer.passed


def test_the_confirm_page_counts_as_passed_and_an_unknown_place_does_not():
    assert canvas.read_authorize_redirect(
        302, "https://c.example/login/oauth2/confirm", "https://p.example/cb", CANVAS
    ).passed
    assert not canvas.read_authorize_redirect(302, "https://c.example/elsewhere", "https://p.example/cb", CANVAS).passed


def test_a_login_page_on_another_host_is_not_canvas_saying_the_key_passed():
    # Canvas sends a login redirect only to its own host (oauth2_provider_controller.rb, login_url).
    for location in ("https://other.example/login/canvas", "http://c.example/login/canvas"):
        answer = canvas.read_authorize_redirect(302, location, "https://p.example/cb", CANVAS)
        assert not answer.passed and answer.lands == ""
    assert canvas.read_authorize_redirect(302, "https://c.example/login/canvas", "https://p.example/cb", CANVAS).passed


@pytest.mark.parametrize(
    "sentence, scopes",
    [
        ("a", ("a",)),
        ("url:GET|/api/v1/a and url:GET|/api/v1/b", ("url:GET|/api/v1/a", "url:GET|/api/v1/b")),
        ("a, b, and c", ("a", "b", "c")),
    ],
)
def test_missing_scopes_are_read_from_rails_to_sentence(sentence, scopes):
    description = f"A requested scope is invalid. The following scopes were requested, but not granted: {sentence}"
    assert canvas.parse_missing_scopes(description) == scopes


def test_an_unclear_answer_records_the_status_of_the_probe_that_was_unclear(fake_key, credential, fake_canvas):
    original = fake_canvas.token

    def token_down(form):
        return 503, {}, "<html>down</html>"

    fake_canvas.token = token_down
    try:
        checked = check(credential)
    finally:
        fake_canvas.token = original
    assert checked.outcome == "inconclusive" and checked.record.http_status == 503
    assert "HTTP 503 at its token endpoint" in checked.record.reason


def test_with_keydrop_s_own_callback_the_probes_ask_for_it_and_the_users_self_scope(
    fake_key, credential, fake_canvas, settings
):
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    fake_key.redirect_uris = [settings.PORTAL_BASE_URL + "/oauth/canvas/callback"]
    checked = check(credential)
    assert checked.outcome == "rejected" and "url:GET|/api/v1/users/:id" in checked.record.reason
    fake_key.scopes.append("url:GET|/api/v1/users/:id")
    credential.refresh_from_db()
    assert check(credential).outcome == "works"
