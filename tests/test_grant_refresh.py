"""A grant kept as Canvas really answers (keys/instructure/grant_tokens.py): one access token per grant,
Keydrop its only refresher, and only Canvas's certain words drop a grant.

    row  refresh answer                                  meaning       test
    1    200 with an access token                        renewed       test_the_table_reads_each_answer
    2    400 invalid_grant "refresh_token not found"     gone          test_a_certain_answer_drops_the_grant
    3    401 invalid_client                              gone          test_a_certain_answer_drops_the_grant
    4    403 rate limit exceeded                         inconclusive  test_an_uncertain_answer_keeps_the_grant
    5    5xx                                             inconclusive  test_an_uncertain_answer_keeps_the_grant
    6    anything else                                   inconclusive  test_an_uncertain_answer_keeps_the_grant
    7    no answer (timeout, refused, resolver)          inconclusive  test_an_uncertain_answer_keeps_the_grant

The clock moves with time-machine (the fake's token expiry reads the same clock); nothing sleeps.
"""

import datetime
import importlib
import io
import json
import socket

import httpx
import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from keys import kinds, staff
from keys.checks import live_checks
from keys.instructure import canvas, grant_tokens, grants
from keys.models import CanvasGrant, CheckAlert, Credential, CredentialCheck
from keys.outcomes import Verdict
from keys.sealing import Sealed
from tests.factories import developer_key_credential
from tests.fakes import FakeCanvas, FakeKey
from tests.test_oauth_grant import CALLBACK, KEY_ID, KEY_SECRET, authorize

pytestmark = pytest.mark.django_db
THROTTLED = (
    403,
    {"X-Rate-Limit-Remaining": "0.0", "Content-Type": "text/plain"},
    "403 Forbidden (Rate Limit Exceeded)\n",
)


@pytest.fixture
def fake_key(fake_canvas, settings):
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    fake_canvas.browser = "approve"
    return fake_canvas.add_key(
        KEY_ID, FakeKey(secret=KEY_SECRET, redirect_uris=[settings.PORTAL_BASE_URL + CALLBACK], scopes=scopes)
    )


@pytest.fixture
def credential(fake_canvas, fake_key, institution, time_machine):
    """A developer key an admin has authorized, on a clock the test moves."""
    time_machine.move_to(timezone.now(), tick=False)
    key = developer_key_credential(institution, KEY_ID, KEY_SECRET, fake_canvas.url)
    live_checks.record(key, Verdict.works("Canvas accepts the key."), trigger=CredentialCheck.Trigger.HANDOVER)
    authorize(Client(), key)
    key.refresh_from_db()
    return key


def later(time_machine, **delta):
    time_machine.move_to(timezone.now() + datetime.timedelta(**delta), tick=False)


def confirm(credential):
    credential.refresh_from_db()
    return grants.confirm(credential, Verdict.works("Canvas accepts the key."), timezone.now())


def daily_check(credential):
    credential.refresh_from_db()
    return live_checks.check(credential, trigger=CredentialCheck.Trigger.SCHEDULE)


