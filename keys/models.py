"""Institutions, the admin contacts Keydrop has on file for them, and their credentials."""

import datetime
import secrets
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Coalesce, RowNumber
from django.urls import reverse
from django.utils import timezone

from keys import display, kinds
from keys.outcomes import Outcome, Verdict
from keys.sealing import Sealed, SealedSecretField


def new_intake_token() -> str:
    return secrets.token_urlsafe(24)


def mask_email(email: str) -> str:
    """j•••@example.edu: enough for an admin to recognise their address, not to harvest it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def validate_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError("Unknown time zone. Use a name such as America/Chicago or Europe/London.")


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


class CredentialQuerySet(models.QuerySet):
    def visible_to_staff(self):
        # Verified release: nothing about a submission reaches partner staff before verification.
        return self.exclude(status=Credential.Status.PENDING)

    def usable(self, now: datetime.datetime | None = None):
        now = now or timezone.now()
        return self.filter(status__in=Credential.USABLE_STATUSES, secret__isnull=False).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def failing(self, now: datetime.datetime | None = None):
        """Usable keys that worked and that Canvas now refuses: data has stopped, or will."""
        return self.usable(now).filter(failing_since__isnull=False)

    def checkable(self, now: datetime.datetime | None = None):
        """Usable keys, and keys waiting for a fix in Canvas: those the sweep asks Canvas about."""
        now = now or timezone.now()
        return self.filter(status__in=Credential.CHECKED_STATUSES, secret__isnull=False).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def due_for_check(self, now: datetime.datetime):
        """Checkable keys whose check time has come and that no sweep is checking right now."""
        return (
            self.checkable(now)
            .filter(next_check_at__lte=now)
            .filter(models.Q(check_claimed_until__isnull=True) | models.Q(check_claimed_until__lt=now))
        )

    def for_pipeline(self, now: datetime.datetime | None = None):
        """Usable keys, the one a pipeline should take first: a key Canvas refuses comes last, then
        one whose hand-over check has not yet confirmed it, then the newest verified."""
        return self.usable(now).order_by(
            models.F("failing_since").asc(nulls_first=True), "handover_check_pending", "-verified_at", "-pk"
        )

    def tracked(self):
        return self.filter(status__in=Credential.TRACKED_STATUSES)

    def working(self, now: datetime.datetime | None = None):
        """Keys that work as far as Keydrop knows: usable now and not failing their live checks.
        Campaigns ("no working key of this kind") ask this; a key still being checked counts."""
        return self.usable(now).filter(failing_since__isnull=True)

    def confirmed_working(self, now: datetime.datetime | None = None):
        """Working keys that Canvas has accepted at least once: the campaign funnel's "works"."""
        return self.working(now).filter(last_worked_at__isnull=False)

    def awaiting_partner_secret(self, now: datetime.datetime | None = None):
        """Verified partner keys, not past their expiry, waiting for the secret Instructure sends the
        partner: the customer has done their part, only partner staff can finish them."""
        now = now or timezone.now()
        return self.filter(status=Credential.Status.AWAITING_SECRET).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def awaiting_authorization(self, now: datetime.datetime | None = None):
        """Usable developer keys whose admin has not granted access in Canvas yet, or whose grant
        Canvas no longer honours. None when the partner runs its own callback: Keydrop then never
        holds a grant, and the dashboard leaves the tile out rather than show a 0 that cannot change."""
        if not kinds.keydrop_completes_grants():
            return None
        live_grant = CanvasGrant.objects.filter(credential=models.OuterRef("pk"), lost_at__isnull=True)
        return (
            self.usable(now)
            .filter(kind__in=kinds.GRANTED_KINDS)
            .exclude(status=Credential.Status.PENDING)
            .filter(~models.Exists(live_grant))
        )

    def lapsed_without_renewal(self, now: datetime.datetime | None = None):
        """Tracked keys past their expiry with nothing newer from the customer: data has stopped."""
        now = now or timezone.now()
        return self.filter(lapsed_without_renewal_q(now))

    def newest_per_kind(self):
        """The newest verified key of each institution and kind: one row per pair, however long the history."""
        newest_first = [models.F("verified_at").desc(), models.F("pk").desc()]
        return (
            self.filter(verified_at__isnull=False)
            # A locked submission is never anyone's current key (it was never verified either).
            .exclude(status=Credential.Status.LOCKED)
            .annotate(
                recency=models.Window(
                    RowNumber(), partition_by=[models.F("institution_id"), models.F("kind")], order_by=newest_first
                )
            )
            .filter(recency=1)
        )

    # Transitions the scheduled task makes; each is one conditional UPDATE, safe to repeat.

    def expire_lapsed(self, now: datetime.datetime) -> int:
        """Live keys past their expiry become expired, and their secrets are destroyed with it."""
        return self.filter(status__in=Credential.LIVE_STATUSES, expires_at__lte=now).update(
            status=Credential.Status.EXPIRED, secret=None, secret_purged_at=now
        )

    def discard_unfixed(self, now: datetime.datetime) -> int:
        """Keys still waiting for their fix in Canvas when the window closes: rejected for good."""
        return self.filter(status=Credential.Status.NEEDS_FIX, fix_by__lte=now).update(
            status=Credential.Status.REJECTED, secret=None, secret_purged_at=now, next_check_at=None
        )

    def purge_dead_secrets(self, now: datetime.datetime) -> int:
        """Any secret a dead key still holds is destroyed, with its grant's tokens; the record stays."""
        CanvasGrant.objects.filter(credential__status__in=Credential.DEAD_STATUSES).purge(now)
        return self.filter(status__in=Credential.DEAD_STATUSES, secret__isnull=False).update(
            secret=None, secret_purged_at=now
        )


def lapsed_without_renewal_q(now: datetime.datetime) -> models.Q:
    """The condition on its own: no newer verified key that is tracked (not pending, locked or revoked)."""
    renewal = Credential.objects.filter(
        institution=models.OuterRef("institution"),
        kind=models.OuterRef("kind"),
        verified_at__gt=models.OuterRef("verified_at"),
        status__in=Credential.TRACKED_STATUSES,
    )
    return models.Q(status__in=Credential.TRACKED_STATUSES, expires_at__lte=now) & ~models.Q(models.Exists(renewal))


