"""Signal receivers of staff sign-in: count failed passwords for the per-username back-off."""

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from portal.client import client_ip
from portal.signin import lockout, signals


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
