"""Staff sign-in in the audit trail: sign-in, sign-out, failures, locks (and staff lifting them), and
the second factor.

Sign-in lives below `keys` (the `signin` app never imports it); the trail listens to Django's auth
signals, django-axes' lock signal and signin's own. Each event names the account and the address;
a failed sign-in with a username nobody has is recorded without what was typed (people type
passwords into the username box).
"""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from keys import audit
from portal.client import client_ip
from portal.signin import lockout, signals, sso

Action = audit.Action
UNKNOWN = "(unknown username)"


def _known(username) -> str | None:
    if not username or not isinstance(username, str):
        return None
    model = get_user_model()
    username = username.replace("\x00", "")[: model._meta.get_field(model.USERNAME_FIELD).max_length]
    return username if model._default_manager.filter(**{model.USERNAME_FIELD: username}).exists() else None


def _record(action, request, actor: str, detail: str = "") -> None:
    audit.record(
        action, actor=actor, ip=client_ip(request) if request is not None else None, detail=detail, at=timezone.now()
    )


@receiver(user_logged_in, dispatch_uid="keys.audit_sign_in")
def signed_in(sender, request, user, **kwargs):
    how = "single sign-on" if getattr(user, "backend", "") == sso.BACKEND else "password"
    _record(Action.SIGN_IN, request, user.get_username(), f"with {how}")


@receiver(user_logged_out, dispatch_uid="keys.audit_sign_out")
def signed_out(sender, request, user, **kwargs):
    if user is not None:
        _record(Action.SIGN_OUT, request, user.get_username())


@receiver(user_login_failed, dispatch_uid="keys.audit_sign_in_failed")
def sign_in_failed(sender, credentials, request=None, **kwargs):
    if request is not None and lockout.refused_by_axes(request):
        return  # refused while locked: the lock was recorded when it began, and repeats are not events
    username = credentials.get("username") if isinstance(credentials, dict) else None
    if username is None:
        _record(Action.SIGN_IN_FAILED, request, UNKNOWN, "single sign-on")
        return
    known = _known(username)
    _record(Action.SIGN_IN_FAILED, request, known or UNKNOWN, "wrong password" if known else "no such account")


@receiver(user_locked_out, dispatch_uid="keys.audit_locked_out")
def locked_out(sender, request, username, ip_address, **kwargs):
    # django-axes signals on every refused attempt too; only the failure that set the lock is an event.
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    _record(
        Action.SIGN_IN_LOCKED,
        request,
        _known(username) or UNKNOWN,
        f"this address is locked out of this account for {minutes} minutes",
    )


@receiver(signals.sign_in_backoff_started, dispatch_uid="keys.audit_backoff")
def backoff_started(sender, request, username, until, **kwargs):
    limit = settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT
    _record(
        Action.SIGN_IN_LOCKED,
        request,
        _known(username) or UNKNOWN,
        f"{limit} failed sign-ins in a day from anywhere: attempts now wait a back-off",
    )


def _refused(count: int) -> str:
    return f" ({count} tries from this address refused while waiting, before this)" if count else ""


@receiver(signals.second_factor_verified, dispatch_uid="keys.audit_second_factor")
def second_factor_verified(sender, request, user, method, purpose, refused=0, **kwargs):
    _record(Action.SECOND_FACTOR, request, user.get_username(), f"{method}, for {purpose}{_refused(refused)}")


@receiver(signals.second_factor_failed, dispatch_uid="keys.audit_second_factor_failed")
def second_factor_failed(sender, request, user, reason, refused=0, **kwargs):
    _record(Action.SIGN_IN_FAILED, request, user.get_username(), f"second factor: {reason}{_refused(refused)}")


@receiver(signals.enrolment_link_sent, dispatch_uid="keys.audit_enrolment_link_sent")
def enrolment_link_sent(sender, request, user, address, **kwargs):
    _record(Action.ENROLMENT_LINK, request, user.get_username(), f"emailed to {address}; valid a day, once")


@receiver(signals.enrolment_link_opened, dispatch_uid="keys.audit_enrolment_link_opened")
def enrolment_link_opened(sender, request, user, **kwargs):
    _record(Action.ENROLMENT_LINK, request, user.get_username(), "opened: this session may set up an authenticator")


@receiver(signals.address_limit_reached, dispatch_uid="keys.audit_address_limit")
def address_limit_reached(sender, request, until, failures, refused, **kwargs):
    earlier = f"; {refused} attempts were refused at the previous limit" if refused else ""
    _record(
        Action.SIGN_IN_LOCKED,
        request,
        UNKNOWN,
        f"{failures} failed sign-ins from this address in an hour, to any accounts: "
        f"its attempts are refused until {timezone.localtime(until):%H:%M %Z}{earlier}",
    )


@receiver(signals.second_factor_enrolled, dispatch_uid="keys.audit_enrolled")
def second_factor_enrolled(sender, request, user, recovery_codes, **kwargs):
    codes = f"{recovery_codes} new recovery codes" if recovery_codes else "recovery codes kept"
    _record(Action.SECOND_FACTOR_ENROLLED, request, user.get_username(), f"authenticator app; {codes}")


@receiver(signals.recovery_codes_replaced, dispatch_uid="keys.audit_recovery_codes")
def recovery_codes_replaced(sender, request, user, count, **kwargs):
    _record(Action.RECOVERY_CODES, request, user.get_username(), f"{count} new codes; the old ones stopped working")


@receiver(signals.access_records_deleted, dispatch_uid="keys.audit_access_records_deleted")
def access_records_deleted(sender, request, kind, records, **kwargs):
    """Staff deleted django-axes records (an access attempt: that lifts its lock). One event each,
    naming who deleted it and whose record it was: the account only if it exists, as for failures."""
    model = get_user_model()
    typed = {username for username, _, _ in records}
    known = set(
        model._default_manager.filter(**{f"{model.USERNAME_FIELD}__in": typed}).values_list(
            model.USERNAME_FIELD, flat=True
        )
    )
    actor, ip, now = request.user.get_username(), client_ip(request), timezone.now()
    audit.record_all(
        [
            audit.event(
                Action.SIGN_IN_UNLOCKED,
                actor=actor,
                ip=ip,
                at=now,
                detail=f"{kind} of {username if username in known else UNKNOWN} from {address or 'no address'} "
                f"deleted by staff: {what}",
            )
            for username, address, what in records
        ]
    )
