"""Renewal reminders: one outbox row per credential and offset, and the staff's calendar feed of expiries."""

import datetime
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from keys.models.outbox import OutboxMessage, OutboxMessageQuerySet

if TYPE_CHECKING:
    from keys.models.credentials import Credential


class ReminderNoticeQuerySet(OutboxMessageQuerySet):
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


class ReminderNotice(OutboxMessage):
    """One renewal reminder of one credential: the outbox row and, once sent, its record.

    The unique (credential, offset) pair makes a second copy of a reminder impossible, not
    merely unlikely; keys/reminders.py sends it through the outbox (keys/outbox.py).
    """

    LAPSE = 0  # the offset of the notice sent on the day a credential lapses

    credential = models.ForeignKey(
        "keys.Credential", on_delete=models.CASCADE, related_name="reminders", help_text="The key it reminds of."
    )
    offset_days = models.PositiveSmallIntegerField(help_text="Days before expiry; 0 is the lapse notice.")
    due_at = models.DateTimeField(help_text="When the reminder falls due: its offset before the expiry.")

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
