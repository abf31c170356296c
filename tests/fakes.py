"""Loopback fakes of the Instructure endpoints Keydrop calls, behaving as the reference says
(canvas-auth-endpoints.md; Canvas's oauth2_provider_controller.rb and lib/canvas/oauth).

Each fake is a standard-library HTTP server on 127.0.0.1, port 0, in a thread. It keeps its
state in plain attributes a test changes (turn a key Off, take a scope away, answer 429) and
records each request it served: method, path and client id, never a secret.
"""

import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Served:
    method: str
    path: str
    client_id: str = ""
    grant_type: str = ""


class FakeServer:
    """A threaded HTTP(S) server whose handler asks ``self.answer(request)`` what to send."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        fake = self
        self.served: list[Served] = []
        self.mode: str | None = None  # "429", "500", "slow", "html", … : the fake's bad day
        self.release = threading.Event()  # ends a "slow" or held answer when the test says so
        self.hold_first = False  # hold the first request until ``release``: forces an overlap
        self.holding = threading.Event()  # set while the first request is held

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                fake._handle(self)

            def do_POST(self):
                fake._handle(self)

            def do_DELETE(self):
                fake._handle(self)

            def log_message(self, *args):  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hung up (a timeout, a size cap) is part of the test, not an error

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls_context else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if self.hold_first and not self.holding.is_set():
            self.holding.set()
            self.release.wait(30)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        request = Request(handler.command, parts.path, parse_qs(parts.query), body, handler.headers)
        status, headers, payload = self.answer(request)
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        elif isinstance(payload, str):
            payload = payload.encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def answer(self, request: "Request") -> tuple[int, dict, object]:
        raise NotImplementedError

    def bad_day(self, mode: str | None = None) -> tuple[int, dict, object] | None:
        """The answers that mean "try again later", whatever the endpoint (``mode``, else the fake's)."""
        mode = mode or self.mode
        if mode == "429":
            return 429, {"Retry-After": "60"}, {"error": {"type": "TooManyRequests", "message": "slow down"}}
        if mode in ("500", "502", "503"):
            return int(mode), {"Content-Type": "text/html"}, "<html><body>upstream trouble</body></html>"
        if mode == "html":
            return 200, {"Content-Type": "text/html"}, "<html><body>Maintenance page</body></html>"
        if mode == "slow":
            self.release.wait(5)
            return 200, {}, {}
        if mode == "huge":
            return 200, {"Content-Type": "application/json"}, b"[" + b"0," * 200_000 + b"0]"
        return None


@dataclass
class Request:
    method: str
    path: str
    query: dict
    body: bytes
    headers: object

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def arg(self, name: str) -> str:
        return (self.query.get(name) or [""])[0]


# Canvas Data 2: the DAP identity service -----------------------------------------------------


class FakeDap(FakeServer):
    """``POST /ids/auth/login`` as the reference describes it."""

    TOKEN_MARK = "fake-dap-token"  # in every access token it hands out, so tests can look for leaks

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.secrets: dict[str, str] = {}  # client id -> secret of each key that exists
        self.account_problem: str | None = None  # "AccountDisabled", "AccountNotOnboarded", …
        self.region, self.principal = "us-east-1", "57102"

    def add_key(self, client_id: str, secret: str) -> None:
        self.secrets[client_id] = secret

    def answer(self, request: Request):
        if request.method != "POST" or request.path != "/ids/auth/login":
            return 404, {}, {"error": {"type": "NotFound", "message": "no such route"}}
        client_id, secret = _basic_auth(request.headers.get("Authorization", ""))
        self.served.append(Served(request.method, request.path, client_id or ""))
        bad = self.bad_day()
        if bad:
            return bad
        if self.mode == "proxy_401":  # something in front of the gateway, not Instructure's verdict
            return 401, {"Content-Type": "text/plain"}, "401 Unauthorized\n"
        # The official client sends the ID as typed: ([\w-]+)#([\w-]+) is all it reads of it.
        well_formed = client_id is not None and re.fullmatch(r"([\w-]+#)?[\w-]+", client_id, re.ASCII)
        if request.body != b"grant_type=client_credentials" or not well_formed:
            return 400, {}, {"error": {"type": "BadRequest", "uuid": str(uuid.uuid4()), "message": "malformed request"}}
        if self.account_problem:
            return (
                403,
                {},
                {"error": {"type": self.account_problem, "uuid": str(uuid.uuid4()), "message": "account problem"}},
            )
        if self.secrets.get(client_id) != secret:
            return (
                401,
                {},
                {"error": {"type": "Unauthorized", "uuid": str(uuid.uuid4()), "message": "invalid credentials"}},
            )
        return (
            200,
            {},
            {
                "access_token": f"eyJhbGciOiJIUzI1NiJ9.{self.TOKEN_MARK}." + uuid.uuid4().hex,
                "expires_in": 3599,
                "token_type": "bearer",
                "scope": f"canvas principal:{self.principal} partner:9 region:{self.region}",
            },
        )


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


# Canvas: OAuth2 on the institution's own Canvas ----------------------------------------------


@dataclass
class FakeCode:
    """An authorization code: ten minutes, once, for the client and redirect URI that asked."""

    client_id: str
    redirect_uri: str
    scopes: list[str]
    issued_at: float
    challenge: str = ""  # the PKCE S256 challenge stored with the code, if the request sent one


@dataclass
class FakeGrant:
    """One user's grant of a key (Canvas's AccessToken row): a refresh token and the one current
    access token, which a refresh replaces."""

    refresh_token: str
    access_token: str
    access_expires_at: float
    scopes: list[str]
    alive: bool = True


@dataclass
class FakeKey:
    """A developer key as Canvas holds it, and its binding to the account (On or Off)."""

    secret: str
    redirect_uris: list[str]
    scopes: list[str]
    require_scopes: bool = True
    active: bool = True  # False: deleted or deactivated
    on: bool = True  # the account binding
    other_account: bool = False  # made in another root account than the Canvas asked
    test_cluster_only: bool = False  # usable only on beta and test, asked on production
    codes: dict[str, FakeCode] = field(default_factory=dict)
    grants: list[FakeGrant] = field(default_factory=list)


class FakeCanvas(FakeServer):
    """``/login/oauth2/auth``, ``/login/oauth2/token`` (code, refresh, delete) and
    ``/api/v1/users/self``, with Canvas's checks in Canvas's order.

    ``browser`` is what Canvas does with a browser that passed the pre-login checks: ``None`` sends
    it to the login page (nobody is signed in, as for Keydrop's own probes), "approve" sends it back
    with a code at once (an admin who is signed in and has authorized before), "confirm" shows the
    Authorize page, and "deny" sends it back with ``error=access_denied`` (the admin clicked Cancel).

    ``token_forgets`` holds key ids that the token endpoint no longer knows while the authorization
    endpoint still does: a key deleted between Keydrop's two probes.

    ``route_modes`` gives one route its own bad day ("rate_limit", "503", …) and ``route_answers`` its
    own answer (status, headers, body). Routes: "token" (the whole token endpoint), "refresh" or
    "code" (one grant type of it), "users_self", "delete"; so a test can throttle only the refresh.

    ``user_may_authorize`` False is a signed-in user without the right to authorize apps: the confirm
    step sends back ``client_not_allowed_for_user``.
    """

    CODE_LIFETIME = 600
    TOKEN_LIFETIME = 3600
    REFRESH_MARK = "fake-refresh"  # in every refresh token, so tests can look for leaks
    ACCESS_MARK = "fake-access"  # in every access token
    USER = {"id": 42, "name": "Ada Admin", "global_id": "10000000000042"}
    USERS_SELF_SCOPE = "url:GET|/api/v1/users/:id"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.keys: dict[str, FakeKey] = {}
        self.browser: str | None = None
        self.token_forgets: set[str] = set()
        self.route_modes: dict[str, str] = {}
        self.route_answers: dict[str, tuple[int, dict, object]] = {}
        self.user_may_authorize = True

    def add_key(self, client_id: str, key: FakeKey) -> FakeKey:
        self.keys[client_id] = key
        return key

    # What a test does to Canvas ---------------------------------------------------------------

    def revoke_grants(self, client_id: str) -> None:
        """The admin removed the app under Account → Settings → Approved Integrations."""
        for grant in self.keys[client_id].grants:
            grant.alive = False

    def remove_scope(self, client_id: str, scope: str) -> None:
        """Removing a scope from a key deletes every token issued for it."""
        key = self.keys[client_id]
        key.scopes.remove(scope)
        self.revoke_grants(client_id)

    def grants_of(self, client_id: str) -> int:
        return sum(1 for grant in self.keys[client_id].grants if grant.alive)

    def refresh_behind(self, client_id: str) -> None:
        """Another holder of the refresh token refreshes: the grant's one access token is replaced."""
        for grant in self.keys[client_id].grants:
            if grant.alive:
                self.new_access_token(grant)

    def refreshes(self) -> int:
        return sum(1 for served in self.served if served.method == "POST" and served.grant_type == "refresh_token")

    # The endpoints ------------------------------------------------------------------------------

    def answer(self, request: Request):
        route = (request.method, request.path)
        if route == ("GET", "/login/oauth2/auth"):
            self.served.append(Served("GET", request.path, request.arg("client_id")))
            return self.bad_day() or self.authorize(request)
        if route == ("GET", "/login/oauth2/confirm"):
            if not self.user_may_authorize:  # Provider#can_issue_token? is false; the state is the confirm request's
                return self.send_back(
                    request.arg("redirect_uri"),
                    error="client_not_allowed_for_user",
                    error_description="The current user is logged in but does not have permission to authorize "
                    "this application.",
                )
            return self.confirm_page(request)
        if route == ("POST", "/login/oauth2/accept"):
            form = request.form()
            return self.issue_code(form.get("client_id", ""), form.get("redirect_uri", ""), form)
        if route == ("POST", "/login/oauth2/token"):
            form = request.form()
            self.served.append(Served("POST", request.path, form.get("client_id", ""), form.get("grant_type", "")))
            route = "refresh" if form.get("grant_type") == "refresh_token" else "code"
            return self.bad_route(route, "token") or self.token(form)
        if route == ("DELETE", "/login/oauth2/token"):
            self.served.append(Served("DELETE", request.path))
            return self.bad_route("delete") or self.delete_token(request)
        if route == ("GET", "/api/v1/users/self"):
            self.served.append(Served("GET", request.path))
            return self.bad_route("users_self") or self.users_self(request)
        return 404, {}, {"errors": [{"message": "The specified resource does not exist."}]}

    def bad_day(self, mode: str | None = None):
        if (mode or self.mode) == "rate_limit":  # Canvas's throttle (request_throttle.rb), on every endpoint
            return (
                403,
                {"X-Rate-Limit-Remaining": "0.0", "Content-Type": "text/plain; charset=utf-8"},
                "403 Forbidden (Rate Limit Exceeded)\n",
            )
        return super().bad_day(mode)

    def bad_route(self, *routes: str):
        """A route's own answer (``route_answers``) or bad day (``route_modes``), else the fake's bad day."""
        for route in routes:
            if route in self.route_answers:
                return self.route_answers[route]
            if route in self.route_modes:
                return self.bad_day(self.route_modes[route])
        return self.bad_day()

    def authorize(self, request: Request):
        key = self.keys.get(request.arg("client_id"))
        if key is None or not key.active:
            return (
                401,
                {"WWW-Authenticate": "Canvas OAuth 2.0"},
                {"error": "invalid_client", "error_description": "unknown client"},
            )
        redirect_uri = request.arg("redirect_uri")
        if redirect_uri not in key.redirect_uris:
            return (
                400,
                {},
                {"error": "invalid_request", "error_description": "redirect_uri does not match client settings"},
            )
        scopes = request.arg("scope").split()
        missing = [scope for scope in scopes if scope not in key.scopes]
        if key.require_scopes and (not scopes or missing):
            description = (
                "A requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner. "
                f"The following scopes were requested, but not granted: {to_sentence(missing)}"
            )
            # Current Canvas appends error and description to the redirect URI, without state.
            return (
                302,
                {
                    "Location": redirect_uri
                    + "?"
                    + urlencode({"error": "invalid_scope", "error_description": description})
                },
                "",
            )
        state = request.arg("state")
        # authorized_for_account? (developer_key.rb) is false for each: one answer for all three.
        if not key.on or key.other_account or key.test_cluster_only:
            return self.send_back(
                redirect_uri,
                error="unauthorized_client",
                state=state,
                error_description="Client does not have access to the specified Canvas account.",
            )
        if request.arg("response_type") != "code":
            return self.send_back(
                redirect_uri,
                error="unsupported_response_type",
                state=state,
                error_description="Only response_type=code is permitted",
            )
        if self.browser == "approve":
            pkce = {name: request.arg(name) for name in ("code_challenge", "code_challenge_method")}
            return self.issue_code(
                request.arg("client_id"), redirect_uri, {"state": state, "scope": " ".join(scopes), **pkce}
            )
        if self.browser == "deny":
            return self.send_back(redirect_uri, error="access_denied", state=state)
        if self.browser == "confirm":
            query = {name: values[0] for name, values in request.query.items()}
            return 302, {"Location": f"{self.url}/login/oauth2/confirm?{urlencode(query)}"}, ""
        return 302, {"Location": f"{self.url}/login/canvas"}, ""  # nobody is signed in: off to the login page

    def confirm_page(self, request: Request):
        """Canvas's Authorize page: the admin sees who asks, and clicks Authorize."""
        fields = "".join(
            f'<input type="hidden" name="{escape(name)}" value="{escape(values[0])}">'
            for name, values in request.query.items()
        )
        page = (
            "<!doctype html><html lang='en'><head><title>Authorize</title></head><body><main>"
            "<h1>Keydrop is requesting access to your account.</h1>"
            f'<form method="post" action="/login/oauth2/accept">{fields}<button type="submit">Authorize</button></form>'
            "</main></body></html>"
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    def issue_code(self, client_id: str, redirect_uri: str, params: dict):
        code = secrets.token_hex(16)
        key = self.keys[client_id]
        # pkce.rb use_pkce_in_authorization?: both parameters, and S256 only; otherwise none is stored.
        challenge = params.get("code_challenge", "") if params.get("code_challenge_method") == "S256" else ""
        key.codes[code] = FakeCode(client_id, redirect_uri, params.get("scope", "").split(), time.time(), challenge)
        return self.send_back(redirect_uri, code=code, state=params.get("state", ""))

    @staticmethod
    def send_back(redirect_uri: str, **params):
        return 302, {"Location": final_redirect(redirect_uri, **params)}, ""

    def token(self, form: dict):
        key = self.keys.get(form.get("client_id", ""))
        if key is None or not key.active or form.get("client_id") in self.token_forgets:
            return (
                401,
                {"WWW-Authenticate": "Canvas OAuth 2.0"},
                {"error": "invalid_client", "error_description": "unknown client"},
            )
        if form.get("client_secret") != key.secret:
            return (
                401,
                {"WWW-Authenticate": "Canvas OAuth 2.0"},
                {"error": "invalid_client", "error_description": "invalid client"},
            )
        if form.get("grant_type") == "refresh_token":
            return self.refresh(key, form.get("refresh_token", ""))
        if form.get("grant_type") != "authorization_code":
            return (
                400,
                {},
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The grant_type you requested is not currently supported",
                },
            )
        if not form.get("code"):
            return (
                400,
                {},
                {
                    "error": "invalid_request",
                    "error_description": (
                        "You must provide the code parameter when using the authorization_code grant type"
                    ),
                },
            )
        code = key.codes.pop(form["code"], None)  # once, whatever happens next
        # The PKCE grant when a verifier is sent or the code has a challenge (authorization_code_with_pkce.rb).
        if "code_verifier" in form or (code is not None and code.challenge):
            verifier = form.get("code_verifier", "")
            if not (verifier and code and code.challenge and pkce_challenge(verifier) == code.challenge):
                return 400, {}, {"error": "invalid_grant", "error_description": INVALID_GRANT}
        if code is None or time.time() - code.issued_at > self.CODE_LIFETIME:
            return 400, {}, {"error": "invalid_grant", "error_description": "authorization_code not found"}
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect_uri does not match"}
        grant = FakeGrant(
            refresh_token=f"1~{self.REFRESH_MARK}-{secrets.token_hex(24)}",
            access_token="",
            access_expires_at=0,
            scopes=code.scopes if key.require_scopes else list(key.scopes),
        )
        key.grants.append(grant)
        return 200, {}, {**self.new_access_token(grant), "refresh_token": grant.refresh_token}

    def refresh(self, key: FakeKey, refresh_token: str):
        grant = next((g for g in key.grants if g.alive and g.refresh_token == refresh_token), None)
        if grant is None:  # request_error.rb :invalid_refresh_token
            return 400, {}, {"error": "invalid_grant", "error_description": "refresh_token not found"}
        return 200, {}, self.new_access_token(grant)

    def new_access_token(self, grant: FakeGrant) -> dict:
        grant.access_token = f"1~{self.ACCESS_MARK}-{secrets.token_hex(24)}"
        grant.access_expires_at = time.time() + self.TOKEN_LIFETIME
        return {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": self.TOKEN_LIFETIME,
            "user": dict(self.USER),
            "canvas_region": "us-east-1",
        }

    def bearer(self, request: Request) -> tuple[FakeKey, FakeGrant] | None:
        """The key and grant of a live, unexpired access token in the Authorization header."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        for key in self.keys.values():
            for grant in key.grants:
                if token and grant.alive and grant.access_token == token and time.time() < grant.access_expires_at:
                    return key, grant
        return None

    @staticmethod
    def invalid_token():
        return (
            401,
            {"WWW-Authenticate": 'Bearer realm="canvas-lms"'},
            {"errors": [{"message": "Invalid access token."}]},
        )

    def users_self(self, request: Request):
        found = self.bearer(request)
        if found is None or not (found[0].active and found[0].on):
            return self.invalid_token()
        key, grant = found
        if key.require_scopes and self.USERS_SELF_SCOPE not in grant.scopes:
            return 401, {}, {"errors": [{"message": "Insufficient scopes on access token."}]}
        return 200, {}, {"id": self.USER["id"], "name": self.USER["name"], "sortable_name": "Admin, Ada"}

    def delete_token(self, request: Request):
        found = self.bearer(request)
        if found is None:
            return self.invalid_token()
        found[1].alive = False  # the access and the refresh token go together
        return 200, {}, {}


INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in "
    "the authorization request, or was issued to another client."
)


def pkce_challenge(verifier: str) -> str:
    """What Canvas compares (pkce.rb valid_code_verifier?): urlsafe base64 of SHA-256, no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def to_sentence(words: list[str]) -> str:
    """Rails' Array#to_sentence in English: "a", "a and b", "a, b, and c"."""
    if len(words) <= 1:
        return "".join(words)
    if len(words) == 2:
        return f"{words[0]} and {words[1]}"
    return ", ".join(words[:-1]) + ", and " + words[-1]


def final_redirect(redirect_uri: str, **params) -> str:
    """Rails' Hash#to_query: keys sorted, "+" for spaces."""
    query = urlencode(sorted((key, value) for key, value in params.items() if value))
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query