@dataclass(frozen=True)
class LastCheck:
    outcome: str  # works, rejected or inconclusive
    reason: str
    checked_at: datetime.datetime


class Credential(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending verification"
        AWAITING_SECRET = "awaiting_secret", "Awaiting partner secret"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        LOCKED = "locked", "Locked"
        REJECTED = "rejected", "Rejected by Canvas"  # refused when handed over: never active
        # Refused at hand-over for a reason a setting in Canvas mends: kept sealed, never usable.
        NEEDS_FIX = "needs_fix", "Needs a fix in Canvas"

    # The credential's life in named groups: every query, check, list and task uses these.
    # Usable: the secret may be handed out; a superseded key works until its own expiry, for the switch-over.
    USABLE_STATUSES = (Status.ACTIVE, Status.SUPERSEDED)
    # Live: verified and not over yet; their expiry still counts, and on it they lapse to expired.
    LIVE_STATUSES = (Status.AWAITING_SECRET, Status.ACTIVE, Status.SUPERSEDED)
    # Tracked: the customer's verified keys, live or lapsed: a newer one is a renewal, each may be revoked.
    TRACKED_STATUSES = (*LIVE_STATUSES, Status.EXPIRED)
    # Dead: over for good, so their secrets are destroyed; the records stay. A key Canvas rejected
    # at hand-over never lived.
    DEAD_STATUSES = (Status.EXPIRED, Status.REVOKED, Status.LOCKED, Status.REJECTED)
    # Silenced: no reminder goes out: staff revoked it, it was locked unverified, or Canvas rejected
    # it at hand-over. A superseded key is not silenced: its reminders stop only when the key that
    # replaced it outlives it (supersede_older cancels them then), so its lapse is still announced.
    SILENCED_STATUSES = (Status.REVOKED, Status.LOCKED, Status.REJECTED, Status.NEEDS_FIX)
    # Held: tracked keys and those kept sealed while they wait for a fix in Canvas. The institution's
    # page shows them, and staff may revoke each.
    HELD_STATUSES = (*TRACKED_STATUSES, Status.NEEDS_FIX)
    # Checked by the sweep: keys in use, and keys waiting for their fix in Canvas (checked hourly).
    CHECKED_STATUSES = (*USABLE_STATUSES, Status.NEEDS_FIX)
    # Days left at or below which the admin colours an expiry as urgent, or soon.
    URGENT_DAYS, SOON_DAYS = 7, 30

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="credentials")
    kind = models.CharField(max_length=32, choices=kinds.CHOICES)
    client_id = models.CharField("Client ID", max_length=255, help_text="An identifier, stored in clear.")
    secret = SealedSecretField(null=True, blank=True)
    key_type = models.CharField(max_length=20, blank=True, choices=kinds.KeyType.choices)
    canvas_url = models.URLField(blank=True)
    lifetime = models.CharField(
        max_length=8,
        blank=True,
        help_text="The expiry chosen in Canvas (1y, 6m…), 'exact' for a stated date, or 'none'.",
    )
    key_created_on = models.DateField(null=True, blank=True, help_text="When the customer created the key in Canvas.")
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Expiry (or review) date: the key must be replaced before it."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    submitted_at = models.DateTimeField(default=timezone.now, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_email = models.EmailField(blank=True, editable=False, help_text="The on-file address that confirmed it.")
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes", editable=False
    )
    superseded_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_purged_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Live checks: what Canvas said last, and when the next check is due. History: CredentialCheck.
    region = models.CharField(max_length=64, blank=True, editable=False, help_text="As Canvas reported it.")
    principal = models.CharField(
        max_length=64, blank=True, editable=False, help_text="Canvas Data 2: the institution id."
    )
    handover_check_pending = models.BooleanField(
        default=False, editable=False, help_text="Verified, but Canvas has not yet said whether it works."
    )
    rejected_at = models.DateTimeField(null=True, blank=True, editable=False)
    fix_by = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Needs a fix in Canvas: its secret is destroyed at this time unless a check finds it fixed.",
    )
    last_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_outcome = models.CharField(max_length=16, blank=True, choices=Outcome.choices, editable=False)
    last_check_reason = models.CharField(max_length=500, blank=True, editable=False)
    last_worked_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="It worked, and Canvas has refused it since then."
    )
    inconclusive_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Start of a run of nothing but inconclusive answers."
    )
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    check_claimed_by = models.CharField(max_length=32, blank=True, editable=False)
    check_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    # One key, one institution (keys/shared_keys.py) ----------------------------------------
    # The key as Canvas knows it, whatever the spelling (a Canvas Data 2 Client ID with or without
    # its region, in any case): a hand-over finds another holder of the same key in one indexed query.
    key_identity = models.CharField(max_length=255, blank=True, editable=False, db_index=True)
    shared_key_found_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the hand-over found this key already held by another institution; staff were emailed then.",
    )
    shared_key_confirmed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the customer confirmed that they share this key."
    )
    consortium_marked_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When staff recorded that the institutions holding this key truly share it: no longer flagged.",
    )
    consortium_marked_by = models.CharField(max_length=200, blank=True, editable=False)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["institution", "kind", "status"], name="credential_current"),
            models.Index(fields=["status", "expires_at"], name="credential_expiry"),
            # The staff list shows the newest first: an index walk, not a sort of every row.
            models.Index(fields=["submitted_at", "id"], name="credential_newest"),
            # "Lapsed with no renewal", on every visit to the dashboard: both sides of the
            # "is there a newer key?" test read these indexes alone, never the rows.
            models.Index(
                fields=["status", "expires_at", "institution", "kind", "verified_at"], name="credential_lapse"
            ),
            models.Index(fields=["institution", "kind", "verified_at", "status"], name="credential_chain"),
            # The check sweep, every minute, reads only keys that hold a secret: those with a check
            # time, in that order, and those still without one. A key that is over has its secret
            # purged and drops out of both, so the sweep's cost follows what is due, not what is kept.
            # (Conditions without parameters: SQLite uses a partial index only for literal terms.)
            models.Index(
                fields=["next_check_at"],
                condition=models.Q(next_check_at__isnull=False, secret__isnull=False),
                name="credential_check_due",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(next_check_at__isnull=True, secret__isnull=False),
                name="credential_check_unslotted",
            ),
        ]
        permissions = [
            ("reveal_credential_secret", "Can reveal a credential's secret (audited)"),
            ("revoke_credential", "Can revoke a credential and purge its secret (audited)"),
            ("complete_partner_credential", "Can enter the secret of an Instructure Partner key (audited)"),
            ("export_csv", "Can export lists as CSV (audited)"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_spec.label} {self.masked_client_id} ({self.institution})"

    # The key's identity follows its Client ID (keys/shared_keys.py).
    def save(self, *args, **kwargs):
        if self.kind in kinds.KINDS and self.client_id:
            self.key_identity = self.kind_spec.key_identity(self.client_id)
        super().save(*args, **kwargs)

    # Questions a credential answers about itself -----------------------------------------

    @property
    def kind_spec(self) -> kinds.Kind:
        return kinds.get(self.kind)

    @property
    def masked_client_id(self) -> str:
        return self.kind_spec.mask(self.client_id)

    @property
    def has_secret(self) -> bool:
        return self.secret is not None

    @property
    def is_partner_key(self) -> bool:
        return kinds.is_partner_key(self.key_type)

    def expires_on(self) -> datetime.date | None:
        """The expiry date as the institution reads it."""
        return timezone.localtime(self.expires_at, self.institution.tz).date() if self.expires_at else None

    def days_left(self, now: datetime.datetime | None = None) -> int | None:
        if not self.expires_at:
            return None
        today = timezone.localtime(now or timezone.now(), self.institution.tz).date()
        return (self.expires_on() - today).days

    def is_usable(self, now: datetime.datetime | None = None) -> bool:
        now = now or timezone.now()
        return (
            self.status in self.USABLE_STATUSES
            and self.has_secret
            and (self.expires_at is None or self.expires_at > now)
        )

    @property
    def counts_down(self) -> bool:
        """Only a verified key that is or was in use counts down to its date. One Canvas rejected,
        that waits for a fix in Canvas, or was revoked or locked has no days left."""
        return self.status in self.TRACKED_STATUSES

    def countdown(self, now: datetime.datetime | None = None) -> int | None:
        """Days left as every list, page, CSV and the customer's pages show them."""
        return self.days_left(now) if self.counts_down else None

    def expiry_urgency(self, now: datetime.datetime | None = None) -> str:
        """lapsed, urgent (a week or less), soon (a month or less), ok, or none (no date)."""
        days = self.days_left(now)
        if days is None:
            return "none"
        if days <= 0:
            return "lapsed"
        if days <= self.URGENT_DAYS:
            return "urgent"
        return "soon" if days <= self.SOON_DAYS else "ok"

    @property
    def can_be_revoked(self) -> bool:
        # A tracked key may still hold a secret; locked and revoked ones have nothing left to revoke.
        return self.status in self.HELD_STATUSES

    @property
    def awaits_partner_secret(self) -> bool:
        return self.status == self.Status.AWAITING_SECRET

    @property
    def is_silenced(self) -> bool:
        return self.status in self.SILENCED_STATUSES

    def key_history(self):
        """Every key of this institution and kind that staff may see, newest first: the superseded chain."""
        return (
            Credential.objects.visible_to_staff()
            .filter(institution_id=self.institution_id, kind=self.kind)
            .select_related("institution")
            .defer("secret")
            .order_by("-verified_at", "-submitted_at", "-pk")
        )

    # The customer's view and the staff pages ask these.

    def last_check(self) -> "LastCheck | None":
        """What Canvas said when Keydrop last asked (works, rejected or inconclusive), or None."""
        if not self.last_check_at:
            return None
        return LastCheck(self.last_check_outcome, self.last_check_reason, self.last_check_at)

    def current_grant(self) -> "CanvasGrant | None":
        """The admin's OAuth grant for this key, live or lost; None if nobody has authorized it."""
        try:
            return self.grant
        except CanvasGrant.DoesNotExist:
            return None

    @property
    def awaits_authorization(self) -> bool:
        """A usable developer key that Keydrop should hold a grant for, and does not (or no longer)."""
        if self.kind not in kinds.GRANTED_KINDS or not kinds.keydrop_completes_grants():
            return False
        # Usable statuses always hold a secret; not reading it keeps lists that defer it to one query.
        if self.status not in self.USABLE_STATUSES or (self.expires_at and self.expires_at <= timezone.now()):
            return False
        grant = self.current_grant()
        return grant is None or grant.lost_at is not None

    def authorization_path(self) -> str:
        """Where the customer admin grants access; empty while nothing is to be authorized."""
        if not self.awaits_authorization:
            return ""
        return reverse("intake:authorize", args=[self.institution.intake_token, self.pk])

    def authorization_url(self) -> str:
        path = self.authorization_path()
        return settings.PORTAL_BASE_URL + path if path else ""

    # Changes of state ---------------------------------------------------------------------

    def lock(self, now: datetime.datetime) -> bool:
        """Lock a pending submission for good, destroying its secret. True if this call locked it."""
        locked = Credential.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=self.Status.LOCKED, secret=None, locked_at=now, secret_purged_at=now
        )
        if locked:
            self.status, self.secret, self.locked_at, self.secret_purged_at = self.Status.LOCKED, None, now, now
        return bool(locked)

    @transaction.atomic
    def activate(self, now: datetime.datetime, verified_email: str) -> None:
        """Called once a submission is verified: it becomes usable, or waits for the partner secret."""
        self.verified_at = now
        self.verified_email = verified_email
        self.status = self.Status.AWAITING_SECRET if self.is_partner_key else self.Status.ACTIVE
        self.save(update_fields=["verified_at", "verified_email", "status"])
        if not self.is_partner_key:
            self.start_tracking(now)

    def start_tracking(self, now: datetime.datetime) -> None:
        """The key is verified and holds its secret: its reminders are planned and Canvas is asked
        whether it works. It takes over from older keys only once Canvas says it does."""
        first_check = now + self.HANDOVER_RETRY_DELAYS[0]  # if the hand-over check never runs
        Credential.objects.filter(pk=self.pk).update(handover_check_pending=True, next_check_at=first_check)
        self.handover_check_pending, self.next_check_at = True, first_check
        ReminderNotice.objects.plan_for(self, now)

    def supersede_older(self, now: datetime.datetime) -> int:
        """Older usable keys of the same institution and kind step aside but keep working until
        their own expiry, so the pipeline can switch over. Their reminders stop only where this
        key outlives them: a shorter-lived renewal must not silence the lapse of a key that works."""
        older = Credential.objects.filter(
            institution_id=self.institution_id,
            kind=self.kind,
            status__in=self.USABLE_STATUSES,
            verified_at__lt=self.verified_at,
        ).exclude(pk=self.pk)
        outlived = older if self.expires_at is None else older.filter(expires_at__lte=self.expires_at)
        ReminderNotice.objects.filter(credential__in=outlived, state=ReminderNotice.State.SCHEDULED).update(
            state=ReminderNotice.State.CANCELLED, state_reason="A newer key that outlives it works."
        )
        return older.filter(status=self.Status.ACTIVE).update(
            status=self.Status.SUPERSEDED, superseded_by=self, superseded_at=now
        )

    def older_keys_still_working(self, now: datetime.datetime) -> list["Credential"]:
        """Older keys of this institution and kind that are usable, not refused by Canvas, and
        outlive this one: while one exists, this key's lapse does not stop the data."""
        older = (
            Credential.objects.usable(now)
            .filter(institution_id=self.institution_id, kind=self.kind, verified_at__lt=self.verified_at)
            .filter(failing_since__isnull=True)
            .exclude(pk=self.pk)
            .defer("secret")
        )
        if self.expires_at:
            older = older.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=self.expires_at))
        return list(older.select_related("institution").order_by("-verified_at"))

    def newer_keys(self) -> list["Credential"]:
        """Keys of this institution and kind verified after this one (that count as a renewal)."""
        return list(
            Credential.objects.filter(institution_id=self.institution_id, kind=self.kind)
            .filter(verified_at__gt=self.verified_at, status__in=self.TRACKED_STATUSES)
            .defer("secret")
            .select_related("institution")
            .order_by("-verified_at")
        )

    # Live checks ---------------------------------------------------------------------------

    # A hand-over check that was inconclusive is tried again after these delays, then daily.
    HANDOVER_RETRY_DELAYS = tuple(datetime.timedelta(seconds=s) for s in (60, 5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60))

    @property
    def check_state(self) -> str:
        """failing, works, inconclusive, unchecked or "" (a key that is over): for staff lists."""
        if self.status not in self.USABLE_STATUSES:
            return ""
        if self.failing_since:
            return "failing"
        return self.last_check_outcome or "unchecked"

    def check_summary(self) -> str:
        """What Canvas said last, and what that means, in a line for staff."""

        def at(moment) -> str:  # one format on every staff page (keys/display.py)
            return display.moment(moment, self.institution)

        if self.status == self.Status.REJECTED:
            return f"Rejected when handed over ({at(self.rejected_at)}): {self.last_check_reason}"
        if not self.last_check_at:
            return "Not checked yet."
        parts = [self.last_check_reason]
        if self.failing_since:
            parts.append(f"Failing since {at(self.failing_since)}.")
        if self.last_worked_at:
            parts.append(f"Last worked {at(self.last_worked_at)}.")
        if self.next_check_at and self.status in self.USABLE_STATUSES:
            parts.append(f"Next check {at(self.next_check_at)}.")
        return " ".join(parts)

    def another_key_works(self, now: datetime.datetime) -> bool:
        """Whether another usable, unexpired key of this institution and kind works now: it has
        worked and Canvas has not refused it since."""
        return (
            Credential.objects.usable(now)
            .filter(institution_id=self.institution_id, kind=self.kind)
            .filter(last_worked_at__isnull=False, failing_since__isnull=True)
            .exclude(pk=self.pk)
            .exists()
        )

    def matters_now(self, now: datetime.datetime) -> bool:
        """Whether this key's checks are worth an alert: the working key always is; a superseded
        one only while no other key works (its renewal lapsed or is refused too). Customers
        delete the old key once the new one works, so its end then is no news to anyone."""
        return self.status == self.Status.ACTIVE or not self.another_key_works(now)

    @transaction.atomic
    def apply_check(self, verdict: Verdict, now: datetime.datetime, *, at_handover: bool = False) -> str:
        """Bring the credential in line with what Canvas said, and plan any alert that follows.

        Returns what changed: "confirmed" (first works: it takes over from older keys),
        "needs_fix" (refused before it ever worked, for a reason a setting in Canvas mends: kept
        sealed), "rejected" (the key itself is wrong before it ever worked: secret destroyed),
        "failing" (worked, now refused), "recovered", "stuck" (nothing but inconclusive for too
        long), or "". ``at_handover``: the customer reads the answer on the page, so no email says it.
        Two checks finishing at once apply one after the other: the row is locked (SQLite takes
        its write lock at BEGIN), and each alert is a unique row, so it exists once per episode.
        """
        row = Credential.objects.select_for_update().get(pk=self.pk)
        updates = {
            "last_check_at": now,
            "last_check_outcome": verdict.outcome,
            "last_check_reason": verdict.reason[:500],
        }
        if verdict.is_works:
            change = row._worked(verdict, now, updates)
        elif verdict.is_rejected:
            change = row._refused(verdict, now, updates, at_handover)
        else:
            change = row._unclear(verdict, now, updates)
        Credential.objects.filter(pk=self.pk).update(**updates)
        for name, value in updates.items():
            setattr(self, name, value)
        if change == "confirmed":
            self.supersede_older(now)
        return change

    @property
    def on_trial(self) -> bool:
        """Verified, but Canvas has not yet seen it work: a refusal now means it never becomes active."""
        return self.status == self.Status.NEEDS_FIX or (
            self.handover_check_pending and self.status in self.USABLE_STATUSES
        )

    def _worked(self, verdict: Verdict, now, updates: dict) -> str:
        updates.update(last_worked_at=now, inconclusive_since=None, failing_since=None)
        updates.update({fact: value[:64] for fact, value in verdict.facts.items() if fact in ("region", "principal")})
        if self.status == self.Status.NEEDS_FIX:  # fixed in Canvas: the same secret works now
            updates.update(status=self.Status.ACTIVE, fix_by=None, handover_check_pending=False)
            self.alerts_about_fix().update(state=CheckAlert.State.CANCELLED, last_error="It was fixed in Canvas.")
            # Reminders silenced while it waited are planned again, as for a key that just arrived.
            self.reminders.filter(state=ReminderNotice.State.CANCELLED).delete()
            ReminderNotice.objects.plan_for(self, now)
            return "confirmed"
        if self.handover_check_pending:
            updates["handover_check_pending"] = False
            return "confirmed"
        if self.failing_since:
            episode = self.failing_since
            if CheckAlert.objects.filter(credential=self, topic=CheckAlert.Topic.FAILING, episode=episode).exists():
                CheckAlert.plan(self, CheckAlert.Topic.RECOVERED, episode=episode, reason=verdict.reason, now=now)
            return "recovered"
        return ""

    def _refused(self, verdict: Verdict, now, updates: dict, at_handover: bool) -> str:
        updates["inconclusive_since"] = None
        if self.on_trial and verdict.fixable:
            if self.status == self.Status.NEEDS_FIX:
                return ""  # still waiting for the same kind of fix: the reason above is the news
            fix_by = now + datetime.timedelta(days=settings.PORTAL_FIX_WINDOW_DAYS)
            updates.update(status=self.Status.NEEDS_FIX, fix_by=fix_by, handover_check_pending=False)
            self.cancel_reminders("It needs a fix in Canvas.")
            if not at_handover:
                CheckAlert.plan(self, CheckAlert.Topic.NEEDS_FIX, episode=now, reason=verdict.reason, now=now)
            # The day before the secret is destroyed, the contacts hear of it once more.
            CheckAlert.plan(
                self,
                CheckAlert.Topic.FIX_DEADLINE,
                episode=now,
                reason=verdict.reason,
                now=now,
                not_before=fix_by - datetime.timedelta(days=1),
            )
            return "needs_fix"
        if self.on_trial:  # the key itself is wrong and it never worked: nothing to keep
            updates.update(
                status=self.Status.REJECTED,
                secret=None,
                rejected_at=now,
                secret_purged_at=now,
                handover_check_pending=False,
                next_check_at=None,
                fix_by=None,
            )
            self.cancel_reminders("Canvas rejected it when it was handed over.")
            self.alerts_about_fix().update(state=CheckAlert.State.CANCELLED, last_error="Canvas rejected the key.")
            if not at_handover:  # the receipt said it at hand-over; later, only an email can
                CheckAlert.plan(self, CheckAlert.Topic.REJECTED, episode=now, reason=verdict.reason, now=now)
            return "rejected"
        if self.status in self.USABLE_STATUSES and self.failing_since is None:
            updates["failing_since"] = now
            if self.matters_now(now):
                CheckAlert.plan(self, CheckAlert.Topic.FAILING, episode=now, reason=verdict.reason, now=now)
            return "failing"
        return ""

    def _unclear(self, verdict: Verdict, now, updates: dict) -> str:
        since = self.inconclusive_since or now
        updates["inconclusive_since"] = since
        patience = datetime.timedelta(days=settings.PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS)
        stuck = self.status in self.USABLE_STATUSES and now - since >= patience and self.matters_now(now)
        if stuck and CheckAlert.plan(self, CheckAlert.Topic.STUCK, episode=since, reason=verdict.reason, now=now):
            return "stuck"
        return ""

    def cancel_reminders(self, reason: str) -> None:
        self.reminders.filter(state=ReminderNotice.State.SCHEDULED).update(
            state=ReminderNotice.State.CANCELLED, state_reason=reason
        )

    def alerts_about_fix(self):
        return self.check_alerts.filter(topic=CheckAlert.Topic.FIX_DEADLINE, state=CheckAlert.State.SCHEDULED)

    # Reminders -----------------------------------------------------------------------------

    def tracking_started_at(self) -> datetime.datetime | None:
        """When the key's life began: its creation date in Canvas, else when it was verified."""
        if self.key_created_on:
            return kinds.start_of_day(self.key_created_on, self.institution.tz)
        return self.verified_at

    def reminder_plan(self, now: datetime.datetime) -> list[tuple[int, datetime.datetime, str]]:
        """(offset, due time, skip reason or "") for each reminder this credential gets.

        Offsets longer than the key's whole lifetime are left out (a one-week key gets no 30-day
        reminder). One whose time has passed by more than a day when tracking starts is
        recorded as skipped rather than sent late as if it were on time; of those due within
        the last day, only the one nearest expiry is kept.
        """
        if not self.expires_at:
            return []
        started = self.tracking_started_at() or now
        lifetime = self.expires_at - started
        offsets = [d for d in settings.PORTAL_REMINDER_OFFSETS_DAYS if datetime.timedelta(days=d) <= lifetime]
        plan = []
        for offset in sorted({*offsets, ReminderNotice.LAPSE}, reverse=True):
            due = self.expires_at - datetime.timedelta(days=offset)
            plan.append([offset, due, ""])
        late = [item for item in plan if item[1] <= now]
        for item in late[:-1] if late and late[-1][1] > now - datetime.timedelta(days=1) else late:
            item[2] = "Its date had passed when the key was verified."
        return [tuple(item) for item in plan]

    def is_final_reminder(self, offset: int) -> bool:
        return offset <= settings.PORTAL_FINAL_REMINDER_DAYS

    def set_secret(self, plaintext: str) -> None:
        self.secret = Sealed.seal(plaintext)

    @transaction.atomic
    def revoke(self, now: datetime.datetime) -> bool:
        """Revoke for good: the secret is purged and no further reminder goes out. True if this call did it."""
        revoked = Credential.objects.filter(pk=self.pk, status__in=self.HELD_STATUSES).update(
            status=self.Status.REVOKED,
            secret=None,
            revoked_at=now,
            secret_purged_at=Coalesce("secret_purged_at", models.Value(now)),
        )
        if not revoked:
            return False
        CanvasGrant.objects.filter(credential_id=self.pk).purge(now)
        ReminderNotice.objects.filter(credential_id=self.pk, state=ReminderNotice.State.SCHEDULED).update(
            state=ReminderNotice.State.CANCELLED, state_reason="credential revoked"
        )
        self.refresh_from_db(fields=["status", "secret", "revoked_at", "secret_purged_at"])
        return True

    @transaction.atomic
    def complete_partner_secret(self, plaintext: str, now: datetime.datetime) -> bool:
        """Store the secret Instructure sent the partner: the key becomes the working one.

        True if this call completed it; a second, racing completion stores nothing.
        """
        sealed = Sealed.seal(plaintext)
        completed = Credential.objects.filter(pk=self.pk, status=self.Status.AWAITING_SECRET).update(
            status=self.Status.ACTIVE, secret=sealed
        )
        if not completed:
            return False
        self.status, self.secret = self.Status.ACTIVE, sealed
        self.start_tracking(now)
        return True

    def clean(self):
        if self.kind and self.kind not in kinds.KINDS:
            raise ValidationError({"kind": "Unknown kind of credential."})


