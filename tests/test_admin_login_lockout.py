"""Admin sign-in: django-axes locks out repeated failures, per account and per client address."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


def sign_in(username, password, ip="192.0.2.10"):
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def fail(times, username="alice", ip="192.0.2.10"):
    """Wrong passwords; the one that reaches the limit is itself answered with the lock page."""
    return [sign_in(username, "wrong-password", ip).status_code for _ in range(times)]


def test_the_right_password_signs_in(alice):
    response = sign_in("alice", "alice-password-123")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_five_failures_lock_the_account_even_against_the_right_password(alice, settings):
    assert fail(settings.AXES_FAILURE_LIMIT) == [200, 200, 200, 200, 429]
    response = sign_in("alice", "alice-password-123")
    assert response.status_code == 429
    assert b"Sign-in locked" in response.content
    assert b"alice-password-123" not in response.content


def test_four_failures_do_not(alice, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("alice", "alice-password-123").status_code == 302


def test_failures_from_many_addresses_still_lock_the_account(alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        fail(1, ip=f"198.51.100.{n + 1}")
    assert sign_in("alice", "alice-password-123", ip="203.0.113.1").status_code == 429


def test_failures_across_many_accounts_lock_the_address(alice, bob, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        fail(1, username=f"guess{n}")
    assert sign_in("bob", "bob-password-123").status_code == 429
    assert sign_in("bob", "bob-password-123", ip="203.0.113.2").status_code == 302


def test_the_lock_lifts_after_the_cool_off(alice, settings):
    fail(settings.AXES_FAILURE_LIMIT)
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1)):
        assert sign_in("alice", "alice-password-123").status_code == 302


def test_a_success_resets_the_count(alice, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("alice", "alice-password-123").status_code == 302
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("alice", "alice-password-123").status_code == 302
