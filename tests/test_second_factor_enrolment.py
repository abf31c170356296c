"""A password alone never yields a second factor.

- A first set-up needs a one-time link emailed to the account's own address (a day, once,
  audited). Before: any session past the password saw the set-up page.
- Each set-up gets its own key; a key shown to one session is never shown to another. Before: every
  session was shown the one unconfirmed device's key, which its owner later confirmed.
- An unconfirmed key dies with its session (logging out included) and with a reset.
- Wrong codes wait per (account, address) and per address. Before: per device, so a password
  holder could keep the owner waiting.
- Tries refused while waiting are one audit event's count. Before: one audit row each.
"""

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from keys.models import AuditEvent
from portal.signin import second_factor
from portal.signin.models import PendingAuthenticator
from tests.staff_cast import authenticator, open_enrolment_link, signed_in, totp_code
from tests.test_second_factor import code_from_setup_page, password_step, reset_url

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
SETUP = "/admin/two-step/setup/?next=/admin/"
KEY = re.compile(r'id="kd-totp-key"[^>]*>([A-Z2-7 ]+)<')


def shown_key(client) -> str | None:
    match = KEY.search(client.get(SETUP).content.decode())
    return match.group(1) if match else None


def test_a_password_only_session_never_learns_the_key_its_owner_will_use(dana, alice):
    # Before dana enrols, someone holding her password signs in, twice, and opens the set-up page.
    thieves = [Client(), Client()]
    for thief in thieves:
        password_step(thief, "dana", "dana-password-123")
        page = thief.get(SETUP)
        assert page.status_code == 200 and KEY.search(page.content.decode()) is None
        assert "d***@partner.example" in page.content.decode()
    # dana enrols from the link in her own mailbox.
    owner = Client()
    password_step(owner, "dana", "dana-password-123")
    open_enrolment_link(owner)
    html = owner.get(SETUP).content.decode()
    assert owner.post("/admin/two-step/setup/", {"code": code_from_setup_page(html)}).status_code == 200
    assert all(shown_key(thief) is None for thief in thieves)  # nothing shown to them, then or now

    # After a reset the same holds: the password reaches no set-up page, and no key seen before works.
    signed_in(alice).post(reset_url(dana), {"reason": "lost her phone, confirmed by video call"})
    for thief in thieves:
        password_step(thief, "dana", "dana-password-123")
        assert shown_key(thief) is None
    assert not TOTPDevice.objects.filter(user=dana).exists() and not PendingAuthenticator.objects.exists()


def test_each_set_up_gets_its_own_key_and_it_dies_with_its_session(dana):
    first, second = Client(), Client()
    for browser in (first, second):
        password_step(browser, "dana", "dana-password-123")
        open_enrolment_link(browser)
    key_one, key_two = shown_key(first), shown_key(second)
    assert key_one and key_two and key_one != key_two
    assert shown_key(first) == key_one  # the same session keeps its key while it sets up
    assert not TOTPDevice.objects.filter(user=dana).exists()  # no device until a code confirms one
    # A code from the other session's key does not confirm this one.
    html_two = second.get(SETUP).content.decode()
    assert first.post("/admin/two-step/setup/", {"code": code_from_setup_page(html_two)}).status_code == 400
    first.post("/admin/logout/")
    assert PendingAuthenticator.objects.count() == 1  # the first session's key went with it
    assert second.post("/admin/two-step/setup/", {"code": code_from_setup_page(html_two)}).status_code == 200
    assert TOTPDevice.objects.get(user=dana, confirmed=True)
    assert not PendingAuthenticator.objects.exists()