class ReminderNoticeQuerySet(models.QuerySet):
    def plan_for(self, credential: "Credential", now: datetime.datetime) -> int:
        """Create the credential's reminders. Idempotent: existing (credential, offset) rows stay."""
        rows = [
            ReminderNotice(
                credential=credential,
                offset_days=offset,
                due_at=due,
                not_before=due,
                state=ReminderNotice.State.SKIPPED if skip else ReminderNotice.State.SCHEDULED,
                state_reason=skip,
            )
            for offset, due, skip in credential.reminder_plan(now)
        ]
        return len(self.bulk_create(rows, ignore_conflicts=True))

    def due(self, now: datetime.datetime):
        """Reminders a sweep may claim now: scheduled, due, and not held by a live claim."""
        return self.filter(state=ReminderNotice.State.SCHEDULED, not_before__lte=now).filter(
            models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
        )


class ReminderNotice(models.Model):
    """One renewal reminder of one credential: the outbox row and, once sent, its record.

    The unique (credential, offset) pair makes a second copy of a reminder impossible, not
    merely unlikely; sweeps claim rows with a conditional UPDATE and a lease.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    LAPSE = 0  # the offset of the notice sent on the day a credential lapses

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="reminders")
    offset_days = models.PositiveSmallIntegerField(help_text="Days before expiry; 0 is the lapse notice.")
    due_at = models.DateTimeField()
    not_before = models.DateTimeField(help_text="Due time, pushed back after a failed send.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    state_reason = models.CharField(max_length=200, blank=True)
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.TextField(blank=True, help_text="Addresses the reminder went to, one per line.")

    objects = ReminderNoticeQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["credential", "offset_days"], name="one_reminder_per_offset")]
        indexes = [
            # The sweep reads only scheduled rows, so its cost follows what is due, not what is tracked.
            models.Index(fields=["not_before"], condition=models.Q(state="scheduled"), name="reminder_due"),
        ]

    def __str__(self) -> str:
        return "lapse notice" if self.offset_days == self.LAPSE else f"{self.offset_days}-day reminder"

    @property
    def is_lapse_notice(self) -> bool:
        return self.offset_days == self.LAPSE


class CredentialCheck(models.Model):
    """One live check of one credential: when, what Canvas's answer meant, and how long it took.

    Never a secret, a token or a response body: only the outcome, a reason Keydrop wrote, and
    the HTTP status. Kept for PORTAL_CHECK_HISTORY_DAYS.
    """

    class Trigger(models.TextChoices):
        HANDOVER = "handover", "Hand-over"
        RETRY = "retry", "Hand-over retry"
        SCHEDULE = "schedule", "Daily check"
        COMMAND = "command", "Run by staff from the command line"
        PARTNER_SECRET = "partner_secret", "Partner secret entered"
        CHECK_AGAIN = "check_again", "Check again, after a fix in Canvas"
        AUTHORIZATION = "authorization", "Admin authorized in Canvas"

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="checks")
    at = models.DateTimeField(default=timezone.now)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=500)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["credential", "-at"], name="check_history"),
            models.Index(fields=["at"], name="check_age"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.at:%Y-%m-%d %H:%M}"


class CheckAlert(models.Model):
    """One alert about a credential's checks: the outbox row and, once sent, its record.

    The unique (credential, topic, episode) makes a second alert about the same episode
    impossible: a key that starts failing is announced once however many checks refuse it.
    Delivered like reminders: claimed with a conditional UPDATE and a lease, retried with back-off.
    """

    class Topic(models.TextChoices):
        FAILING = "failing", "Stopped working"  # the institution's contacts and staff
        RECOVERED = "recovered", "Works again"  # staff
        STUCK = "stuck", "No clear answer for days"  # staff
        REJECTED = "rejected", "Rejected after hand-over"  # the institution's contacts and staff
        NEEDS_FIX = "needs_fix", "Needs a fix in Canvas"  # the institution's contacts and staff
        FIX_DEADLINE = "fix_deadline", "Discarded tomorrow unless fixed"  # the institution's contacts and staff

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="check_alerts")
    topic = models.CharField(max_length=16, choices=Topic.choices)
    episode = models.DateTimeField(help_text="When the episode began: the first refusal, or the first unclear answer.")
    reason = models.CharField(max_length=500, help_text="What the check said, as Keydrop wrote it.")
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    not_before = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.TextField(blank=True)

    CUSTOMER_TOPICS = (Topic.FAILING, Topic.REJECTED, Topic.NEEDS_FIX, Topic.FIX_DEADLINE)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["credential", "topic", "episode"], name="one_alert_per_episode"),
        ]
        indexes = [models.Index(fields=["not_before"], condition=models.Q(state="scheduled"), name="check_alert_due")]

    def __str__(self) -> str:
        return f"{self.get_topic_display()} alert"

    @classmethod
    def plan(cls, credential: Credential, topic: str, *, episode, reason: str, now, not_before=None) -> bool:
        """Plan the alert of an episode. True if this call planned it; an existing one stays."""
        _, created = cls.objects.get_or_create(
            credential=credential,
            topic=topic,
            episode=episode,
            defaults={"reason": reason[:500], "created_at": now, "not_before": not_before or now},
        )
        return created

    @property
    def tells_customer(self) -> bool:
        return self.topic in self.CUSTOMER_TOPICS

    @property
    def worked_before(self) -> bool:
        """Whether a check saw the key work before this episode: a key handed over before live
        checks may never have, and its alert must not say it did. The history covers a key that
        recovered between the alert's planning and its sending."""
        worked = self.credential.last_worked_at
        if worked is None:
            return False
        return (
            worked < self.episode or self.credential.checks.filter(outcome=Outcome.WORKS, at__lt=self.episode).exists()
        )


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
    every caller shares it until that expiry, and only then is it refreshed (keys/grant_tokens.py).
    """

    credential = models.OneToOneField(Credential, on_delete=models.CASCADE, related_name="grant")
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

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="authorization_requests")
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


class HostCheckBudget(models.Model):
    """Checks started per Canvas host in one minute, across every worker and machine.

    A check takes one unit with a conditional UPDATE (or the first insert of the minute), so no
    host gets more than PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE checks a minute from Keydrop.
    """

    host = models.CharField(max_length=255)
    minute = models.DateTimeField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "minute"], name="one_budget_per_host_minute")]

    def __str__(self) -> str:
        return f"{self.host} at {self.minute:%Y-%m-%d %H:%M}: {self.used} check(s)"

    @classmethod
    def take(cls, host: str, now: datetime.datetime, limit: int) -> bool:
        """Take one check from this minute's budget for the host. False if it is spent."""
        minute = now.replace(second=0, microsecond=0)
        if cls.objects.filter(host=host, minute=minute, used__lt=limit).update(used=models.F("used") + 1):
            return True
        if limit < 1:
            return False
        try:
            with transaction.atomic():
                cls.objects.create(host=host, minute=minute, used=1)
            return True
        except IntegrityError:  # another worker opened the minute first: back to the conditional UPDATE
            return bool(cls.objects.filter(host=host, minute=minute, used__lt=limit).update(used=models.F("used") + 1))


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who did what to which credential, when, why and from where. Append-only; never a secret."""

    class Action(models.TextChoices):
        REVEAL = "reveal", "Secret revealed"
        EXPORT = "export", "Credential exported"
        REVOKE = "revoke", "Credential revoked"
        COMPLETE = "complete", "Partner secret entered"
        ROTATE_LINK = "rotate_link", "Intake link rotated"
        INVITE = "invite", "Intake link emailed"
        VERIFIED = "verified", "Submission verified"
        LOCKED = "locked", "Submission locked"
        CSV_EXPORT = "csv_export", "Credential list exported"
        IMPORT = "import", "Institutions imported"
        CAMPAIGN = "campaign", "Invitation campaign started"
        EXPORT_LIST = "export_list", "List exported"
        # Staff sign-in and the accounts behind it
        SIGN_IN = "sign_in", "Signed in"
        SIGN_OUT = "sign_out", "Signed out"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_IN_LOCKED = "sign_in_locked", "Sign-in locked or slowed"
        SIGN_IN_UNLOCKED = "sign_in_unlocked", "Sign-in lock lifted"
        SECOND_FACTOR = "second_factor", "Second factor checked"
        SECOND_FACTOR_ENROLLED = "second_factor_enrolled", "Two-step verification set up"
        RECOVERY_CODES = "recovery_codes", "Recovery codes replaced"
        SECOND_FACTOR_RESET = "second_factor_reset", "Two-step verification reset"
        STAFF_CHANGED = "staff_changed", "Staff account changed"
        GROUP_CHANGED = "group_changed", "Staff group changed"
        # Institutions and the intake's limits
        INSTITUTION_CHANGED = "institution_changed", "Institution changed"
        INSTITUTION_DELETED = "institution_deleted", "Institution deleted"
        CONTACTS_CHANGED = "contacts_changed", "Admin contacts changed"
        LIMIT_LIFTED = "limit_lifted", "Hourly limits lifted"
        # The admin's OAuth grant of a developer key
        AUTHORIZED = "authorized", "Access granted in Canvas"
        AUTHORIZATION_EMAILED = "authorization_emailed", "Authorization link emailed"
        ACCESS_TOKEN_EXPORT = "access_token_export", "Access token exported"
        GRANT_REVOKED = "grant_revoked", "Access revoked in Canvas"
        # One key, one institution
        SHARED_KEY_CONFIRMED = "shared_key_confirmed", "Customer confirmed a shared key"
        CONSORTIUM_MARKED = "consortium_marked", "Marked as a key a consortium shares"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200, help_text="A staff username, cli:<user>, or the customer contact.")
    action = models.CharField(max_length=32, choices=Action.choices)
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A staff member's private calendar subscription of expiry dates. The token is the only key."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(
        max_length=64,
        unique=True,
        default=new_feed_token,
        editable=False,
        help_text="The secret part of the feed address. Rotating it makes the old address stop working.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Expiry calendar of {self.user}"

    def url(self) -> str:
        return settings.PORTAL_BASE_URL + reverse("calendar_feed", args=[self.token])

    def rotate(self, now: datetime.datetime | None = None) -> None:
        self.token = new_feed_token()
        self.rotated_at = now or timezone.now()
        self.save(update_fields=["token", "rotated_at"])

    def may_be_read(self) -> bool:
        """The feed follows its owner's access: it dies with their staff status or permission."""
        user = self.user
        return user.is_active and user.is_staff and user.has_perm("keys.view_credential")


