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

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

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


class Throttled(Exception):
    """Too many wrong codes lately: django-otp's back-off (1, 2, 4 … seconds) is running."""

    def __init__(self, until: datetime.datetime):
        super().__init__(until)
        self.until = until


def check_code(request, raw: str, now: datetime.datetime | None = None) -> str | None:
    """Try a code from the authenticator, or a recovery code. Returns the method that matched, or None.

    A match signs the session in with that device (django-otp) and restarts the reveal clock.
    A recovery code works once. Wrong codes count towards the device's own back-off.
    """
    user = request.user
    code = re.sub(r"[\s-]", "", raw or "").lower()
    if TOTP_CODE.fullmatch(code):
        model, method = TOTPDevice, TOTP_NAME
    elif RECOVERY_CODE.fullmatch(code):
        model, method = StaticDevice, RECOVERY_NAME
    else:
        return None
    with transaction.atomic():
        # Locked rows: two requests racing with one code cannot both use it.
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            allowed, details = device.verify_is_allowed()
            if not allowed and details and details.get("locked_until"):
                raise Throttled(details["locked_until"])
            if device.verify_token(code):
                otp_login(request, device)
                mark_checked(request, by="device", now=now)
                return method
    return None


# Enrolment, recovery codes, reset -------------------------------------------------------------


def pending_authenticator(user) -> TOTPDevice:
    """The authenticator being set up: shown as a QR code and a key until a code from it confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def confirm_authenticator(
    request, device: TOTPDevice, raw: str, now: datetime.datetime | None = None
) -> list[str] | None:
    """Confirm the new authenticator with a code from it. It replaces any earlier one.

    Returns the new recovery codes when the user had none left (shown once; django-otp keeps them
    in its table), an empty list when they keep theirs, None if the code was wrong. Raises
    Throttled while wrong codes make it wait.
    """
    code = re.sub(r"[\s-]", "", raw or "")
    if not TOTP_CODE.fullmatch(code):
        return None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=request.user, confirmed=False)
        allowed, details = device.verify_is_allowed()
        if not allowed and details and details.get("locked_until"):
            raise Throttled(details["locked_until"])
        if not device.verify_token(code):
            return None
        TOTPDevice.objects.filter(user=request.user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = [] if recovery_codes_left(request.user) else replace_recovery_codes(request.user)
    otp_login(request, device)
    mark_checked(request, by="device", now=now)
    return codes


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
    for device in list(devices_for_user(user, confirmed=None)):
        device.delete()
        removed += 1
    return removed
