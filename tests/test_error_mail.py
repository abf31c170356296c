"""Error email that no stranger can turn into a flood, and that never holds a secret.

- A Host that is not allowed, or more than 1,000 fields: logged, not mailed. Before: one email to
  ADMINS each, and a POST's client_secret in it in clear.
- The same server error again and again: one email per kind per 15 minutes, the next with a count.
  Before: one email each.
- A failure before the view (its secrets not yet declared): every POST value hidden in the email.
- A bad request with DEBUG on: Keydrop's own 400 page. Before: Django's technical page, POST included.
"""

import datetime

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from intake import services
from portal import middleware
from tests.flows import form_data

pytestmark = pytest.mark.django_db
SECRET = "PASTED-secret_value-0123456789abcdef"


def mailed() -> str:
    return "\n".join(
        message.subject + message.body + "".join(str(content) for content, _ in getattr(message, "alternatives", []))
        for message in mail.outbox
    )


def test_a_hundred_requests_with_unknown_host_names_mail_nobody(institution):
    browser = Client()
    for i in range(100):
        response = browser.post(
            institution.intake_path(), {"client_secret": SECRET}, HTTP_HOST=f"host-{i}.unknown.example"
        )
        assert response.status_code == 400
    assert len(mail.outbox) <= 1 and SECRET not in mailed()
    assert not mail.outbox


def test_requests_with_too_many_fields_mail_nobody(institution):
    data = {f"field{i}": "x" for i in range(1001)} | {"client_secret": SECRET}
    for _ in range(5):
        assert Client().post(institution.intake_path(), data).status_code == 400
    assert not mail.outbox


def test_one_kind_of_server_error_is_one_email_per_interval_with_a_count(institution, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("simulated failure while submitting")

    monkeypatch.setattr(services, "submit", explode)
    browser = Client(raise_request_exception=False)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert browser.post(institution.intake_path(), form_data(browser, institution)).status_code == 500
    assert len(mail.outbox) == 1 and "RuntimeError" in mail.outbox[0].body
    with time_machine.travel(start + datetime.timedelta(minutes=16), tick=False):
        assert browser.post(institution.intake_path(), form_data(browser, institution)).status_code == 500
    assert len(mail.outbox) == 2
    assert "(+4 not mailed)" in mail.outbox[1].subject
    assert mail.outbox[1].body.startswith("4 more error(s) of this kind were logged but not mailed")


def test_a_request_that_fails_before_its_view_has_every_posted_value_hidden(institution, monkeypatch):
    def broken(self, request):
        raise RuntimeError("a middleware failed")

    monkeypatch.setattr(middleware.ContentSecurityPolicyMiddleware, "__call__", broken)
    browser = Client(raise_request_exception=False)
    response = browser.post(institution.intake_path(), {"client_secret": SECRET, "client_id": "us-east-1#x"})
    assert response.status_code == 500
    assert len(mail.outbox) == 1 and "client_secret" in mail.outbox[0].body
    assert SECRET not in mailed() and "us-east-1#x" not in mailed()


def test_a_bad_request_gets_keydrops_own_page_with_debug_on_too(institution, settings):
    settings.DEBUG = True
    response = Client().post(institution.intake_path(), {"client_secret": SECRET}, HTTP_HOST="unknown.example")
    assert response.status_code == 400
    page = response.content.decode()
    assert "couldn't read that request" in page and SECRET not in page
    plain = Client().post(
        institution.intake_path(), {"client_secret": SECRET}, HTTP_HOST="unknown.example", HTTP_ACCEPT="text/plain"
    )
    assert plain.status_code == 400 and SECRET not in plain.content.decode()
