"""The second factor of staff sign-in (TOTP with one-time recovery codes, on django-otp).

| who | second factor |
| --- | --- |
| superusers; reveal, revoke, complete, export, user/group add/change | required: no workspace page until passed |
| other staff | optional; once set up, asked at every sign-in |
| revealing a secret | a check at most 15 minutes old, asked again otherwise |
| lost phone | another administrator resets it (with a reason, audited); never oneself |
"""

import base64
import datetime
import re

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from keys.models import AuditEvent
from portal.signin import second_factor
from tests.staff_cast import SECRET, authenticator, open_enrolment_link, sign_in_with_code, signed_in, totp_code

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
Action = AuditEvent.Action


def password_step(client, username, password):
    response = client.post(LOGIN, {"username": username, "password": password})
    assert response.status_code == 302
    return response["Location"]


def code_from_setup_page(html: str, steps_ahead: int = 0) -> str:
    """What an authenticator app would show, computed from the key the page shows."""
    key = re.search(r'id="kd-totp-key"[^>]*>([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    return f"{TOTP(base64.b32decode(key), drift=steps_ahead).token():06d}"


def reveal_url(credential):
    return f"/admin/keys/credential/{credential.pk}/reveal/"


def test_a_revealer_without_a_second_factor_sets_one_up_before_anything_else(dana):
    client = Client()
    assert password_step(client, "dana", "dana-password-123") == "/admin/two-step/?next=%2Fadmin%2F"
    assert client.get("/admin/two-step/?next=/admin/")["Location"].startswith("/admin/two-step/setup/")
    # Until then the workspace is closed to the session, though the password was right.
    for url in ["/admin/", "/admin/keys/credential/", "/admin/keys/auditevent/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith("/admin/two-step/")


def test_setting_up_shows_a_key_and_recovery_codes_once(dana):
    client = Client()
    password_step(client, "dana", "dana-password-123")
    open_enrolment_link(client)
    page = client.get("/admin/two-step/setup/?next=/admin/")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "data:image/svg+xml" in html  # the QR code, drawn on the page
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        wrong = client.post(
            "/admin/two-step/setup/", {"code": "000000" if code_from_setup_page(html) != "000000" else "111111"}
        )
        assert wrong.status_code == 400 and not second_factor.has_authenticator(dana)
        assert (
            client.post("/admin/two-step/setup/", {"code": code_from_setup_page(html)}).status_code == 429
        )  # wait a second
    with time_machine.travel(now + datetime.timedelta(seconds=2), tick=False):
        done = client.post("/admin/two-step/setup/", {"code": code_from_setup_page(html), "next": "/admin/"})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert client.get("/admin/").status_code == 200
    assert second_factor.has_authenticator(dana)
    # Shown once: the status page says how many are left, never which.
    status = client.get("/admin/two-step/setup/").content.decode()
    assert "10 unused recovery codes" in status and not any(code in status for code in codes)
    assert AuditEvent.objects.filter(action=Action.SECOND_FACTOR_ENROLLED, actor="dana").exists()


def test_a_set_up_factor_is_asked_for_at_every_sign_in(dana):
    device = authenticator(dana)
    client = Client()
    assert password_step(client, "dana", "dana-password-123").startswith("/admin/two-step/")
    assert client.post("/admin/two-step/", {"code": "12345x"}).status_code == 400
    assert client.get("/admin/").status_code == 302
    response = client.post(
        "/admin/two-step/?next=/admin/", {"code": totp_code(device, steps_ahead=1), "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action=Action.SECOND_FACTOR, actor="dana").exists()
    assert AuditEvent.objects.filter(
        action=Action.SIGN_IN_FAILED, actor="dana", detail__contains="second factor"
    ).exists()


def test_a_code_works_once(dana):
    device = authenticator(dana)
    code = totp_code(device)
    first, second = Client(), Client()
    password_step(first, "dana", "dana-password-123")
    password_step(second, "dana", "dana-password-123")
    assert first.post("/admin/two-step/", {"code": code}).status_code == 302
    assert second.post("/admin/two-step/", {"code": code}).status_code == 400


def test_a_recovery_code_works_once(dana):
    authenticator(dana)
    code = second_factor.replace_recovery_codes(dana)[0]
    client = Client()
    password_step(client, "dana", "dana-password-123")
    assert client.post("/admin/two-step/", {"code": code.upper()}).status_code == 302
    again = Client()
    password_step(again, "dana", "dana-password-123")
    assert again.post("/admin/two-step/", {"code": code}).status_code == 400
    assert StaticToken.objects.filter(device__user=dana).count() == 9


def test_wrong_codes_in_a_row_make_the_next_try_wait(dana):
    authenticator(dana)
    client = Client()
    password_step(client, "dana", "dana-password-123")
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert client.post("/admin/two-step/", {"code": "000001"}).status_code in (400,)
        throttled = client.post("/admin/two-step/", {"code": "000002"})
        assert throttled.status_code == 429 and "Wait" in throttled.content.decode()


def test_an_exporter_needs_one_like_a_revealer(exporter):
    assert second_factor.required_for(exporter)
    client = Client()
    assert password_step(client, "bob", "bob-password-123") == "/admin/two-step/?next=%2Fadmin%2F"
    assert client.get("/admin/two-step/?next=/admin/")["Location"].startswith("/admin/two-step/setup/")
    assert client.get("/admin/keys/institution/export.csv")["Location"].startswith("/admin/login/")


def test_staff_who_need_none_go_straight_in_and_may_set_one_up(bob):
    client = Client()
    assert password_step(client, "bob", "bob-password-123") == "/admin/"
    assert client.get("/admin/").status_code == 200
    open_enrolment_link(client)
    html = client.get("/admin/two-step/setup/").content.decode()
    assert client.post("/admin/two-step/setup/", {"code": code_from_setup_page(html)}).status_code == 200
    # From now on bob is asked for it too.
    later = Client()
    assert password_step(later, "bob", "bob-password-123").startswith("/admin/two-step/")
    assert later.get("/admin/").status_code == 302


def test_a_permission_granted_later_requires_a_factor_at_the_next_request(bob):
    client = signed_in(bob)
    assert client.get("/admin/").status_code == 200
    bob.user_permissions.add(Permission.objects.get(codename="reveal_credential_secret"))
    response = client.get("/admin/")
    assert response.status_code == 302


def test_replacing_the_factor_needs_the_current_one(dana):
    authenticator(dana)
    client = Client()
    password_step(client, "dana", "dana-password-123")
    response = client.get("/admin/two-step/setup/?replace=1")
    assert response.status_code == 302 and response["Location"].startswith("/admin/two-step/?")
    assert client.post("/admin/two-step/setup/", {"code": "123456", "replace": "1"}).status_code == 302
    assert TOTPDevice.objects.filter(user=dana).count() == 1


def test_moving_to_a_new_phone_replaces_the_old_authenticator(dana):
    old = authenticator(dana)
    client = signed_in(dana)
    html = client.get("/admin/two-step/setup/?replace=1").content.decode()
    assert (
        client.post("/admin/two-step/setup/", {"code": code_from_setup_page(html), "replace": "1"}).status_code == 200
    )
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert TOTPDevice.objects.filter(user=dana, confirmed=True).count() == 1


def test_new_recovery_codes_void_the_old_ones(dana):
    authenticator(dana)
    old = second_factor.replace_recovery_codes(dana)
    client = signed_in(dana)
    page = client.post("/admin/two-step/recovery-codes/")
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=dana).values_list("token", flat=True)) == set(new)
    assert AuditEvent.objects.filter(action=Action.RECOVERY_CODES, actor="dana").exists()


# Revealing needs a recent check ------------------------------------------------------------------


def test_a_revealer_who_has_not_passed_the_factor_cannot_reveal(dana, credential):
    client = signed_in(dana, verified=False)
    response = client.post(reveal_url(credential), {"reason": "checking a failing export"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not AuditEvent.objects.filter(action=Action.REVEAL).exists()


def test_revealing_asks_again_after_fifteen_minutes(dana, credential):
    device = authenticator(dana)
    client = signed_in(dana)
    later = timezone.now() + datetime.timedelta(minutes=15, seconds=5)
    with time_machine.travel(later, tick=False):
        response = client.get(reveal_url(credential))
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/two-step/?") and "purpose=confirm" in response["Location"]
        assert client.post(reveal_url(credential), {"reason": "checking a failing export"}).status_code == 302
        assert not AuditEvent.objects.filter(action=Action.REVEAL).exists()
        confirmed = client.post(
            response["Location"], {"code": totp_code(device), "next": reveal_url(credential), "purpose": "confirm"}
        )
        assert confirmed["Location"] == reveal_url(credential)
        revealed = client.post(reveal_url(credential), {"reason": "checking a failing export"})
        assert revealed.status_code == 200 and SECRET in revealed.content.decode()
    assert AuditEvent.objects.filter(action=Action.SECOND_FACTOR, detail__contains="for confirmation").exists()


def test_revealing_within_fifteen_minutes_needs_no_new_code(dana, credential):
    client = signed_in(dana)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=14), tick=False):
        assert SECRET in client.post(reveal_url(credential), {"reason": "checking a failing export"}).content.decode()


def test_sign_in_reveal_end_to_end(dana, credential):
    client = Client()
    assert sign_in_with_code(client, dana, "dana-password-123")["Location"] == "/admin/"
    assert SECRET in client.post(reveal_url(credential), {"reason": "checking a failing export"}).content.decode()


# Lost phone: another administrator resets ------------------------------------------------------


def reset_url(user):
    return f"/admin/auth/user/{user.pk}/reset-two-step/"


def test_another_administrator_resets_a_lost_factor_with_a_reason(alice, dana):
    authenticator(dana)
    second_factor.replace_recovery_codes(dana)
    danas_session = signed_in(dana)
    admin = signed_in(alice)
    assert admin.post(reset_url(dana), {"reason": ""}).status_code == 400
    assert second_factor.has_authenticator(dana)
    assert admin.post(reset_url(dana), {"reason": "lost her phone, confirmed by video call"}).status_code == 302
    assert not second_factor.has_authenticator(dana) and second_factor.recovery_codes_left(dana) == 0
    event = AuditEvent.objects.get(action=Action.SECOND_FACTOR_RESET)
    assert (
        event.actor == "alice" and event.reason == "lost her phone, confirmed by video call" and "dana" in event.detail
    )
    # dana's session no longer counts as verified; at her next sign-in she sets up a new factor.
    assert danas_session.get("/admin/").status_code == 302
    client = Client()
    password_step(client, "dana", "dana-password-123")
    assert client.get("/admin/two-step/?next=/admin/")["Location"].startswith("/admin/two-step/setup/")


def test_the_users_page_offers_the_reset_for_anyone_but_oneself(alice, dana):
    admin = signed_in(alice)
    danas_page = admin.get(f"/admin/auth/user/{dana.pk}/change/")
    assert danas_page.status_code == 200 and reset_url(dana) in danas_page.content.decode()
    own_page = admin.get(f"/admin/auth/user/{alice.pk}/change/")
    assert own_page.status_code == 200 and reset_url(alice) not in own_page.content.decode()


def test_nobody_resets_their_own_factor(alice):
    authenticator(alice)
    client = signed_in(alice)
    assert client.post(reset_url(alice), {"reason": "I lost my phone, honestly"}).status_code == 302
    assert second_factor.has_authenticator(alice)
    assert not AuditEvent.objects.filter(action=Action.SECOND_FACTOR_RESET).exists()


def test_staff_without_the_user_change_permission_cannot_reset(bob, dana):
    authenticator(dana)
    assert signed_in(bob).post(reset_url(dana), {"reason": "trying to help dana out"}).status_code == 403
    assert second_factor.has_authenticator(dana)


def test_device_pages_of_django_otp_are_not_in_the_admin(alice):
    authenticator(alice)
    client = signed_in(alice)
    for url in ["/admin/otp_totp/totpdevice/", "/admin/otp_static/staticdevice/", "/admin/otp_totp/totpdevice/add/"]:
        assert client.get(url).status_code == 404, url


def test_the_user_list_shows_who_has_a_factor(alice, bob, dana):
    authenticator(alice)
    html = signed_in(alice).get("/admin/auth/user/").content.decode()
    assert "required, not set up" in html  # dana
    assert "Two-step" in html