def works_at_canvas(fake: FakeCanvas, token: str) -> bool:
    answer = httpx.get(f"{fake.url}/api/v1/users/self", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code == 200


def export_token(*args) -> dict:
    out = io.StringIO()
    call_command(
        "export_credential",
        "--institution",
        "example-u",
        "--kind",
        "developer_key",
        "--access-token",
        "--format",
        "json",
        *args,
        stdout=out,
        stderr=io.StringIO(),
    )
    return json.loads(out.getvalue())


# The table, row by row ------------------------------------------------------------------------------


def answer(status=200, error="", description="", token="", rate_limited=False) -> canvas.Grant:
    return canvas.Grant(status, error, description, access_token=token, rate_limited=rate_limited)


@pytest.mark.parametrize(
    "given, row, meaning",
    [
        (answer(200, token="t"), 1, grant_tokens.RENEWED),
        (answer(400, "invalid_grant", "refresh_token not found"), 2, grant_tokens.GONE),
        (answer(401, "invalid_client", "invalid client"), 3, grant_tokens.GONE),
        (answer(401, "invalid_client", "unknown client"), 3, grant_tokens.GONE),
        (answer(403, rate_limited=True), 4, grant_tokens.INCONCLUSIVE),
        (answer(502), 5, grant_tokens.INCONCLUSIVE),
        (answer(400, "invalid_grant", "incorrect client"), 6, grant_tokens.INCONCLUSIVE),
        (answer(400, "invalid_request", "refresh_token not found"), 6, grant_tokens.INCONCLUSIVE),
        (answer(401), 6, grant_tokens.INCONCLUSIVE),
        (answer(403, "invalid_client"), 6, grant_tokens.INCONCLUSIVE),
        (answer(302), 6, grant_tokens.INCONCLUSIVE),
        (answer(200), 6, grant_tokens.INCONCLUSIVE),
    ],
)
def test_the_table_reads_each_answer(given, row, meaning):
    found, says = grant_tokens.read_refresh(given)
    assert (found.row, found.meaning) == (row, meaning)
    assert str(given.status) in says or meaning != grant_tokens.INCONCLUSIVE or row == 4


@pytest.mark.parametrize("breaks_it", ["revoked in canvas", "secret regenerated", "key deleted"])
def test_a_certain_answer_drops_the_grant(credential, fake_canvas, fake_key, time_machine, breaks_it):
    later(time_machine, hours=2)  # the stored token has expired: the check must refresh
    if breaks_it == "revoked in canvas":
        fake_canvas.revoke_grants(KEY_ID)
    elif breaks_it == "secret regenerated":
        fake_key.secret = "N" * 64
    else:
        fake_canvas.token_forgets.add(KEY_ID)
    verdict = confirm(credential)
    assert verdict.is_rejected and "Authorize Keydrop again" in verdict.reason
    grant = CanvasGrant.objects.get()
    assert grant.lost_at is not None and grant.access_token is None
    credential.refresh_from_db()
    assert credential.awaits_authorization


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "canvas_says, in_words",
    [
        (THROTTLED, "limiting our requests"),  # row 4
        ((500, {"Content-Type": "text/html"}, "<html>oops</html>"), "HTTP 500"),  # row 5
        ((503, {"Content-Type": "text/html"}, "<html>maintenance</html>"), "HTTP 503"),
        ((400, {}, {"error": "invalid_request", "error_description": "something new"}), "HTTP 400"),  # row 6
        ((400, {}, {"error": "invalid_grant", "error_description": "incorrect client"}), "HTTP 400"),
        ((401, {"Content-Type": "text/html"}, "<html>sign in to the proxy</html>"), "HTTP 401"),
        ((403, {}, {"errors": [{"message": "forbidden"}]}), "HTTP 403"),
        ((302, {"Location": "https://elsewhere.example/login"}, ""), "HTTP 302"),
        ((200, {}, {"token_type": "Bearer"}), "HTTP 200"),
        ((200, {"Content-Type": "text/html"}, "<html>maintenance</html>"), "HTTP 200"),
        ("no answer", "could not be reached"),  # row 7
    ],
)
def test_an_uncertain_answer_keeps_the_grant(credential, fake_canvas, time_machine, canvas_says, in_words):
    kept = CanvasGrant.objects.get().refresh_token
    later(time_machine, hours=2)
    if canvas_says == "no answer":
        Credential.objects.filter(pk=credential.pk).update(canvas_url=f"http://127.0.0.1:{_closed_port()}")
    else:
        fake_canvas.route_answers["refresh"] = canvas_says
    verdict = confirm(credential)
    assert verdict.is_inconclusive and in_words in verdict.reason and "authorization is kept" in verdict.reason
    assert CanvasGrant.objects.get().lost_at is None
    # Canvas answers again: the same grant works, nobody authorized anything.
    fake_canvas.route_answers.clear()
    Credential.objects.filter(pk=credential.pk).update(canvas_url=fake_canvas.url)
    assert confirm(credential).is_works
    grant = CanvasGrant.objects.get()
    assert grant.refresh_token == kept and grant.lost_at is None


