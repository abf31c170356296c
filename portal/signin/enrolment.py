"""Setting up an authenticator so that a password alone cannot capture it.

- Each set-up gets its own fresh key: a PendingAuthenticator row per session, made on the first
  view of the set-up page. Another session makes its own, so a key shown to one session is never
  shown to another.
- An unconfirmed key dies with its session: the row cascades with the session row (log out, a new
  sign-in, expiry, `clearsessions`) and with a reset. A device exists only once a code confirms it.
- A first set-up (a new account, one reset, any `createsuperuser` account) also needs the
  account's mailbox: a one-time link emailed to the account's own address, valid
  ENROLMENT_LINK_LIFETIME (a day), opened by a session signed in to that account. Sending and
  opening it are audit events.

The key is kept as django-otp keeps a confirmed one (hex, in a table), never in the session, a log
or a task's arguments. Replacing an authenticator needs the current one instead of a link.
"""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from portal import emails
from portal.signin import second_factor
from portal.signin.models import EnrolmentLink, PendingAuthenticator

ENROLMENT_LINK_LIFETIME = datetime.timedelta(days=1)
LINK_OPENED = "keydrop_enrolment_link"  # the id of the link this session opened: not a secret
LINKS_PER_DAY = 5  # emails to one account's address a day: a password holder cannot flood its inbox


# The key of this session's set-up -------------------------------------------------------------


def pending_key(request) -> PendingAuthenticator:
    """This session's key, made on first use. The session row must exist for the row to follow it."""
    if request.session.session_key is None:
        request.session.save()
    session_key = request.session.session_key
    try:
        with transaction.atomic():
            pending, _ = PendingAuthenticator.objects.get_or_create(
                session_id=session_key, defaults={"user": request.user, "key": default_key()}
            )
    except IntegrityError:  # the same session's other tab made it first
        pending = PendingAuthenticator.objects.get(session_id=session_key)
    if pending.user_id != request.user.pk:  # cannot happen (signing in makes a new session); never show it
        pending.delete()
        return pending_key(request)
    return pending


def shown_key(pending: PendingAuthenticator) -> TOTPDevice:
    """An unsaved device with the pending key: what the QR code and the printed key are drawn from."""
    return TOTPDevice(user_id=pending.user_id, name=second_factor.TOTP_NAME, key=pending.key, confirmed=False)


def _wait(failures: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(2 ** (failures - 1), 900))


def confirm(request, raw: str, now: datetime.datetime | None = None) -> list[str] | None:
    """Confirm this session's key with a code from it: the authenticator replaces any earlier one.

    Returns the new recovery codes when the user had none left (shown once), an empty list when they
    keep theirs, None if the code was wrong. Raises second_factor.Throttled while wrong codes wait.
    """
    now = now or timezone.now()
    code = second_factor.normalised(raw)
    if not second_factor.TOTP_CODE.fullmatch(code):
        return None
    user = request.user
    with transaction.atomic():
        pending = (
            PendingAuthenticator.objects.select_for_update().filter(session_id=request.session.session_key).first()
        )
        if pending is None or pending.user_id != user.pk:
            return None
        if pending.failures and now < pending.failed_at + _wait(pending.failures):
            raise second_factor.Throttled(pending.failed_at + _wait(pending.failures))
        device = shown_key(pending)
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = now.timestamp()
        if not totp.verify(int(code), device.tolerance):
            PendingAuthenticator.objects.filter(pk=pending.pk).update(failures=pending.failures + 1, failed_at=now)
            return None
        TOTPDevice.objects.filter(user=user).delete()
        device.last_t, device.confirmed = totp.t(), True  # the confirming code does not work again
        device.save()
        PendingAuthenticator.objects.filter(user=user).delete()  # this one, and any other session's
        codes = [] if second_factor.recovery_codes_left(user) else second_factor.replace_recovery_codes(user)
    request.session.pop(LINK_OPENED, None)
    second_factor.sign_in_with(request, device, now)
    return codes


# The enrolment link ---------------------------------------------------------------------------


def needs_link(user) -> bool:
    """A first set-up (no authenticator: a new account, or one reset) needs the emailed link."""
    return not second_factor.has_authenticator(user)


def link_opened(request) -> bool:
    """This session opened a valid enrolment link of its own account."""
    opened = request.session.get(LINK_OPENED)
    return isinstance(opened, int) and EnrolmentLink.objects.filter(pk=opened, user=request.user).exists()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def masked_address(user) -> str:
    """d***@example.edu: enough for the owner to recognise, little for someone at their keyboard."""
    local, _, domain = (user.email or "").partition("@")
    return f"{local[:1]}***@{domain}" if local and domain else ""


class LinkRefused(Exception):
    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def issue_link(user, now: datetime.datetime) -> str:
    """A new link's path (the token is in it, and nowhere else); earlier unused links stop working."""
    recent = EnrolmentLink.objects.filter(user=user, created_at__gt=now - datetime.timedelta(days=1)).count()
    if recent >= LINKS_PER_DAY:
        raise LinkRefused("too many")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        EnrolmentLink.objects.filter(user=user, used_at__isnull=True).update(used_at=now)  # void, but count
        EnrolmentLink.objects.create(user=user, digest=_digest(token), created_at=now)
    return reverse("admin:two_step_enrol", args=[token])


def email_link(user, now: datetime.datetime) -> str:
    """Email a new link to the account's own address. Returns the masked address it went to."""
    if not masked_address(user):
        raise LinkRefused("no address")
    path = issue_link(user, now)
    context = {
        "username": user.get_username(),
        "link": settings.PORTAL_BASE_URL + path,
        "valid_until": timezone.localtime(now + ENROLMENT_LINK_LIFETIME),
    }
    emails.send("enrolment-link", [user.email], context)
    return masked_address(user)


def open_link(request, token: str, now: datetime.datetime) -> EnrolmentLink:
    """The signed-in owner opened their link: it is spent, and this session may set up."""
    link = EnrolmentLink.objects.filter(digest=_digest(token or "")).first()
    if link is None or link.user_id != request.user.pk:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used")
    if now >= link.created_at + ENROLMENT_LINK_LIFETIME:
        raise LinkRefused("expired")
    if not EnrolmentLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now):
        raise LinkRefused("used")  # another tab spent it a moment ago
    request.session[LINK_OPENED] = link.pk
    return link


def forget_old_links(now: datetime.datetime) -> int:
    """Links a week past their day hold nothing anyone needs (the audit trail keeps the events)."""
    return EnrolmentLink.objects.filter(created_at__lte=now - datetime.timedelta(days=8)).delete()[0]
