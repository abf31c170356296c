"""The questions asked of many credentials at once: usable, failing, due for a check, lapsed…

Every status group is the model's own (``self.model``), so this module needs no import of it."""

import datetime

from django.db import models
from django.db.models.functions import RowNumber
from django.utils import timezone

from keys import kinds
from keys.models.grants import CanvasGrant
from keys.models.pipelines import PipelineEvent


def pipeline_order() -> list:
    """The key a pipeline takes first (for_pipeline; the API's list picks the same one per institution and kind)."""
    return [models.F("failing_since").asc(nulls_first=True), "handover_check_pending", "-verified_at", "-pk"]


class CredentialQuerySet(models.QuerySet):
    def visible_to_staff(self):
        # Verified release: nothing about a submission reaches partner staff before verification.
        return self.exclude(status=self.model.Status.PENDING)

    def usable(self, now: datetime.datetime | None = None):
        now = now or timezone.now()
        return self.filter(status__in=self.model.USABLE_STATUSES, secret__isnull=False).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def failing(self, now: datetime.datetime | None = None):
        """Usable keys that worked and that Canvas now refuses: data has stopped, or will."""
        return self.usable(now).filter(failing_since__isnull=False)

    def checkable(self, now: datetime.datetime | None = None):
        """Usable keys, and keys waiting for a fix in Canvas: those the sweep asks Canvas about."""
        now = now or timezone.now()
        return self.filter(status__in=self.model.CHECKED_STATUSES, secret__isnull=False).filter(
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
        return self.usable(now).order_by(*pipeline_order())

    def tracked(self):
        return self.filter(status__in=self.model.TRACKED_STATUSES)

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
        return self.filter(status=self.model.Status.AWAITING_SECRET).filter(
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
            .exclude(status=self.model.Status.PENDING)
            .filter(~models.Exists(live_grant))
        )

    def lapsed_without_renewal(self, now: datetime.datetime | None = None):
        """Tracked keys past their expiry with nothing newer from the customer: data has stopped."""
        now = now or timezone.now()
        return self.filter(self.lapsed_without_renewal_q(now))

    def newest_per_kind(self):
        """The newest verified key of each institution and kind: one row per pair, however long the history."""
        newest_first = [models.F("verified_at").desc(), models.F("pk").desc()]
        return (
            self.filter(verified_at__isnull=False)
            # A locked submission is never anyone's current key (it was never verified either).
            .exclude(status=self.model.Status.LOCKED)
            .annotate(
                recency=models.Window(
                    RowNumber(), partition_by=[models.F("institution_id"), models.F("kind")], order_by=newest_first
                )
            )
            .filter(recency=1)
        )

    # Transitions the scheduled task makes; each is one conditional UPDATE, safe to repeat.

    def expire_lapsed(self, now: datetime.datetime) -> int:
        """Live keys past their expiry become expired, and their secrets are destroyed with it; pipelines hear it."""
        lapsing = self.filter(status__in=self.model.LIVE_STATUSES, expires_at__lte=now)
        ids = list(lapsing.values_list("pk", flat=True))
        count = lapsing.filter(pk__in=ids).update(status=self.model.Status.EXPIRED, secret=None, secret_purged_at=now)
        expired = self.model.objects.filter(pk__in=ids, status=self.model.Status.EXPIRED)
        for pk, institution_id, kind in expired.values_list("pk", "institution_id", "kind"):
            PipelineEvent.objects.emit_for(PipelineEvent.Type.EXPIRED, pk, institution_id, kind, dedupe="once")
        return count

    def discard_unfixed(self, now: datetime.datetime) -> int:
        """Keys still waiting for their fix in Canvas when the window closes: rejected for good."""
        return self.filter(status=self.model.Status.NEEDS_FIX, fix_by__lte=now).update(
            status=self.model.Status.REJECTED, secret=None, secret_purged_at=now, next_check_at=None
        )

    def purge_dead_secrets(self, now: datetime.datetime) -> int:
        """Any secret a dead key still holds is destroyed, with its grant's tokens; the record stays."""
        CanvasGrant.objects.filter(credential__status__in=self.model.DEAD_STATUSES).purge(now)
        return self.filter(status__in=self.model.DEAD_STATUSES, secret__isnull=False).update(
            secret=None, secret_purged_at=now
        )

    def lapsed_without_renewal_q(self, now: datetime.datetime) -> models.Q:
        """The condition on its own: no newer verified key that is tracked (not pending, locked or revoked)."""
        renewal = self.model.objects.filter(
            institution=models.OuterRef("institution"),
            kind=models.OuterRef("kind"),
            verified_at__gt=models.OuterRef("verified_at"),
            status__in=self.model.TRACKED_STATUSES,
        )
        return models.Q(status__in=self.model.TRACKED_STATUSES, expires_at__lte=now) & ~models.Q(models.Exists(renewal))