# What a user notices -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route, mode",
    [("refresh", "rate_limit"), ("refresh", "503"), ("users_self", "rate_limit"), ("users_self", "503")],
)
def test_throttling_or_an_outage_drops_no_grant_and_alerts_nobody(credential, fake_canvas, time_machine, route, mode):
    later(time_machine, hours=2)
    fake_canvas.route_modes[route] = mode
    for _ in range(3):  # however long it lasts
        checked = daily_check(credential)
        assert checked.outcome == "inconclusive" and checked.change == ""
        later(time_machine, days=1)
    credential.refresh_from_db()
    assert not credential.awaits_authorization and credential.failing_since is None
    assert not CheckAlert.objects.exists() and mail.outbox == []
    page = Client().get(credential.institution.intake_path("developer_key")).content.decode()
    assert "Authorize Keydrop" not in page
    # Canvas is well again: the same grant works, for the check and for a pipeline.
    fake_canvas.route_modes.clear()
    assert daily_check(credential).outcome == "works"
    assert works_at_canvas(fake_canvas, export_token()["CANVAS_ACCESS_TOKEN"])
    assert not CheckAlert.objects.exists() and mail.outbox == []


def test_an_export_during_a_throttled_refresh_is_refused_and_drops_nothing(credential, fake_canvas, time_machine):
    later(time_machine, hours=2)
    fake_canvas.route_modes["refresh"] = "rate_limit"
    with pytest.raises(CommandError, match="limiting our requests"):
        export_token()
    assert CanvasGrant.objects.get().lost_at is None
    fake_canvas.route_modes.clear()
    assert works_at_canvas(fake_canvas, export_token()["CANVAS_ACCESS_TOKEN"])


def test_another_holder_s_refresh_does_not_make_keydrop_call_the_grant_lost(credential, fake_canvas):
    fake_canvas.refresh_behind(KEY_ID)  # a pipeline with an old export of the refresh token
    stale = CanvasGrant.objects.get().access_token.reveal()
    assert not works_at_canvas(fake_canvas, stale)
    checked = daily_check(credential)
    assert checked.outcome == "works" and CanvasGrant.objects.get().lost_at is None
    assert fake_canvas.refreshes() == 1  # one refresh, then users/self again
    fresh = CanvasGrant.objects.get().access_token.reveal()
    assert fresh != stale and works_at_canvas(fake_canvas, fresh)
    assert not CheckAlert.objects.exists()


def test_a_token_handed_out_works_until_the_expiry_stated_with_it_however_many_ask(
    credential, fake_canvas, time_machine
):
    authorized_at = timezone.now()
    handed = export_token()
    token = handed["CANVAS_ACCESS_TOKEN"]
    expires = datetime.datetime.fromisoformat(handed["CANVAS_ACCESS_TOKEN_EXPIRES_AT"])
    for minutes in (1, 10, 30, 50, 55, 59):
        time_machine.move_to(authorized_at + datetime.timedelta(minutes=minutes), tick=False)
        assert export_token()["CANVAS_ACCESS_TOKEN"] == token
        assert grants.access_token(credential, timezone.now()).token == token
        assert daily_check(credential).outcome == "works"
    time_machine.move_to(expires - datetime.timedelta(seconds=1), tick=False)
    assert export_token()["CANVAS_ACCESS_TOKEN"] == token and works_at_canvas(fake_canvas, token)
    assert fake_canvas.refreshes() == 0
    # Its stated expiry has passed (the export rounds it down to the second): now, and only now, Keydrop refreshes.
    stored = CanvasGrant.objects.get().access_token_expires_at
    assert expires <= stored < expires + datetime.timedelta(seconds=1)
    time_machine.move_to(stored, tick=False)
    after = export_token()
    assert after["CANVAS_ACCESS_TOKEN"] != token and fake_canvas.refreshes() == 1
    assert datetime.datetime.fromisoformat(after["CANVAS_ACCESS_TOKEN_EXPIRES_AT"]) > expires


def test_the_stated_expiry_is_never_later_than_canvas_s(credential, fake_canvas, time_machine):
    later(time_machine, hours=2)
    token = grants.access_token(credential, timezone.now())
    [fake_grant] = fake_canvas.keys[KEY_ID].grants
    assert token.expires_at.timestamp() <= fake_grant.access_expires_at
    assert token.expires_at.timestamp() >= fake_grant.access_expires_at - 2


def test_a_refused_token_already_replaced_by_another_worker_is_not_refreshed_again(credential, fake_canvas):
    """Two workers both saw the old token refused: the second takes the first one's new token."""
    old = grants.access_token(credential, timezone.now()).token
    fake_canvas.refresh_behind(KEY_ID)
    first = grants.access_token(credential, timezone.now(), refused=old)
    second = grants.access_token(credential, timezone.now(), refused=old)
    assert first.token == second.token != old and fake_canvas.refreshes() == 1


