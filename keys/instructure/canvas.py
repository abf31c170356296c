"""What Canvas says: the requests Keydrop makes to Instructure and the answers, parsed.

Only the protocol lives here (reference: canvas-auth-endpoints.md, and Canvas's own
``oauth2_provider_controller.rb`` and ``lib/canvas/oauth``). What an answer *means* for a
credential (works, rejected, inconclusive, and the fix in words) is read in
``keys/instructure/answers.py``. Every request goes through ``keys.instructure.outbound``.

An answer object keeps only what a reading needs: status, error words, scope facts. Bodies are
dropped here; tokens leave this module only in a ``Grant``, for ``keys.instructure.grants`` to seal or hand out.
"""

import base64
import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from keys.instructure import outbound

# A scope that no Canvas has: asking for it shows whether a key enforces scopes at all.
CANARY_SCOPE = "url:GET|/api/v1/__keydrop_probe__"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_FACT = re.compile(r"[A-Za-z0-9_.#-]{1,64}")
_SCOPE = re.compile(r"[A-Za-z0-9_:|/.*-]{1,200}")
_MISSING_SCOPES = re.compile(r"The following scopes were requested, but not granted: (.+)$", re.S)


def word(value) -> str:
    """An error word from a remote answer, or "" if it is not a plain word (never echo a body)."""
    return value if isinstance(value, str) and _WORD.fullmatch(value) else ""


# Canvas Data 2: the DAP identity service ---------------------------------------------------


@dataclass(frozen=True)
class DapLogin:
    """The answer of ``POST {base}/ids/auth/login``. The access token is out of repr, and only an
    access-token export reads it."""

    status: int
    is_json: bool
    gateway_error: bool  # the gateway's own JSON error object: {"error": {...}}, not a proxy's page
    has_token: bool
    scope: dict[str, str]  # "principal", "region" and other key:value words of the token's scope
    error_type: str  # {"error": {"type": "AccountDisabled", …}}
    retry_after: str
    access_token: str = field(default="", repr=False)  # for a pipeline's export only; checks ignore it
    expires_in: int = 0


