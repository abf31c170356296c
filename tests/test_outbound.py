"""The one outbound client: every check is a request to an address a stranger typed.

| destination (production mode)                         | what happens                              |
|--------------------------------------------------------|-------------------------------------------|
| loopback 127.0.0.1, IPv6 loopback [::1]               | refused, nothing sent                     |
| private 10.0.0.0/8, link-local 169.254.0.0/16 (cloud metadata) | refused, nothing sent            |
| IPv4 loopback inside IPv6 (mapped, NAT64, 6to4)       | refused, nothing sent                     |
| a name that resolves to loopback                      | refused before connecting                 |
| a connection that lands on a non-public address       | refused after connecting, before sending  |
| a redirect (even to loopback)                         | returned as an answer, never followed     |
| plain http anywhere                                   | refused                                   |
| PORTAL_OUTBOUND_ALLOW_PRIVATE=1                       | plain http to loopback only; an error in production |

No test here connects anywhere but loopback: conftest.py fails any test that tries.
"""

import ipaddress
import socket
import ssl
import threading

import httpcore
import pytest
import trustme
from django.core import checks

from keys.instructure import outbound
from tests.fakes import FakeServer

PRODUCTION = outbound.Policy(allow_private=False)
LOCAL = outbound.Policy(allow_private=True)


class Routes(FakeServer):
    """Answers each path from a table, and records the Host header it was asked with."""

    def __init__(self, routes: dict, **kwargs):
        super().__init__(**kwargs)
        self.routes, self.hosts = routes, []

    def answer(self, request):
        self.hosts.append(request.headers.get("Host"))
        self.served.append(request.path)
        return self.routes.get(request.path, (404, {}, {"error": "no such route"}))


@pytest.fixture
def server():
    fake = Routes({"/ok": (200, {}, {"ok": True})}).start()
    yield fake
    fake.stop()