# Onboarding in bulk ----------------------------------------------------------------------


class InstitutionImport(models.Model):
    """An uploaded institutions file between its preview and its confirmation. The file is kept
    here (it holds names and admin addresses, nothing secret) so the confirmation applies exactly
    what was previewed, once."""

    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    uploaded_by = models.CharField(max_length=200)
    uploaded_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.filename or 'institutions file'} uploaded by {self.uploaded_by}"


def campaign_chase_after_days() -> int:
    return settings.PORTAL_CAMPAIGN_CHASE_AFTER_DAYS


def campaign_max_chasers() -> int:
    return settings.PORTAL_CAMPAIGN_MAX_CHASERS


class Campaign(models.Model):
    """An invitation campaign: one kind of key asked of many institutions, with chasers."""

    # A hard ceiling on chasers, whatever a form or the environment asks for: beyond this it is spam.
    MAX_CHASERS_LIMIT = 5

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=kinds.CHOICES)
    chase_after_days = models.PositiveSmallIntegerField(
        default=campaign_chase_after_days,
        help_text="Days after the previous email before a chaser goes to those who have not handed over.",
    )
    max_chasers = models.PositiveSmallIntegerField(
        default=campaign_max_chasers, help_text="Chasers at most, after the invitation."
    )
    created_by = models.CharField(max_length=200, help_text="A staff username, or cli:<user> for the invite command.")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_spec(self) -> kinds.Kind:
        return kinds.get(self.kind)


