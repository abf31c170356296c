"""Signal receivers of staff sign-in: count failed passwords, and note single sign-on's second factor."""

import datetime

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from portal.client import client_ip
from signin import lockout, second_factor, signals, sso


@receiver(user_login_failed, dispatch_uid="signin.count_failure")
def count_failure(sender, credentials, request=None, **kwargs):
    # Only attempts whose password was really checked: not those django-axes refused (locked pair).
    if request is None or lockout.refused_by_axes(request):
        return
    username = credentials.get("username") if isinstance(credentials, dict) else None
    if not username:
        return  # single sign-on failures carry no username; the provider does its own counting
    username = str(username).replace("\x00", "")[: lockout.USERNAME_LENGTH]
    now = timezone.now()
    until = lockout.record_failure(username, client_ip(request), request, now)
    if until is not None:
        signals.sign_in_backoff_started.send(sender=count_failure, request=request, username=username, until=until)


@receiver(user_logged_in, dispatch_uid="signin.note_single_sign_on")
def note_single_sign_on(sender, request, user, **kwargs):
    if request is None or getattr(user, "backend", "") != sso.BACKEND:
        return
    if settings.PORTAL_SSO_SATISFIES_SECOND_FACTOR:
        auth_time = getattr(request, "keydrop_sso_auth_time", None)
        at = datetime.datetime.fromtimestamp(auth_time, tz=datetime.UTC) if auth_time else timezone.now()
        second_factor.mark_checked(request, by="idp", now=min(at, timezone.now()))
