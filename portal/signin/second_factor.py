"""The second factor of staff sign-in, on django-otp: a TOTP authenticator and one-time recovery codes.

Who needs one: superusers and holders of PORTAL_SECOND_FACTOR_PERMISSIONS must have one; anyone who
has enrolled uses theirs. Until a session has passed it, the admin site treats the user as signed
out of the workspace (they see only the code or enrolment page).

What a session remembers: django-otp's device id (``otp_device_id``) and when the factor was last
checked (epoch seconds), never a code or key. Revealing a secret wants that check to be at most
PORTAL_REVEAL_SECOND_FACTOR_SECONDS old and asks again otherwise.

With single sign-on, the identity provider's sign-in counts as the second factor only when
PORTAL_SSO_SATISFIES_SECOND_FACTOR says so (the partner's provider demands one of everyone).
"""

import datetime
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.client import client_ip
from portal.signin import throttles
from portal.signin.models import PendingAuthenticator

CHECKED_AT = "keydrop_second_factor_at"
CHECKED_BY = "keydrop_second_factor_by"  # "device" or "idp"
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
TOTP_CODE = re.compile(r"[0-9]{6}", re.ASCII)
RECOVERY_CODE = re.compile(r"[a-z2-7]{8}", re.ASCII)


# Who needs one --------------------------------------------------------------------------------


def required_for(user) -> bool:
    """Superusers and holders of a permission that reaches secrets or accounts."""
    if not user.is_active:
        return False
    return user.is_superuser or any(user.has_perm(perm) for perm in settings.PORTAL_SECOND_FACTOR_PERMISSIONS)


def has_authenticator(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def expected_of(user) -> bool:
    """Must this user pass a second factor to use the workspace?"""
    return required_for(user) or user_has_device(user)


# What the session has proven ------------------------------------------------------------------


def verified(request) -> bool:
    user = request.user
    if getattr(user, "is_verified", None) and user.is_verified():
        return True
    return settings.PORTAL_SSO_SATISFIES_SECOND_FACTOR and request.session.get(CHECKED_BY) == "idp"


def satisfied(request) -> bool:
    """The session may use the workspace as far as the second factor is concerned."""
    return verified(request) or not expected_of(request.user)


def checked_recently(request, now: datetime.datetime | None = None) -> bool:
    """Passed within PORTAL_REVEAL_SECOND_FACTOR_SECONDS: what a reveal needs."""
    if not verified(request):
        return False
    at = request.session.get(CHECKED_AT)
    now = now or timezone.now()
    return isinstance(at, (int, float)) and 0 <= now.timestamp() - at <= settings.PORTAL_REVEAL_SECOND_FACTOR_SECONDS


def mark_checked(request, *, by: str, now: datetime.datetime | None = None) -> None:
    request.session[CHECKED_AT] = (now or timezone.now()).timestamp()
    request.session[CHECKED_BY] = by


# Checking a code ------------------------------------------------------------------------------
# Wrong codes make the next try wait per (account, address) and per address, never per account: a
# password holder elsewhere cannot keep the owner waiting. django-otp's own per-device throttle is
# off (OTP_*_THROTTLE_FACTOR = 0) for that reason. A try refused while waiting is counted, not
# recorded, and the count goes into the next audit event of that account and address.

PAIR_WAIT_MAX = datetime.timedelta(minutes=15)
ADDRESS_FREE_FAILURES = 10  # wrong codes an hour from one address, for any accounts, before waits begin
ADDRESS_WINDOW = datetime.timedelta(hours=1)


class Throttled(Exception):
    """Too many wrong codes lately: the back-off (1, 2, 4 … seconds) is running."""

    def __init__(self, until: datetime.datetime):
        super().__init__(until)
        self.until = until


@dataclass(frozen=True)
class Checked:
    method: str | None  # TOTP_NAME, RECOVERY_NAME, or None for a wrong code
    refused: int  # tries of this account from this address refused while waiting, since the last event


def normalised(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "").lower()


def _scopes(request) -> tuple[str, str]:
    address = client_ip(request) or "unknown"
    return f"code:{request.user.pk}:{address}", f"code-address:{address}"


def _doubling(failures: int, free: int = 0) -> datetime.timedelta:
    over = failures - free
    if over <= 0:
        return datetime.timedelta(0)
    return min(datetime.timedelta(seconds=2 ** min(over - 1, 20)), PAIR_WAIT_MAX)


def waiting_until(request, now: datetime.datetime) -> datetime.datetime | None:
    """When this account may next try a code from this address, if that is later than now."""
    pair, address = _scopes(request)
    ends = []
    for scope, free, window in ((pair, 0, None), (address, ADDRESS_FREE_FAILURES, ADDRESS_WINDOW)):
        row = throttles.get(scope)
        if row is None or not row.failures or row.failed_at is None:
            continue
        if window is not None and row.failed_at <= now - window:
            continue
        end = row.failed_at + _doubling(row.failures, free)
        if end > now:
            ends.append(end)
    return max(ends) if ends else None


def check_code(request, raw: str, now: datetime.datetime | None = None) -> Checked:
    """Try a code from the authenticator, or a recovery code.

    A match signs the session in with that device (django-otp) and restarts the reveal clock.
    A recovery code works once, a TOTP code once. Raises Throttled while wrong codes make it wait.
    """
    now = now or timezone.now()
    user, (pair, address) = request.user, _scopes(request)
    until = waiting_until(request, now)
    if until is not None:
        throttles.refuse(pair)
        raise Throttled(until)
    code = normalised(raw)
    if TOTP_CODE.fullmatch(code):
        model, method = TOTPDevice, TOTP_NAME
    elif RECOVERY_CODE.fullmatch(code):
        model, method = StaticDevice, RECOVERY_NAME
    else:
        return Checked(None, 0)  # no code could look like this: a typo, not a guess
    with transaction.atomic():
        # Locked rows: two requests racing with one code cannot both use it.
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if device.verify_token(code):
                throttles.succeed(pair)
                sign_in_with(request, device, now)
                return Checked(method, throttles.take_refused(pair))
    throttles.fail(pair, now)
    throttles.fail(address, now, window=ADDRESS_WINDOW)
    return Checked(None, throttles.take_refused(pair))


def sign_in_with(request, device, now: datetime.datetime | None = None) -> None:
    otp_login(request, device)
    mark_checked(request, by="device", now=now)


# Recovery codes, reset ------------------------------------------------------------------------


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def replace_recovery_codes(user) -> list[str]:
    """A new set of one-time recovery codes; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.PORTAL_RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def reset(user) -> int:
    """Remove every device of the user (lost phone): they enrol again at their next sign-in.

    Sessions that passed with a removed device stop counting as verified at their next request.
    """
    removed = 0
    PendingAuthenticator.objects.filter(user=user).delete()  # a key some session was shown dies too
    for device in list(devices_for_user(user, confirmed=None)):
        device.delete()
        removed += 1
    return removed
