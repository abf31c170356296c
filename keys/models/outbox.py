"""The outbox's row: what every message Keydrop owes someone has in common.

A reminder, a check alert and a campaign email are each one row of their own table; this abstract
model gives them the same fields, one state vocabulary and the same question "may a sweep claim
you now?". How rows are claimed, sent and recorded is keys/outbox.py.
"""

import datetime

from django.db import models
from django.utils import timezone


class OutboxMessageQuerySet(models.QuerySet):
    def unclaimed(self, now: datetime.datetime):
        """Rows no live claim holds: never claimed, handed back, or whose claim ran out."""
        return self.filter(models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now))

    def due(self, now: datetime.datetime):
        """Messages a sweep may claim now: scheduled, due, and not held by a live claim."""
        return self.filter(state=OutboxMessage.State.SCHEDULED, not_before__lte=now).unclaimed(now)


class OutboxMessage(models.Model):
    """One message owed to someone: the outbox row and, once sent, its record."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"  # waiting to go, perhaps after a failure (see not_before)
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"  # not needed after all: a later message said it (see state_reason)
        CANCELLED = "cancelled", "Cancelled"  # must not go: who or what it was about changed (see state_reason)

    state = models.CharField(
        max_length=16,
        choices=State.choices,
        default=State.SCHEDULED,
        help_text="Scheduled until it is sent, skipped or cancelled; a failed send stays scheduled and is retried.",
    )
    state_reason = models.CharField(
        max_length=200, blank=True, help_text="Why it was skipped or cancelled, in Keydrop's words."
    )
    not_before = models.DateTimeField(
        default=timezone.now,
        help_text="No sweep sends it before this: when it falls due, pushed back after each failed send.",
    )
    claimed_by = models.CharField(
        max_length=32,
        blank=True,
        help_text="The token of the sweep that claimed it last. Only that sweep may record it as sent or failed.",
    )
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "While this is in the future a sweep holds the message and no other sends it. Empty once it is "
            "recorded or handed back; a worker that died leaves it set, and the next sweep after it takes over."
        ),
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Sends tried so far, the successful one included.")
    last_error = models.CharField(
        max_length=300, blank=True, help_text="What the last failed send said (the mail server's refusal, a timeout)."
    )
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the mail server accepted it.")
    recipients = models.TextField(blank=True, help_text="Addresses it went to, one per line.")

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        abstract = True
