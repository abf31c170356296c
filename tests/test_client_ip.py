"""The client's address behind proxies: one function, and everything that records an address uses it.

PORTAL_TRUSTED_PROXIES lists the proxies. When the socket's peer is one of them, the client is the
right-most X-Forwarded-For address that is not itself trusted; anything further left was written
by the client. A peer that is not trusted gets no say. Behind one forwarding proxy, before this,
every visitor had the proxy's address: five failed sign-ins by anyone locked out every staff
member, and the per-address intake limit was one limit for all customers.
"""

import pytest
from django.test import Client, RequestFactory

from intake.models import Verification
from keys.models import AuditEvent
from portal.client import client_ip, parse_networks
from tests.flows import submit
from tests.staff_cast import SECRET, signed_in

PROXY = "10.0.0.5"  # nginx, as the app sees it
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def behind_proxy(settings):
    settings.PORTAL_TRUSTED_PROXIES = parse_networks([PROXY, "10.1.0.0/16"])


def via_proxy(client_address: str, forged: str = "") -> Client:
    """A browser at client_address, through nginx ($proxy_add_x_forwarded_for appends what it saw)."""
    chain = f"{forged}, {client_address}" if forged else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)


def resolve(remote_addr: str, forwarded_for: str | None = None) -> str | None:
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client_ip(RequestFactory().get("/", **headers))


def test_without_trusted_proxies_the_socket_peer_is_the_client_and_the_header_is_ignored():
    assert resolve("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(behind_proxy):
    assert resolve("203.0.113.9", "198.51.100.1, 10.0.0.5") == "203.0.113.9"


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(behind_proxy):
    assert resolve(PROXY, "198.51.100.1") == "198.51.100.1"
    # A forged address written by the client sits left of the one the proxy appended.
    assert resolve(PROXY, "192.0.2.66, 198.51.100.1") == "198.51.100.1"
    # A load balancer (trusted) in front of nginx: skip it too.
    assert resolve(PROXY, "192.0.2.66, 198.51.100.1, 10.1.4.4") == "198.51.100.1"


def test_ports_brackets_and_ipv4_mapped_addresses_are_understood(behind_proxy):
    assert resolve(PROXY, "198.51.100.1:4711") == "198.51.100.1"
    assert resolve(PROXY, "[2001:db8::7]:443") == "2001:db8::7"
    assert resolve(PROXY, "2001:db8::7") == "2001:db8::7"
    assert resolve("::ffff:10.0.0.5", "198.51.100.1") == "198.51.100.1"


def test_garbage_where_a_proxy_should_have_written_an_address_stops_at_the_last_good_one(behind_proxy):
    assert resolve(PROXY, "198.51.100.1, not-an-address") == PROXY
    assert resolve(PROXY, "") == PROXY
    assert resolve(PROXY, "10.1.2.3") == "10.1.2.3"  # only trusted hops: the left-most is the client


def test_a_typo_in_the_trusted_proxies_stops_the_start():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="10.0.0.0/33"):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.django_db
def test_each_customer_behind_the_proxy_has_their_own_submission_limit_and_address(behind_proxy, institution, settings):
    settings.PORTAL_SUBMISSIONS_PER_IP_PER_HOUR = 2
    first, second = via_proxy("198.51.100.1", forged="192.0.2.99"), via_proxy("198.51.100.2")
    assert [submit(first, institution)[0].status_code for _ in range(3)] == [302, 302, 429]
    response, verification = submit(second, institution)
    assert response.status_code == 302  # not the first customer's limit
    assert verification.submitter_ip == "198.51.100.2"
    assert set(Verification.objects.values_list("submitter_ip", flat=True)) == {"198.51.100.1", "198.51.100.2"}


@pytest.mark.django_db
def test_failed_sign_ins_from_one_address_lock_that_address_not_every_staff_member(behind_proxy, alice, settings):
    attacker = via_proxy("203.0.113.66")
    statuses = [
        attacker.post(LOGIN, {"username": "alice", "password": "guess"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    # The attacker's address is locked for alice, even with the right password...
    assert attacker.post(LOGIN, {"username": "alice", "password": "alice-password-123"}).status_code == 429
    # ...while alice, from her own address through the same proxy, is not: behind the proxy the
    # lock was on the proxy's address, and so on everyone.
    response = via_proxy("198.51.100.7").post(LOGIN, {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/")


@pytest.mark.django_db
def test_an_audit_event_records_the_staff_members_address_not_the_proxys(behind_proxy, dana, credential):
    staff = signed_in(dana, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7")
    response = staff.post(f"/admin/keys/credential/{credential.pk}/reveal/", {"reason": "checking the nightly sync"})
    assert response.status_code == 200 and SECRET.encode() in response.content
    assert AuditEvent.objects.get(action="reveal").ip == "198.51.100.7"
