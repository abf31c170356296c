"""The admin's OAuth grant of a developer key, and each start of the dance that asks for one."""

import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

from keys.sealing import SealedSecretField

if TYPE_CHECKING:
    pass


class CanvasGrantQuerySet(models.QuerySet):
    def purge(self, now: datetime.datetime) -> int:
        """Destroy the tokens; who authorized, when and with which scopes stays on record."""
        return self.filter(models.Q(refresh_token__isnull=False) | models.Q(access_token__isnull=False)).update(
            refresh_token=None, access_token=None, access_token_expires_at=None, purged_at=now
        )


class CanvasGrant(models.Model):
    """The access a Canvas admin granted a developer key through OAuth2: what the partner uses.

    The refresh token is sealed like every secret. The access token is sealed with the expiry
    Keydrop stated for it, because Canvas keeps one access token per grant and a refresh kills it:
    every caller shares it until that expiry, and only then is it refreshed (keys/instructure/grant_tokens.py).
    """

    credential = models.OneToOneField("keys.Credential", on_delete=models.CASCADE, related_name="grant")
    refresh_token = SealedSecretField(null=True, blank=True)
    access_token = SealedSecretField(null=True, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    canvas_user_id = models.CharField(max_length=32, blank=True)
    canvas_user_name = models.CharField(max_length=200, blank=True)
    canvas_global_id = models.CharField(max_length=32, blank=True)
    scopes = models.TextField(blank=True, help_text="The scopes granted, one per line.")
    authorized_at = models.DateTimeField()
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(
        null=True, blank=True, help_text="When Canvas stopped honouring the grant: someone must authorize again."
    )
    lost_reason = models.CharField(max_length=500, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = CanvasGrantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Grant by {self.canvas_user_name or 'a Canvas user'}"

    @property
    def authorized_by(self) -> str:
        """The Canvas user as staff read it: name and global id."""
        who = self.canvas_user_name or "a Canvas user"
        return f"{who} (Canvas user {self.canvas_global_id or self.canvas_user_id})"

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.splitlines() if scope]


class AuthorizationRequest(models.Model):
    """One start of the OAuth dance: the row behind a ``state``. Single-use, ten minutes, and bound
    to the browser that started it (the digest of a cookie only that browser holds)."""

    LIFETIME = datetime.timedelta(minutes=10)

    credential = models.ForeignKey("keys.Credential", on_delete=models.CASCADE, related_name="authorization_requests")
    nonce_digest = models.CharField(max_length=64, unique=True)
    browser_digest = models.CharField(max_length=64)
    redirect_uri = models.URLField(max_length=500)
    scopes = models.TextField(help_text="The scopes asked for, one per line.")
    code_verifier = SealedSecretField(
        null=True, blank=True, help_text="The PKCE (S256) verifier, sealed; forgotten once the code is spent."
    )
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Authorization request of {self.created_at:%Y-%m-%d %H:%M}"

    def expired(self, now: datetime.datetime) -> bool:
        return now - self.created_at > self.LIFETIME

    def use(self, now: datetime.datetime) -> bool:
        """Spend the request; False if someone spent it first (a replayed callback)."""
        return bool(AuthorizationRequest.objects.filter(pk=self.pk, used_at__isnull=True).update(used_at=now))
