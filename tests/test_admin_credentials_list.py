"""The credentials list: health at a glance, filters that find what needs doing, no secret touched."""

import datetime

import pytest
from django.utils import timezone

from keys.models import Credential, ReminderNotice
from keys.sealing import Sealed
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import SECRET, queries_to_load, signed_in

pytestmark = pytest.mark.django_db
LIST = "/admin/keys/credential/"


def in_days(days, hours=12):
    return timezone.now() + datetime.timedelta(days=days, hours=hours)


@pytest.fixture
def no_decryption(monkeypatch):
    calls = []
    monkeypatch.setattr(Sealed, "reveal", lambda self, *a, **k: calls.append(1) or "decrypted")
    yield
    assert calls == [], "a page decrypted a secret"


def listed(client, query="", **params):
    response = client.get(LIST + query, params)
    assert response.status_code == 200, response.status_code
    return {credential.pk for credential in response.context["cl"].result_list}


def test_each_row_shows_institution_kind_masked_id_status_expiry_and_days_left_and_the_page_the_last_reminder(
    bob, institution, no_decryption
):
    credential = CredentialFactory(institution=institution, secret=SECRET, expires_at=in_days(5))
    ReminderNotice.objects.create(
        credential=credential,
        offset_days=7,
        due_at=in_days(-2),
        not_before=in_days(-2),
        state="sent",
        sent_at=timezone.now() - datetime.timedelta(days=2),
    )
    html = signed_in(bob).get(LIST).content.decode()
    assert "Example University" in html and "Canvas Data 2 key" in html
    assert credential.masked_client_id in html and credential.client_id not in html
    assert 'kd-status-active">Active<' in html
    assert credential.expires_on().isoformat() in html
    assert f'kd-urgency-urgent">{credential.days_left()} days left<' in html
    assert SECRET not in html
    page = signed_in(bob).get(f"{LIST}{credential.pk}/change/").content.decode()
    assert "Last reminder sent" in page
    assert (timezone.localdate() - datetime.timedelta(days=2)).isoformat() in page


@pytest.mark.parametrize("days, urgency", [(90, "ok"), (20, "soon"), (3, "urgent"), (-2, "lapsed")])
def test_days_left_are_coloured_by_urgency(bob, institution, days, urgency):
    CredentialFactory(institution=institution, expires_at=in_days(days))
    assert f"kd-urgency-{urgency}" in signed_in(bob).get(LIST).content.decode()


def test_pending_submissions_are_never_listed_or_found(bob, institution):
    pending = CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    client = signed_in(bob)
    assert listed(client) == set()
    assert listed(client, q=pending.client_id) == set()
    assert b"Pending verification" not in client.get(LIST).content  # not even as a filter choice
    response = client.get(f"{LIST}{pending.pk}/change/")
    assert response.status_code == 302  # the admin's "does not exist" redirect, nothing shown


def test_filters_by_status_and_kind(bob, institution):
    active = CredentialFactory(institution=institution)
    revoked = CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None)
    developer = CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123")
    client = signed_in(bob)
    assert listed(client, "?status=revoked") == {revoked.pk}
    assert listed(client, "?kind__exact=developer_key") == {developer.pk}
    assert active.pk in listed(client, "?status=active&kind__exact=dap")


def test_filters_by_expiry_within_7_30_and_90_days(bob, institution):
    soon, month, quarter, later, lapsed = (
        CredentialFactory(institution=institution, expires_at=in_days(d)) for d in (3, 20, 60, 200, -1)
    )
    client = signed_in(bob)
    assert listed(client, "?expires_within=7") == {soon.pk}
    assert listed(client, "?expires_within=30") == {soon.pk, month.pk}
    assert listed(client, "?expires_within=90") == {soon.pk, month.pk, quarter.pk}


def test_filters_by_month_of_expiry(bob, institution):
    now = timezone.localtime()
    first_of_next = (now.replace(day=1) + datetime.timedelta(days=32)).replace(day=1, hour=12)
    next_month = CredentialFactory(institution=institution, expires_at=first_of_next + datetime.timedelta(days=3))
    CredentialFactory(institution=institution, expires_at=first_of_next + datetime.timedelta(days=40))
    assert listed(signed_in(bob), f"?expires_month={first_of_next:%Y-%m}") == {next_month.pk}


def test_filters_lapsed_keys_with_no_renewal(bob):
    lapsed_alone = CredentialFactory(expires_at=in_days(-3))
    renewed = CredentialFactory(expires_at=in_days(-3), submitted_at=timezone.now() - datetime.timedelta(days=10))
    CredentialFactory(institution=renewed.institution, expires_at=in_days(300))
    assert listed(signed_in(bob), "?renewal=lapsed") == {lapsed_alone.pk}


def test_searches_by_institution_and_by_client_id(bob):
    wanted = CredentialFactory(institution=InstitutionFactory(name="Northwind College", slug="northwind"))
    other = CredentialFactory()
    client = signed_in(bob)
    assert listed(client, "?q=northwind") == {wanted.pk}
    assert listed(client, q=other.client_id[-4:]) == {other.pk}  # the last four, as the mask shows them
    assert listed(client, q=other.client_id) == {other.pk}
    assert listed(client, q=other.client_id[-8:]) == set()  # more than the mask shows: no match (no oracle)


@pytest.mark.parametrize(
    "query",
    [
        "?status=nonsense",
        "?expires_within=9999",
        "?expires_month=2027-13",
        "?expires_month=%D9%A2%D9%A0",
        "?renewal=x",
        "?expires_month=9999-12",
        "?o=99",
    ],
)
def test_nonsense_filter_values_are_refused_without_an_error(bob, query):
    response = signed_in(bob).get(LIST + query)
    assert response.status_code in (200, 302)


def test_neither_the_list_nor_the_change_page_decrypts_a_secret(alice, institution, no_decryption):
    credentials = [CredentialFactory(institution=institution, secret=SECRET) for _ in range(3)]
    client = signed_in(alice)
    assert SECRET.encode() not in client.get(LIST).content
    for credential in credentials:
        page = client.get(f"{LIST}{credential.pk}/change/")
        assert page.status_code == 200 and SECRET.encode() not in page.content
        assert b"Stored, encrypted" in page.content


def test_the_list_runs_the_same_few_queries_for_any_number_of_rows(bob):
    client = signed_in(bob)
    client.get(LIST)  # the first request after sign-in also stamps the session
    CredentialFactory.create_batch(3)
    few = queries_to_load(client, LIST)
    CredentialFactory.create_batch(40)
    assert queries_to_load(client, LIST) == few <= 10
