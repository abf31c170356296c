"""What staff sign-in keeps: each failed password, for the per-account back-off."""

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
        ]

    def __str__(self) -> str:
        return f"failed sign-in as {self.username!r} at {self.at:%Y-%m-%d %H:%M}"
