"""Live checks' records: each check of a key, the alerts an episode plans, and each Canvas host's rate budget."""

import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from keys.models.outbox import OutboxMessage
from keys.outcomes import Outcome

if TYPE_CHECKING:
    from keys.models.credentials import Credential


class CredentialCheck(models.Model):
    """One live check of one credential: when, what Canvas's answer meant, and how long it took.

    Never a secret, a token or a response body: only the outcome, a reason Keydrop wrote, and
    the HTTP status. Kept for PORTAL_CHECK_HISTORY_DAYS.
    """

    class Trigger(models.TextChoices):
        HANDOVER = "handover", "Hand-over"
        RETRY = "retry", "Hand-over retry"
        SCHEDULE = "schedule", "Daily check"
        COMMAND = "command", "check_credentials"
        PARTNER_SECRET = "partner_secret", "Partner secret entered"
        CHECK_AGAIN = "check_again", "Check again, after a fix in Canvas"
        AUTHORIZATION = "authorization", "Admin authorized in Canvas"

    credential = models.ForeignKey("keys.Credential", on_delete=models.CASCADE, related_name="checks")
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


class CheckAlert(OutboxMessage):
    """One alert about a credential's checks: the outbox row and, once sent, its record.

    The unique (credential, topic, episode) makes a second alert about the same episode
    impossible: a key that starts failing is announced once however many checks refuse it.
    keys/checks/alerts.py sends it through the outbox (keys/outbox.py).
    """

    class Topic(models.TextChoices):
        FAILING = "failing", "Stopped working"  # the institution's contacts and staff
        RECOVERED = "recovered", "Works again"  # staff
        STUCK = "stuck", "No clear answer for days"  # staff
        REJECTED = "rejected", "Rejected after hand-over"  # the institution's contacts and staff
        NEEDS_FIX = "needs_fix", "Needs a fix in Canvas"  # the institution's contacts and staff
        FIX_DEADLINE = "fix_deadline", "Discarded tomorrow unless fixed"  # the institution's contacts and staff

    credential = models.ForeignKey(
        "keys.Credential", on_delete=models.CASCADE, related_name="check_alerts", help_text="The key it is about."
    )
    topic = models.CharField(max_length=16, choices=Topic.choices, help_text="What the alert is about.")
    episode = models.DateTimeField(help_text="When the episode began: the first refusal, or the first unclear answer.")
    reason = models.CharField(max_length=500, help_text="What the check said, as Keydrop wrote it.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When a check planned it.")

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
    def plan(cls, credential: "Credential", topic: str, *, episode, reason: str, now, not_before=None) -> bool:
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