def new_invitation_token() -> str:
    return secrets.token_urlsafe(12)


class CampaignInvitationQuerySet(models.QuerySet):
    def with_stages(self, now: datetime.datetime | None = None):
        """Annotate each invitation with the furthest stage it reached: submitted, verified, works.

        Read from the institution's credentials of the campaign's kind since the campaign began,
        so the funnel cannot drift from what really happened. A submission that locked (wrong
        codes, the window ran out) does not count: that institution still has to hand a key over.
        A partner key awaiting its secret counts whenever it was verified: the customer is done.
        """
        now = now or timezone.now()
        since = {
            "institution": models.OuterRef("institution"),
            "kind": models.OuterRef("kind"),
        }
        since["submitted_at__gte"] = models.OuterRef("campaign__created_at")
        waiting = Credential.objects.awaiting_partner_secret(now).filter(
            institution=models.OuterRef("institution"), kind=models.OuterRef("kind")
        )
        ours = Credential.objects.filter(**since) | waiting
        return self.annotate(
            submitted=models.Exists(ours.exclude(status=Credential.Status.LOCKED)),
            verified=models.Exists(ours.filter(verified_at__isnull=False)),
            works=models.Exists(Credential.objects.confirmed_working(now).filter(**since)),
        )

    def not_responded(self, now: datetime.datetime | None = None):
        return self.with_stages(now).filter(submitted=False)

    def with_chase(self, now: datetime.datetime | None = None):
        """Annotate ``chased``: the one reading of "still chased" for the campaign's page, the
        campaigns list and the sweep. Open, nothing verified since the campaign began, and no key
        of the kind works now (the campaign's own audience rule): a working key is never chased."""
        now = now or timezone.now()
        works = Credential.objects.working(now).filter(
            institution=models.OuterRef("institution"), kind=models.OuterRef("kind")
        )
        chased = models.Q(is_open=True, verified=False) & ~models.Exists(works)
        return self.with_stages(now).annotate(
            chased=models.ExpressionWrapper(chased, output_field=models.BooleanField())
        )


