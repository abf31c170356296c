"""Error pages in the portal's look, with the support address; none echoes what was posted.

A replaced intake link says so and what to do. A body over PORTAL_MAX_REQUEST_BYTES is refused
with 413 before anything reads it.
"""

import re

import pytest
from django.http import HttpRequest
from django.test import Client

from intake import services
from keys import staff
from tests.flows import VALID_DAP_SECRET, form_data
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
SUPPORT = b"support@keydrop.internal"


def branded(response) -> bool:
    return b'class="site"' in response.content and SUPPORT in response.content


def test_a_replaced_intake_link_says_so_and_what_to_do(client, institution, alice):
    old_path = institution.intake_path()
    staff.rotate_intake_link(institution, actor=staff.Actor("alice"), now=institution.created_at)
    response = client.get(old_path)
    assert response.status_code == 404 and branded(response)
    page = response.content.decode()
    assert "This link no longer works" in page and "most recent email" in page


def test_an_unknown_submission_page_and_any_other_page_are_branded_404s(client):
    submission = client.get("/s/unknown-submission/")
    assert submission.status_code == 404 and branded(submission) and b"find this submission" in submission.content
    other = client.get("/no/such/page/")
    assert other.status_code == 404 and branded(other) and b"Page not found" in other.content


def test_a_form_without_its_csrf_token_gets_a_branded_page_that_does_not_echo_the_secret(institution):
    browser = Client(enforce_csrf_checks=True)
    data = form_data(browser, institution)
    data.pop("csrfmiddlewaretoken", None)
    response = Client(enforce_csrf_checks=True).post(institution.intake_path(), data)
    assert response.status_code == 403 and branded(response)
    assert b"reload the page" in response.content
    assert VALID_DAP_SECRET.encode() not in response.content


def test_a_server_error_is_a_branded_500_without_the_secret(institution, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("simulated failure while submitting")

    monkeypatch.setattr(services, "submit", explode)
    browser = Client(raise_request_exception=False)
    response = browser.post(institution.intake_path(), form_data(browser, institution))
    assert response.status_code == 500 and branded(response)
    assert b"Something went wrong on our side" in response.content
    assert VALID_DAP_SECRET.encode() not in response.content and b"simulated failure" not in response.content


def test_a_bad_request_is_a_branded_400(client):
    response = client.get("/", HTTP_HOST="attacker.example")  # not in ALLOWED_HOSTS
    assert response.status_code == 400 and branded(response)


def test_a_forbidden_page_is_a_branded_403(rf):
    from portal.errors import permission_denied

    request = rf.get("/")
    response = permission_denied(request)
    assert response.status_code == 403 and branded(response)


def test_a_body_over_the_limit_is_refused_before_anything_reads_it(client, institution, settings, monkeypatch):
    read = []
    monkeypatch.setattr(HttpRequest, "_load_post_and_files", lambda request: read.append(request) or None)
    settings.PORTAL_MAX_REQUEST_BYTES = 1024
    response = client.post(institution.intake_path(), {"client_secret": "x" * 2000})
    assert response.status_code == 413 and branded(response)
    assert b"larger than 1 KB" in response.content
    assert read == []  # no middleware or view parsed the body


def test_a_body_within_the_limit_goes_through(client, institution, settings):
    settings.PORTAL_MAX_REQUEST_BYTES = 64 * 1024
    assert client.post(institution.intake_path(), form_data(client, institution)).status_code == 302


def error_pages(institution, bob, settings, monkeypatch) -> dict:
    """Each error page as a visitor meets it: status and the page's <title>."""

    def explode(**kwargs):
        raise RuntimeError("simulated failure while submitting")

    pages = {
        "400": Client().get("/", HTTP_HOST="attacker.example"),
        "403": signed_in(bob).get("/admin/auth/user/"),  # staff without the permission
        "404": Client().get("/no/such/page/"),
    }
    browser = Client(enforce_csrf_checks=True)
    data = form_data(browser, institution)
    data.pop("csrfmiddlewaretoken", None)
    pages["403 csrf"] = Client(enforce_csrf_checks=True).post(institution.intake_path(), data)
    settings.PORTAL_MAX_REQUEST_BYTES = 1024
    pages["413"] = Client().post(institution.intake_path(), {"client_secret": "x" * 2000})
    settings.PORTAL_MAX_REQUEST_BYTES = 1024 * 1024
    monkeypatch.setattr(services, "submit", explode)
    browser = Client(raise_request_exception=False)
    pages["500"] = browser.post(institution.intake_path(), form_data(browser, institution))
    return {
        name: (r.status_code, re.search(r"<title>(.*?)</title>", r.content.decode()).group(1))
        for name, r in pages.items()
    }


def test_every_error_page_names_the_partner_once_in_its_title(institution, bob, settings, monkeypatch):
    settings.PORTAL_PARTNER_NAME = "Acme"
    assert error_pages(institution, bob, settings, monkeypatch) == {
        "400": (400, "Something in that request was wrong · Acme"),
        "403": (403, "Not allowed · Acme"),
        "404": (404, "Page not found · Acme"),
        "403 csrf": (403, "Please reload the page · Acme"),
        "413": (413, "Too much data · Acme"),
        "500": (500, "Something went wrong · Acme"),
    }


def test_the_server_error_page_carries_the_partners_brand_without_the_database(institution, settings, monkeypatch):
    settings.PORTAL_PARTNER_NAME = "Acme"
    settings.PORTAL_PARTNER_LOGO_URL = "https://cdn.acme.example/logo.svg"

    def explode(**kwargs):
        raise RuntimeError("simulated failure while submitting")

    monkeypatch.setattr(services, "submit", explode)
    browser = Client(raise_request_exception=False)
    page = browser.post(institution.intake_path(), form_data(browser, institution)).content.decode()
    assert '<img class="logo" src="https://cdn.acme.example/logo.svg" alt="Acme">' in page
