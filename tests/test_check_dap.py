"""The Canvas Data 2 check, driven through every row of the reference's table (§ 1) on a fake.

| Instructure answers                                  | Keydrop concludes                               |
|------------------------------------------------------|-------------------------------------------------|
| 200 with access_token (scope names the region)       | works; region and principal recorded            |
| 401, any body (wrong secret, deleted, regenerated)   | rejected                                        |
| 400 (a ":" in the Client ID breaks Basic auth)       | rejected: malformed                             |
| 403 AccountDisabled / AccountNotOnboarded            | rejected, the account problem named             |
| 403 AccountUnderMaintenance                          | inconclusive (maintenance passes by itself)     |
| 429, 5xx, timeout, connection refused, non-JSON      | inconclusive                                    |
"""

import socket

import pytest

from keys.checks import live_checks
from keys.models import Credential, CredentialCheck
from tests.factories import CredentialFactory, tracked_credential

pytestmark = pytest.mark.django_db
CLIENT_ID = "us-east-1#0c59cade-1111-4a7b-8c9d-0e1f2a3b4c5d"
SECRET = "Dap9Secret0Value1Mixed2Case"


@pytest.fixture
def key(fake_dap, institution):
    fake_dap.add_key(CLIENT_ID, SECRET)
    return CredentialFactory(institution=institution, client_id=CLIENT_ID, secret=SECRET)


def check(credential):
    return live_checks.check(credential, trigger=CredentialCheck.Trigger.COMMAND)


def test_a_working_key_works_and_its_region_and_principal_are_recorded(key, fake_dap):
    checked = check(key)
    assert checked.outcome == "works"
    assert "region us-east-1" in checked.record.reason
    key.refresh_from_db()
    assert (key.region, key.principal) == ("us-east-1", "57102")
    assert key.last_check_outcome == "works" and key.last_worked_at is not None
    served = fake_dap.served[-1]
    assert (served.method, served.path, served.client_id) == ("POST", "/ids/auth/login", CLIENT_ID)


def test_one_wrong_letter_in_the_secret_is_rejected(fake_dap, institution):
    fake_dap.add_key(CLIENT_ID, SECRET)
    credential = CredentialFactory(institution=institution, client_id=CLIENT_ID, secret=SECRET[:-1] + "X")
    checked = check(credential)
    assert checked.outcome == "rejected"
    assert "deleted, regenerated or has expired" in checked.record.reason
    assert checked.record.http_status == 401


def test_a_secret_of_one_character_is_rejected(fake_dap, institution):
    fake_dap.add_key(CLIENT_ID, SECRET)
    assert check(CredentialFactory(institution=institution, client_id=CLIENT_ID, secret="x")).outcome == "rejected"


def test_a_deleted_key_is_rejected(key, fake_dap):
    del fake_dap.secrets[CLIENT_ID]
    assert check(key).outcome == "rejected"


def test_the_gateways_400_is_inconclusive_never_a_reason_to_drop_the_key(fake_dap, institution):
    # The official client maps a 400 to ValidationError, never to an authentication failure.
    checked = check(CredentialFactory(institution=institution, client_id="us-east-1#0c59cade!", secret=SECRET))
    assert checked.outcome == "inconclusive" and checked.record.http_status == 400
    assert "HTTP 400" in checked.record.reason


@pytest.mark.parametrize(
    "problem, words",
    [
        ("AccountDisabled", "Canvas Data 2 is disabled for your institution's account"),
        ("AccountNotOnboarded", "not set up for Canvas Data 2 yet"),
    ],
)
def test_an_account_level_refusal_is_rejected_in_words_an_admin_understands(key, fake_dap, problem, words):
    fake_dap.account_problem = problem
    checked = check(key)
    assert checked.outcome == "rejected"
    assert words in checked.record.reason


def test_a_403_of_a_type_nobody_documents_is_inconclusive(key, fake_dap):
    fake_dap.account_problem = "SomethingNew"
    checked = check(key)
    assert checked.outcome == "inconclusive" and "HTTP 403" in checked.record.reason


def test_maintenance_on_the_account_is_inconclusive(key, fake_dap):
    fake_dap.account_problem = "AccountUnderMaintenance"
    checked = check(key)
    assert checked.outcome == "inconclusive"
    assert "maintenance" in checked.record.reason


@pytest.mark.parametrize("mode, status", [("429", 429), ("500", 500), ("502", 502), ("503", 503), ("html", 200)])
def test_throttling_server_errors_and_unreadable_answers_are_inconclusive(key, fake_dap, mode, status):
    fake_dap.mode = mode
    checked = check(key)
    assert checked.outcome == "inconclusive"
    assert checked.record.http_status == status


def test_a_timeout_is_inconclusive(key, fake_dap, settings):
    settings.PORTAL_OUTBOUND_READ_TIMEOUT = 0.2
    fake_dap.mode = "slow"
    checked = check(key)
    assert checked.outcome == "inconclusive"
    assert "did not answer in time" in checked.record.reason


def test_a_refused_connection_is_inconclusive(key, settings):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    settings.PORTAL_DAP_API_URL = f"http://127.0.0.1:{port}"
    checked = check(key)
    assert checked.outcome == "inconclusive"
    assert "connection failed" in checked.record.reason


def test_an_answer_larger_than_the_cap_is_inconclusive(key, fake_dap):
    fake_dap.mode = "huge"
    checked = check(key)
    assert checked.outcome == "inconclusive"
    assert "larger than Keydrop reads" in checked.record.reason


def test_each_check_is_recorded_without_the_secret_or_the_token(key, fake_dap):
    check(key)
    fake_dap.secrets[CLIENT_ID] = "regenerated"
    check(key)
    records = list(key.checks.order_by("at", "pk").values("outcome", "reason", "http_status", "trigger"))
    assert [r["outcome"] for r in records] == ["works", "rejected"]
    for record in records:
        assert SECRET not in str(record) and "fake-dap-token" not in str(record)
    assert all(r["trigger"] == "command" for r in records)


def test_a_partner_key_waiting_for_its_secret_is_not_checked_at_hand_over(fake_dap, institution):
    credential = CredentialFactory(
        institution=institution, status=Credential.Status.AWAITING_SECRET, secret=None, key_type="partner"
    )
    assert live_checks.at_handover(credential) is None
    assert fake_dap.served == []


def test_the_check_asks_for_a_token_exactly_as_the_official_client_does(key, fake_dap):
    # The fake answers 400 unless the body is exactly grant_type=client_credentials with Basic auth.
    assert check(tracked_credential(institution=key.institution, client_id=CLIENT_ID, secret=SECRET)).outcome == "works"
