"""Admin lists take only the filters they declare; search is no oracle for a masked Client ID.

Before: a viewer could send `?client_id__regex=…` (an invalid pattern was a 500 on SQLite, a nested
quantifier pinned a worker) and read a masked Client ID in full in about 360 searches.
"""

import pytest
from django_q.models import Schedule

from keys import audit
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
LISTS = [
    "/admin/keys/credential/",
    "/admin/keys/institution/",
    "/admin/keys/auditevent/",
    "/admin/auth/user/",
    "/admin/auth/group/",
    "/admin/axes/accessattempt/",
    "/admin/axes/accessfailurelog/",
    "/admin/django_q/schedule/",
    "/admin/django_q/success/",
]
UNDECLARED = [
    {"client_id__regex": "(a+)+$"},
    {"client_id__regex": "("},
    {"client_id__startswith": "us-east-1#"},
    {"name__regex": "(x+x+)+y"},
    {"institution__contacts__email__contains": "@"},
    {"credential__client_id__contains": "a"},
    {"username__regex": "["},
    {"func__regex": "("},
    {"id__gt": "0"},
    {"nonsense": "1"},
]


@pytest.mark.parametrize("url", LISTS)
def test_undeclared_lookups_are_answered_as_bad_filters(alice, url):
    CredentialFactory()
    client = signed_in(alice)
    for params in UNDECLARED:
        response = client.get(url, params)
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), (
            url,
            params,
            response.status_code,
        )


def test_a_viewer_gets_the_same_answer(bob):
    CredentialFactory()
    response = signed_in(bob).get("/admin/keys/credential/", {"client_id__regex": "(a+)+$"})
    assert response["Location"].endswith("?e=1")


def test_declared_filters_still_work(bob):
    active = CredentialFactory()
    client = signed_in(bob)
    assert (
        client.get(
            "/admin/keys/credential/", {"status": "active", "kind__exact": "dap", "expires_within": "90"}
        ).status_code
        == 200
    )
    assert client.get("/admin/keys/credential/", {"o": "2", "p": "1"}).status_code == 200
    assert (
        client.get(
            "/admin/keys/auditevent/", {"action__exact": "reveal", "at__gte": "2026-01-01 00:00:00+00:00"}
        ).status_code
        == 200
    )
    assert (
        client.get(f"/admin/keys/credential/{active.pk}/change/", {"_changelist_filters": "status=active"}).status_code
        == 200
    )


def listed(client, url, q):
    return {row.pk for row in client.get(url, {"q": q}).context["cl"].result_list}


@pytest.fixture
def hidden():
    return CredentialFactory(institution=InstitutionFactory(name="Northwind College", slug="northwind"))


def test_search_cannot_spell_out_a_masked_client_id(bob, hidden):
    """The attack: grow a prefix one character at a time, keeping whichever gives a hit."""
    client = signed_in(bob)
    hits = [c for c in "0123456789abcdef" if listed(client, "/admin/keys/credential/", "us-east-1#" + c)]
    assert hits == [], "the first hidden character leaked"
    uuid = hidden.client_id.partition("#")[2]
    for fragment in [uuid[:8], uuid[9:13], uuid[-8:], uuid[-5:], hidden.client_id[:-1]]:
        assert listed(client, "/admin/keys/credential/", fragment) == set(), fragment


def test_search_finds_what_the_list_shows_and_the_whole_id(bob, hidden):
    other = CredentialFactory(client_id="eu-central-1#0f0f0f0f-1111-4222-8333-444455556666")
    client = signed_in(bob)
    url = "/admin/keys/credential/"
    assert listed(client, url, "northwind") == {hidden.pk}
    assert listed(client, url, hidden.client_id) == {hidden.pk}
    assert listed(client, url, hidden.client_id[-4:]) == {hidden.pk}
    assert listed(client, url, hidden.masked_client_id) == {hidden.pk}
    assert listed(client, url, "…" + hidden.client_id[-4:]) == {hidden.pk}
    assert listed(client, url, "eu-central-1") == {other.pk}


def test_the_audit_list_is_no_oracle_either(bob, hidden):
    audit.record(audit.Action.REVEAL, actor="dana", credential=hidden, reason="checking")
    client = signed_in(bob)
    url = "/admin/keys/auditevent/"
    assert listed(client, url, hidden.client_id.partition("#")[2][:8]) == set()
    assert len(listed(client, url, hidden.client_id)) == 1
    assert len(listed(client, url, hidden.client_id[-4:])) == 1


def test_nothing_in_the_lists_is_a_server_error_on_this_database(alice):
    Schedule.objects.get_or_create(name="probe", defaults={"func": "math.floor"})
    client = signed_in(alice)
    for url in LISTS:
        for q in ["(a+)+$", "%_'\\", "\u202e"]:
            assert client.get(url, {"q": q}).status_code == 200, (url, q)


@pytest.mark.parametrize("url", ["/admin/keys/credential/", "/admin/keys/credential/export.csv", "/admin/auth/user/"])
def test_a_search_longer_than_any_name_is_refused_with_the_limit(alice, url):
    client = signed_in(alice)
    response = client.get(url, {"q": "x" * 201}, follow=True)  # SQLite fails on patterns of 50,000 bytes
    assert response.status_code == 200 and "A search can be at most 200 characters long." in response.content.decode()
    assert client.get("/admin/keys/credential/", {"q": "x" * 200}).status_code == 200