@pytest.fixture
def tls_canvas(fake_dns, monkeypatch):
    """canvas.example.edu over real TLS on loopback, treated as a public address for the test,
    with its certificate issued by a CA that only this test trusts."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("canvas.example.edu").configure_cert(server_context)
    target = Routes({"/secret-place": (200, {}, {"reached": True})}).start()
    fake = Routes(
        {
            "/ok": (200, {}, {"ok": True}),
            "/bounce": (302, {"Location": f"{target.url}/secret-place"}, ""),
        },
        tls_context=server_context,
    ).start()
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    monkeypatch.setattr(outbound, "ssl_context", lambda: client_context)
    fake_dns["canvas.example.edu"] = "127.0.0.1"
    real_is_public = outbound.is_public
    monkeypatch.setattr(outbound, "is_public", lambda ip: ip == ipaddress.ip_address("127.0.0.1") or real_is_public(ip))
    yield fake, target
    fake.stop()
    target.stop()


def get(url, policy=PRODUCTION, **kwargs):
    with outbound.Session(policy=policy, **kwargs) as http:
        return http.get(url)


# Which addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "::ffff:10.0.0.1",
        "192.0.2.10",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not PRODUCTION.permits(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_permitted(address):
    assert PRODUCTION.permits(ipaddress.ip_address(address))


def test_loopback_is_permitted_only_with_allow_private():
    assert LOCAL.permits(ipaddress.ip_address("127.0.0.1")) and LOCAL.permits(ipaddress.ip_address("::1"))
    assert not LOCAL.permits(ipaddress.ip_address("10.0.0.1")), "allow-private means loopback, not every private net"


# The SSRF table, in production mode ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost/",
    ],
)
def test_private_destinations_are_refused_before_anything_is_sent(url, settings):
    with pytest.raises(outbound.Refused):
        get(url)


def test_a_name_resolving_to_loopback_is_refused_before_connecting(server, fake_dns, monkeypatch):
    fake_dns["canvas.evil.example"] = "127.0.0.1"
    attempts = []
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", lambda *args, **kwargs: attempts.append(args))
    with pytest.raises(outbound.Refused, match="not a public address"):
        get(f"https://canvas.evil.example:{server.port}/ok")
    assert attempts == [] and server.served == []


def test_the_address_actually_connected_to_is_judged_too(server, monkeypatch):
    """A transparent proxy or a routing trick: the resolved address passed, the peer does not."""
    real_connect = httpcore.SyncBackend.connect_tcp
    streams = []

    class Elsewhere:
        def __init__(self, stream):
            self.stream = stream
            self.closed = False

        def get_extra_info(self, info):
            return ("10.9.8.7", 443) if info == "server_addr" else self.stream.get_extra_info(info)

        def close(self):
            self.closed = True
            self.stream.close()

    def connect_elsewhere(self, host, port, *args, **kwargs):
        streams.append(Elsewhere(real_connect(self, host, port, *args, **kwargs)))
        return streams[-1]

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_elsewhere)
    with pytest.raises(outbound.Refused, match="connected to an address that is not public"):
        get(f"{server.url}/ok", policy=LOCAL)
    assert streams[0].closed and server.served == []


def test_plain_http_is_refused_in_production_even_to_loopback(server):
    with pytest.raises(outbound.Refused, match="not an https address"):
        get(f"{server.url}/ok")
    assert server.served == []


def test_allow_private_permits_plain_http_to_loopback_only(server, fake_dns):
    assert get(f"{server.url}/ok", policy=LOCAL).json() == {"ok": True}
    fake_dns["public.example"] = "127.0.0.1"
    with pytest.raises(outbound.Refused, match="not an https address"):
        get(f"http://public.example:{server.port}/ok", policy=LOCAL)


def test_tls_keeps_the_name_while_connecting_to_the_checked_address(tls_canvas):
    fake, _ = tls_canvas
    answer = get(f"https://canvas.example.edu:{fake.port}/ok")
    assert answer.status == 200 and answer.json() == {"ok": True}
    assert fake.hosts == [f"canvas.example.edu:{fake.port}"]  # Host header, and the certificate's name (SNI)


def test_a_redirect_is_an_answer_and_is_never_followed(tls_canvas):
    fake, target = tls_canvas
    answer = get(f"https://canvas.example.edu:{fake.port}/bounce")
    assert answer.status == 302 and answer.location.endswith("/secret-place")
    assert target.served == []


def test_a_certificate_for_another_name_is_refused(tls_canvas, fake_dns):
    fake, _ = tls_canvas
    fake_dns["other.example.edu"] = "127.0.0.1"
    with pytest.raises(outbound.Unreachable):
        get(f"https://other.example.edu:{fake.port}/ok")
    assert fake.served == []


def test_proxies_from_the_environment_are_ignored(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert get(f"{server.url}/ok", policy=LOCAL).status == 200


@pytest.mark.parametrize(
    "error, raised",
    [(socket.EAI_NONAME, outbound.NoSuchHost), (socket.EAI_AGAIN, outbound.Unreachable)],
)
def test_a_name_that_does_not_exist_is_told_apart_from_a_lookup_that_failed(monkeypatch, error, raised):
    def getaddrinfo(host, *args, **kwargs):
        if host in outbound.WELL_KNOWN_NAMES:  # our resolver works
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("151.101.1.1", 443))]
        raise socket.gaierror(error, "lookup")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(raised):
        outbound.resolve.real("canvas.example.edu", 443)


def test_a_resolver_that_finds_no_name_at_all_is_our_failure_not_a_missing_name(resolver):
    with pytest.raises(outbound.LookupFailing) as failing:
        outbound.resolve("demo.instructure.com", 443)
    assert not isinstance(failing.value, outbound.NoSuchHost)
    assert "our own name lookups are failing" in str(failing.value)
    assert outbound.address_problem("demo.instructure.com") is None  # cannot tell: nobody is blamed


def test_with_a_working_resolver_a_missing_name_is_missing_and_a_private_one_private(resolver):
    resolver.update(dict.fromkeys(outbound.WELL_KNOWN_NAMES, "151.101.1.1"))
    resolver["intranet.example.edu"] = "10.1.2.3"
    assert outbound.address_problem("no-such-canvas.example.edu") == "missing"
    assert outbound.address_problem("intranet.example.edu") == "private"
    assert outbound.address_problem("canvas.instructure.com") is None


def test_every_address_of_a_name_is_returned_once_in_order(monkeypatch):
    answers = [(socket.AF_INET6, 1, 6, "", ("2001:db8::1", 443, 0, 0)), (socket.AF_INET, 1, 6, "", ("192.0.2.7", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers + answers)
    found = outbound.resolve.real("canvas.example.edu", 443)
    assert [str(ip) for ip in found] == ["2001:db8::1", "192.0.2.7"]


# Limits ----------------------------------------------------------------------------------------


def test_an_answer_over_the_size_cap_is_refused(settings):
    settings.PORTAL_OUTBOUND_MAX_RESPONSE_BYTES = 1000
    fake = Routes({"/big": (200, {"Content-Type": "application/json"}, b"[" + b"1," * 1000 + b"1]")}).start()
    try:
        with pytest.raises(outbound.Unreachable, match="larger than Keydrop reads"):
            get(f"{fake.url}/big", policy=LOCAL)
    finally:
        fake.stop()


def test_a_slow_server_times_out(settings):
    settings.PORTAL_OUTBOUND_READ_TIMEOUT = 0.2
    fake = Routes({}).start()
    fake.mode = "slow"
    fake.answer = lambda request: fake.bad_day()
    try:
        with pytest.raises(outbound.Unreachable, match="did not answer in time"):
            get(f"{fake.url}/slow", policy=LOCAL)
    finally:
        fake.stop()


def test_a_session_stops_at_its_deadline(server):
    with (
        outbound.Session(policy=LOCAL, deadline=0) as http,
        pytest.raises(outbound.Unreachable, match="no time was left"),
    ):
        http.get(f"{server.url}/ok")
    assert server.served == []


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(settings):
    """Each header line comes well within the read timeout, and the last one only after 20 s: the
    read timeout alone never fires, so only the session's deadline (0.3 s) can end the request."""
    finished = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for number in range(400):
                    if finished.wait(0.05):
                        return
                    connection.sendall(f"X-Line-{number}: slow\r\n".encode())
                connection.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the client hung up: what the test wants
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        with (
            outbound.Session(policy=LOCAL, deadline=0.3) as http,
            pytest.raises(outbound.Unreachable, match="did not answer in time"),
        ):
            http.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        assert thread.is_alive()  # the server was still sending its headers when Keydrop gave up
    finally:
        finished.set()
        listener.close()


def test_a_non_json_answer_reads_as_none(server):
    server.routes["/page"] = (200, {"Content-Type": "text/html"}, "<html>{}</html>")
    assert get(f"{server.url}/page", policy=LOCAL).json() is None


# Settings ----------------------------------------------------------------------------------------


def run_outbound_checks():
    return [message.id for message in outbound.check_outbound_settings(None)]


def test_allow_private_is_a_system_check_error_in_production(settings):
    settings.DEBUG, settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = False, True
    assert "keydrop.E031" in run_outbound_checks()
    assert any(m.id == "keydrop.E031" and m.level == checks.ERROR for m in checks.run_checks(tags=["keydrop"]))


def test_allow_private_is_fine_on_a_local_install(settings):
    settings.DEBUG, settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True, True
    assert run_outbound_checks() == []


def test_a_dap_address_that_cannot_be_called_is_a_system_check_error(settings):
    settings.DEBUG, settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = False, False
    settings.PORTAL_DAP_API_URL = "http://10.0.0.5"
    assert run_outbound_checks() == ["keydrop.E032"]
    settings.PORTAL_DAP_API_URL = "https://api-gateway.instructure.com"
    assert run_outbound_checks() == []
