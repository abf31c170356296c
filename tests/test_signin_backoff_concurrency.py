"""The per-username back-off under a burst: when a wait ends, exactly one attempt checks a password.

Before: the back-off was worked out from the failures so far and nothing was claimed, so a burst
arriving as a wait ended all passed (3 password checks on gunicorn, 27 of 30 on the threaded
server). Now the attempt is claimed with a conditional UPDATE (portal/signin/throttles.py).

The race is forced, not hoped for: every racer works out the back-off, then waits for all the others
before going on to the password check. On SQLite the service-level test runs too; the 30 whole
requests at once run on PostgreSQL (CI's second pass).
"""

import datetime
import threading

import pytest
from django.test import Client
from django.utils import timezone

from portal.signin import lockout
from portal.signin.models import SignInFailure
from tests.racers import run_together

pytestmark = pytest.mark.django_db(transaction=True)
RACERS = 30


@pytest.fixture
def wait_just_ended(alice, settings):
    """alice is in her back-off, whose first wait ended a moment ago."""
    settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT = 8
    earlier = timezone.now() - settings.PORTAL_LOGIN_BACKOFF_FIRST - datetime.timedelta(seconds=5)
    SignInFailure.objects.bulk_create(SignInFailure(username="alice", ip=f"192.0.2.{i}", at=earlier) for i in range(8))
    return alice


def race(action, monkeypatch):
    """`action(i)` in RACERS threads; each works out the back-off, then waits for all the others."""
    start, decided = threading.Barrier(RACERS), threading.Barrier(RACERS, timeout=30)
    original = lockout.backoff_until

    def backoff_until(*args, **kwargs):
        until = original(*args, **kwargs)
        decided.wait()
        return until

    monkeypatch.setattr(lockout, "backoff_until", backoff_until)

    return run_together(action, RACERS, start)


def test_racers_as_a_wait_ends_get_one_attempt_between_them(wait_just_ended, monkeypatch):
    request = Client().request().wsgi_request
    results = race(lambda i: lockout.backoff_until("alice", request, timezone.now()), monkeypatch)
    assert sum(until is None for until in results) == 1


@pytest.mark.postgres_only
def test_thirty_sign_ins_at_once_as_a_wait_ends_check_one_password(wait_just_ended, monkeypatch):
    before = SignInFailure.objects.count()

    def attempt(i):
        credentials = {"username": "alice", "password": "a-wrong-guess"}
        return Client(REMOTE_ADDR=f"198.51.100.{i + 1}").post("/admin/login/?next=/admin/", credentials).status_code

    statuses = race(attempt, monkeypatch)
    assert SignInFailure.objects.count() - before == 1  # one password was checked
    assert sorted(statuses) == [200] + [429] * (RACERS - 1)
