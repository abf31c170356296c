"""The admin's OAuth grant of a developer key, end to end against a loopback fake of Canvas:
the button, Canvas's answers on the callback, the state's guarantees, the refresh token kept
sealed, the grant kept alive by the daily check, and the grant revoked with the key.

The browser is Django's test client, which keeps cookies like a browser; what Canvas does with the
admin's browser (sign-in, the Authorize button) is the fake's ``browser`` setting. The same walk in
a real browser is tests/e2e/test_authorize_browser.py.
"""

import datetime
import html
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from keys import kinds, staff
from keys.checks import live_checks
from keys.instructure import canvas, grants, outbound
from keys.models import AuditEvent, AuthorizationRequest, CanvasGrant, CheckAlert, Credential, CredentialCheck
from keys.sealing import Sealed
from tests.factories import CredentialFactory, developer_key_credential
from tests.fakes import FakeCanvas, FakeKey
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
KEY_ID = "170000000000123"
KEY_SECRET = "K" * 32 + "s3" * 16
CALLBACK = "/oauth/canvas/callback"


@pytest.fixture
def keydrop_callback(settings):
    """The partner lets Keydrop complete grants: no callbacks of its own in its developer-key file."""
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    return settings.PORTAL_BASE_URL + CALLBACK


@pytest.fixture
def fake_key(fake_canvas, keydrop_callback):
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    fake_canvas.browser = "approve"  # the admin is signed in to Canvas and clicks Authorize
    return fake_canvas.add_key(KEY_ID, FakeKey(secret=KEY_SECRET, redirect_uris=[keydrop_callback], scopes=scopes))


@pytest.fixture
def credential(fake_canvas, fake_key, institution):
    """A verified developer key that Canvas accepted at hand-over: it awaits the admin's grant."""
    key = developer_key_credential(institution, KEY_ID, KEY_SECRET, fake_canvas.url)
    live_checks.record(key, canvas_verdict_works(), trigger=CredentialCheck.Trigger.HANDOVER)
    return key


def canvas_verdict_works():
    from keys.outcomes import Verdict

    return Verdict.works("Canvas knows the key, it is On, and the secret matches.")


def start(browser: Client, credential: Credential) -> str:
    """Click Authorize: returns the Canvas address Keydrop sent the browser to."""
    response = browser.post(credential.authorization_path())
    assert response.status_code == 302
    return response["Location"]


