"""axe-core against every customer page and Keydrop's own admin pages, in Chromium: no serious or
critical violation. Each page is checked in the state a person meets it in (errors shown, a key
on file, a locked submission), not only empty: the grant's pages through a fake Canvas, and every
error page (400, 403, CSRF, 404, 413, 500) reached the way a visitor reaches it."""

import datetime
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from intake import services
from keys.checks import live_checks
from keys.models import Credential, CredentialCheck, InstitutionImport, ReminderNotice
from keys.onboarding import campaigns
from keys.outcomes import Verdict
from tests.e2e import axe
from tests.factories import CredentialFactory, InstitutionFactory, developer_key_credential
from tests.flows import VALID_DAP_CLIENT_ID, VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, last_code, submit
from tests.staff_cast import authenticator, signed_in, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def checked_page(browser):
    context = browser.new_context()
    axe.install(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# Django's own widget on its user form, which Keydrop's templates cannot reach: the permission
# pickers' filter hint (SelectFilter2.js puts aria-label on a bare span).
DJANGO_USER_FORM_WIDGETS = (".help-tooltip.search-label-icon",)


def check(page, url: str, problems: list[str], exclude: tuple[str, ...] = ()) -> None:
    found = axe.violations(page, exclude)
    if found:
        problems.append(axe.report(url, found))


def visit(
    page, base: str, path: str, problems: list[str], status: int | None = None, exclude: tuple[str, ...] = ()
) -> None:
    response = page.goto(base + path)
    if status is None:
        assert response.status < 500, f"{path}: {response.status}"
    else:
        assert response.status == status, f"{path}: {response.status}, not {status}"
    check(page, path, problems, exclude)


def arrived(page, status: int, title: str, label: str, problems: list[str], response) -> None:
    """After a click: the page the browser landed on is the one meant, and axe checks it."""
    assert response.status == status, f"{label}: {response.status}, not {status}"
    assert page.title().startswith(title), f"{label}: {page.title()!r}"
    check(page, label, problems)


def session_cookie(user, base: str) -> dict:
    """The cookie of a session signed in as `user` (with its second factor), for a browser."""
    session_key = signed_in(user).cookies[django_settings.SESSION_COOKIE_NAME].value
    assert import_module(django_settings.SESSION_ENGINE).SessionStore(session_key).exists(session_key)
    return {"name": django_settings.SESSION_COOKIE_NAME, "value": session_key, "url": base}


def test_the_vendored_axe_is_the_pinned_version(checked_page, live_server):
    checked_page.goto(live_server.url + "/")
    assert checked_page.evaluate("axe.version") == axe.VERSION


def test_no_customer_page_has_a_serious_violation(checked_page, live_server, institution):
    page, base, problems = checked_page, live_server.url, []
    CredentialFactory(institution=institution, expires_at=timezone.now() + datetime.timedelta(days=12))
    # Another institution holds the key handed over below: the receipt says so and asks to confirm.
    CredentialFactory(institution=InstitutionFactory(), client_id=VALID_DAP_CLIENT_ID)
    CredentialFactory(
        institution=institution,
        kind="developer_key",
        client_id="170000000000123",
        canvas_url="https://example.instructure.com",
        expires_at=None,
    )
    for path in (
        "/",
        institution.intake_path(),
        institution.intake_path() + "?key_type=partner",
        institution.intake_path("developer_key"),
    ):
        visit(page, base, path, problems)

    # A refused form: the error summary has focus, each field its message.
    page.goto(base + institution.intake_path())
    page.get_by_label("Client ID").fill("not a client id")
    page.get_by_label("Secret", exact=True).fill("axe-Secret-value-0123456789")
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "We kept the secret you pasted" in page.content()
    check(page, "the refused form, its secret kept on the server", problems)

    # The code page, a wrong code, then the receipt.
    page.goto(base + institution.intake_path())
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.get_by_label("Secret", exact=True).fill("axe-Secret-value-0123456789")
    page.get_by_label("c•••@example.edu").check()
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_url("**/s/*/")
    check(page, "the code page", problems)
    code = last_code()
    page.get_by_label("Six-digit code").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    check(page, "a wrong code", problems)
    page.get_by_label("Six-digit code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/receipt/")
    assert "already on file for another institution" in page.content()
    check(page, "the receipt of a key another institution holds", problems)

    # A locked submission.
    customer = Client()
    _, locked = submit(customer, institution)
    locked.lock(timezone.now(), locked.LockReason.ATTEMPTS)
    visit(page, base, f"/s/{locked.public_id}/", problems)
    assert not problems, "\n" + "\n".join(problems)


def test_the_grant_pages_have_no_serious_violation(checked_page, live_server, institution, canvas_for_grants):
    page, base, problems = checked_page, live_server.url, []
    credential = developer_key_credential(institution, VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, canvas_for_grants.url)
    works = Verdict.works("Canvas knows the key, it is On, and the secret matches.")
    live_checks.record(credential, works, trigger=CredentialCheck.Trigger.HANDOVER)
    path = credential.authorization_path()
    authorize = "Authorize Keydrop in Canvas"

    visit(page, base, path, problems, status=200)  # the last step, not taken yet
    canvas_for_grants.browser = "deny"  # the admin clicks Cancel in Canvas
    page.get_by_role("button", name=authorize).click()
    page.wait_for_url(f"**{path}")
    assert page.locator(".messages .error").count() == 1
    check(page, "the authorize page after Cancel in Canvas", problems)
    canvas_for_grants.browser = "approve"
    page.get_by_role("button", name=authorize).click()
    page.wait_for_url(f"**{path}")
    assert page.get_by_role("heading", name="Keydrop has access to your Canvas").is_visible()
    check(page, "the authorize page once authorized", problems)

    # Canvas's way back with a state Keydrop never issued, and with an error but no state.
    visit(page, base, "/oauth/canvas/callback?state=not-one-of-ours&code=x", problems, status=400)
    assert page.get_by_role("heading", name="We could not accept this authorization").is_visible()
    visit(page, base, "/oauth/canvas/callback?error=access_denied", problems, status=400)
    assert not problems, "\n" + "\n".join(problems)


def test_a_key_that_needs_a_fix_in_canvas_is_told_and_checked_again_without_a_violation(
    checked_page, live_server, institution, canvas_for_grants
):
    page, base, problems = checked_page, live_server.url, []
    canvas_for_grants.keys[VALID_DEV_KEY_ID].on = False  # created, but still Off
    page.goto(base + institution.intake_path("developer_key"))
    page.get_by_label("Key ID").fill(VALID_DEV_KEY_ID)
    page.get_by_label("Key secret").fill(VALID_DEV_KEY_SECRET)
    page.get_by_label("Canvas address").fill(canvas_for_grants.url)
    page.get_by_label("c•••@example.edu").check()
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_url("**/s/*/")
    page.get_by_label("Six-digit code").fill(last_code())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/receipt/")
    assert page.get_by_role("heading", name="Almost there: the key needs a change in Canvas").is_visible()
    check(page, "the receipt of a key that needs a fix", problems)
    canvas_for_grants.keys[VALID_DEV_KEY_ID].on = True  # the admin switches it On
    page.get_by_role("button", name="Check again").click()
    page.wait_for_url("**/receipt/")
    assert page.get_by_text("Canvas accepts the key now").is_visible()
    check(page, "the receipt once checked again", problems)
    assert not problems, "\n" + "\n".join(problems)


def test_no_error_page_has_a_serious_violation(checked_page, live_server, institution, bob, settings, monkeypatch):
    page, base, problems = checked_page, live_server.url, []
    for path in ("/no/such/page/", "/i/a-replaced-intake-link/", "/s/an-unknown-submission/"):
        visit(page, base, path, problems, status=404)

    # 400: a request for a host the portal does not serve. Chromium will not send another Host
    # header, so Playwright's own client fetches the page with one; its files load as usual.
    def for_another_host(route):
        route.fulfill(response=route.fetch(headers={**route.request.headers, "host": "attacker.example"}))

    page.route(base + "/", for_another_host)
    visit(page, base, "/", problems, status=400)
    page.unroute(base + "/")

    # 403: staff without the permission; the page is the portal's, not the admin's.
    page.context.add_cookies([session_cookie(bob, base)])
    visit(page, base, "/admin/auth/user/", problems, status=403)
    page.context.clear_cookies()

    # 403 CSRF: the form's cookie is gone when it is sent (cookies cleared, a blocked cookie).
    page.goto(base + institution.intake_path())
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.context.clear_cookies()
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Submit and email me a code").click()
    arrived(page, 403, "Please reload the page", "the CSRF page", problems, sent.value)

    # 413: more than the portal reads.
    settings.PORTAL_MAX_REQUEST_BYTES = 1024
    page.goto(base + institution.intake_path())
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.get_by_label("Secret", exact=True).evaluate("(field, value) => { field.value = value; }", "x" * 4000)
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Submit and email me a code").click()
    arrived(page, 413, "Too much data", "the 413 page", problems, sent.value)
    settings.PORTAL_MAX_REQUEST_BYTES = 1024 * 1024

    # 500: the hand-over fails inside.
    def explode(**kwargs):
        raise RuntimeError("simulated failure while submitting")

    monkeypatch.setattr(services, "submit", explode)
    page.goto(base + institution.intake_path())
    page.get_by_label("Client ID").fill(VALID_DAP_CLIENT_ID)
    page.get_by_label("Secret", exact=True).fill("axe-Secret-value-0123456789")
    page.get_by_label("c•••@example.edu").check()
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Submit and email me a code").click()
    arrived(page, 500, "Something went wrong", "the 500 page", problems, sent.value)
    assert not problems, "\n" + "\n".join(problems)


def sign_in(page, base: str, user, password: str, problems: list[str]) -> None:
    """Password, then the second factor's code page (checked too), as staff sign in."""
    device = authenticator(user)
    page.goto(base + "/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").wait_for()
    check(page, "the second factor's code page", problems)
    page.get_by_label("Code").fill(totp_code(device, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(base + "/admin/")


def test_no_keydrop_admin_page_has_a_serious_violation(checked_page, live_server, alice, institution):
    page, base, problems = checked_page, live_server.url, []
    visit(page, base, "/admin/login/", problems)
    active = CredentialFactory(institution=institution, expires_at=timezone.now() + datetime.timedelta(days=40))
    waiting = CredentialFactory(
        institution=InstitutionFactory(), status=Credential.Status.AWAITING_SECRET, key_type="partner", secret=None
    )
    CredentialFactory(expires_at=timezone.now() + datetime.timedelta(days=400))
    CredentialFactory(client_id=active.client_id)  # the same key at another institution
    reminder = ReminderNotice.objects.create(
        credential=active, offset_days=7, due_at=timezone.now(), not_before=timezone.now()
    )
    InstitutionFactory(slug="never", contacts=["never@example.edu"])
    campaign = campaigns.start(
        campaigns.without_working_key("dap"), kind="dap", name="Autumn", actor="alice", now=timezone.now()
    ).campaign
    campaigns.sweep()
    staged = InstitutionImport.objects.create(
        filename="institutions.csv",
        uploaded_by="alice",
        content="name,slug,canvas_url,time_zone,contacts\nNew,new,,,n@example.edu\n",
    )
    sign_in(page, base, alice, "alice-password-123", problems)
    check(page, "/admin/ (dashboard)", problems)
    for path in (
        "/admin/keys/institution/",
        f"/admin/keys/institution/{institution.pk}/change/",
        "/admin/keys/institution/import/",
        f"/admin/keys/institution/import/{staged.pk}/",
        "/admin/keys/campaign/",
        f"/admin/keys/campaign/{campaign.pk}/change/",
        "/admin/keys/credential/",
        f"/admin/keys/credential/{active.pk}/change/",
        f"/admin/keys/credential/{active.pk}/reveal/",
        f"/admin/keys/credential/{active.pk}/revoke/",
        f"/admin/keys/credential/{waiting.pk}/complete/",
        "/admin/keys/credential/calendar/",
        "/admin/keys/auditevent/",
        f"/admin/keys/credential/{active.pk}/consortium/",
        "/admin/keys/credential/?shared_key=flagged",
        "/admin/keys/remindernotice/",
        f"/admin/keys/remindernotice/{reminder.pk}/change/",
        "/admin/keys/checkalert/",
        "/admin/keys/campaignmessage/",
        "/admin/keys/credentialcheck/",
        "/admin/two-step/setup/",
    ):
        visit(page, base, path, problems)

    # The import's list of bad rows, and the campaign form.
    page.goto(base + "/admin/keys/institution/import/")
    page.set_input_files(
        "input[type=file]",
        files=[
            {
                "name": "bad.csv",
                "mimeType": "text/csv",
                "buffer": b"name,slug,canvas_url,time_zone,contacts\nBad,,,Nowhere/City,\n",
            }
        ],
    )
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    check(page, "the import's bad rows", problems)
    page.goto(base + "/admin/keys/institution/")
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", "start_campaign")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    check(page, "the campaign form", problems)
    assert not problems, "\n" + "\n".join(problems)


def test_no_account_page_has_a_serious_violation(checked_page, live_server, alice, bob, dana):
    page, base, problems = checked_page, live_server.url, []
    credential = CredentialFactory(secret="axe-Revealed-secret-0123456789")
    authenticator(dana)  # someone whose second factor alice may reset
    sign_in(page, base, alice, "alice-password-123", problems)
    visit(page, base, f"/admin/auth/user/{bob.pk}/change/", problems, status=200, exclude=DJANGO_USER_FORM_WIDGETS)
    assert page.get_by_role("link", name="Reset two-step verification").count() == 1
    for path in (
        "/admin/auth/user/",
        f"/admin/auth/user/{dana.pk}/reset-two-step/",
        "/admin/two-step/setup/?replace=1",  # moving to a new phone: the QR code and its key
    ):
        visit(page, base, path, problems, status=200)

    # A reason left out, then the revealed secret.
    page.goto(f"{base}/admin/keys/credential/{credential.pk}/reveal/")
    page.get_by_role("button", name="Record the reason and reveal").click()
    page.wait_for_load_state()
    check(page, "the reveal form without a reason", problems)
    page.get_by_label("Reason").fill("Comparing the stored key with the pipeline's")
    page.get_by_role("button", name="Record the reason and reveal").click()
    page.locator("#kd-secret").wait_for()
    check(page, "the revealed secret", problems)

    # Two-step: its status, then new recovery codes (the setup-done page).
    visit(page, base, "/admin/two-step/setup/", problems, status=200)
    page.get_by_role("button", name="Make new recovery codes").click()
    page.wait_for_load_state()
    assert "recovery" in page.text_content("#content").lower()
    check(page, "new recovery codes", problems)
    assert not problems, "\n" + "\n".join(problems)


def test_the_sign_in_lock_page_has_no_serious_violation(checked_page, live_server, alice, settings):
    from axes.models import AccessAttempt

    page, base, problems = checked_page, live_server.url, []
    AccessAttempt.objects.create(  # the failures so far, as django-axes records them
        username="alice",
        ip_address="127.0.0.1",
        user_agent="",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/admin/login/",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
    )
    page.goto(base + "/admin/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong-password-000")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "Sign-in locked" in page.text_content("#content")
    check(page, "the sign-in lock page", problems)
    assert not problems, "\n" + "\n".join(problems)
