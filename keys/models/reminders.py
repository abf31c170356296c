"""Renewal reminders: one outbox row per credential and offset, and the staff's calendar feed of expiries."""

import datetime
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from keys import kinds
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


def tracking_started_at(credential: "Credential") -> datetime.datetime | None:
    """When the key's life began: its creation date in Canvas, else when it was verified."""
    if credential.key_created_on:
        return kinds.start_of_day(credential.key_created_on, credential.institution.tz)
    return credential.verified_at


def reminder_plan(credential: "Credential", now: datetime.datetime) -> list[tuple[int, datetime.datetime, str]]:
    """(offset, due time, skip reason or "") for each reminder a credential gets.

    Offsets longer than the key's whole lifetime are left out (a one-week key gets no 30-day
    reminder). One whose time has passed by more than a day when tracking starts is recorded as
    skipped rather than sent late as if it were on time; of those due within the last day, only the
    one nearest expiry is kept. A pure function of the row and ``now``.
    """
    if not credential.expires_at:
        return []
    started = tracking_started_at(credential) or now
    lifetime = credential.expires_at - started
    offsets = [d for d in settings.PORTAL_REMINDER_OFFSETS_DAYS if datetime.timedelta(days=d) <= lifetime]
    plan = []
    for offset in sorted({*offsets, ReminderNotice.LAPSE}, reverse=True):
        due = credential.expires_at - datetime.timedelta(days=offset)
        plan.append([offset, due, ""])
    late = [item for item in plan if item[1] <= now]
    for item in late[:-1] if late and late[-1][1] > now - datetime.timedelta(days=1) else late:
        item[2] = "Its date had passed when the key was verified."
    return [tuple(item) for item in plan]