def canvas_answers(authorize_url: str) -> str:
    """What Canvas does with the admin's browser: the callback address it sends them back to."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def come_back(browser: Client, callback_url: str):
    parts = urlsplit(callback_url)
    assert parts.path == CALLBACK
    return browser.get(f"{parts.path}?{parts.query}")


def authorize(browser: Client, credential: Credential):
    return come_back(browser, canvas_answers(start(browser, credential)))


def exchanges(fake: FakeCanvas) -> int:
    return sum(1 for served in fake.served if served.method == "POST" and served.path == "/login/oauth2/token")


# The grant, end to end ------------------------------------------------------------------------------


def test_the_button_sends_the_admin_to_canvas_with_our_callback_scopes_and_a_state(credential, keydrop_callback):
    assert credential.awaits_authorization
    target = urlsplit(start(Client(), credential))
    query = {name: values[0] for name, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == credential.canvas_url + "/login/oauth2/auth"
    assert query["response_type"] == "code" and query["client_id"] == KEY_ID
    assert query["redirect_uri"] == keydrop_callback
    assert query["scope"].split() == [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    assert kinds.USERS_SELF_SCOPE in query["scope"].split()
    assert len(query["state"]) > 40
    # S256 PKCE: the challenge of this request's own verifier, which never leaves Keydrop but to the token endpoint.
    verifier = AuthorizationRequest.objects.get().code_verifier.reveal()
    assert query["code_challenge_method"] == "S256" and 43 <= len(verifier) <= 128
    assert query["code_challenge"] == canvas.pkce_challenge(verifier) and verifier not in target.query


def test_the_exchange_sends_the_verifier_canvas_checks_and_then_forgets_it(credential, fake_canvas):
    authorize(Client(), credential)
    assert CanvasGrant.objects.filter(credential=credential, lost_at__isnull=True).exists()  # the fake checked it
    assert AuthorizationRequest.objects.get().code_verifier is None  # spent with the code


def test_a_code_brought_back_to_another_request_is_refused_by_canvas(credential, fake_canvas):
    """A code injected into someone else's authorization: its challenge is not that request's verifier."""
    browser = Client()
    callback = canvas_answers(start(browser, credential))
    AuthorizationRequest.objects.update(code_verifier=Sealed.seal("another-request-s-verifier-" + "v" * 30))
    page = browser.get(come_back(browser, callback)["Location"]).content.decode()
    assert "The authorization expired before it reached us" in page and not CanvasGrant.objects.exists()


def test_canvas_refuses_a_challenged_code_without_its_verifier(credential, fake_canvas, keydrop_callback):
    """The fake does what pkce.rb does: a stored challenge makes the verifier required."""
    code = parse_qs(urlsplit(canvas_answers(start(Client(), credential))).query)["code"][0]
    with outbound.Session() as http:
        answer = canvas.exchange_code(http, fake_canvas.url, KEY_ID, KEY_SECRET, keydrop_callback, code)
    assert (answer.status, answer.error, answer.ok) == (400, "invalid_grant", False)


def test_an_authorized_key_shows_who_granted_it_and_its_refresh_token_is_sealed(credential, fake_canvas):
    browser = Client()
    path = credential.authorization_path()
    response = authorize(browser, credential)
    assert response.status_code == 302 and response["Location"] == path
    page = browser.get(response["Location"]).content.decode()
    assert "has access to your Canvas" in page and "Ada Admin" in page
    grant = CanvasGrant.objects.get(credential=credential)
    assert (grant.canvas_user_name, grant.canvas_global_id) == ("Ada Admin", "10000000000042")
    assert grant.scope_list == [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    assert FakeCanvas.REFRESH_MARK in grant.refresh_token.reveal()
    with connection.cursor() as cursor:  # at rest: ciphertext only
        cursor.execute("SELECT refresh_token, access_token FROM keys_canvasgrant")
        for value in cursor.fetchone():
            assert FakeCanvas.REFRESH_MARK.encode() not in bytes(value)
            assert FakeCanvas.ACCESS_MARK.encode() not in bytes(value)
    credential.refresh_from_db()
    assert not credential.awaits_authorization and credential.authorization_path() == ""
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUTHORIZED)
    assert event.credential == credential and "Ada Admin" in event.detail
    assert credential.checks.latest("at").trigger == CredentialCheck.Trigger.AUTHORIZATION
    # The customer's page no longer offers the button.
    assert (
        "Authorize Keydrop in Canvas"
        not in browser.get(credential.institution.intake_path("developer_key")).content.decode()
    )


def test_the_institution_page_offers_the_button_until_the_grant_exists(credential, client):
    page = client.get(credential.institution.intake_path("developer_key")).content.decode()
    assert "Awaiting authorization in Canvas" in page
    assert f'action="{credential.authorization_path()}"' in page


def test_only_pages_with_the_button_let_a_form_end_at_the_institution_s_canvas(credential, client):
    """The button's POST is answered with a redirect to Canvas; browsers hold that redirect to the
    page's form-action, so the pages that show the button name that one Canvas, and no others."""

    def form_action(path: str) -> str:
        policy = client.get(path)["Content-Security-Policy"]
        return next(part for part in policy.split("; ") if part.startswith("form-action"))

    pages = [credential.institution.intake_path("developer_key"), credential.authorization_path()]
    for page in pages:
        assert form_action(page) == f"form-action 'self' {credential.canvas_url}"
    authorize(Client(), credential)
    for page in pages:
        assert form_action(page) == "form-action 'self'"


def test_the_admin_who_clicks_cancel_is_told_what_to_do(credential, fake_canvas):
    fake_canvas.browser = "deny"
    browser = Client()
    response = authorize(browser, credential)
    page = browser.get(response["Location"]).content.decode()
    assert "The authorization was cancelled in Canvas" in page
    assert exchanges(fake_canvas) == 0 and not CanvasGrant.objects.exists()
    assert "Authorize Keydrop in Canvas" in page  # and may try again


def test_an_error_without_state_is_explained_in_our_words_only(credential, fake_canvas, fake_key):
    fake_key.scopes.remove("url:GET|/api/v1/courses/:course_id/assignments")
    browser = Client()
    callback = canvas_answers(start(browser, credential))
    assert "state=" not in callback  # current Canvas: error and description only
    response = come_back(browser, callback)  # anyone could send this address: none of its text is shown
    page = response.content.decode()
    assert response.status_code == 400 and "may lack scopes" in page and "url:GET|" not in page
    assert AuthorizationRequest.objects.get().used_at is None


