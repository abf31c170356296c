"""Institutions and the admin contacts Keydrop has on file for them: who may confirm a hand-over."""

import datetime
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from keys import kinds


def new_intake_token() -> str:
    return secrets.token_urlsafe(24)


def mask_email(email: str) -> str:
    """j•••@example.edu: enough for an admin to recognise their address, not to harvest it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def validate_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError("Unknown time zone. Use a name such as America/Chicago or Europe/London.")


class InstitutionQuerySet(models.QuerySet):
    def with_held_keys_flag(self):
        """Each row knows whether it holds a verified key (`holds_keys`), in the same query, so a page
        that shows the institution's keys skips that query for a customer handing over a first one."""
        Credential = self.model._meta.get_field("credentials").related_model  # defined after this module
        held = Credential.objects.filter(
            institution=models.OuterRef("pk"), status__in=Credential.HELD_STATUSES, verified_at__isnull=False
        )
        return self.annotate(holds_keys=models.Exists(held))


class Institution(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True, help_text="Short name used by pipelines and commands.")
    canvas_url = models.URLField(
        blank=True, help_text="The institution's Canvas address, e.g. https://example.instructure.com."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=(
            "An IANA name such as America/Chicago. Expiry dates are shown in this time zone; empty means the portal's."
        ),
    )
    intake_token = models.CharField(
        max_length=64,
        unique=True,
        default=new_intake_token,
        editable=False,
        help_text="The secret part of the intake link. Rotating it makes the old link stop working.",
    )
    intake_token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = InstitutionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> datetime.tzinfo:
        return zoneinfo.ZoneInfo(self.time_zone) if self.time_zone else timezone.get_default_timezone()

    def intake_path(self, kind: str | None = None) -> str:
        if kind and kind != kinds.DEFAULT.slug:
            return reverse("intake:start_kind", args=[self.intake_token, kind])
        return reverse("intake:start", args=[self.intake_token])

    def intake_url(self, kind: str | None = None) -> str:
        return settings.PORTAL_BASE_URL + self.intake_path(kind)

    def rotate_intake_token(self, now: datetime.datetime | None = None) -> None:
        self.intake_token = new_intake_token()
        self.intake_token_rotated_at = now or timezone.now()
        self.save(update_fields=["intake_token", "intake_token_rotated_at"])


class AdminContact(models.Model):
    """An admin address on file: the only kind of address a verification code is sent to."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(help_text="Verification codes and renewal reminders go here.")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["institution", "email"], name="unique_contact_per_institution")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def masked_email(self) -> str:
        return mask_email(self.email)
