"""The one way Keydrop talks to Canvas and Instructure: every request a check, a grant or an export
makes goes through here. (The only other outbound client is staff single sign-on's, to the identity
provider the operator configured: an address no customer can choose.)

A customer types the Canvas address that a check calls, so every check is a server-side request
to an address a stranger chose. The rules, each enforced here and tested in tests/test_outbound.py:

- https only. Plain http only with PORTAL_OUTBOUND_ALLOW_PRIVATE=1 (tests and local fakes), and
  then only to a loopback address; that setting is a system check error in production.
- The name is resolved here and every address is judged before a connection is opened; the
  connection goes to an address that passed, while TLS (SNI, certificate) and the Host header
  keep the name. The address the socket actually connected to is judged again. There is no
  second lookup, so a DNS answer that changes between check and connect (rebinding) gains nothing.
- Refused: loopback, private, link-local, shared, reserved, multicast and every other address
  that is not globally routable, including IPv4 addresses carried inside IPv6 (mapped, 6to4,
  NAT64, Teredo).
- Redirects are answers, never followed. No proxy from the environment, no cookies kept.
- Short connect and read timeouts, an overall deadline, and a cap on the size of an answer.

Nothing here logs a URL's query, a header or a body: callers log what they mean.
"""

import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core import checks

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOOPBACK_NAMES = {"localhost", "localhost."}
MAX_ADDRESSES_TRIED = 3  # of a name's addresses, in the resolver's order
USER_AGENT = "Keydrop credential check"


class OutboundError(Exception):
    """No usable answer. The message is for people: it never holds a URL's query or a secret."""


class Refused(OutboundError):
    """The destination is not allowed: nothing was sent to it."""


class NoSuchHost(OutboundError):
    """The name does not exist in DNS."""


class Unreachable(OutboundError):
    """Timeout, connection or TLS failure, an answer too large or not HTTP: try again later."""


class LookupFailing(Unreachable):
    """Keydrop's own resolver fails: it cannot tell whether a name exists, so nobody is blamed."""


# Names that always exist: when none of them resolves either, a "no such name" is our resolver's
# failure, not the customer's typo.
WELL_KNOWN_NAMES = ("canvas.instructure.com", "api-gateway.instructure.com")


# Which addresses may be called ---------------------------------------------------------------


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast, and so is any IPv4 address it carries."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        if not is_public(inner):
            return False
        if ip.ipv4_mapped or ip in NAT64:
            return True  # these two are the IPv4 address itself, judged above
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def is_loopback(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip)
    return ip.is_loopback or (inner is not None and inner.is_loopback)


@dataclass(frozen=True)
class Policy:
    allow_private: bool  # PORTAL_OUTBOUND_ALLOW_PRIVATE: loopback too, and plain http to it

    @classmethod
    def from_settings(cls) -> "Policy":
        return cls(allow_private=bool(getattr(settings, "PORTAL_OUTBOUND_ALLOW_PRIVATE", False)))

    def permits(self, ip: IPAddress) -> bool:
        return is_public(ip) or (self.allow_private and is_loopback(ip))

    def url_problem(self, url: str) -> str | None:
        """Why this URL may not be called, judged without DNS; None if it may (so far)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return "it is not a valid web address"
        host = parsed.host
        if not host:
            return "it has no host name"
        if parsed.userinfo:
            return "it contains a user name or password"
        literal = _ip_literal(host)
        loopback_host = host.lower() in LOOPBACK_NAMES or (literal is not None and is_loopback(literal))
        if parsed.scheme == "http":
            if not (self.allow_private and loopback_host):
                return "it is not an https address"
        elif parsed.scheme != "https":
            return "it is not an https address"
        if literal is not None and not self.permits(literal):
            return "it is not a public address"
        if host.lower() in LOOPBACK_NAMES and not self.allow_private:
            return "it is not a public address"
        return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of a name, in the resolver's order, without duplicates.

    NoSuchHost only when the resolver works (Instructure's well-known names resolve): a resolver
    that answers "not found" for every name is Keydrop's own network failing (LookupFailing).
    """
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno not in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise Unreachable(f"{host} could not be looked up just now") from None
        if not lookups_work():
            raise LookupFailing(f"our own name lookups are failing ({host} could not be looked up)") from None
        raise NoSuchHost(f"{host} does not exist in DNS") from None
    except UnicodeError:
        raise Refused("the host name is not valid") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def lookups_work() -> bool:
    """Whether this machine's resolver answers at all: one of the well-known names resolves."""
    for name in WELL_KNOWN_NAMES:
        try:
            socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        return True
    return False


def address_problem(host: str) -> str | None:
    """Why nothing at this name can be called, judged by DNS: "missing" (the name does not exist,
    and our resolver works) or "private" (no address may be called); None if it may be, or if
    our own lookups cannot tell (then the check, not a form, says so)."""
    policy = Policy.from_settings()
    try:
        addresses = resolve(host, 443)
    except NoSuchHost:
        return "missing"
    except OutboundError:
        return None
    return None if any(policy.permits(ip) for ip in addresses) else "private"