def test_unauthorized_client_names_its_three_causes_each_mended_in_canvas(credential, fake_key):
    fake_key.on = False
    browser = Client()
    page = html.unescape(browser.get(authorize(browser, credential)["Location"]).content.decode())
    assert "the key is Off for your account (switch it On" in page
    assert "it belongs to another Canvas" in page and "is not the key's own" in page
    assert '"test cluster only" key used on production' in page
    assert "same key and secret" in page


def test_the_challenge_survives_canvas_s_authorize_page(credential, fake_canvas):
    """The admin who clicks Authorize on Canvas's own page: the code carries the challenge all the same."""
    fake_canvas.browser = "confirm"
    browser = Client()
    page = httpx.get(canvas_answers(start(browser, credential))).text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    assert fields["code_challenge_method"] == "S256"
    accepted = httpx.post(f"{fake_canvas.url}/login/oauth2/accept", data=fields, follow_redirects=False)
    come_back(browser, accepted.headers["location"])
    assert CanvasGrant.objects.filter(credential=credential).exists()


def test_an_admin_without_the_right_to_authorize_is_told_who_must_click(credential, fake_canvas):
    fake_canvas.browser, fake_canvas.user_may_authorize = "confirm", False
    browser = Client()
    confirm_page = canvas_answers(start(browser, credential))
    callback = canvas_answers(confirm_page)  # Canvas's confirm step sends them back, without our state
    assert "error=client_not_allowed_for_user" in callback and "state=" not in callback
    page = html.unescape(come_back(browser, callback).content.decode())  # no state: nothing cancelled, our words only
    assert "you are signed in but may not authorize this app" in page
    assert "An admin who may authorize apps in your Canvas must click Authorize" in page
    assert not CanvasGrant.objects.exists() and exchanges(fake_canvas) == 0


def test_a_grant_canvas_cannot_confirm_at_once_is_kept_and_confirmed_later(credential, fake_canvas):
    fake_canvas.route_modes["users_self"] = "rate_limit"  # throttled right after the exchange
    browser = Client()
    page = html.unescape(browser.get(authorize(browser, credential)["Location"]).content.decode())
    assert "Canvas could not confirm the access just now" in page
    credential.refresh_from_db()
    assert not credential.awaits_authorization and CanvasGrant.objects.get().lost_at is None
    assert not CheckAlert.objects.exists()
    fake_canvas.route_modes.clear()
    assert check(credential).outcome == "works"


def test_a_secret_regenerated_since_the_hand_over_is_explained(credential, fake_key, fake_canvas):
    fake_key.secret = "N" * 64
    browser = Client()
    page = html.unescape(browser.get(authorize(browser, credential)["Location"]).content.decode())
    assert "no longer accepts this key's secret" in page and not CanvasGrant.objects.exists()


# The state's guarantees -----------------------------------------------------------------------------


def test_a_state_that_was_tampered_with_is_refused_before_any_exchange(credential, fake_canvas):
    browser = Client()
    callback = canvas_answers(start(browser, credential))
    tampered = callback.replace("state=", "state=x")
    response = come_back(browser, tampered)
    assert response.status_code == 400 and "We do not recognise this authorization" in response.content.decode()
    assert exchanges(fake_canvas) == 0


def test_a_callback_used_twice_is_refused_the_second_time(credential, fake_canvas):
    browser = Client()
    callback = canvas_answers(start(browser, credential))
    assert come_back(browser, callback).status_code == 302
    again = come_back(browser, callback)
    assert again.status_code == 400 and "already used" in again.content.decode()
    assert exchanges(fake_canvas) == 1


def test_a_state_older_than_ten_minutes_is_refused(credential, fake_canvas, time_machine):
    browser = Client()
    callback = canvas_answers(start(browser, credential))
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=10, seconds=5))
    response = come_back(browser, callback)
    assert response.status_code == 400 and "more than 10 minutes ago" in response.content.decode()
    assert exchanges(fake_canvas) == 0 and not CanvasGrant.objects.exists()


