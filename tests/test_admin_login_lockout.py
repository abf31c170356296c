"""Admin sign-in lockout: slow guessing down, and let nobody lock anyone else out.

| counter | limit | then |
| --- | --- | --- |
| wrong passwords, one address, one username | 5 | that pair refused 30 minutes (429); its own success clears it |
| wrong passwords, one username, anywhere, a day | 20 | each try waits 1, 2, 4, 8, then 15 minutes after the last |

A browser that signed in to the account before does not wait for the back-off. The two attacks
found by the security test must fail: a staff member's own successful sign-in resetting the
failures they made against someone else's account (the bypass), and anyone locking any account by
typing its username (lock-anyone).
"""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from keys.models import AuditEvent
from portal.signin import lockout
from portal.signin.models import SignInFailure

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
ATTACKER = "198.51.100.66"
ALICE_AT_HOME = "203.0.113.7"


@pytest.fixture(autouse=True)
def quicker_back_off(settings):
    """Eight failures from anywhere start the back-off here (20 by default): the same rule, fewer requests."""
    settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT = 8


def sign_in(username, password, ip="192.0.2.10", client=None):
    return (client or Client()).post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(times, username="alice", ip="192.0.2.10"):
    """Wrong passwords; the one that reaches the limit is itself answered with the lock page."""
    return [sign_in(username, "wrong-password", ip).status_code for _ in range(times)]


def passes_password(response) -> bool:
    """The password step succeeded: on to the workspace, or to the second factor."""
    return response.status_code == 302 and response["Location"].startswith(("/admin/two-step/", "/admin/"))


def test_the_right_password_signs_in(alice, bob):
    assert sign_in("bob", "bob-password-123")["Location"] == "/admin/"
    assert sign_in("alice", "alice-password-123")["Location"].startswith(
        "/admin/two-step/"
    )  # a superuser: second factor next


def test_five_failures_lock_the_pair_even_against_the_right_password(alice, settings):
    assert fail(settings.AXES_FAILURE_LIMIT) == [200, 200, 200, 200, 429]
    response = sign_in("alice", "alice-password-123")
    assert response.status_code == 429
    assert b"Sign-in locked" in response.content
    assert b"alice-password-123" not in response.content


def test_four_failures_do_not(alice, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert passes_password(sign_in("alice", "alice-password-123"))


def test_the_lock_lifts_after_the_cool_off(alice, settings):
    fail(settings.AXES_FAILURE_LIMIT)
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1)):
        assert passes_password(sign_in("alice", "alice-password-123"))


def test_a_success_resets_its_own_pair(alice, settings):
    settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT = 20  # eight failures in all: below the per-username limit
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert passes_password(sign_in("alice", "alice-password-123"))
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert passes_password(sign_in("alice", "alice-password-123"))


# The bypass: one's own sign-in must not wipe the failures made against another account --------


def test_signing_in_to_ones_own_account_does_not_reset_failures_against_another(alice, bob, settings):
    """Measured before: 4 wrong guesses at alice, 1 sign-in as bob, repeat; 16 guesses later alice's
    right password still worked. Now the fifth guess from that address locks it out of alice."""
    statuses = []
    for _ in range(4):
        statuses += fail(4, "alice", ATTACKER)
        assert passes_password(sign_in("bob", "bob-password-123", ATTACKER))
        if 429 in statuses:
            break
    assert statuses[:5] == [200, 200, 200, 200, 429]
    assert sign_in("alice", "alice-password-123", ATTACKER).status_code == 429
    # bob's own pair was cleared by his success: he is not collateral damage.
    assert passes_password(sign_in("bob", "bob-password-123", ATTACKER))


# Lock-anyone: failures by someone else must not keep the owner out ----------------------------


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(alice, settings):
    assert fail(10, "alice", ATTACKER)[4:] == [429] * 6  # the attacker's own address is locked out of alice
    assert passes_password(sign_in("alice", "alice-password-123", ALICE_AT_HOME))


def test_failures_across_many_accounts_lock_nobody_out_of_their_own(alice, bob, settings):
    for n in range(10):
        fail(1, username=f"guess{n}", ip=ATTACKER)
    assert passes_password(sign_in("bob", "bob-password-123", ATTACKER))


def backoff_from_many_addresses(settings, username="alice"):
    """The failures a botnet would make: the per-username limit, one per address."""
    for n in range(settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT):
        assert fail(1, username, ip=f"198.51.100.{n + 1}") == [200]


