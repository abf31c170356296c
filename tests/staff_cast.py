"""What the workspace tests share besides fixtures (the cast lives in conftest.py)."""

import re
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.signin import second_factor

REVEALER_CODENAMES = ["reveal_credential_secret", "revoke_credential", "complete_partner_credential"]
SECRET = "staff-Secret_value-0123456789abcdef"


def authenticator(user) -> TOTPDevice:
    """The user's confirmed authenticator app, as after enrolment."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name=second_factor.TOTP_NAME, confirmed=True)


def totp_code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What the authenticator app shows now (or that many 30-second steps later)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{totp.token():0{device.digits}d}"


def open_enrolment_link(client: Client, next_url: str = "/admin/") -> str:
    """A first set-up: ask for the emailed link, open it in the same browser; returns the link's path."""
    sent = len(mail.outbox)
    assert client.post("/admin/two-step/setup/", {"send_link": "1", "next": next_url}).status_code == 302
    assert len(mail.outbox) == sent + 1, "no enrolment link was emailed"
    path = urlsplit(re.search(r"https?://\S+/admin/two-step/enrol/\S+/", mail.outbox[-1].body).group(0)).path
    assert client.get(path)["Location"].startswith("/admin/two-step/setup/")
    return path


def signed_in(user, *, verified: bool = True, **client_options) -> Client:
    """A browser whose session signed in as `user` before the test began (so the sign-in itself is
    not one of the test's audit events); by default it passed the second factor just now, if the
    user has or needs one."""
    client = Client(**client_options)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if verified and (second_factor.required_for(user) or second_factor.has_authenticator(user)):
        session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
        session[second_factor.CHECKED_AT] = timezone.now().timestamp()
        session[second_factor.CHECKED_BY] = "device"
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client


def sign_in_with_code(client: Client, user, password: str, ip: str = "192.0.2.10"):
    """The real two steps: the password form, then a code from the user's authenticator."""
    device = authenticator(user)
    credentials = {"username": user.get_username(), "password": password}
    response = client.post("/admin/login/?next=/admin/", credentials, REMOTE_ADDR=ip)
    assert response.status_code == 302 and response["Location"].startswith("/admin/two-step/"), response
    return client.post(response["Location"], {"code": totp_code(device, steps_ahead=1)}, REMOTE_ADDR=ip)


def queries_to_load(client: Client, path: str) -> int:
    """How many database queries the page at `path` costs; it must load."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)
