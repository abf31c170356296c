"""The pipeline API driven over HTTP as a pipeline drives it (httpx), token by token.

rule                                                   test
-----------------------------------------------------  ----------------------------------------------
the token is printed once and stored only as a hash    test_the_command_prints_the_token_once_…
401: missing, wrong, expired, revoked (own codes)      test_a_request_without_…, …_expired_…, …_revoked_…
403 outside the scope; 404 unknown or nothing usable   test_a_token_sees_only_its_kinds_…, test_404_…
no secret without --allow-secrets; no-store with it    test_a_token_without_allow_secrets_…, test_with_…
bad input: 400 with a code, never a 5xx, stores none   test_bad_input_…
every use is an audit event pipeline:NAME              test_every_use_is_in_the_audit_trail
N requests a minute, then 429 with Retry-After         test_the_rate_…
"""

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from keys import staff
from keys.models import AuditEvent, Credential, PipelineToken
from keys.models.pipelines import token_digest
from tests import factories
from tests.pipelines import api, create_token
from tests.staff_cast import SECRET


@pytest.fixture
def elsewhere(db):
    """Another institution, with a Canvas Data 2 key and a developer key."""
    other = factories.InstitutionFactory(name="Other College", slug="other-c")
    factories.CredentialFactory(institution=other, secret="other-secret-value-1")
    factories.developer_key_credential(other, "170000000000777", "D" * 64, "https://other.instructure.com")
    return other


def test_the_command_prints_the_token_once_and_keydrop_keeps_only_its_hash(db, capsys):
    token = create_token("nightly-sync", "--kind", "dap", "--expires-in-days", "30")
    row = PipelineToken.objects.get(name="nightly-sync")
    assert token.startswith("kdp_") and len(token) > 40
    assert row.digest == token_digest(token) and token not in str(PipelineToken.objects.values().get())
    assert row.kinds == ["dap"] and not row.allow_secrets
    assert row.expires_at.date() == (timezone.now() + datetime.timedelta(days=30)).date()
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.PIPELINE_TOKEN)
    assert event.actor.startswith("cli:") and "nightly-sync" in event.detail and token not in event.detail


def test_the_command_refuses_a_bad_token_and_stores_nothing(db):
    with pytest.raises(Exception, match="No institution with the slug nowhere"):
        create_token("nightly", "--kind", "dap", "--institution", "nowhere")
    with pytest.raises(Exception, match="lowercase letters"):
        create_token("Nightly Sync", "--kind", "dap")
    assert not PipelineToken.objects.exists() and not AuditEvent.objects.exists()


def test_the_working_credentials_are_listed_without_a_secret(credential, elsewhere):
    token = create_token("all-dap", "--kind", "dap")
    with api(token) as client:
        answer = client.get("/credentials")
    assert answer.status_code == 200
    body = answer.json()
    assert [(item["institution"], item["kind"]) for item in body["items"]] == [("example-u", "dap"), ("other-c", "dap")]
    first = body["items"][0]
    assert first["client_id"] == credential.client_id and first["base_url_variable"] == "DAP_API_URL"
    assert first["institution_name"] == "Example University" and first["grant"] is None
    assert SECRET not in answer.text and "other-secret-value-1" not in answer.text


def test_the_list_gives_the_key_a_pipeline_should_use_one_per_institution_and_kind(credential):
    newer = factories.CredentialFactory(institution=credential.institution, verified_at=timezone.now())
    Credential.objects.filter(pk=newer.pk).update(failing_since=timezone.now())  # Canvas refuses the newer one
    with api(create_token("p", "--kind", "dap")) as client:
        items = client.get("/credentials").json()["items"]
    assert [item["credential_id"] for item in items] == [credential.pk]


def test_the_list_is_paginated(db):
    for n in range(5):
        factories.CredentialFactory(institution=factories.InstitutionFactory(slug=f"school-{n}"))
    with api(create_token("p", "--kind", "dap")) as client:
        first = client.get("/credentials", params={"limit": 2}).json()
        last = client.get("/credentials", params={"limit": 2, "offset": 4}).json()
    assert first["count"] == 5 and [i["institution"] for i in first["items"]] == ["school-0", "school-1"]
    assert first["next_offset"] == 2 and last["next_offset"] is None and len(last["items"]) == 1


def test_a_token_sees_only_its_kinds_and_institutions(credential, elsewhere):
    token = create_token("other-dev", "--kind", "developer_key", "--institution", "other-c")
    with api(token) as client:
        listed = client.get("/credentials").json()["items"]
        out_of_kind = client.get("/credentials", params={"kind": "dap"})
        out_of_place = client.post("/institutions/example-u/credentials/developer_key/access-token")
        other_kind = client.post("/institutions/other-c/credentials/dap/access-token")
    assert [(item["institution"], item["kind"]) for item in listed] == [("other-c", "developer_key")]
    for refused in (out_of_kind, out_of_place, other_kind):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "out_of_scope"


