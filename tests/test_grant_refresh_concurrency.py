"""One refresh at a time per grant, with real concurrent workers and the overlap forced.

Canvas keeps one access token per grant and a refresh kills it (keys/instructure/grant_tokens.py), so workers
that all find the token expired must share one refresh: the grant's row is locked while it runs
(PostgreSQL: SELECT … FOR UPDATE; SQLite: the write lock that transaction_mode=IMMEDIATE takes).
"""

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from keys import kinds
from keys.checks import live_checks
from keys.instructure import grant_tokens
from keys.models import CanvasGrant, CredentialCheck
from keys.outcomes import Verdict
from tests.factories import developer_key_credential
from tests.fakes import FakeKey
from tests.racers import while_the_first_is_held
from tests.test_oauth_grant import CALLBACK, KEY_ID, KEY_SECRET, authorize

pytestmark = pytest.mark.django_db(transaction=True)
WORKERS = 6


@pytest.fixture
def credential(fake_canvas, institution, settings):
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    fake_canvas.browser = "approve"
    fake_canvas.add_key(
        KEY_ID, FakeKey(secret=KEY_SECRET, redirect_uris=[settings.PORTAL_BASE_URL + CALLBACK], scopes=scopes)
    )
    key = developer_key_credential(institution, KEY_ID, KEY_SECRET, fake_canvas.url)
    live_checks.record(key, Verdict.works("Canvas accepts the key."), trigger=CredentialCheck.Trigger.HANDOVER)
    authorize(Client(), key)
    return key


def test_workers_asking_at_once_for_an_expired_token_cause_exactly_one_refresh(credential, fake_canvas):
    CanvasGrant.objects.update(access_token_expires_at=timezone.now())  # its stated expiry has just passed
    tokens, failures = [], []

    def ask():
        try:
            tokens.append(grant_tokens.access_token(credential, timezone.now()).token)
        except Exception as exc:  # reported below, not lost in a thread
            failures.append(exc)
        finally:
            connection.close()

    while_the_first_is_held(fake_canvas, ask, WORKERS)  # the first refresh stops inside Canvas
    assert not failures and len(tokens) == WORKERS
    assert len(set(tokens)) == 1 and fake_canvas.refreshes() == 1
    answer = httpx.get(f"{fake_canvas.url}/api/v1/users/self", headers={"Authorization": f"Bearer {tokens[0]}"})
    assert answer.status_code == 200  # the one token every worker holds is Canvas's current one