def dap_login(http: outbound.Session, base_url: str, client_id: str, secret: str) -> DapLogin:
    """Log in with client credentials, as the official client does (Basic auth, form body)."""
    answer = http.post(
        base_url.rstrip("/") + "/ids/auth/login",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    payload = answer.json()
    is_json = isinstance(payload, dict)
    payload = payload if is_json else {}
    error = payload.get("error")
    return DapLogin(
        status=answer.status,
        is_json=is_json,
        gateway_error=isinstance(error, dict),
        has_token=bool(payload.get("access_token")),
        scope=parse_dap_scope(payload.get("scope")),
        error_type=word(error.get("type")) if isinstance(error, dict) else "",
        retry_after=answer.headers.get("retry-after", "")[:32],
        access_token=_token(payload.get("access_token")),
        expires_in=_seconds(payload.get("expires_in")),
    )


def parse_dap_scope(scope) -> dict[str, str]:
    """ "canvas principal:123 partner:9 region:us-east-1" → {"principal": "123", …}."""
    facts = {}
    if isinstance(scope, str):
        for item in scope.split()[:16]:
            key, _, value = item.partition(":")
            if value and _WORD.fullmatch(key) and _FACT.fullmatch(value):
                facts[key] = value
    return facts


# Canvas API developer keys: OAuth2 on the institution's own Canvas ---------------------------


@dataclass(frozen=True)
class Authorize:
    """The answer of ``GET {canvas}/login/oauth2/auth`` without a user, redirects not followed.

    ``lands`` says where Canvas sent the browser: "login" (or its confirm page: every check
    before login passed), "redirect_uri" (with ``error`` or a code), or "" (anything else).
    """

    status: int
    error: str  # invalid_client, invalid_request, invalid_scope, unauthorized_client, …
    description: str
    missing_scopes: tuple[str, ...]
    lands: str
    has_code: bool = False

    @property
    def passed(self) -> bool:
        """Key known and On, redirect URI registered, scopes granted: only the login is left."""
        return self.lands == "login" or (self.lands == "redirect_uri" and self.has_code and not self.error)


def authorize(
    http: outbound.Session, canvas_url: str, client_id: str, redirect_uri: str, scopes: list[str]
) -> Authorize:
    """Ask Canvas to start an authorization, as a browser would, and read where it sends us."""
    answer = http.get(
        canvas_url.rstrip("/") + "/login/oauth2/auth",
        params={
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": secrets.token_urlsafe(16),
            "scope": " ".join(scopes),
        },
    )
    if answer.is_redirect:
        location = urljoin(canvas_url + "/", answer.location)
        return read_authorize_redirect(answer.status, location, redirect_uri, canvas_url)
    payload = answer.json()
    payload = payload if isinstance(payload, dict) else {}
    description = payload.get("error_description")
    return Authorize(
        status=answer.status,
        error=word(payload.get("error")),
        description=description[:300] if isinstance(description, str) else "",
        missing_scopes=(),
        lands="",
    )


def read_authorize_redirect(status: int, location: str, redirect_uri: str, canvas_url: str) -> Authorize:
    """Where the redirect goes: our redirect URI (with an error or a code), Canvas's own login on
    the host we asked (every pre-login check passed), or elsewhere (nothing we can read)."""
    target, expected = urlsplit(location), urlsplit(redirect_uri)
    if (target.scheme, target.netloc, target.path) == (expected.scheme, expected.netloc, expected.path):
        # Rails' to_query: keys sorted, "+" for spaces; older versions leave out state on errors.
        query = parse_qs(target.query)
        error = word((query.get("error") or [""])[0])
        description = (query.get("error_description") or [""])[0]
        return Authorize(
            status=status,
            error=error,
            description=description[:300],
            missing_scopes=parse_missing_scopes(description) if error == "invalid_scope" else (),
            lands="redirect_uri",
            has_code=bool(query.get("code")),
        )
    path = target.path.rstrip("/")
    # Canvas sends a login redirect only to its own host: another host's /login is not Canvas's.
    same_host = (target.scheme, target.netloc) == (urlsplit(canvas_url).scheme, urlsplit(canvas_url).netloc)
    lands = "login" if same_host and (path == "/login" or path.startswith("/login/")) else ""
    return Authorize(status=status, error="", description="", missing_scopes=(), lands=lands)


def parse_missing_scopes(description: str) -> tuple[str, ...]:
    """Canvas lists them with Rails' to_sentence: "a", "a and b", "a, b, and c"."""
    match = _MISSING_SCOPES.search(description or "")
    if not match:
        return ()
    names = re.split(r", and |, | and ", match.group(1).strip())
    return tuple(name for name in (n.strip() for n in names) if _SCOPE.fullmatch(name))


@dataclass(frozen=True)
class Token:
    """The answer of ``POST {canvas}/login/oauth2/token``: only its error words are kept."""

    status: int
    error: str
    description: str

    @property
    def secret_matches(self) -> bool:
        """A random code is "not found" only after the id and secret were accepted."""
        return self.status == 400 and self.error == "invalid_grant"


def token_with_random_code(http: outbound.Session, canvas_url: str, client_id: str, secret: str) -> Token:
    """Exchange a code that cannot exist: Canvas checks the id and secret before the code.

    No redirect_uri: some Canvas versions then redirect instead of answering JSON.
    """
    answer = http.post(
        canvas_url.rstrip("/") + "/login/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": secret,
            "code": secrets.token_urlsafe(24),
        },
    )
    payload = answer.json()
    payload = payload if isinstance(payload, dict) else {}
    description = payload.get("error_description")
    return Token(
        status=answer.status,
        error=word(payload.get("error")),
        description=description[:300] if isinstance(description, str) else "",
    )


# The grant an admin gives (reference § 2.2) --------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    """A short-lived token for a pipeline, in place of a long-lived secret, with the expiry Keydrop
    states for it (never later than Canvas's own)."""

    token: str = field(repr=False)
    expires_at: datetime.datetime


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256, as Canvas checks it (``lib/canvas/oauth/pkce.rb``): base64url of SHA-256, no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    canvas_url: str, client_id: str, redirect_uri: str, scopes: list[str], state: str, code_challenge: str
) -> str:
    """Where the admin's browser goes to grant access: Canvas signs them in and asks them. Canvas
    keeps the S256 challenge with the code it issues and then wants the verifier for it."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        },
        quote_via=quote,
    )
    return f"{canvas_url.rstrip('/')}/login/oauth2/auth?{query}"


@dataclass(frozen=True)
class Grant:
    """The answer of ``POST /login/oauth2/token`` (a code or a refresh). Tokens are kept out of
    repr, so a log line or a traceback that shows the object shows no token."""

    status: int
    error: str
    description: str
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_in: int = 0
    user_id: str = ""
    user_name: str = ""
    user_global_id: str = ""
    rate_limited: bool = False  # Canvas's throttle: a 403 that says nothing about the key or grant

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.access_token)


def exchange_code(
    http: outbound.Session,
    canvas_url: str,
    client_id: str,
    secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str = "",
) -> Grant:
    """Step 2: the code the admin's browser brought back, for an access and a refresh token. A
    Canvas without PKCE ignores ``code_verifier``; one with it requires it for a challenged code."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uri": redirect_uri,
        "code": code,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    return _token_request(http, canvas_url, form)


