"""Every row of keys/instructure/answers.py's answer tables, held against the reference (canvas-auth-endpoints.md
§ 1 and § 2.1): an example answer per row, the row it falls in, and what it does to a key.

"destroys" is the one irreversible reading (an unknown id, a wrong secret, the gateway's JSON 401);
"fix" keeps the key sealed for a fix in Canvas; everything else is inconclusive or works. A row
added to a table without an example here fails ``test_every_row_has_an_example``.
"""

import httpx
import pytest

from keys.instructure import answers, canvas
from keys.instructure.answers import DAP_LOGIN_ANSWERS, authorize_answers, token_answers
from keys.instructure.outbound import Answer


def dap(status, *, error_type="", gateway_error=None, token=False, is_json=True):
    return canvas.DapLogin(
        status=status,
        is_json=is_json,
        gateway_error=bool(error_type) if gateway_error is None else gateway_error,
        has_token=token,
        scope={"region": "us-east-1"} if token else {},
        error_type=error_type,
        retry_after="",
    )


def authorize(status, *, error="", lands="", missing=(), code=False):
    return canvas.Authorize(status, error, "", tuple(missing), lands, has_code=code)


def token(status, error="", description=""):
    return canvas.Token(status, error, description)


def effect(verdict) -> str:
    if verdict.is_works:
        return "works"
    if verdict.destroys_key:
        return "destroys"
    return "fix" if verdict.fixable else "inconclusive"


DAP_EXAMPLES = [
    ("200 with access_token", dap(200, token=True), "works"),
    ("401 with the gateway's JSON error", dap(401, error_type="Unauthorized"), "destroys"),
    (
        "401 that is not the gateway's JSON (a proxy, a WAF)",
        dap(401, is_json=False, gateway_error=False),
        "inconclusive",
    ),
    ("400 (meaning unpublished)", dap(400, error_type="BadRequest"), "inconclusive"),
    ("403 AccountDisabled", dap(403, error_type="AccountDisabled"), "fix"),
    ("403 AccountNotOnboarded", dap(403, error_type="AccountNotOnboarded"), "fix"),
    ("403 AccountUnderMaintenance", dap(403, error_type="AccountUnderMaintenance"), "inconclusive"),
    ("403 of another type, or not JSON", dap(403, is_json=False), "inconclusive"),
    ("429", dap(429), "inconclusive"),
    ("5xx", dap(503, is_json=False), "inconclusive"),
    ("anything else (200 without a token, a redirect, HTML)", dap(200, is_json=False), "inconclusive"),
]

AUTHORIZE_EXAMPLES = [
    ("401 invalid_client", authorize(401, error="invalid_client"), "destroys"),
    ("400 invalid_request (redirect_uri does not match)", authorize(400, error="invalid_request"), "fix"),
    (
        "302 to the redirect URI with invalid_scope",
        authorize(302, error="invalid_scope", lands="redirect_uri", missing=["url:GET|/api/v1/courses"]),
        "fix",
    ),
    (
        "302 to the redirect URI with unauthorized_client",
        authorize(302, error="unauthorized_client", lands="redirect_uri"),
        "fix",
    ),
    (
        "302 to /login on the same host, /login/oauth2/confirm, or the redirect URI with a code",
        authorize(302, lands="login"),
        "works",
    ),
    ("403 (Canvas's throttle, or anything else)", authorize(403), "inconclusive"),
    ("5xx", authorize(502), "inconclusive"),
    ("anything else", authorize(302), "inconclusive"),  # a redirect to another host lands nowhere
]

TOKEN_EXAMPLES = [
    ('401 invalid_client "unknown client"', token(401, "invalid_client", "unknown client"), "destroys"),
    ('401 invalid_client "invalid client"', token(401, "invalid_client", "invalid client"), "destroys"),
    ("400 invalid_grant (authorization_code not found)", token(400, "invalid_grant"), "works"),
    ("403 (Canvas's throttle, or anything else)", token(403), "inconclusive"),
    ("5xx", token(503), "inconclusive"),
    ("anything else", token(400, "invalid_request"), "inconclusive"),
]

TABLES = [
    (DAP_LOGIN_ANSWERS, DAP_EXAMPLES),
    (authorize_answers("…0123", "https://canvas.example.edu"), AUTHORIZE_EXAMPLES),
    (token_answers("…0123"), TOKEN_EXAMPLES),
]


@pytest.mark.parametrize(
    "table, row, answer, expected",
    [(table, row, answer, expected) for table, examples in TABLES for row, answer, expected in examples],
    ids=[f"{row} -> {expected}" for _, examples in TABLES for row, _, expected in examples],
)
def test_each_answer_falls_in_its_row_and_does_what_the_reference_says(table, row, answer, expected):
    assert answers.row_of(table, answer) == row
    assert effect(answers.read(table, answer)) == expected


@pytest.mark.parametrize("table, examples", TABLES)
def test_every_row_has_an_example(table, examples):
    assert [row.answer for row in table] == [row for row, _, _ in examples]


def test_an_invalid_client_with_words_nobody_documents_is_not_a_verdict_on_the_key():
    assert effect(answers.read(token_answers("…0123"), token(401, "invalid_client", "something else"))) == (
        "inconclusive"
    )


def test_a_throttled_answer_reads_as_canvas_limiting_us():
    # request_throttle.rb: 403, text/plain, "403 Forbidden (Rate Limit Exceeded)", on every endpoint.
    verdict = answers.read(token_answers("…0123"), token(403))
    assert verdict.is_inconclusive and "Canvas is limiting our requests" in verdict.reason


@pytest.mark.parametrize(
    "content_type, body, expected",
    [
        ("application/json", b'{"error": {"type": "Unauthorized", "uuid": "u", "message": "no"}}', "destroys"),
        ("text/plain", b"401 Unauthorized", "inconclusive"),  # a proxy's or a WAF's, not Instructure's
        ("application/json", b'{"message": "Unauthorized"}', "inconclusive"),  # not the gateway's error shape
    ],
)
def test_only_the_gateways_own_json_401_is_its_verdict(content_type, body, expected):
    class Http:  # the one call dap_login makes, answering as the gateway (or something before it) would
        def post(self, *args, **kwargs):
            return Answer(401, httpx.Headers({"content-type": content_type}), body, 1)

    answer = canvas.dap_login(Http(), "https://gateway.example", "us-east-1#id", "s")
    assert effect(answers.read(DAP_LOGIN_ANSWERS, answer)) == expected