# The connection-level guard --------------------------------------------------------------------


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the session's deadline. Timeouts apply per
    read, so without this a server sending its headers a line at a time could hold a check for as
    long as it liked."""

    def __init__(self, stream: httpcore.NetworkStream, ends_at: float):
        self.stream, self.ends_at = stream, ends_at

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.ends_at - time.monotonic()
        if left <= 0:
            raise error("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> "DeadlineStream":
        upgraded = self.stream.start_tls(ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(upgraded, self.ends_at)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses the policy permits, resolving names itself, each
    bound to the session's deadline."""

    def __init__(self, policy: Policy, ends_at: float):
        self.policy, self.ends_at = policy, ends_at

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = resolve(host, port)
        permitted = [ip for ip in addresses if self.policy.permits(ip)]
        if not permitted:
            raise Refused(f"{host} is not a public address")
        last_error: Exception | None = None
        for ip in permitted[:MAX_ADDRESSES_TRIED]:
            try:
                stream = super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            peer = ipaddress.ip_address(stream.get_extra_info("server_addr")[0].split("%", 1)[0])
            if not self.policy.permits(peer):  # whatever routed us here, this is where we are
                stream.close()
                raise Refused(f"{host} connected to an address that is not public")
            return DeadlineStream(stream, self.ends_at)
        raise last_error  # type: ignore[misc]


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with the guarded backend underneath (httpx 0.28 takes no backend
    argument, so its connection pool is replaced with one that has it; pinned, and tested)."""

    def __init__(self, policy: Policy, ssl_context: ssl.SSLContext, ends_at: float):
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            max_keepalive_connections=2,
            keepalive_expiry=5.0,
            retries=0,
            network_backend=GuardedBackend(policy, ends_at),
        )


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle; one per process is enough.
    return httpx.create_ssl_context(verify=True, trust_env=False)


def ssl_context() -> ssl.SSLContext:
    return default_ssl_context()


# Answers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a server said: status, headers and at most PORTAL_OUTBOUND_MAX_RESPONSE_BYTES of body."""

    status: int
    headers: httpx.Headers
    body: bytes
    elapsed_ms: int

    def json(self) -> Any | None:
        """The body as JSON, or None if it is not JSON (an HTML error page, a proxy's answer…)."""
        if "json" not in self.headers.get("content-type", "").lower():
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400


class Session:
    """A few requests under one deadline, sharing connections. Use as a context manager.

    ``deadline`` is the most time, in seconds, all of the session's requests may take together:
    a receipt waits for a check only as long as a person will.
    """

    def __init__(self, *, deadline: float | None = None, policy: Policy | None = None):
        self.policy = policy or Policy.from_settings()
        self.connect_timeout = settings.PORTAL_OUTBOUND_CONNECT_TIMEOUT
        self.read_timeout = settings.PORTAL_OUTBOUND_READ_TIMEOUT
        self.max_bytes = settings.PORTAL_OUTBOUND_MAX_RESPONSE_BYTES
        self.ends_at = time.monotonic() + (deadline if deadline is not None else settings.PORTAL_OUTBOUND_DEADLINE)
        self.client = httpx.Client(
            transport=GuardedTransport(self.policy, ssl_context(), self.ends_at),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.close()

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None) -> Answer:
        return self.request("GET", url, params=params, headers=headers)

    def post(self, url: str, *, data: dict | None = None, auth=None, headers: dict | None = None) -> Answer:
        return self.request("POST", url, data=data, auth=auth, headers=headers)

    def request(self, method: str, url: str, **kwargs) -> Answer:
        problem = self.policy.url_problem(url)
        if problem:
            raise Refused(f"Keydrop does not call that address: {problem}")
        remaining = self.ends_at - time.monotonic()
        if remaining <= 0:
            raise Unreachable("no time was left for this request")
        timeout = httpx.Timeout(
            connect=min(self.connect_timeout, remaining),
            read=min(self.read_timeout, remaining),
            write=min(self.read_timeout, remaining),
            pool=min(self.connect_timeout, remaining),
        )
        started = time.monotonic()
        try:
            with self.client.stream(method, url, timeout=timeout, **kwargs) as response:
                body = self._read_capped(response)
        except httpx.TimeoutException:
            raise Unreachable("the server did not answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"the connection failed ({type(exc).__name__})") from None
        except httpx.InvalidURL:
            raise Refused("Keydrop does not call that address: it is not a valid web address") from None
        return Answer(response.status_code, response.headers, body, int((time.monotonic() - started) * 1000))

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise Unreachable("the answer was larger than Keydrop reads")
        chunks, size = [], 0
        for chunk in response.iter_bytes():  # decoded, so a compressed bomb is capped too
            size += len(chunk)
            if size > self.max_bytes:
                raise Unreachable("the answer was larger than Keydrop reads")
            if time.monotonic() > self.ends_at:
                raise Unreachable("the server did not answer in time")
            chunks.append(chunk)
        return b"".join(chunks)


# System checks ---------------------------------------------------------------------------------


@checks.register("keydrop")
def check_outbound_settings(app_configs, **kwargs):
    errors = []
    if settings.PORTAL_OUTBOUND_ALLOW_PRIVATE and not settings.DEBUG:
        errors.append(
            checks.Error(
                "PORTAL_OUTBOUND_ALLOW_PRIVATE is on in production.",
                hint="It lets checks call loopback over plain http, for tests and local fakes only. Unset it.",
                id="keydrop.E031",
            )
        )
    problem = Policy.from_settings().url_problem(settings.PORTAL_DAP_API_URL)
    if problem:
        errors.append(
            checks.Error(
                f"PORTAL_DAP_API_URL cannot be called: {problem}.",
                hint="It is Instructure's gateway, https://api-gateway.instructure.com, unless Instructure says so.",
                id="keydrop.E032",
            )
        )
    return errors
