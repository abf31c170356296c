"""axe-core against every customer page and Keydrop's own admin pages, in Chromium: no serious or
critical violation. Each page is checked in the state a person meets it in (errors shown, a key
on file, a locked submission), not only empty."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from keys import campaigns
from keys.models import Credential, InstitutionImport
from tests.e2e import axe
from tests.factories import CredentialFactory, InstitutionFactory
from tests.flows import VALID_DAP_CLIENT_ID, last_code, submit
from tests.staff_cast import authenticator, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def checked_page(browser):
    context = browser.new_context()
    axe.install(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def check(page, url: str, problems: list[str]) -> None:
    found = axe.violations(page)
    if found:
        problems.append(axe.report(url, found))


def visit(page, base: str, path: str, problems: list[str]) -> None:
    response = page.goto(base + path)
    assert response.status < 500, f"{path}: {response.status}"
    check(page, path, problems)


def test_the_vendored_axe_is_the_pinned_version(checked_page, live_server):
    checked_page.goto(live_server.url + "/")
    assert checked_page.evaluate("axe.version") == axe.VERSION


def test_no_customer_page_has_a_serious_violation(checked_page, live_server, institution):
    page, base, problems = checked_page, live_server.url, []
    CredentialFactory(institution=institution, expires_at=timezone.now() + datetime.timedelta(days=12))
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
    page.get_by_role("button", name="Submit and email me a code").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check(page, "the refused form", problems)

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
    check(page, "the receipt", problems)

    # A locked submission.
    customer = Client()
    _, locked = submit(customer, institution)
    locked.lock(timezone.now(), locked.LockReason.ATTEMPTS)
    visit(page, base, f"/s/{locked.public_id}/", problems)
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