def test_guesses_from_many_addresses_meet_a_back_off_not_a_lock(alice, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        backoff_from_many_addresses(settings)
        response = sign_in("alice", "alice-password-123", "192.0.2.99")
        assert response.status_code == 429
        assert "try again in 1 minute" in response.content.decode()
        assert response["Retry-After"] == "60"
        assert b"alice-password-123" not in response.content
        # The refused attempt did not reach the password check and did not count.
        assert SignInFailure.objects.count() == settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT
    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        assert passes_password(sign_in("alice", "alice-password-123", "192.0.2.99"))


def test_the_back_off_doubles_with_each_failure_and_stops_at_fifteen_minutes(alice, settings):
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        backoff_from_many_addresses(settings)
        waits = []
        for n in range(6):
            until = lockout.backoff_until("alice", Client().request().wsgi_request, timezone.now())
            waits.append(round((until - timezone.now()).total_seconds() / 60))
            clock.move_to(until + datetime.timedelta(seconds=1))
            assert fail(1, "alice", f"192.0.2.{100 + n}") == [200]
    assert waits == [1, 2, 4, 8, 15, 15]


def test_the_owners_browser_is_not_slowed_by_the_back_off(alice, settings):
    owners_browser = Client()
    assert passes_password(sign_in("alice", "alice-password-123", ALICE_AT_HOME, client=owners_browser))
    owners_browser.post("/admin/logout/")
    backoff_from_many_addresses(settings)
    assert sign_in("alice", "alice-password-123", "192.0.2.99").status_code == 429  # a stranger's browser waits
    assert passes_password(sign_in("alice", "alice-password-123", ALICE_AT_HOME, client=owners_browser))


def test_a_known_browser_is_known_for_its_own_account_only(alice, bob, settings):
    bobs_browser = Client()
    assert passes_password(sign_in("bob", "bob-password-123", ATTACKER, client=bobs_browser))
    backoff_from_many_addresses(settings)
    assert sign_in("alice", "alice-password-123", ATTACKER, client=bobs_browser).status_code == 429


def test_a_forged_known_browser_cookie_is_ignored(alice, settings):
    backoff_from_many_addresses(settings)
    forged = Client()
    forged.cookies[lockout.KNOWN_BROWSER_COOKIE] = '{"id": "x", "users": ["alice"]}'
    assert sign_in("alice", "alice-password-123", "192.0.2.99", client=forged).status_code == 429


def test_a_stolen_known_browser_cookie_stops_helping_after_five_failures(alice, settings):
    owners_browser = Client()
    assert passes_password(sign_in("alice", "alice-password-123", ALICE_AT_HOME, client=owners_browser))
    owners_browser.post("/admin/logout/")  # the cookie stays, as it would in a stolen copy
    backoff_from_many_addresses(settings)
    for n in range(settings.AXES_FAILURE_LIMIT):  # from five addresses, so no pair lock gets in the way
        assert sign_in("alice", "wrong", f"192.0.2.{100 + n}", client=owners_browser).status_code == 200
    assert sign_in("alice", "alice-password-123", "192.0.2.99", client=owners_browser).status_code == 429


def test_old_failures_are_forgotten_after_a_day(alice, settings):
    backoff_from_many_addresses(settings)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1, minutes=1)):
        assert lockout.forget_old_failures(timezone.now()) == settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT
        assert passes_password(sign_in("alice", "alice-password-123", "192.0.2.99"))


def test_the_defaults():
    from portal import settings as defaults

    assert defaults.AXES_FAILURE_LIMIT == 5
    assert datetime.timedelta(minutes=30) == defaults.AXES_COOLOFF_TIME
    assert defaults.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert defaults.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT == 20
    assert datetime.timedelta(minutes=1) == defaults.PORTAL_LOGIN_BACKOFF_FIRST
    assert datetime.timedelta(minutes=15) == defaults.PORTAL_LOGIN_BACKOFF_MAX


def test_failed_sign_ins_with_a_new_username_each_time_are_limited_per_address(alice, settings):
    """One address, a new username each time: 30 an hour reach a password check, then it waits. The
    flood is one audit event, not a row per refused attempt."""
    limit = settings.PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        owners_browser = Client()
        assert passes_password(sign_in("alice", "alice-password-123", ATTACKER, client=owners_browser))
        owners_browser.post("/admin/logout/")
        statuses = [sign_in(f"guess{i}", "wrong-password", ATTACKER).status_code for i in range(limit + 10)]
        assert statuses == [200] * limit + [429] * 10
        assert sign_in("alice", "alice-password-123", ATTACKER).status_code == 429
        # Elsewhere, and from this address in a browser that signed in to the account before, nobody waits.
        assert passes_password(sign_in("alice", "alice-password-123", ALICE_AT_HOME))
        assert passes_password(sign_in("alice", "alice-password-123", ATTACKER, client=owners_browser))
    events = AuditEvent.objects.filter(ip=ATTACKER)
    assert events.filter(action=AuditEvent.Action.SIGN_IN_FAILED).count() == limit
    locked = events.get(action=AuditEvent.Action.SIGN_IN_LOCKED)
    assert f"{limit} failed sign-ins from this address in an hour" in locked.detail
    with time_machine.travel(start + datetime.timedelta(hours=1, seconds=1), tick=False):
        assert sign_in("guess-after", "wrong-password", ATTACKER).status_code == 200
