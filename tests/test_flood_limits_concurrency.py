"""Hourly limits under real concurrency: N racing requests at a limit let exactly the remaining
number through, never more.

Before: the limits counted rows and inserted later; on PostgreSQL 12 workers got 14 code emails into
one inbox against a limit of 8, 24 submissions from one address against 20, 14 on one link against 12.

Each racer has its own database connection. The race is forced, not hoped for: every racer stops
between choosing a free slot and claiming it (`keys.limits._race_point`) until all have chosen, so
they all contend for the same slot. The service-level tests run on SQLite and PostgreSQL; the
whole-request tests with 12+ concurrent clients are marked postgres_only (CI's PostgreSQL pass).
"""

import threading

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keys import limits
from keys.instructure import grants
from keys.models import AuthorizationRequest, LimitSlot
from tests import factories
from tests.flows import form_data
from tests.racers import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def race(count, action, monkeypatch, scope="link:"):
    """Run `action(i)` in `count` threads; all of them reach the claim on `scope…` together, once each."""
    start, chosen = threading.Barrier(count), threading.Barrier(count, timeout=30)
    local = threading.local()

    def race_point(claimed_scope):
        if claimed_scope.startswith(scope) and not getattr(local, "waited", False):
            local.waited = True
            chosen.wait()

    monkeypatch.setattr(limits, "_race_point", race_point)

    return run_together(action, count, start)


def taken(scope):
    return LimitSlot.objects.filter(scope=scope, taken_at__isnull=False).count()


def try_take(scope, limit):
    try:
        limits.take(scope, limit, timezone.now())
    except limits.LimitReached:
        return False
    return True


@pytest.mark.parametrize("racers,limit,used", [(12, 8, 0), (16, 12, 5), (24, 20, 19)])
def test_racers_at_a_limit_get_exactly_what_is_left(racers, limit, used, monkeypatch):
    scope = "link:race"
    for _ in range(used):
        limits.take(scope, limit, timezone.now())
    results = race(racers, lambda i: try_take(scope, limit), monkeypatch)
    assert results.count(True) == limit - used
    assert taken(scope) == limit


# Whole requests, 12+ clients at once ----------------------------------------------------------


def post_form(institution, data, ip):
    return Client(REMOTE_ADDR=ip).post(institution.intake_path(), data).status_code


def prepared_forms(institution, count, **overrides):
    """Each client loads its own form first (its own one-time nonce), then they all submit at once."""
    return [form_data(Client(), institution, **overrides) for _ in range(count)]


@pytest.mark.postgres_only
def test_sixteen_clients_on_one_link_get_exactly_twelve_submissions(settings, monkeypatch):
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 12
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 100
    institution = factories.InstitutionFactory()
    forms = prepared_forms(institution, 16)
    statuses = race(16, lambda i: post_form(institution, forms[i], f"198.51.100.{i + 1}"), monkeypatch)
    assert sorted(statuses) == [302] * 12 + [429] * 4
    assert institution.credentials.count() == 12


@pytest.mark.postgres_only
def test_twenty_four_clients_from_one_address_get_exactly_twenty(settings, monkeypatch):
    settings.PORTAL_SUBMISSIONS_PER_IP_PER_HOUR = 20
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 100
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 100
    institutions = [factories.InstitutionFactory() for _ in range(2)]
    forms = [form_data(Client(), institutions[i % 2]) for i in range(24)]
    statuses = race(24, lambda i: post_form(institutions[i % 2], forms[i], "203.0.113.50"), monkeypatch, "address:")
    assert sorted(statuses) == [302] * 20 + [429] * 4
    assert sum(institution.credentials.count() for institution in institutions) == 20


@pytest.mark.postgres_only
def test_fourteen_clients_emailing_one_inbox_send_exactly_eight_codes(settings, monkeypatch):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 8
    settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = 100
    institution = factories.InstitutionFactory()
    forms = prepared_forms(institution, 14)
    statuses = race(14, lambda i: post_form(institution, forms[i], f"198.51.100.{i + 1}"), monkeypatch, "contact:")
    assert sorted(statuses) == [302] * 8 + [429] * 6
    assert len(mail.outbox) == 8


@pytest.mark.postgres_only
def test_twelve_clients_asking_for_new_codes_stay_within_the_inbox_limit(settings, monkeypatch):
    settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = 8
    settings.PORTAL_CODE_MAX_RESENDS = 3
    institution = factories.InstitutionFactory()
    submissions = []
    for data in prepared_forms(institution, 4):  # 4 first codes: 4 of the 8 emails
        client = Client()
        response = client.post(institution.intake_path(), data)
        submissions.append(response["Location"])
    assert len(mail.outbox) == 4
    race(12, lambda i: Client().post(f"{submissions[i % 4]}new-code/").status_code, monkeypatch, "contact:")
    assert len(mail.outbox) == 8


# The Authorize button of a developer key: AUTHORIZATIONS_PER_HOUR per key -------------------------


@pytest.fixture
def awaiting_key(settings):
    """A developer key Keydrop completes the grant of, with all but three of its hour's starts used."""
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    key = factories.developer_key_credential(
        factories.InstitutionFactory(), "170000000000123", "K" * 64, "https://example.instructure.com"
    )
    assert key.awaits_authorization
    for _ in range(grants.AUTHORIZATIONS_PER_HOUR - 3):
        grants.start(key, "earlier-browser", timezone.now())
    return key


def try_start(credential):
    try:
        grants.start(credential, "racing-browser", timezone.now())
    except limits.LimitReached:
        return False
    return True


def test_racing_authorizations_of_one_key_start_exactly_what_is_left(awaiting_key, monkeypatch):
    results = race(12, lambda i: try_start(awaiting_key), monkeypatch, "authorization:")
    assert results.count(True) == 3
    assert AuthorizationRequest.objects.filter(credential=awaiting_key).count() == grants.AUTHORIZATIONS_PER_HOUR


@pytest.mark.postgres_only
def test_twelve_clicks_on_authorize_at_once_start_exactly_three(awaiting_key, monkeypatch):
    path = awaiting_key.authorization_path()
    statuses = race(12, lambda i: Client().post(path).status_code, monkeypatch, "authorization:")
    assert sorted(statuses) == [302] * 3 + [429] * 9
    assert AuthorizationRequest.objects.filter(credential=awaiting_key).count() == grants.AUTHORIZATIONS_PER_HOUR