def refresh(http: outbound.Session, canvas_url: str, client_id: str, secret: str, refresh_token: str) -> Grant:
    """Step 3: a new access token. Canvas keeps one per grant: the previous one stops working."""
    return _token_request(
        http,
        canvas_url,
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh_token,
        },
    )


def _token_request(http: outbound.Session, canvas_url: str, form: dict) -> Grant:
    answer = http.post(canvas_url.rstrip("/") + "/login/oauth2/token", data=form)
    payload = answer.json()
    payload = payload if isinstance(payload, dict) else {}
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    description = payload.get("error_description")
    expires_in = payload.get("expires_in")
    return Grant(
        status=answer.status,
        error=word(payload.get("error")),
        description=description[:300] if isinstance(description, str) else "",
        access_token=_token(payload.get("access_token")),
        refresh_token=_token(payload.get("refresh_token")),
        expires_in=_seconds(expires_in),
        user_id=_text(user.get("id"), 32),
        user_name=_text(user.get("name"), 200),
        user_global_id=_text(user.get("global_id"), 32),
        rate_limited=rate_limited(answer),
    )


def rate_limited(answer: outbound.Answer) -> bool:
    """Canvas's throttle (``request_throttle.rb``): 403, text/plain, ``X-Rate-Limit-Remaining: 0.0``."""
    return answer.status == 403 and "x-rate-limit-remaining" in answer.headers


def _token(value) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= 4096 and value.isprintable() else ""


def _seconds(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**7 else 0


def _text(value, limit: int) -> str:
    return str(value)[:limit] if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


@dataclass(frozen=True)
class Me:
    """The answer of ``GET /api/v1/users/self``: who the token acts as, or why it cannot."""

    status: int
    user_id: str
    user_name: str
    token_dead: bool  # 401 with WWW-Authenticate: this token no longer works (replaced, revoked, expired, key Off)
    scope_missing: bool  # 401 without it, "Insufficient scopes on access token.": the token works, not for this
    rate_limited: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.user_id)


def users_self(http: outbound.Session, canvas_url: str, access_token: str) -> Me:
    answer = http.get(
        canvas_url.rstrip("/") + "/api/v1/users/self", headers={"Authorization": f"Bearer {access_token}"}
    )
    payload = answer.json()
    payload = payload if isinstance(payload, dict) else {}
    unauthorized = answer.status == 401
    challenged = "www-authenticate" in answer.headers
    return Me(
        status=answer.status,
        user_id=_text(payload.get("id"), 32),
        user_name=_text(payload.get("name"), 200),
        token_dead=unauthorized and challenged,
        scope_missing=unauthorized and not challenged and _says_insufficient_scopes(payload),
        rate_limited=rate_limited(answer),
    )


def _says_insufficient_scopes(payload: dict) -> bool:
    """Canvas's ``AccessTokenScopeError``: ``{"errors": [{"message": "Insufficient scopes on access token."}]}``."""
    errors = payload.get("errors")
    return isinstance(errors, list) and any(
        isinstance(e, dict) and isinstance(e.get("message"), str) and "Insufficient scopes" in e["message"]
        for e in errors[:5]
    )


def delete_token(http: outbound.Session, canvas_url: str, access_token: str) -> int:
    """Step 5: revoke the grant (Canvas deletes the access and the refresh token together). The
    status: 200 is done; 401 with this token means it was replaced (refresh and try again)."""
    answer = http.request(
        "DELETE", canvas_url.rstrip("/") + "/login/oauth2/token", headers={"Authorization": f"Bearer {access_token}"}
    )
    return answer.status