def test_the_enrolment_link_works_once_for_a_day_for_its_own_account_only(dana, bob):
    browser = Client()
    password_step(browser, "dana", "dana-password-123")
    assert browser.post("/admin/two-step/setup/", {"send_link": "1"}).status_code == 302
    assert [message.to for message in mail.outbox] == [["dana@partner.example"]]
    path = re.search(r"/admin/two-step/enrol/\S+/", mail.outbox[0].body).group(0)
    token = path.split("/")[-2]
    assert not AuditEvent.objects.filter(detail__contains=token).exists()

    # A mail scanner (signed out) does not spend it; another account cannot use it.
    assert Client().get(path)["Location"].startswith("/admin/login/")
    other = Client()
    password_step(other, "bob", "bob-password-123")
    assert other.get(path).status_code == 400
    # A day later it has expired.
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1, seconds=1)):
        late = Client()
        password_step(late, "dana", "dana-password-123")
        assert late.get(path).status_code == 400 and shown_key(late) is None
    assert browser.get(path)["Location"].startswith("/admin/two-step/setup/")
    assert shown_key(browser)
    again = Client()
    password_step(again, "dana", "dana-password-123")
    assert again.get(path).status_code == 400 and shown_key(again) is None  # used
    details = list(
        AuditEvent.objects.filter(action=Action.ENROLMENT_LINK, actor="dana")
        .order_by("pk")
        .values_list("detail", flat=True)
    )
    assert details == [
        "emailed to d***@partner.example; valid a day, once",
        "opened: this session may set up an authenticator",
    ]


def test_replacing_an_authenticator_needs_the_current_one_not_a_link(dana):
    old = authenticator(dana)
    client = signed_in(dana)
    html = client.get("/admin/two-step/setup/?replace=1").content.decode()
    assert (
        client.post("/admin/two-step/setup/", {"code": code_from_setup_page(html), "replace": "1"}).status_code == 200
    )
    assert not mail.outbox and not TOTPDevice.objects.filter(pk=old.pk).exists()


# Wrong codes: per (account, address) and per address --------------------------------------------

THIEF, OWNER = "198.51.100.66", "203.0.113.7"


def code_step(ip):
    client = Client(REMOTE_ADDR=ip)
    password_step(client, "dana", "dana-password-123")
    return client


def test_a_password_holder_elsewhere_cannot_keep_the_owner_waiting(dana):
    device = authenticator(dana)
    thief, owner = code_step(THIEF), code_step(OWNER)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert thief.post("/admin/two-step/", {"code": "000001"}).status_code == 400
        assert thief.post("/admin/two-step/", {"code": "000002"}).status_code == 429
        response = owner.post("/admin/two-step/", {"code": totp_code(device, steps_ahead=1), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_tries_refused_while_waiting_are_one_event_with_a_count(dana):
    authenticator(dana)
    thief = code_step(THIEF)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert thief.post("/admin/two-step/", {"code": "000001"}).status_code == 400
        assert [thief.post("/admin/two-step/", {"code": "000002"}).status_code for _ in range(10)] == [429] * 10
    with time_machine.travel(now + datetime.timedelta(seconds=2), tick=False):
        assert thief.post("/admin/two-step/", {"code": "000003"}).status_code == 400
    details = list(
        AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED, actor="dana")
        .order_by("pk")
        .values_list("detail", flat=True)
    )
    assert details == [
        "second factor: wrong code",
        "second factor: wrong code (10 tries from this address refused while waiting, before this)",
    ]


def test_wrong_codes_from_one_address_across_accounts_wait_too(django_user_model):
    """Passwords of many accounts (a leaked list) do not buy a fresh wait each."""
    users = [
        django_user_model.objects.create_user(
            f"staff{i}", f"s{i}@partner.example", f"staff{i}-password-123", is_staff=True
        )
        for i in range(second_factor.ADDRESS_FREE_FAILURES + 2)
    ]
    clients = []
    for user in users:
        authenticator(user)
        client = Client(REMOTE_ADDR=THIEF)
        password_step(client, user.username, f"{user.username}-password-123")
        clients.append(client)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        statuses = [client.post("/admin/two-step/", {"code": "000001"}).status_code for client in clients]
    assert statuses == [400] * (second_factor.ADDRESS_FREE_FAILURES + 1) + [429]
    elsewhere = Client(REMOTE_ADDR=OWNER)
    password_step(elsewhere, users[-1].username, f"{users[-1].username}-password-123")
    with time_machine.travel(now, tick=False):
        assert (
            elsewhere.post("/admin/two-step/", {"code": totp_code(users[-1].totpdevice_set.get())}).status_code == 302
        )