def test_404_for_an_unknown_institution_a_place_without_a_usable_key_and_an_unknown_address(credential):
    with api(create_token("p", "--kind", "dap", "--kind", "developer_key")) as client:
        unknown = client.post("/institutions/no-such-place/credentials/dap/access-token")
        nothing = client.post("/institutions/example-u/credentials/developer_key/access-token")
        nowhere = client.get("/no-such-endpoint")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert nothing.status_code == 404 and nothing.json()["error"]["code"] == "no_usable_credential"
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_token"),
        ("Basic dXNlcjpwYXNz", "missing_token"),
        ("Bearer kdp_not-a-real-token", "invalid_token"),
        ("Bearer " + "x" * 5000, "invalid_token"),
        ("Bearer", "missing_token"),
    ],
)
def test_a_request_without_a_known_token_gets_401_with_its_code(credential, authorization, code):
    headers = {"Authorization": authorization} if authorization else {}
    with api(**headers) as client:
        answer = client.get("/credentials")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == code
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PIPELINE_API).exists()


def test_an_expired_token_gets_401_expired(credential, time_machine):
    token = create_token("short", "--kind", "dap", "--expires-in-days", "1")
    with api(token) as client:
        assert client.get("/credentials").status_code == 200
        time_machine.move_to(timezone.now() + datetime.timedelta(days=1, seconds=1))
        answer = client.get("/credentials")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "expired_token"


def test_a_revoked_token_gets_401_revoked(credential):
    token = create_token("gone", "--kind", "dap")
    with api(token) as client:
        assert client.get("/credentials").status_code == 200
        call_command("pipeline_token", "revoke", "gone")
        answer = client.get("/credentials")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "revoked_token"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PIPELINE_TOKEN, detail__contains="revoked").exists()


def test_a_token_without_allow_secrets_cannot_read_a_secret(credential):
    with api(create_token("no-secrets", "--kind", "dap")) as client:
        answer = client.post("/institutions/example-u/credentials/dap/secret")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "secrets_not_allowed"
    assert SECRET not in answer.text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()


def test_with_allow_secrets_the_secret_is_given_uncached_and_audited_like_a_reveal(credential):
    with api(create_token("exporter", "--kind", "dap", "--allow-secrets")) as client:
        answer = client.post("/institutions/example-u/credentials/dap/secret")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.json()["client_secret"] == SECRET and answer.json()["client_id"] == credential.client_id
    [reveal] = AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL)
    assert reveal.actor == "pipeline:exporter" and reveal.credential == credential and reveal.ip == "192.0.2.44"


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/credentials", {"limit": "0"}, "invalid_request"),
        ("/credentials", {"limit": "many"}, "invalid_request"),
        ("/credentials", {"kind": "passwords"}, "invalid_request"),
        ("/credentials", {"offset": "-1"}, "invalid_request"),
        ("/credentials", {"institution": "x" * 81}, "invalid_request"),
        ("/events", {"after": "abc"}, "invalid_request"),
        ("/events", {"after": "١٢٣"}, "invalid_request"),  # Arabic-Indic digits are not a cursor
        ("/events", {"after": "9" * 19}, "invalid_request"),
        ("/events", {"limit": "1e9"}, "invalid_request"),
    ],
)
def test_bad_input_gets_400_with_a_code_and_stores_nothing(credential, path, params, code):
    with api(create_token("p", "--kind", "dap")) as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    for value in params.values():
        assert value not in answer.json()["error"]["message"] or value.isdigit()  # the value is never echoed


def test_an_unknown_kind_in_the_path_is_400_not_a_5xx(credential):
    with api(create_token("p", "--kind", "dap")) as client:
        answer = client.post("/institutions/example-u/credentials/passwords/secret")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


def test_every_use_is_in_the_audit_trail(credential):
    with api(create_token("auditor", "--kind", "dap")) as client:
        client.get("/credentials")
        client.get("/events")
        client.post("/institutions/example-u/credentials/dap/secret")  # refused: recorded too
    uses = AuditEvent.objects.filter(actor="pipeline:auditor").order_by("at", "pk")
    assert [event.detail.split(":")[0] for event in uses] == [
        "GET credentials",
        "GET events",
        "POST secret example-u/dap",
    ]
    assert "refused 403 secrets_not_allowed" in uses.last().detail


def test_the_rate_is_per_token_and_per_minute(credential, settings, time_machine):
    settings.PORTAL_API_REQUESTS_PER_MINUTE = 3
    time_machine.move_to(timezone.now().replace(second=10), tick=False)
    busy, quiet = create_token("busy", "--kind", "dap"), create_token("quiet", "--kind", "dap")
    with api(busy) as client:
        statuses = [client.get("/credentials").status_code for _ in range(4)]
        refused = client.get("/credentials")
        with api(quiet) as other:
            assert other.get("/credentials").status_code == 200  # one token's flood is not another's
        time_machine.move_to(timezone.now() + datetime.timedelta(seconds=50))
        assert client.get("/credentials").status_code == 200
    assert statuses == [200, 200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limited" and refused.headers["Retry-After"] == "50"


def test_a_credential_that_stops_being_usable_mid_request_is_404_not_500(credential, monkeypatch):
    def stopped(*args, **kwargs):
        raise staff.NotAvailable("revoked meanwhile")

    monkeypatch.setattr(staff, "open_secret", stopped)
    with api(create_token("p", "--kind", "dap", "--allow-secrets")) as client:
        answer = client.post("/institutions/example-u/credentials/dap/secret")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_usable_credential"


def test_a_body_too_large_for_the_api_is_refused_in_json(credential):
    with api(create_token("p", "--kind", "dap")) as client:
        answer = client.post("/institutions/example-u/credentials/dap/access-token", content=b"x" * (2 * 1024 * 1024))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"
