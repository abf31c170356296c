"""A credential: one key handed over by one institution, its secret sealed, its life in statuses.

What a check's answer does to it is keys/checks/transitions.py; its reminders, checks and grant
are their own models (reminders.py, checks.py, grants.py)."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from keys import kinds
from keys.models.checks import CheckAlert
from keys.models.credential_queries import CredentialQuerySet
from keys.models.grants import CanvasGrant
from keys.models.institutions import Institution
from keys.models.pipelines import PipelineEvent
from keys.models.reminders import ReminderNotice, reminder_plan
from keys.outcomes import Outcome
from keys.sealing import Sealed, SealedSecretField


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
    # replaced it outlives it (transitions.supersede_older cancels them), so its lapse is announced.
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

    @property
    def on_trial(self) -> bool:
        """Verified, but Canvas has not yet seen it work: a refusal now means it never becomes active."""
        return self.status == self.Status.NEEDS_FIX or (
            self.handover_check_pending and self.status in self.USABLE_STATUSES
        )

    def cancel_reminders(self, reason: str) -> None:
        """Scheduled reminders stop (the key is rejected, or waits for its fix in Canvas)."""
        self.reminders.filter(state=ReminderNotice.State.SCHEDULED).update(
            state=ReminderNotice.State.CANCELLED, state_reason=reason
        )

    def alerts_about_fix(self):
        """The "discarded tomorrow unless fixed" email, while it is still to be sent."""
        return self.check_alerts.filter(topic=CheckAlert.Topic.FIX_DEADLINE, state=CheckAlert.State.SCHEDULED)

    # Reminders -----------------------------------------------------------------------------

    def reminder_plan(self, now: datetime.datetime) -> list[tuple[int, datetime.datetime, str]]:
        """(offset, due time, skip reason or "") for each reminder this credential gets: reminders.plan."""
        return reminder_plan(self, now)

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
        PipelineEvent.objects.emit(PipelineEvent.Type.REVOKED, self, dedupe="once")
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
