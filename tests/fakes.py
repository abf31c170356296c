"""Loopback fakes of the Instructure endpoints Keydrop calls, behaving as the reference says
(canvas-auth-endpoints.md; Canvas's oauth2_provider_controller.rb and lib/canvas/oauth).

Each fake is a standard-library HTTP server on 127.0.0.1, port 0, in a thread. It keeps its
state in plain attributes a test changes (turn a key Off, take a scope away, answer 429) and
records each request it served: method, path and client id, never a secret.
"""

import base64
import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Served:
    method: str
    path: str
    client_id: str = ""


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

    def bad_day(self) -> tuple[int, dict, object] | None:
        """The answers that mean "try again later", whatever the endpoint."""
        if self.mode == "429":
            return 429, {"Retry-After": "60"}, {"error": {"type": "TooManyRequests", "message": "slow down"}}
        if self.mode in ("500", "502", "503"):
            return int(self.mode), {}, "<html><body>upstream trouble</body></html>"
        if self.mode == "html":
            return 200, {"Content-Type": "text/html"}, "<html><body>Maintenance page</body></html>"
        if self.mode == "slow":
            self.release.wait(5)
            return 200, {}, {}
        if self.mode == "huge":
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
        well_formed = client_id is not None and re.fullmatch(r"([a-z]{2}-[a-z]+-[0-9]{1,2}#)?[0-9a-f-]{36}", client_id)
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
class FakeKey:
    """A developer key as Canvas holds it, and its binding to the account (On or Off)."""

    secret: str
    redirect_uris: list[str]
    scopes: list[str]
    require_scopes: bool = True
    active: bool = True  # False: deleted or deactivated
    on: bool = True  # the account binding
    codes: set[str] = field(default_factory=set)


class FakeCanvas(FakeServer):
    """``/login/oauth2/auth`` and ``/login/oauth2/token`` with Canvas's checks, in Canvas's order."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.keys: dict[str, FakeKey] = {}

    def add_key(self, client_id: str, key: FakeKey) -> FakeKey:
        self.keys[client_id] = key
        return key

    def answer(self, request: Request):
        if request.path == "/login/oauth2/auth" and request.method == "GET":
            self.served.append(Served("GET", request.path, request.arg("client_id")))
            return self.bad_day() or self.authorize(request)
        if request.path == "/login/oauth2/token" and request.method == "POST":
            form = request.form()
            self.served.append(Served("POST", request.path, form.get("client_id", "")))
            return self.bad_day() or self.token(form)
        return 404, {}, {"errors": [{"message": "The specified resource does not exist."}]}

    def bad_day(self):
        if self.mode == "rate_limit":  # Canvas's throttle answers 403, as text
            return (
                403,
                {"X-Rate-Limit-Remaining": "0", "Content-Type": "text/plain"},
                "403 Forbidden (Rate Limit Exceeded)\n",
            )
        return super().bad_day()

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
        if not key.on:
            return (
                302,
                {
                    "Location": final_redirect(
                        redirect_uri,
                        error="unauthorized_client",
                        state=state,
                        error_description="Client does not have access to the specified Canvas account.",
                    )
                },
                "",
            )
        if request.arg("response_type") != "code":
            return (
                302,
                {
                    "Location": final_redirect(
                        redirect_uri,
                        error="unsupported_response_type",
                        state=state,
                        error_description="Only response_type=code is permitted",
                    )
                },
                "",
            )
        return 302, {"Location": f"{self.url}/login/canvas"}, ""  # nobody is signed in: off to the login page

    def token(self, form: dict):
        key = self.keys.get(form.get("client_id", ""))
        if key is None or not key.active:
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
        if form["code"] not in key.codes:
            return 400, {}, {"error": "invalid_grant", "error_description": "authorization_code not found"}
        return 500, {}, {"error": "not implemented in this fake"}


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