def test_insufficient_scopes_is_neither_a_lost_grant_nor_a_reason_to_refresh(credential, fake_canvas):
    """401 without WWW-Authenticate: the token works, only not for users/self. A refresh would kill
    the token a pipeline holds and change nothing (the scopes are the grant's)."""
    fake_canvas.route_answers["users_self"] = (
        401,
        {},
        {"errors": [{"message": "Insufficient scopes on access token."}]},
    )
    verdict = confirm(credential)
    assert verdict.is_inconclusive and kinds.USERS_SELF_SCOPE in verdict.reason
    assert CanvasGrant.objects.get().lost_at is None and fake_canvas.refreshes() == 0


def test_tokens_refused_right_after_a_refresh_make_the_key_rejected_but_keep_the_grant(credential, fake_canvas):
    fake_canvas.route_answers["users_self"] = FakeCanvas.invalid_token()
    verdict = confirm(credential)
    assert verdict.is_rejected and "refuses its tokens" in verdict.reason
    assert CanvasGrant.objects.get().lost_at is None and fake_canvas.refreshes() == 1
    fake_canvas.route_answers.clear()
    assert confirm(credential).is_works


# Revoking ------------------------------------------------------------------------------------------


def revoke(credential) -> str:
    [revoked] = staff.revoke([credential], actor=staff.Actor(name="alice"), reason="contract ended", now=timezone.now())
    return revoked.revoked_in_canvas


@pytest.mark.parametrize("route", ["refresh", "delete"])
def test_revoking_while_canvas_throttles_says_to_revoke_by_hand_not_already_ended(
    credential, fake_canvas, time_machine, route
):
    if route == "refresh":
        later(time_machine, hours=2)  # a token is needed first, and the refresh is throttled
    fake_canvas.route_modes[route] = "rate_limit"
    said = revoke(credential)
    assert "revoke it in Canvas by hand" in said and "already ended" not in said
    assert fake_canvas.grants_of(KEY_ID) == 1  # still alive in Canvas, as Keydrop says


def test_revoking_a_grant_canvas_ended_says_so(credential, fake_canvas, time_machine):
    fake_canvas.revoke_grants(KEY_ID)
    said = revoke(credential)  # DELETE with the dead token: 401; the refresh: refresh_token not found
    assert said.startswith("Canvas had already ended the authorization")


def test_revoking_after_another_holder_refreshed_still_revokes(credential, fake_canvas):
    fake_canvas.refresh_behind(KEY_ID)
    assert revoke(credential) == "the authorization was revoked in Canvas"
    assert fake_canvas.grants_of(KEY_ID) == 0


def test_revoking_a_grant_lost_to_a_throttle_by_older_keydrop_revokes_it_in_canvas(
    credential, fake_canvas, time_machine
):
    """Rows marked lost before this rule existed may be alive in Canvas: only Canvas's word ends them."""
    grants.lose(CanvasGrant.objects.get(), "Canvas did not renew the access token (HTTP 403).", timezone.now())
    assert revoke(credential) == "the authorization was revoked in Canvas"
    assert fake_canvas.grants_of(KEY_ID) == 0


def test_grants_an_earlier_version_dropped_on_an_uncertain_answer_come_back(institution):
    # Migration 0014: a throttled refresh once marked grants lost for good; they are asked again now.
    restore = importlib.import_module("keys.migrations.0014_restore_grants_lost_on_uncertain_answers").restore
    now = timezone.now()
    throttled, revoked = (
        CanvasGrant.objects.create(
            credential=developer_key_credential(institution, f"17000000000012{n}", "S" * 64, "https://c.example"),
            refresh_token=Sealed.seal("refresh"),
            authorized_at=now,
            lost_at=now,
            lost_reason=reason,
        )
        for n, reason in enumerate(
            [
                "Canvas did not renew the access token (HTTP 403). Authorize Keydrop again.",
                "Canvas no longer knows the authorization: it was revoked. Authorize Keydrop again.",
            ]
        )
    )
    restore(django_apps, None)
    throttled.refresh_from_db()
    revoked.refresh_from_db()
    assert throttled.lost_at is None and throttled.credential.awaits_authorization is False
    assert revoked.lost_at is not None