def test_a_callback_opened_in_another_browser_is_refused_and_the_right_browser_can_still_finish(
    credential, fake_canvas
):
    admin, stranger = Client(), Client()
    callback = canvas_answers(start(admin, credential))
    refused = come_back(stranger, callback)
    assert refused.status_code == 400 and "different browser" in refused.content.decode()
    assert exchanges(fake_canvas) == 0
    assert come_back(admin, callback).status_code == 302
    assert CanvasGrant.objects.filter(credential=credential).exists()


def test_a_callback_without_state_or_code_is_refused(credential, fake_canvas):
    response = Client().get(CALLBACK + "?code=abc")
    assert response.status_code == 400 and exchanges(fake_canvas) == 0


def test_authorizing_is_offered_only_while_the_key_awaits_it(credential, fake_canvas):
    authorize(Client(), credential)
    response = Client().post(f"/i/{credential.institution.intake_token}/authorize/{credential.pk}/")
    assert response.status_code == 405 and "does not need an authorization now" in response.content.decode()


def test_a_flood_of_authorizations_is_cut_off(credential, time_machine):
    first = timezone.now().replace(second=0, microsecond=0)
    time_machine.move_to(first, tick=False)
    browser = Client()
    start(browser, credential)
    time_machine.move_to(first + datetime.timedelta(minutes=30), tick=False)
    for _ in range(grants.AUTHORIZATIONS_PER_HOUR - 1):
        start(browser, credential)
    refused = browser.post(credential.authorization_path())
    # The branded page, saying when the first start of the hour frees up: thirty minutes from now.
    assert refused.status_code == 429 and refused["Retry-After"] == "1800"
    at = timezone.localtime(first + datetime.timedelta(hours=1), credential.institution.tz)
    assert (
        "Too many authorizations were started for this key in the last hour. "
        f"You can try again after {at:%H:%M} ({at.tzname()}), in about 30 minute(s)."
    ) in html.unescape(refused.content.decode())
    assert Client().post(credential.authorization_path()).status_code == 429  # per key, whichever browser
    assert AuthorizationRequest.objects.count() == grants.AUTHORIZATIONS_PER_HOUR
    time_machine.move_to(first + datetime.timedelta(hours=1, seconds=1), tick=False)
    assert urlsplit(start(browser, credential)).path == "/login/oauth2/auth"  # the first start's place is free
    assert browser.post(credential.authorization_path()).status_code == 429  # and only that one


# Kept alive -----------------------------------------------------------------------------------------


def check(credential: Credential):
    credential.refresh_from_db()
    return live_checks.check(credential, trigger=CredentialCheck.Trigger.SCHEDULE)


def test_the_daily_check_uses_the_grant_and_a_revoked_grant_alerts_once(credential, fake_canvas, time_machine):
    authorize(Client(), credential)
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=2))  # the token from the grant has expired
    checked = check(credential)
    assert checked.outcome == "works" and "The authorization by Ada Admin" in checked.record.reason
    fake_canvas.revoke_grants(KEY_ID)  # the admin removed the app in Canvas
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=2))
    refused = check(credential)
    assert refused.outcome == "rejected" and refused.change == "failing"
    assert "Authorize Keydrop again" in refused.record.reason
    assert CheckAlert.objects.filter(credential=credential, topic=CheckAlert.Topic.FAILING).count() == 1
    credential.refresh_from_db()
    assert credential.awaits_authorization and credential.status == Credential.Status.ACTIVE  # the key is fine
    # The next check does not alert again; the customer's page offers the button with the reason.
    check(credential)
    assert CheckAlert.objects.filter(credential=credential).count() == 1
    page = Client().get(credential.institution.intake_path("developer_key")).content.decode()
    assert "no longer knows the authorization" in page and credential.authorization_path() in page
    # Authorizing again ends the episode.
    authorize(Client(), credential)
    credential.refresh_from_db()
    assert credential.failing_since is None and not credential.awaits_authorization


def test_scopes_removed_from_the_key_end_the_grant(credential, fake_canvas, time_machine):
    authorize(Client(), credential)
    fake_canvas.remove_scope(KEY_ID, "url:GET|/api/v1/accounts")
    checked = check(credential)
    assert checked.outcome == "rejected"  # the probe names the scope; the grant is not blamed
    assert "url:GET|/api/v1/accounts" in checked.record.reason


def test_a_key_turned_off_after_the_grant_is_failing_with_the_key_s_own_fix(credential, fake_key):
    authorize(Client(), credential)
    fake_key.on = False
    checked = check(credential)
    assert checked.outcome == "rejected" and "switch it On" in checked.record.reason