class CampaignInvitation(models.Model):
    """One institution in one campaign. Its stage after "opened" is read from its credentials."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="campaign_invitations")
    kind = models.CharField(
        max_length=32, choices=kinds.CHOICES, help_text="The campaign's kind, kept here for the constraint."
    )
    is_open = models.BooleanField(
        default=True, help_text="Still being chased; closed once a key is verified or the chasers ran out."
    )
    token = models.CharField(
        max_length=32,
        unique=True,
        default=new_invitation_token,
        editable=False,
        help_text=(
            "Added to the intake link in the emails, so a visit from them counts as opened. "
            "Not a key: the intake link is."
        ),
    )
    invited_at = models.DateTimeField(null=True, blank=True, help_text="When the first invitation email went out.")
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="When the intake page was first loaded from an email's link."
    )
    chasers_planned = models.PositiveSmallIntegerField(default=0)
    next_chase_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)

    objects = CampaignInvitationQuerySet.as_manager()

    class Meta:
        ordering = ["institution__name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "institution"], name="one_invitation_per_campaign"),
            # Two campaigns started at once (two `invite` commands, two staff members) cannot both
            # take an institution: the second insert of the pair is refused by the database.
            models.UniqueConstraint(
                fields=["institution", "kind"], condition=models.Q(is_open=True), name="one_open_invitation_per_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["next_chase_at"], condition=models.Q(is_open=True), name="invitation_chase_due"),
        ]

    def __str__(self) -> str:
        return f"{self.institution} in {self.campaign}"

    def intake_url(self) -> str:
        return self.institution.intake_url(self.kind) + f"?via={self.token}"

    @classmethod
    def record_open(cls, token: str, institution: Institution, now: datetime.datetime) -> bool:
        """The intake page was loaded from an email's link. Only the first visit is recorded."""
        first_visit = cls.objects.filter(token=token, institution=institution, opened_at__isnull=True)
        return bool(first_visit.update(opened_at=now))


