"""Staff sessions end 12 hours after sign-in and after 30 idle minutes; the clock is moved, never slept."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tests.staff_cast import sign_in_with_code

pytestmark = pytest.mark.django_db
HOME = "/admin/"


@pytest.fixture
def client_signed_in(alice):
    client = Client()
    assert sign_in_with_code(client, alice, "alice-password-123").status_code == 302
    return client


def signed_in(client) -> bool:
    return client.get(HOME).status_code == 200


def test_a_session_idle_for_thirty_minutes_ends(client_signed_in):
    start = timezone.now()
    with time_machine.travel(start + datetime.timedelta(minutes=29), tick=False):
        assert signed_in(client_signed_in)
    with time_machine.travel(start + datetime.timedelta(minutes=29 + 30, seconds=1), tick=False):
        response = client_signed_in.get(HOME)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        login_page = client_signed_in.get(response["Location"])
        assert b"without activity" in login_page.content


def test_activity_keeps_a_session_alive_but_never_past_twelve_hours(client_signed_in):
    start = timezone.now()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert signed_in(client_signed_in), minutes
    with time_machine.travel(start + datetime.timedelta(hours=12, seconds=1), tick=False):
        response = client_signed_in.get(HOME)
        assert response.status_code == 302
        assert b"longest a session may last" in client_signed_in.get(response["Location"]).content


def test_the_limits_are_settings(client_signed_in, settings):
    settings.PORTAL_STAFF_SESSION_IDLE = datetime.timedelta(minutes=5)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6), tick=False):
        assert not signed_in(client_signed_in)


def test_the_defaults_are_twelve_hours_and_thirty_minutes(settings):
    assert datetime.timedelta(hours=12) == settings.PORTAL_STAFF_SESSION_MAX_AGE
    assert datetime.timedelta(minutes=30) == settings.PORTAL_STAFF_SESSION_IDLE
    assert settings.SESSION_COOKIE_AGE <= 12 * 60 * 60


def test_an_expired_session_cannot_be_used_for_an_action(client_signed_in, institution):
    token = institution.intake_token
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=31), tick=False):
        response = client_signed_in.post(f"/admin/keys/institution/{institution.pk}/rotate-link/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    institution.refresh_from_db()
    assert institution.intake_token == token


def test_customer_pages_are_unaffected(institution):
    client = Client()
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=13), tick=False):
        assert client.get(institution.intake_path()).status_code == 200