# Revoked with the key --------------------------------------------------------------------------------


def test_revoking_the_key_revokes_the_grant_in_canvas(credential, fake_canvas):
    authorize(Client(), credential)
    assert fake_canvas.grants_of(KEY_ID) == 1
    [revoked] = staff.revoke([credential], actor=staff.Actor(name="alice"), reason="contract ended", now=timezone.now())
    assert str(revoked.revoked_in_canvas) == "the authorization was revoked in Canvas"
    assert fake_canvas.grants_of(KEY_ID) == 0
    grant = CanvasGrant.objects.get()
    assert grant.refresh_token is None and grant.access_token is None and grant.purged_at
    assert "revoked in Canvas" in AuditEvent.objects.get(action=AuditEvent.Action.REVOKE).detail


def test_revoking_says_so_when_canvas_could_not_be_told(credential, fake_canvas):
    authorize(Client(), credential)
    fake_canvas.mode = "500"
    [revoked] = staff.revoke([credential], actor=staff.Actor(name="alice"), reason="contract ended", now=timezone.now())
    assert "revoke it in Canvas by hand" in str(revoked.revoked_in_canvas)
    assert CanvasGrant.objects.get().refresh_token is None  # Keydrop forgets it all the same


# Staff ---------------------------------------------------------------------------------------------


def test_staff_email_the_authorization_link_and_it_is_audited(credential, alice, bob):
    viewer = signed_in(bob)
    assert viewer.post(f"/admin/keys/credential/{credential.pk}/email-authorization/").status_code == 403
    admin_page = signed_in(alice).get(f"/admin/keys/credential/{credential.pk}/change/").content.decode()
    assert "awaiting authorization" in admin_page and "Email the authorization link" in admin_page
    response = signed_in(alice).post(f"/admin/keys/credential/{credential.pk}/email-authorization/")
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["charlie@example.edu"] and message.alternatives
    assert credential.authorization_url() in message.body
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUTHORIZATION_EMAILED)
    assert event.actor == "alice" and "charlie@example.edu" in event.detail


def test_staff_see_who_authorized_and_can_list_the_keys_still_awaiting(credential, alice):
    waiting = CredentialFactory(
        institution=credential.institution,
        kind="developer_key",
        client_id="170000000000999",
        secret=KEY_SECRET,
        canvas_url=credential.canvas_url,
        expires_at=None,
    )
    authorize(Client(), credential)
    staff_browser = signed_in(alice)
    page = staff_browser.get(f"/admin/keys/credential/{credential.pk}/change/").content.decode()
    assert "Authorized by Ada Admin (Canvas user 10000000000042)" in page
    listed = staff_browser.get("/admin/keys/credential/?authorization=awaiting").content.decode()
    assert waiting.masked_client_id in listed and credential.masked_client_id not in listed
    dashboard = staff_browser.get("/admin/").content.decode()
    assert "Awaiting authorization" in dashboard


def test_the_developer_keys_api_calls_ask_for_exactly_the_configured_scopes(keydrop_callback):
    setup = kinds.developer_key_setup("example-u")
    create, switch_on = kinds.developer_key_api_calls(setup, "Acme Analytics")
    fields = [part.strip(" '\\\n").split("=", 1) for part in create.split("--data-urlencode")[1:]]
    scopes = [value for name, value in fields if name == "developer_key[scopes][]"]
    assert scopes == [scope for scope, _ in setup["scopes"]] and kinds.USERS_SELF_SCOPE in scopes
    assert ["developer_key[redirect_uris][]", keydrop_callback] in fields
    assert ["developer_key[require_scopes]", "true"] in fields and ["developer_key[allow_includes]", "true"] in fields
    assert create.startswith("curl -X POST https://YOUR-CANVAS/api/v1/accounts/self/developer_keys ")
    assert "/developer_keys/KEY_ID/developer_key_account_bindings" in switch_on
    assert "developer_key_account_binding[workflow_state]=on" in switch_on


def test_the_intake_page_shows_one_redirect_uri_and_the_api_calls(client, institution, keydrop_callback):
    page = client.get(institution.intake_path("developer_key")).content.decode()
    assert f'data-copy="{keydrop_callback}"' in page and "hosting region" not in page
    assert "developer_key[scopes][]=url:GET|/api/v1/users/:id" in page


# Pipelines -----------------------------------------------------------------------------------------


