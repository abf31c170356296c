"""Twenty pipelines asking at once for an access token get one token, from one call to Canvas.

Real concurrent workers: a live server (a thread per request, each with its own database
connection) and twenty pipelines, each its own thread with its own HTTP connection. The overlap is
forced: the first call to Canvas is held inside the fake until every other request has arrived and
is seen waiting; none gets an answer before Canvas does. The key's token row is locked while the
call runs (PostgreSQL: SELECT … FOR UPDATE; SQLite: the write lock that transaction_mode=IMMEDIATE
takes), so the others then read the token the first one stored.
"""

import httpx
import pytest
from django.db.models import F
from django.test import Client

from keys.models import CanvasGrant
from tests.fakes import FakeDap
from tests.pipelines import create_token
from tests.racers import while_the_first_is_held
from tests.staff_cast import SECRET
from tests.test_oauth_grant import authorize

# On SQLite every writer waits for the first (the database has one write lock), so only PostgreSQL, where
# the others really reach the token row and wait on its lock, can show the lock doing its work.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]
PIPELINES = 20


def ask_at_once(url: str, token: str, fake) -> tuple[list[httpx.Response], list[Exception]]:
    answers, failures = [], []

    def ask():
        try:
            answers.append(httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=60))
        except Exception as exc:  # reported by the test, not lost in a thread
            failures.append(exc)

    while_the_first_is_held(fake, ask, PIPELINES, settle=0.1)  # the first call waits inside Canvas
    return answers, failures


def api_url(live_server, path: str) -> str:
    return live_server.url.replace("localhost", "127.0.0.1") + "/api/v1" + path


def test_twenty_pipelines_get_one_canvas_data_2_token_from_one_login(live_server, credential, fake_dap, settings):
    settings.PORTAL_API_REQUESTS_PER_MINUTE = 100
    fake_dap.add_key(credential.client_id, SECRET)
    token = create_token("many", "--kind", "dap")
    url = api_url(live_server, "/institutions/example-u/credentials/dap/access-token")
    answers, failures = ask_at_once(url, token, fake_dap)
    assert not failures and [answer.status_code for answer in answers] == [200] * PIPELINES
    assert len({answer.json()["access_token"] for answer in answers}) == 1
    assert sum(1 for served in fake_dap.served if served.path == "/ids/auth/login") == 1
    assert FakeDap.TOKEN_MARK in answers[0].json()["access_token"]


def test_twenty_pipelines_get_one_developer_key_token_from_one_refresh(
    live_server, developer_key, fake_canvas, settings
):
    settings.PORTAL_API_REQUESTS_PER_MINUTE = 100
    authorize(Client(), developer_key)
    CanvasGrant.objects.update(access_token_expires_at=F("authorized_at"))  # its stated expiry has passed
    token = create_token("many", "--kind", "developer_key")
    url = api_url(live_server, "/institutions/example-u/credentials/developer_key/access-token")
    answers, failures = ask_at_once(url, token, fake_canvas)
    assert not failures and [answer.status_code for answer in answers] == [200] * PIPELINES
    tokens = {answer.json()["access_token"] for answer in answers}
    assert len(tokens) == 1 and fake_canvas.refreshes() == 1
    me = httpx.get(f"{fake_canvas.url}/api/v1/users/self", headers={"Authorization": f"Bearer {tokens.pop()}"})
    assert me.status_code == 200  # the one token every pipeline holds is Canvas's current one
