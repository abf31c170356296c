"""What staff sign-in keeps: failed passwords, throttles, and the state of setting up a second factor."""

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models
from django.utils import timezone


class SignInFailure(models.Model):
    """One wrong password (or unknown username). Kept a day; django-axes keeps the per-address locks."""

    username = models.CharField(max_length=150, help_text="As typed, cut to a username's length.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    browser = models.CharField(
        max_length=32, blank=True, help_text="The id of the browser's 'signed in here before' cookie, if it sent one."
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="signin_failure_username"),
            models.Index(fields=["browser", "at"], name="signin_failure_browser", condition=~models.Q(browser="")),
            models.Index(fields=["ip", "at"], name="signin_failure_ip"),
        ]

    def __str__(self) -> str:
        return f"failed sign-in as {self.username!r} at {self.at:%Y-%m-%d %H:%M}"


class PendingAuthenticator(models.Model):
    """The key one session is shown while setting up an authenticator (portal/signin/enrolment.py).

    A row per session, deleted with it (logging out, signing in again, expiry and `clearsessions` all
    delete the session row): no other session is ever shown this key. It becomes a django-otp device
    only when a code from it confirms it.
    """

    session = models.OneToOneField(Session, on_delete=models.CASCADE, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=80, help_text="Hex, as django-otp stores a TOTP key.")
    created_at = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(default=0, help_text="Wrong codes in a row.")
    failed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authenticator being set up by user {self.user_id}"


class EnrolmentLink(models.Model):
    """A one-time link, emailed to the account's own address, that a first set-up needs: a password
    alone never reaches a set-up page. Only a digest of its token is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"enrolment link of user {self.user_id} from {self.created_at:%Y-%m-%d %H:%M}"


class Throttle(models.Model):
    """Wrong tries of one scope (an account from an address, an address, a username's gate).

    `failures` in a row since `failed_at`'s streak began; `refused` tries turned away while waiting,
    reported in one audit event rather than one each; `open_at` is the moment the next try may be
    claimed (a conditional UPDATE, so racers cannot all pass when a wait ends).
    """

    scope = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)
    refused = models.PositiveIntegerField(default=0)
    open_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.scope}: {self.failures} failure(s)"