def export(*args) -> tuple[str, str]:
    return export_kind("developer_key", *args)


def test_a_key_awaiting_authorization_is_not_exported(credential):
    with pytest.raises(CommandError, match="awaiting authorization") as refused:
        export("--format", "json")
    assert credential.authorization_url() in str(refused.value)


def test_the_export_leaves_the_refresh_token_out_and_an_access_token_works_with_canvasapi(credential, fake_canvas):
    import canvasapi

    authorize(Client(), credential)
    out, err = export("--format", "json")
    values = json.loads(out)
    assert set(values) == {"CANVAS_BASE_URL", "CANVAS_CLIENT_ID", "CANVAS_CLIENT_SECRET"}
    assert values["CANVAS_CLIENT_SECRET"] == KEY_SECRET
    assert FakeCanvas.REFRESH_MARK not in out + err and "refresh token" not in err

    token = json.loads(export("--access-token", "--format", "json")[0])
    assert set(token) == {"CANVAS_BASE_URL", "CANVAS_ACCESS_TOKEN", "CANVAS_ACCESS_TOKEN_EXPIRES_AT"}
    assert KEY_SECRET not in json.dumps(token) and FakeCanvas.REFRESH_MARK not in json.dumps(token)
    expires = datetime.datetime.fromisoformat(token["CANVAS_ACCESS_TOKEN_EXPIRES_AT"])
    assert expires == timezone.localtime(CanvasGrant.objects.get().access_token_expires_at).replace(microsecond=0)
    assert timezone.now() + datetime.timedelta(minutes=59) < expires <= timezone.now() + datetime.timedelta(hours=1)
    me = canvasapi.Canvas(token["CANVAS_BASE_URL"], token["CANVAS_ACCESS_TOKEN"]).get_current_user()
    assert me.name == "Ada Admin"
    actions = list(AuditEvent.objects.filter(credential=credential).values_list("action", "detail"))
    assert (AuditEvent.Action.ACCESS_TOKEN_EXPORT, "format json") in actions


def test_the_refresh_token_is_exported_only_on_request_audited_and_with_a_warning(credential, fake_canvas):
    authorize(Client(), credential)
    out, err = export("--format", "json", "--include-refresh-token")
    values = json.loads(out)
    assert FakeCanvas.REFRESH_MARK in values["CANVAS_REFRESH_TOKEN"]
    assert values["CANVAS_REFRESH_TOKEN"] == CanvasGrant.objects.get().refresh_token.reveal()
    assert "Keydrop must be the grant's only refresher" in err and "unreliable" in err
    assert FakeCanvas.REFRESH_MARK not in err
    event = AuditEvent.objects.get(credential=credential, action=AuditEvent.Action.EXPORT)
    assert event.detail == "format json; with the grant's refresh token"
    assert FakeCanvas.REFRESH_MARK not in f"{event.detail} {event.reason}"
    out, _ = export("--format", "env", "--include-refresh-token")
    assert "CANVAS_REFRESH_TOKEN=" in out
    with pytest.raises(CommandError, match="not --access-token"):
        export("--access-token", "--include-refresh-token")


def test_an_access_token_for_a_canvas_data_2_key_comes_from_instructure(fake_dap, institution):
    from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET

    CredentialFactory(institution=institution, client_id=VALID_DAP_CLIENT_ID, secret=VALID_DAP_SECRET)
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    out, _ = export_kind("dap", "--access-token", "--format", "json")
    token = json.loads(out)
    assert set(token) == {"DAP_API_URL", "DAP_ACCESS_TOKEN", "DAP_ACCESS_TOKEN_EXPIRES_AT"}
    assert fake_dap.TOKEN_MARK in token["DAP_ACCESS_TOKEN"] and VALID_DAP_SECRET not in out
    assert AuditEvent.objects.get().action == AuditEvent.Action.ACCESS_TOKEN_EXPORT


def test_no_access_token_no_export_and_no_record(fake_dap, institution):
    from tests.flows import VALID_DAP_CLIENT_ID

    CredentialFactory(institution=institution, client_id=VALID_DAP_CLIENT_ID, secret="not-the-secret")
    with pytest.raises(CommandError, match="Canvas did not issue an access token"):
        export_kind("dap", "--access-token")
    assert not AuditEvent.objects.exists()


def export_kind(kind, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_credential", "--institution", "example-u", "--kind", kind, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()
