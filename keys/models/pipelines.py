"""What partner pipelines hold and read: their tokens, the events they follow, and the Canvas Data 2
access token Keydrop shares between them. How they are used: keys/pipelines/."""

import datetime
import hashlib
import secrets

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from keys import kinds
from keys.sealing import SealedSecretField

TOKEN_PREFIX = "kdp_"


def token_digest(token: str) -> str:
    """SHA-256 of the whole token: 256 random bits need no slow hash, and no key that a rotation loses."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class PipelineTokenQuerySet(models.QuerySet):
    def live(self, now: datetime.datetime):
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class PipelineToken(models.Model):
    """One pipeline's identity: a bearer token, kept only as its digest, and what it may reach."""

    name = models.SlugField(
        max_length=80, unique=True, help_text="Names the pipeline in the audit trail: pipeline:NAME."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    kinds = models.JSONField(default=list, help_text="The kinds of credential it may reach.")
    institutions = models.ManyToManyField(
        "keys.Institution", blank=True, related_name="+", help_text="Only these institutions; none means every one."
    )
    allow_secrets = models.BooleanField(
        default=False, help_text="It may read long-lived secrets (Client ID and secret), audited like a reveal."
    )
    created_by = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=200, blank=True, editable=False)
    # The per-minute rate (keys/pipelines/tokens.py): the minute being counted, and its count so far.
    rate_window = models.DateTimeField(null=True, blank=True, editable=False)
    rate_count = models.PositiveIntegerField(default=0, editable=False)

    objects = PipelineTokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_pipelines", "Can create and revoke pipeline tokens and webhook endpoints (audited)"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def new_token(cls) -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def actor(self) -> str:
        return f"pipeline:{self.name}"

    def scope_summary(self) -> str:
        kinds_part = ", ".join(kinds.get(kind).label for kind in self.kinds if kind in kinds.KINDS) or "no kind"
        places = ", ".join(institution.slug for institution in self.institutions.all()) or "every institution"
        return f"{kinds_part}; {places}; " + ("secrets allowed" if self.allow_secrets else "no secrets")

    def state(self, now: datetime.datetime) -> str:
        """live, expired or revoked."""
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "live"


class PipelineEventQuerySet(models.QuerySet):
    def emit(self, type_: str, credential, *, detail: str = "", dedupe: str | None = None) -> bool:
        """Record that ``type_`` happened to ``credential``, now. False if it was recorded before
        (same type, credential and ``dedupe``): racing workers announce it once. Never a secret in ``detail``."""
        return self.emit_for(type_, credential.pk, credential.institution_id, credential.kind, detail, dedupe)

    def emit_for(self, type_: str, credential_id, institution_id, kind, detail="", dedupe=None) -> bool:
        """``emit`` for a credential known only by its columns (a bulk UPDATE's rows)."""
        try:
            with transaction.atomic():
                self.create(
                    type=type_,
                    credential_id=credential_id,
                    institution_id=institution_id,
                    kind=kind,
                    detail=detail[:300],
                    dedupe=dedupe,
                )
        except IntegrityError:
            return False
        return True

    def settled(self, now: datetime.datetime):
        """Events old enough that none with a smaller id can still appear: ids are handed out at
        INSERT, and a transaction that emits commits within moments (none waits on Canvas), so a
        cursor past these never skips one committed late."""
        return self.filter(at__lte=now - SETTLE)


# How old an event must be before a cursor or webhook sweep passes it (see PipelineEventQuerySet.settled).
SETTLE = datetime.timedelta(seconds=5)


class PipelineEvent(models.Model):
    """Something a pipeline should know about a credential or its grant. Never a secret.

    ``dedupe`` makes an event that may be announced by racing workers (an expiry, a reminder
    offset, a revocation) exist once: (type, credential, dedupe) is unique, and NULL never collides.
    """

    class Type(models.TextChoices):
        VERIFIED = "credential.verified", "Canvas confirmed a new key: it is the one to use"
        SUPERSEDED = "credential.superseded", "A newer key took over; this one works until its expiry"
        FAILING = "credential.failing", "Canvas refuses a key that worked"
        RECOVERED = "credential.recovered", "Canvas accepts a failing key again"
        EXPIRING = "credential.expiring", "The key expires soon (at each reminder offset)"
        EXPIRED = "credential.expired", "The key expired"
        REVOKED = "credential.revoked", "Staff revoked the key"
        GRANT_AUTHORIZED = "grant.authorized", "A Canvas admin authorized the developer key"
        GRANT_LOST = "grant.lost", "Canvas ended the grant: someone must authorize again"

    type = models.CharField(max_length=40, choices=Type.choices)
    at = models.DateTimeField(default=timezone.now)
    credential = models.ForeignKey("keys.Credential", on_delete=models.PROTECT, related_name="pipeline_events")
    institution = models.ForeignKey("keys.Institution", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=kinds.CHOICES)
    detail = models.CharField(max_length=300, blank=True, help_text="In words; never a secret.")
    dedupe = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001  (NULL never collides)

    objects = PipelineEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["type", "credential", "dedupe"], name="pipeline_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class DapAccessToken(models.Model):
    """The Canvas Data 2 access token Keydrop last got from Instructure's login for a key, sealed,
    with the expiry it stated: every pipeline shares it while it has time left
    (keys/instructure/dap_tokens.py). The row also serialises the logins: one at a time per key."""

    credential = models.OneToOneField("keys.Credential", on_delete=models.CASCADE, related_name="dap_access_token")
    token = SealedSecretField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    obtained_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Canvas Data 2 access token of credential {self.credential_id}"
