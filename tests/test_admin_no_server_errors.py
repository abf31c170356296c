"""No input to the staff pages produces a 500, on SQLite or PostgreSQL."""

import pytest
from django.test import Client

from keys.models import Credential
from tests.factories import CredentialFactory
from tests.flows import NASTY
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db

LISTS = [
    "/admin/keys/credential/",
    "/admin/keys/institution/",
    "/admin/keys/auditevent/",
    "/admin/keys/credential/export.csv",
]
PARAMETERS = [
    "q",
    "status",
    "kind__exact",
    "expires_within",
    "expires_month",
    "renewal",
    "action__exact",
    "o",
    "p",
    "at__year",
    "at__gte",
    "at__lt",
    "expires_at__year",
    "nonsense",
]


@pytest.mark.parametrize("url", LISTS)
def test_list_parameters_never_error(alice, url):
    CredentialFactory()
    client = signed_in(alice)
    for parameter in PARAMETERS:
        for value in NASTY:
            response = client.get(url, {parameter: value})
            assert response.status_code < 500, (url, parameter, value[:20])


def test_staff_forms_never_error(dana, institution):
    active = CredentialFactory(institution=institution)
    awaiting = CredentialFactory(
        institution=institution, key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None
    )
    client = signed_in(dana)
    for value in NASTY:
        assert client.post(f"/admin/keys/credential/{active.pk}/reveal/", {"reason": value}).status_code < 500, value[
            :20
        ]
        assert client.post(f"/admin/keys/credential/{awaiting.pk}/complete/", {"secret": value}).status_code < 500, (
            value[:20]
        )
        assert (
            client.post(f"/admin/keys/credential/{active.pk}/revoke/", {"confirm": "yes", "reason": value}).status_code
            < 500
        ), value[:20]
        assert client.get(f"/admin/keys/credential/{value}/reveal/").status_code < 500, value[:20]


def test_the_login_form_never_errors(alice):
    for value in NASTY:
        response = Client().post("/admin/login/", {"username": value, "password": value})
        assert response.status_code < 500, value[:20]


def test_calendar_addresses_never_error():
    for value in ["%00", "x" * 500, "%F0%9F%98%80", "..%2F..%2F", "' OR 1=1"]:
        assert Client().get(f"/calendar/{value}.ics").status_code == 404


def test_staff_pages_refuse_other_methods(dana, institution):
    credential = CredentialFactory(institution=institution)
    client = signed_in(dana)
    for url in [f"/admin/keys/credential/{credential.pk}/{page}/" for page in ("reveal", "complete", "revoke")] + [
        "/admin/keys/credential/calendar/"
    ]:
        assert client.put(url).status_code == 405, url
        assert client.delete(url).status_code == 405, url


def test_the_sign_in_pages_never_error(alice, dana, bob):
    from django.test import Client

    from tests.staff_cast import authenticator

    authenticator(dana)
    for value in NASTY:
        pending = Client()
        pending.post("/admin/login/", {"username": "dana", "password": "dana-password-123"})
        assert pending.post("/admin/two-step/", {"code": value, "next": value}).status_code < 500, value[:20]
        assert pending.get("/admin/two-step/", {"next": value, "purpose": value}).status_code < 500, value[:20]
        enrolling = Client()
        enrolling.post("/admin/login/", {"username": "bob", "password": "bob-password-123"})
        assert enrolling.post("/admin/two-step/setup/", {"code": value, "replace": value}).status_code < 500, value[:20]
        admin = signed_in(alice)
        reset = admin.post(f"/admin/auth/user/{dana.pk}/reset-two-step/", {"reason": value})
        assert reset.status_code < 500, value[:20]
        assert admin.get(f"/admin/auth/user/{value}/reset-two-step/").status_code < 500, value[:20]
        assert admin.post(f"/admin/keys/institution/{value}/lift-limits/").status_code < 500, value[:20]
        assert Client().get("/admin/sso/callback/", {"code": value, "state": value}).status_code < 500, value[:20]