class CampaignMessageQuerySet(models.QuerySet):
    def due(self, now: datetime.datetime):
        """Messages a sweep may claim now: scheduled, due, and not held by a live claim."""
        return self.filter(state=CampaignMessage.State.SCHEDULED, not_before__lte=now).filter(
            models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
        )


class CampaignMessage(models.Model):
    """One campaign email to one contact: the outbox row and, once sent, its record.

    Unique per (invitation, address, round): round 0 is the invitation, 1.. the chasers. A sent
    message holds one of its address's daily slots (unique per address, day and slot number), so
    the per-contact limit holds however many sweeps send at once.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    invitation = models.ForeignKey(CampaignInvitation, on_delete=models.CASCADE, related_name="messages")
    contact = models.ForeignKey(
        AdminContact, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign_messages"
    )
    email = models.EmailField()
    round = models.PositiveSmallIntegerField(help_text="0 is the invitation, 1 and up the chasers.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    state_reason = models.CharField(max_length=200, blank=True)
    not_before = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_day = models.DateField(null=True, blank=True)
    send_slot = models.PositiveSmallIntegerField(null=True, blank=True)

    objects = CampaignMessageQuerySet.as_manager()

    class Meta:
        ordering = ["not_before"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "email", "round"], name="one_message_per_round"),
            models.UniqueConstraint(fields=["email", "send_day", "send_slot"], name="campaign_daily_slot"),
        ]
        indexes = [
            models.Index(fields=["not_before"], condition=models.Q(state="scheduled"), name="campaign_message_due"),
        ]

    def __str__(self) -> str:
        return "invitation" if self.round == 0 else f"chaser {self.round}"

    @property
    def is_chaser(self) -> bool:
        return self.round > 0


class LimitSlot(models.Model):
    """One of the N places in an hourly limit (see keys/limits.py): taken when used, free an hour later."""

    scope = models.CharField(
        max_length=80, help_text="What is limited: link:<institution>, contact:<contact>, address:<ip>."
    )
    number = models.PositiveSmallIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "number"], name="one_slot_per_number")]

    def __str__(self) -> str:
        return f"{self.scope} #{self.number}"
