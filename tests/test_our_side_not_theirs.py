"""Keydrop's own failures are never blamed on a key, and Canvas's facts are taken as they are.

- A resolver that answers "not found" for every name is our network failing: the check is
  inconclusive and says so; nothing is destroyed and no customer is told to start again.
- With a working resolver, a Canvas address that does not exist is a field error before anything
  is stored.
- Developer-key ids are any positive integer below 2^63 (17- and 18-digit global ids exist);
  Canvas Data 2 Client IDs take any region, as the official client reads them, and are sent as typed.
- A 401 that is not the gateway's own JSON (a proxy, a WAF) never destroys a Canvas Data 2 secret.
"""

import pytest
from django.core import mail

from keys import kinds
from keys.models import Credential
from tests.conftest import WORKING_RESOLVER
from tests.fakes import FakeKey
from tests.flows import VALID_DAP_SECRET, VALID_DEV_KEY_SECRET, form_data, last_code, submit

pytestmark = pytest.mark.django_db


def hand_over(client, institution, kind="dap", **overrides):
    response, verification = submit(client, institution, kind=kind, **overrides)
    assert response.status_code == 302, response.content.decode()[:2000]
    client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    receipt = client.get(f"/s/{verification.public_id}/receipt/").content.decode()
    return receipt, Credential.objects.get(pk=verification.credential_id)


def told_to_start_again() -> list:
    return [m for m in mail.outbox if "submit it again" in m.body or "destroyed" in m.body]


def test_our_failing_resolver_never_rejects_a_developer_key(client, institution, resolver):
    receipt, credential = hand_over(
        client, institution, kind="developer_key", canvas_url="https://demo.instructure.com"
    )
    assert credential.status == Credential.Status.ACTIVE and credential.handover_check_pending
    assert credential.secret is not None and credential.last_check_outcome == "inconclusive"
    assert "our own name lookups are failing" in credential.last_check_reason
    assert "Canvas did not accept this key" not in receipt
    assert told_to_start_again() == []


def test_our_failing_resolver_is_worded_as_ours_for_a_canvas_data_2_key(client, institution, resolver, settings):
    settings.PORTAL_DAP_API_URL = "https://api-gateway.instructure.com"
    _, credential = hand_over(client, institution)
    assert credential.last_check_outcome == "inconclusive" and credential.secret is not None
    assert "our own name lookups are failing" in credential.last_check_reason
    assert "does not exist in DNS" not in credential.last_check_reason


def test_a_canvas_address_that_does_not_exist_is_a_field_error_and_nothing_is_stored(client, institution, resolver):
    resolver.update(WORKING_RESOLVER)
    response, verification = submit(
        client, institution, kind="developer_key", canvas_url="https://no-such-canvas.example.edu"
    )
    assert response.status_code == 400 and verification is None
    assert "No Canvas answers at no-such-canvas.example.edu: that name does not exist" in response.content.decode()
    assert not Credential.objects.exists()


def test_a_canvas_address_on_a_private_network_is_a_field_error(client, institution, resolver):
    resolver.update({**WORKING_RESOLVER, "canvas.intranet.example.edu": "10.0.0.7"})
    response, _ = submit(client, institution, kind="developer_key", canvas_url="https://canvas.intranet.example.edu")
    assert response.status_code == 400 and "public https address" in response.content.decode()


def test_a_canvas_address_that_exists_is_accepted(client, institution, resolver):
    resolver.update({**WORKING_RESOLVER, "canvas.example.edu": "151.101.65.1"})
    response, verification = submit(client, institution, kind="developer_key", canvas_url="https://canvas.example.edu")
    assert response.status_code == 302 and verification is not None


@pytest.mark.parametrize("key_id", ["74140000000062630", "115370000000000073", "321000000000001234", "123"])
def test_a_developer_key_id_of_any_length_canvas_uses_is_handed_over_and_works(
    client, institution, fake_canvas, key_id
):
    setup = kinds.developer_key_setup(institution.slug)
    fake_canvas.add_key(
        key_id,
        FakeKey(
            secret=VALID_DEV_KEY_SECRET,
            redirect_uris=[uri for _, uri in setup["redirect_uris"]],
            scopes=[scope for scope, _ in setup["scopes"]],
        ),
    )
    receipt, credential = hand_over(
        client, institution, kind="developer_key", client_id=key_id, canvas_url=fake_canvas.url
    )
    assert credential.client_id == key_id and credential.last_check_outcome == "works"
    assert "works: Canvas accepted the key" in receipt


def test_the_largest_id_canvas_accepts_is_accepted_and_the_next_is_not(client, institution):
    largest = str(2**63 - 1)
    response = client.post(
        institution.intake_path("developer_key"), form_data(client, institution, "developer_key", client_id=largest)
    )
    assert response.status_code == 302
    too_big = client.post(
        institution.intake_path("developer_key"), form_data(client, institution, "developer_key", client_id=str(2**63))
    )
    assert too_big.status_code == 400 and "1 to 19 digits" in too_big.content.decode()


@pytest.mark.parametrize(
    "client_id",
    ["us-gov-west-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "ca-central-1#1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D"],
)
def test_a_canvas_data_2_client_id_of_any_region_is_accepted_and_sent_as_typed(
    client, institution, fake_dap, client_id
):
    fake_dap.add_key(client_id, VALID_DAP_SECRET)
    _, credential = hand_over(client, institution, client_id=client_id)
    assert credential.client_id == client_id and credential.last_check_outcome == "works"
    assert [served.client_id for served in fake_dap.served] == [client_id]


def test_a_proxys_plain_401_keeps_a_canvas_data_2_secret(client, institution, fake_dap):
    fake_dap.mode = "proxy_401"
    receipt, credential = hand_over(client, institution)
    assert credential.status == Credential.Status.ACTIVE and credential.secret is not None
    assert credential.last_check_outcome == "inconclusive"
    assert "Canvas did not accept this key" not in receipt and told_to_start_again() == []
