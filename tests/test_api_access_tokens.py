"""Access tokens over the API: a pipeline gets a working token for each kind without ever seeing a secret.

- developer key: the grant's current token with the expiry Keydrop stated; Keydrop refreshes only
  after that expiry (it is the grant's only refresher), and Canvas accepts the token;
- Canvas Data 2: one login at Instructure, shared while REUSE_MARGIN is left on it, then a new one;
- what Canvas says no to is a 409 with a code; Canvas unreachable is a 424 with Retry-After, never a 5xx.
"""

import datetime

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from keys.instructure import dap_tokens
from keys.models import AuditEvent, CanvasGrant, DapAccessToken
from tests.fakes import FakeDap
from tests.pipelines import api, create_token
from tests.staff_cast import SECRET
from tests.test_oauth_grant import authorize

DAP = "/institutions/example-u/credentials/dap/access-token"
DEV = "/institutions/example-u/credentials/developer_key/access-token"


def logins(fake: FakeDap) -> int:
    return sum(1 for served in fake.served if served.path == "/ids/auth/login")


@pytest.fixture
def dap_key(credential, fake_dap):
    fake_dap.add_key(credential.client_id, SECRET)
    return credential


def test_a_canvas_data_2_token_is_shared_while_it_has_time_left(dap_key, fake_dap, time_machine):
    with api(create_token("dap-reader", "--kind", "dap")) as client:
        first = client.post(DAP)
        again = client.post(DAP)
        assert logins(fake_dap) == 1 and again.json()["access_token"] == first.json()["access_token"]
        # Within REUSE_MARGIN of its expiry a pipeline would get too little time: a new login.
        expires = datetime.datetime.fromisoformat(first.json()["expires_at"])
        time_machine.move_to(expires - dap_tokens.REUSE_MARGIN + datetime.timedelta(seconds=1))
        renewed = client.post(DAP)
    body = first.json()
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["base_url_variable"] == "DAP_API_URL"
    assert body["base_url"] == fake_dap.url and FakeDap.TOKEN_MARK in body["access_token"]
    assert SECRET not in first.text
    assert renewed.status_code == 200 and logins(fake_dap) == 2
    assert renewed.json()["access_token"] != body["access_token"]


def test_the_stated_expiry_is_never_later_than_instructures(dap_key, fake_dap):
    before = timezone.now()
    with api(create_token("dap-reader", "--kind", "dap")) as client:
        body = client.post(DAP).json()
    # The fake says expires_in 3599: Keydrop states at most that, counted from before it asked.
    assert datetime.datetime.fromisoformat(body["expires_at"]) <= before + datetime.timedelta(seconds=3599)
    assert DapAccessToken.objects.get().token.reveal() == body["access_token"]  # sealed, not in clear


def test_each_access_token_is_in_the_audit_trail_as_the_pipeline(dap_key, fake_dap):
    with api(create_token("dap-reader", "--kind", "dap")) as client:
        client.post(DAP)
        client.post(DAP)
    exports = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_TOKEN_EXPORT)
    assert exports.count() == 2 and set(exports.values_list("actor", flat=True)) == {"pipeline:dap-reader"}


def test_a_key_instructure_refuses_is_409_and_an_outage_is_424(dap_key, fake_dap):
    with api(create_token("dap-reader", "--kind", "dap")) as client:
        fake_dap.secrets[dap_key.client_id] = "changed-in-identity-services"
        refused = client.post(DAP)
        fake_dap.mode = "503"
        outage = client.post(DAP)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "canvas_refused"
    assert outage.status_code == 424 and outage.json()["error"]["code"] == "canvas_unavailable"
    assert outage.headers["Retry-After"] == "60"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_TOKEN_EXPORT).exists()  # nothing given


def test_canvas_unreachable_is_424_not_a_5xx(dap_key, settings):
    settings.PORTAL_DAP_API_URL = "https://dap-gateway.invalid"
    with api(create_token("dap-reader", "--kind", "dap")) as client:
        answer = client.post(DAP)
    assert answer.status_code == 424 and answer.json()["error"]["code"] == "canvas_unavailable"


def test_a_developer_key_gives_the_grant_s_current_token_until_its_stated_expiry(
    developer_key, fake_canvas, time_machine
):
    authorize(Client(), developer_key)
    grant = CanvasGrant.objects.get()
    with api(create_token("canvas-sync", "--kind", "developer_key")) as client:
        first = client.post(DEV)
        assert first.status_code == 200, first.text
        assert first.json()["access_token"] == grant.access_token.reveal()
        stated = grant.access_token_expires_at.replace(microsecond=0)  # whole seconds, rounded down
        assert datetime.datetime.fromisoformat(first.json()["expires_at"]) == stated
        assert fake_canvas.refreshes() == 0  # a token handed out lives until its stated expiry
        time_machine.move_to(grant.access_token_expires_at + datetime.timedelta(seconds=1))
        renewed = client.post(DEV)
    assert fake_canvas.refreshes() == 1 and renewed.json()["access_token"] != first.json()["access_token"]
    assert renewed.json()["base_url_variable"] == "CANVAS_BASE_URL"
    assert renewed.json()["base_url"] == developer_key.canvas_url
    me = httpx.get(
        f"{fake_canvas.url}/api/v1/users/self", headers={"Authorization": f"Bearer {renewed.json()['access_token']}"}
    )
    assert me.status_code == 200


def test_a_developer_key_nobody_authorized_is_409_awaiting_authorization(developer_key):
    with api(create_token("canvas-sync", "--kind", "developer_key")) as client:
        answer = client.post(DEV)
        listed = client.get("/credentials").json()["items"]
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "awaiting_authorization"
    assert listed[0]["grant"] == {"exists": False, "authorized_by": "", "authorized_at": None}


def test_the_list_says_who_authorized_a_developer_key(developer_key):
    authorize(Client(), developer_key)
    with api(create_token("canvas-sync", "--kind", "developer_key")) as client:
        [item] = client.get("/credentials").json()["items"]
    assert item["grant"]["exists"] and "Canvas user" in item["grant"]["authorized_by"]
    assert item["last_check"]["outcome"] == "works"
